import { types } from 'node:util';
import { ValidationError } from '../lib/errors';
import { quote as quoteValue } from '../lib/values';
import { convertCrmDate, normaliseDuration } from './dates';

/**
 * Validation and normalisation of call-log records for POST /api/v1/ivr-call-log, per the
 * SangamCRM guide's Parameter Details and the sangam-call-log contract. Runs for every record
 * at tens of thousands per second: errors build their text only when thrown.
 */

export interface CallRecordOptions {
  /** IANA zone that dates are written in. */
  timeZone: string;
  /** Most records accepted in one msg (default DEFAULT_MAX_RECORDS). */
  maxRecords?: number;
}

/** A normalised record, ready for JSON.stringify. */
export type CallRecord = Record<string, string | number | boolean | null>;
export type ScalarValue = string | number | boolean | null;

export const DEFAULT_MAX_RECORDS = 1000;
export const MAX_FIELDS_PER_RECORD = 100;
export const MAX_FIELD_NAME_LENGTH = 100;
export const MAX_TEXT_LENGTH = 2000;
export const MAX_PHONE_NUMBER_LENGTH = 64;

/** The guide's fields, in the order of its sample body: the order they are written in. */
export const CALL_RECORD_FIELDS = [
  'duration',
  'enjay_lat_source_number',
  'date_start',
  'date_end',
  'mobile_call_detect_c',
  'name',
  'enjay_lat_destination_number',
  'assigned_user_id',
  'decision_variable',
  'direction',
  'call_status',
  'logged_via',
  'logged_by',
  'synapse_recording_link',
] as const;

/** C0 and C1 control characters, DEL included: line breaks, tabs and NUL among them. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

// ---------------------------------------------------------------------------------------------
// Value checks shared with notify-event.ts

/** `payload[0].direction`, or `payload[0]["a b"]` for a key that is no identifier. */
export function fieldPath(recordPath: string, key: string): string {
  return IDENTIFIER.test(key) ? `${recordPath}.${key}` : `${recordPath}[${JSON.stringify(key)}]`;
}

/** What a value is, for "got …" in messages: `number 9876`, `a string`, `null`, `a Buffer`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'undefined': return 'undefined';
    case 'string': return 'a string';
    case 'number':
    case 'boolean':
    case 'bigint': return `${typeof value} ${String(value)}`;
    case 'function': return 'a function';
    case 'symbol': return 'a symbol';
    default: break;
  }
  if (Array.isArray(value)) return 'an array';
  if (Buffer.isBuffer(value)) return 'a Buffer';
  if (types.isDate(value)) return 'a Date';
  if (isPlainObject(value)) return 'an object';
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' && name !== 'Object' ? `a ${name}` : 'an object';
}

/**
 * An object literal or JSON object. Objects made in a Function node come from another context
 * (their Object.prototype differs from ours), so the test is the shape of the prototype chain.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

function controlCharacterError(path: string, text: string, what: string): ValidationError {
  const index = text.search(CONTROL_CHARACTER);
  const code = text.charCodeAt(index).toString(16).toUpperCase().padStart(4, '0');
  return new ValidationError(
    `${path} contains a control character (U+${code} at ${what} position ${index}); line breaks, tabs and other control characters are not accepted`,
    path,
  );
}

/** A string of at most `maxLength` characters without control characters. */
export function checkText(value: unknown, recordPath: string, key: string, maxLength = MAX_TEXT_LENGTH, hint = ''): string {
  if (typeof value !== 'string') {
    const path = fieldPath(recordPath, key);
    throw new ValidationError(`${path} must be a string, got ${describeValue(value)}${hint}`, path);
  }
  if (value.length > maxLength) {
    const path = fieldPath(recordPath, key);
    throw new ValidationError(`${path} is ${value.length} characters long; at most ${maxLength} are accepted`, path);
  }
  if (CONTROL_CHARACTER.test(value)) throw controlCharacterError(fieldPath(recordPath, key), value, 'character');
  return value;
}

const PHONE_NUMBER_HINT = ' (put phone numbers in quotes: as numbers they lose leading zeros and the +)';

