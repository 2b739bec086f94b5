import { ConfigError } from './errors';

export interface IntegerSetting {
  /** Property name as stored in flows.json, for the error message. */
  name: string;
  min: number;
  max: number;
  fallback: number;
}

/**
 * Reads a whole-number node property. The editor stores numbers as strings or numbers and an
 * untouched field as ''; anything out of range is a ConfigError naming the property.
 */
export function readInteger(value: unknown, setting: IntegerSetting): number {
  // A field holding only spaces is as untouched as an empty one (Number('  ') would give 0).
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return setting.fallback;
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : NaN;
  if (!Number.isInteger(number) || number < setting.min || number > setting.max) {
    throw new ConfigError(
      `${setting.name} must be a whole number from ${setting.min} to ${setting.max}, got ${JSON.stringify(value)}`,
    );
  }
  return number;
}

/** Reads a checkbox property that may arrive as a boolean or as 'true'/'false'. */
export function readBoolean(value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null || value === '') return fallback;
  return value === true || value === 'true';
}
