import { ValidationError } from '../lib/errors';
import {
  checkCustomValue,
  checkFieldCount,
  checkFieldName,
  checkPhoneNumber,
  checkText,
  describeValue,
  isPlainObject,
  type ScalarValue,
} from './call-record';
import { convertCrmDate, formatEpochMs } from './dates';

/** Body of POST /api/v1/ivr-call-notify (guide section 2), plus any extra scalar fields. */
export interface NotifyEvent {
  /** The caller's number. */
  cli: string;
  event: string;
  uniqueid: string;
  /** 'YYYY-MM-DD HH:mm:ss' in the configured zone. */
  time: string;
  /** The agent's e-mail or name. */
  nm?: string;
  /** The number called. */
  to: string;
  [extra: string]: ScalarValue | undefined;
}

export interface NotifyEventOptions {
  timeZone: string;
  /** Epoch ms used when the event has no time (default Date.now()). */
  now?: number;
}

const PATH = 'payload';

function requiredText(value: unknown, key: string): string {
  if (value === undefined || value === null) throw new ValidationError(`${PATH}.${key} is required`, `${PATH}.${key}`);
  const text = checkText(value, PATH, key);
  if (text.trim() === '') throw new ValidationError(`${PATH}.${key} is empty; a value is required`, `${PATH}.${key}`);
  return text;
}

/**
 * Checks a pop-up event and returns a new one: cli, event, uniqueid, time, nm, to, then extra
 * fields in input order. `eventTimeMs` is the event's instant for the maximum-age check (whole
 * seconds when the time was given as 'YYYY-MM-DD HH:mm:ss').
 */
export function normaliseNotifyEvent(
  payload: unknown,
  options: NotifyEventOptions,
): { event: NotifyEvent; eventTimeMs: number } {
  if (!isPlainObject(payload)) {
    const hint = typeof payload === 'string' ? ' (parse JSON text first, e.g. with a JSON node)' : '';
    throw new ValidationError(
      `payload must be a pop-up event object {cli, event, uniqueid, time, nm, to}, got ${describeValue(payload)}${hint}`,
      PATH,
    );
  }
  const keys = Object.keys(payload);
  checkFieldCount(keys, PATH);
  const extras: Array<[string, ScalarValue]> = [];
  for (const key of keys) {
    if (key === 'cli' || key === 'event' || key === 'uniqueid' || key === 'time' || key === 'nm' || key === 'to') continue;
    checkFieldName(key, PATH);
    const value = checkCustomValue(payload[key], PATH, key);
    if (value !== undefined) extras.push([key, value]);
  }

  // Own properties only: a polluted Object.prototype must not supply a field.
  const own = (key: string): unknown => (Object.hasOwn(payload, key) ? payload[key] : undefined);
  const cli = checkPhoneNumber(own('cli'), PATH, 'cli');
  const eventName = requiredText(own('event'), 'event');
  const uniqueid = requiredText(own('uniqueid'), 'uniqueid');
  const to = checkPhoneNumber(own('to'), PATH, 'to');
  const nmValue = own('nm');
  const nm = nmValue === undefined || nmValue === null ? undefined : checkText(nmValue, PATH, 'nm');

  const timeValue = own('time');
  let time: string;
  let eventTimeMs: number;
  if (timeValue === undefined || timeValue === null || timeValue === '') {
    eventTimeMs = options.now ?? Date.now();
    time = formatEpochMs(eventTimeMs, options.timeZone);
  } else {
    const converted = convertCrmDate(timeValue, options.timeZone, `${PATH}.time`, true);
    time = converted.text;
    eventTimeMs = converted.epochMs;
  }

  const event: NotifyEvent = nm === undefined
    ? { cli, event: eventName, uniqueid, time, to }
    : { cli, event: eventName, uniqueid, time, nm, to };
  for (const [key, value] of extras) event[key] = value;
  return { event, eventTimeMs };
}

/**
 * True when an event is older than `maxAgeSeconds` at `now` (0 or less: no limit). An event
 * time ahead of `now` (clocks a little apart) is not too old.
 */
export function isTooOld(eventTimeMs: number, maxAgeSeconds: number, now: number): boolean {
  if (!(maxAgeSeconds > 0) || !Number.isFinite(maxAgeSeconds)) return false;
  return now - eventTimeMs > maxAgeSeconds * 1000;
}