/** A non-blank string of at most 64 characters without control characters. */
export function checkPhoneNumber(value: unknown, recordPath: string, key: string): string {
  if (value === undefined || value === null) {
    const path = fieldPath(recordPath, key);
    throw new ValidationError(`${path} is required (a phone number)`, path);
  }
  const text = checkText(value, recordPath, key, MAX_PHONE_NUMBER_LENGTH, PHONE_NUMBER_HINT);
  if (text.trim() === '') {
    const path = fieldPath(recordPath, key);
    throw new ValidationError(`${path} is empty; a phone number is required`, path);
  }
  return text;
}

/** Keys that would reach Object.prototype (or look as if they might) if copied naively. */
function isForbiddenKey(key: string): boolean {
  return key === '__proto__' || key === 'constructor' || key === 'prototype';
}

/** A field name: not empty, at most 100 characters, no control characters, no prototype keys. */
export function checkFieldName(key: string, recordPath: string): void {
  if (isForbiddenKey(key)) {
    const path = fieldPath(recordPath, key);
    throw new ValidationError(`${path}: the field name "${key}" is not accepted (it could alter object prototypes)`, path);
  }
  if (key === '') throw new ValidationError(`${recordPath} has a field with an empty name`, recordPath);
  if (key.length > MAX_FIELD_NAME_LENGTH) {
    throw new ValidationError(
      `${recordPath} has a field name of ${key.length} characters (${quoteValue(key)}); at most ${MAX_FIELD_NAME_LENGTH} are accepted`,
      recordPath,
    );
  }
  if (CONTROL_CHARACTER.test(key)) throw controlCharacterError(fieldPath(recordPath, key), key, 'field name');
}

/** At most MAX_FIELDS_PER_RECORD fields. */
export function checkFieldCount(keys: readonly string[], recordPath: string): void {
  if (keys.length > MAX_FIELDS_PER_RECORD) {
    throw new ValidationError(
      `${recordPath} has ${keys.length} fields; at most ${MAX_FIELDS_PER_RECORD} are accepted`,
      recordPath,
    );
  }
}

/**
 * A field the guide does not list: passes unchanged if it is a string (text rules), a finite
 * number, a boolean or null. undefined means absent (JSON would drop it too).
 */
export function checkCustomValue(value: unknown, recordPath: string, key: string): ScalarValue | undefined {
  switch (typeof value) {
    case 'string': return checkText(value, recordPath, key);
    case 'boolean':
    case 'undefined': return value;
    case 'number':
      if (Number.isFinite(value)) return value;
      break;
    default:
      if (value === null) return null;
      break;
  }
  const path = fieldPath(recordPath, key);
  if (typeof value === 'number') {
    throw new ValidationError(`${path}: ${value} is not accepted; numbers must be finite`, path);
  }
  if (Array.isArray(value)) throw new ValidationError(`${path}: arrays are not accepted; use a string, number, boolean or null`, path);
  if (isPlainObject(value)) {
    throw new ValidationError(`${path}: nested objects are not accepted; use a string, number, boolean or null`, path);
  }
  throw new ValidationError(`${path}: ${describeValue(value)} is not accepted; use a string, number, boolean or null`, path);
}

// ---------------------------------------------------------------------------------------------
// Enumerations: case-insensitive in, the guide's spelling out.

interface Enumeration {
  readonly byText: ReadonlyMap<string, string>;
  readonly listed: string;
}

function enumeration(values: readonly string[], listed = values.join(', ')): Enumeration {
  const byText = new Map<string, string>();
  for (const value of values) {
    byText.set(value, value);
    byText.set(value.toLowerCase(), value);
  }
  return { byText, listed };
}

const DIRECTION = enumeration(['Inbound', 'Outbound']);
const CALL_STATUS = enumeration(['Held', 'Not Held']);
const DECISION_VARIABLE = enumeration(['always', 'never', ''], 'always, never, "" (empty)');
const LOGGED_BY = enumeration(['CRM App', 'Synapse', 'IVR']);
const LOGGED_VIA = enumeration(['Calllog']);

