import { ValidationError } from '../lib/errors';

/** What people type between digit groups; anything else (letters, parentheses, line breaks) is refused. */
const SEPARATORS = /[ \u00a0.-]/g;
/** Digits with an optional leading + (E.164 or a national number with its STD 0 prefix). */
const PHONE_NUMBER = /^\+?\d{6,16}$/;

/**
 * Checks a phone number before anything is sent and returns it without separators.
 * `field` names where the value came from (`payload.to`), for the error message.
 */
export function parsePhoneNumber(value: unknown, field: string): string {
  if (value === undefined || value === null || value === '') {
    throw new ValidationError(`${field} is missing`, field);
  }
  let text: string;
  if (typeof value === 'number') {
    // A number loses a leading 0 or +; accept it only when it is a plain whole number.
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new ValidationError(`${field}: ${value} is not a phone number`, field);
    }
    text = String(value);
  } else if (typeof value === 'string') {
    text = value;
  } else {
    throw new ValidationError(`${field} must be a string of digits, not ${describeType(value)}`, field);
  }
  const compact = text.replace(SEPARATORS, '');
  if (!PHONE_NUMBER.test(compact)) {
    throw new ValidationError(`${field}: ${quote(text)} is not a phone number (6 to 16 digits, optionally after +)`, field);
  }
  return compact;
}

/** A value for an error message: quoted, one line, short. */
export function quote(text: string): string {
  const printable = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return JSON.stringify(printable.length > 40 ? `${printable.slice(0, 39)}…` : printable);
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