function checkEnumeration(value: unknown, recordPath: string, key: string, allowed: Enumeration): string {
  if (typeof value !== 'string') {
    const path = fieldPath(recordPath, key);
    throw new ValidationError(`${path} must be one of ${allowed.listed}, got ${describeValue(value)}`, path);
  }
  const canonical = allowed.byText.get(value) ?? allowed.byText.get(value.toLowerCase());
  if (canonical === undefined) {
    const path = fieldPath(recordPath, key);
    throw new ValidationError(`${path}: ${quoteValue(value)} is not one of ${allowed.listed}`, path);
  }
  return canonical;
}

// ---------------------------------------------------------------------------------------------
// Records

/** A derived field is derived when its value is absent, null or an empty string. */
function isMissing(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

/**
 * Checks one call record and returns a new, normalised one: the guide's fields in its order
 * (derived ones filled in), then the other fields in input order. `path` names the record in
 * errors (`payload[3]` or `payload`). The input is not modified.
 */
export function normaliseCallRecord(input: unknown, path: string, timeZone: string): CallRecord {
  if (!isPlainObject(input)) throw new ValidationError(`${path} must be a call record object, got ${describeValue(input)}`, path);
  let duration: unknown;
  let sourceNumber: unknown;
  let dateStart: unknown;
  let dateEnd: unknown;
  let mobileCallDetect: unknown;
  let name: unknown;
  let destinationNumber: unknown;
  let assignedUserId: unknown;
  let decisionVariable: unknown;
  let direction: unknown;
  let callStatus: unknown;
  let loggedVia: unknown;
  let loggedBy: unknown;
  let recordingLink: unknown;
  let customKeys: string[] | undefined;
  let customValues: ScalarValue[] | undefined;

  // for-in, not Object.keys: no array of keys made per record (100,000 of them in a burst).
  let fields = 0;
  for (const key in input) {
    if (!Object.prototype.hasOwnProperty.call(input, key)) continue;
    if (++fields > MAX_FIELDS_PER_RECORD) checkFieldCount(Object.keys(input), path);
    const value = input[key];
    switch (key) {
      case 'duration': duration = value; break;
      case 'enjay_lat_source_number': sourceNumber = value; break;
      case 'date_start': dateStart = value; break;
      case 'date_end': dateEnd = value; break;
      case 'mobile_call_detect_c': mobileCallDetect = value; break;
      case 'name': name = value; break;
      case 'enjay_lat_destination_number': destinationNumber = value; break;
      case 'assigned_user_id': assignedUserId = value; break;
      case 'decision_variable': decisionVariable = value; break;
      case 'direction': direction = value; break;
      case 'call_status': callStatus = value; break;
      case 'logged_via': loggedVia = value; break;
      case 'logged_by': loggedBy = value; break;
      case 'synapse_recording_link': recordingLink = value; break;
      default: {
        checkFieldName(key, path);
        const checked = checkCustomValue(value, path, key);
        if (checked !== undefined) {
          (customKeys ??= []).push(key);
          (customValues ??= []).push(checked);
        }
      }
    }
  }

  if (direction === undefined || direction === null) {
    throw new ValidationError(`${path}.direction is required (Inbound or Outbound)`, `${path}.direction`);
  }
  const directionText = checkEnumeration(direction, path, 'direction', DIRECTION);
  const source = checkPhoneNumber(sourceNumber, path, 'enjay_lat_source_number');
  const destination = checkPhoneNumber(destinationNumber, path, 'enjay_lat_destination_number');

  if (dateStart === undefined || dateStart === null || dateStart === '') {
    throw new ValidationError(`${path}.date_start is required (the time the call started)`, `${path}.date_start`);
  }
  const durationMissing = isMissing(duration);
  const endMissing = isMissing(dateEnd);
  // The instants are only needed to derive the duration.
  const start = convertCrmDate(dateStart, timeZone, `${path}.date_start`, durationMissing);
  const end = endMissing ? undefined : convertCrmDate(dateEnd, timeZone, `${path}.date_end`, durationMissing);

  let durationText: string;
  if (!durationMissing) {
    durationText = normaliseDuration(duration, `${path}.duration`);
  } else if (end === undefined) {
    throw new ValidationError(
      `${path}.duration is missing; give it (seconds or HH:MM:SS) or give date_start and date_end to derive it`,
      `${path}.duration`,
    );
  } else {
    const seconds = (end.epochMs - start.epochMs) / 1000;
    if (seconds < 0) {
      throw new ValidationError(
        `${path}.date_end: "${end.text}" is before date_start "${start.text}"; the duration cannot be derived`,
        `${path}.date_end`,
      );
    }
    durationText = normaliseDuration(seconds, `${path}.duration`);
  }

  if (!isMissing(mobileCallDetect) && mobileCallDetect !== '0') {
    throw new ValidationError(
      `${path}.mobile_call_detect_c must be the string "0" (the guide fixes it; leave it out to have it set), got ${describeValue(mobileCallDetect)}${
        typeof mobileCallDetect === 'string' ? ` ${quoteValue(mobileCallDetect)}` : ''
      }`,
      `${path}.mobile_call_detect_c`,
    );
  }

  const nameText = isMissing(name)
    ? directionText === 'Inbound' ? source : destination
    : checkText(name, path, 'name');
  const loggedViaText = isMissing(loggedVia) ? 'Calllog' : checkEnumeration(loggedVia, path, 'logged_via', LOGGED_VIA);

  const out: CallRecord = {
    duration: durationText,
    enjay_lat_source_number: source,
    date_start: start.text,
  };
  if (end !== undefined) out.date_end = end.text;
  out.mobile_call_detect_c = '0';
  out.name = nameText;
  out.enjay_lat_destination_number = destination;
  if (assignedUserId !== undefined && assignedUserId !== null) {
    out.assigned_user_id = checkText(assignedUserId, path, 'assigned_user_id');
  }
  if (decisionVariable !== undefined && decisionVariable !== null) {
    out.decision_variable = checkEnumeration(decisionVariable, path, 'decision_variable', DECISION_VARIABLE);
  }
  out.direction = directionText;
  if (callStatus !== undefined && callStatus !== null) {
    out.call_status = checkEnumeration(callStatus, path, 'call_status', CALL_STATUS);
  }
  out.logged_via = loggedViaText;
  if (loggedBy !== undefined && loggedBy !== null) {
    out.logged_by = checkEnumeration(loggedBy, path, 'logged_by', LOGGED_BY);
  }
  if (recordingLink !== undefined && recordingLink !== null) {
    out.synapse_recording_link = checkText(recordingLink, path, 'synapse_recording_link');
  }
  if (customKeys !== undefined && customValues !== undefined) {
    for (let i = 0; i < customKeys.length; i++) out[customKeys[i]] = customValues[i];
  }
  return out;
}

/**
 * `msg.payload` of a sangam-call-log node: one record (single) or a non-empty array of at most
 * maxRecords records. Any invalid record rejects the whole payload with an error naming the
 * record index and field.
 */
export function normaliseCallLogPayload(
  payload: unknown,
  options: CallRecordOptions,
): { records: CallRecord[]; single: boolean } {
  const { timeZone } = options;
  const maxRecords = options.maxRecords ?? DEFAULT_MAX_RECORDS;
  if (Array.isArray(payload)) {
    if (payload.length === 0) throw new ValidationError('payload is an empty array; give at least one call record', 'payload');
    if (payload.length > maxRecords) {
      throw new ValidationError(
        `payload has ${payload.length} call records; at most ${maxRecords} are accepted in one msg (split the array)`,
        'payload',
      );
    }
    const records: CallRecord[] = new Array<CallRecord>(payload.length);
    for (let i = 0; i < payload.length; i++) records[i] = normaliseCallRecord(payload[i], `payload[${i}]`, timeZone);
    return { records, single: false };
  }
  if (isPlainObject(payload)) return { records: [normaliseCallRecord(payload, 'payload', timeZone)], single: true };
  const hint = typeof payload === 'string' ? ' (parse JSON text first, e.g. with a JSON node)' : '';
  throw new ValidationError(
    `payload must be a call record object or an array of them, got ${describeValue(payload)}${hint}`,
    'payload',
  );
}
