import { ConfigError, ValidationError } from '../lib/errors';
import { describeType, parsePhoneNumber, quote } from './phone';

export const MAX_TIME_LIMIT_SECONDS = 14_400;
export const MAX_CUSTOM_FIELD_LENGTH = 128;

export const CALL_TYPES = ['trans'] as const;
export const RECORDING_CHANNELS = ['single', 'dual'] as const;
export const RECORDING_FORMATS = ['mp3', 'mp3-hq'] as const;
export const STATUS_CALLBACK_EVENTS = ['terminal', 'answered'] as const;
export const STATUS_CALLBACK_CONTENT_TYPES = ['multipart/form-data', 'application/json'] as const;

export type CallType = (typeof CALL_TYPES)[number];
export type RecordingChannels = (typeof RECORDING_CHANNELS)[number];
export type RecordingFormat = (typeof RECORDING_FORMATS)[number];
export type StatusCallbackEvent = (typeof STATUS_CALLBACK_EVENTS)[number];
export type StatusCallbackContentType = (typeof STATUS_CALLBACK_CONTENT_TYPES)[number];

/** A checked click-to-call request: what Exotel's connect.json receives, in our names. */
export interface ConnectParams {
  from: string;
  to: string;
  callerId: string;
  callType?: CallType;
  timeLimit?: number;
  timeOut?: number;
  waitUrl?: string;
  record?: boolean;
  recordingChannels?: RecordingChannels;
  recordingFormat?: RecordingFormat;
  customField?: string;
  statusCallback?: string;
  statusCallbackEvents?: StatusCallbackEvent[];
  statusCallbackContentType?: StatusCallbackContentType;
}

/** The exotel-click2call node's settings, as the editor stores them ('' = not set). */
export interface ClickToCallDefaults {
  callerId?: unknown;
  callType?: unknown;
  timeLimit?: unknown;
  timeOut?: unknown;
  waitUrl?: unknown;
  record?: unknown;
  recordingChannels?: unknown;
  recordingFormat?: unknown;
  customField?: unknown;
  statusCallback?: unknown;
  statusCallbackEvents?: unknown;
  statusCallbackContentType?: unknown;
}

type OptionName = Exclude<keyof ClickToCallDefaults, 'callerId'>;

/** A setting's value and where it came from, so that an error names the right place. */
interface Picked {
  value: unknown;
  field: string;
}

function isUnset(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

/**
 * Merges msg.payload over the node's settings over the account's callerId, and checks every
 * value before anything is sent. Throws a ValidationError naming the field (`payload.to`,
 * `timeLimit (node setting)`).
 */
export function resolveConnectParams(
  payload: unknown,
  nodeDefaults: ClickToCallDefaults = {},
  accountCallerId?: string,
): ConnectParams {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new ValidationError(
      `payload must be an object with "from" (or "phone") and "to", not ${describeType(payload)}`,
      'payload',
    );
  }
  const input = payload as Record<string, unknown>;
  const pick = (name: OptionName): Picked | undefined => {
    if (!isUnset(input[name])) return { value: input[name], field: `payload.${name}` };
    if (!isUnset(nodeDefaults[name])) return { value: nodeDefaults[name], field: `${name} (node setting)` };
    return undefined;
  };

  const fromField = isUnset(input.from) && !isUnset(input.phone) ? 'payload.phone' : 'payload.from';
  if (isUnset(input.from) && isUnset(input.phone)) {
    throw new ValidationError('payload.from is missing: the agent\'s phone, dialled first ("phone" is accepted too)', 'payload.from');
  }
  const params: ConnectParams = {
    from: parsePhoneNumber(fromField === 'payload.from' ? input.from : input.phone, fromField),
    to: parsePhoneNumber(input.to, 'payload.to'),
    callerId: parseCallerId(input, nodeDefaults, accountCallerId),
  };

  const callType = pick('callType');
  if (callType) params.callType = parseEnumeration(callType, CALL_TYPES);
  const timeLimit = pick('timeLimit');
  if (timeLimit) params.timeLimit = parseInteger(timeLimit, 1, MAX_TIME_LIMIT_SECONDS);
  const timeOut = pick('timeOut');
  if (timeOut) params.timeOut = parseInteger(timeOut, 1, Number.MAX_SAFE_INTEGER);
  const waitUrl = pick('waitUrl');
  if (waitUrl) params.waitUrl = parseHttpUrl(waitUrl);
  const record = pick('record');
  if (record) params.record = parseBoolean(record);
  const recordingChannels = pick('recordingChannels');
  if (recordingChannels) params.recordingChannels = parseEnumeration(recordingChannels, RECORDING_CHANNELS);
  const recordingFormat = pick('recordingFormat');
  if (recordingFormat) params.recordingFormat = parseEnumeration(recordingFormat, RECORDING_FORMATS);
  const customField = pick('customField');
  if (customField) params.customField = parseCustomField(customField);
  const statusCallback = pick('statusCallback');
  if (statusCallback) params.statusCallback = parseHttpUrl(statusCallback);
  const events = pick('statusCallbackEvents');
  if (events) {
    const parsed = parseEvents(events);
    if (parsed.length > 0) params.statusCallbackEvents = parsed;
  }
  const contentType = pick('statusCallbackContentType');
  if (contentType) params.statusCallbackContentType = parseEnumeration(contentType, STATUS_CALLBACK_CONTENT_TYPES);
  return params;
}

function parseCallerId(input: Record<string, unknown>, nodeDefaults: ClickToCallDefaults, accountCallerId?: string): string {
  if (!isUnset(input.callerId)) return parsePhoneNumber(input.callerId, 'payload.callerId');
  if (!isUnset(nodeDefaults.callerId)) return parsePhoneNumber(nodeDefaults.callerId, 'callerId (node setting)');
  if (!isUnset(accountCallerId)) return parsePhoneNumber(accountCallerId, 'callerId (exotel-config)');
  throw new ValidationError(
    'callerId is missing: set the ExoPhone in the exotel-config, the node, or msg.payload.callerId',
    'callerId',
  );
}

function parseText({ value, field }: Picked): string {
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new ValidationError(`${field} must be a string, not ${describeType(value)}`, field);
  }
  const text = String(value);
  // A CR or LF could split the form body or a header further down the line.
  if (/[\u0000-\u001f\u007f]/.test(text)) {
    throw new ValidationError(`${field} contains a line break or control character`, field);
  }
  return text;
}

function parseEnumeration<T extends string>(picked: Picked, allowed: readonly T[]): T {
  const text = parseText(picked).trim();
  const match = allowed.find((option) => option === text.toLowerCase());
  if (!match) {
    throw new ValidationError(`${picked.field}: ${quote(text)} is not one of ${allowed.join(', ')}`, picked.field);
  }
  return match;
}

function parseInteger(picked: Picked, min: number, max: number): number {
  const { value, field } = picked;
  const number = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < min || number > max) {
    const shown = typeof value === 'string' ? quote(value) : String(value);
    const range = max === Number.MAX_SAFE_INTEGER ? `a whole number of at least ${min}` : `a whole number from ${min} to ${max}`;
    throw new ValidationError(`${field}: ${shown} must be ${range} (seconds)`, field);
  }
  return number;
}

function parseBoolean({ value, field }: Picked): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new ValidationError(`${field} must be true or false`, field);
}

function parseCustomField(picked: Picked): string {
  const text = parseText(picked);
  if (text.length > MAX_CUSTOM_FIELD_LENGTH) {
    throw new ValidationError(
      `${picked.field} is ${text.length} characters long; Exotel accepts at most ${MAX_CUSTOM_FIELD_LENGTH}`,
      picked.field,
    );
  }
  return text;
}

function parseHttpUrl(picked: Picked): string {
  const text = parseText(picked).trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ValidationError(`${picked.field}: ${quote(text)} is not a URL`, picked.field);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ValidationError(`${picked.field}: ${quote(text)} must be an http or https URL`, picked.field);
  }
  if (/\s/.test(text)) {
    throw new ValidationError(`${picked.field}: ${quote(text)} contains spaces`, picked.field);
  }
  return text;
}

function parseEvents({ value, field }: Picked): StatusCallbackEvent[] {
  let items: unknown[];
  if (Array.isArray(value)) items = value;
  else if (typeof value === 'string') items = value.split(',');
  else throw new ValidationError(`${field} must be an array or a comma-separated string of terminal, answered`, field);
  const events: StatusCallbackEvent[] = [];
  items.forEach((item, index) => {
    const itemField = Array.isArray(value) ? `${field}[${index}]` : field;
    if (typeof item === 'string' && item.trim() === '') return;
    const event = parseEnumeration({ value: item, field: itemField }, STATUS_CALLBACK_EVENTS);
    if (!events.includes(event)) events.push(event);
  });
  return events;
}

/** The form body of connect.json, with Exotel's parameter names. */
export function buildConnectForm(params: ConnectParams): URLSearchParams {
  const form = new URLSearchParams();
  form.set('From', params.from);
  form.set('To', params.to);
  form.set('CallerId', params.callerId);
  if (params.callType) form.set('CallType', params.callType);
  if (params.timeLimit !== undefined) form.set('TimeLimit', String(params.timeLimit));
  if (params.timeOut !== undefined) form.set('TimeOut', String(params.timeOut));
  if (params.waitUrl) form.set('WaitUrl', params.waitUrl);
  // Exotel only knows Record=true; leaving it out is "do not record".
  if (params.record) form.set('Record', 'true');
  if (params.recordingChannels) form.set('RecordingChannels', params.recordingChannels);
  if (params.recordingFormat) form.set('RecordingFormat', params.recordingFormat);
  if (params.customField !== undefined) form.set('CustomField', params.customField);
  if (params.statusCallback) form.set('StatusCallback', params.statusCallback);
  params.statusCallbackEvents?.forEach((event, index) => form.set(`StatusCallbackEvents[${index}]`, event));
  if (params.statusCallbackContentType) form.set('StatusCallbackContentType', params.statusCallbackContentType);
  return form;
}

/** Account SIDs are letters, digits, dashes and underscores. */
export function parseAccountSid(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigError('accountSid is missing');
  const sid = value.trim();
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(sid)) {
    throw new ConfigError(`accountSid ${quote(sid)} may only contain letters, digits, dashes and underscores`);
  }
  return sid;
}

/** POST target for a click-to-call on `baseUrl` (from parseServiceUrl, no trailing slash). */
export function connectUrl(baseUrl: string, accountSid: string): string {
  return `${baseUrl}/v1/Accounts/${encodeURIComponent(accountSid)}/Calls/connect.json`;
}

/** HTTP Basic with the API key as user: never put credentials in the URL, where logs keep them. */
export function basicAuthorization(apiKey: string, apiToken: string): string {
  return `Basic ${Buffer.from(`${apiKey}:${apiToken}`, 'utf8').toString('base64')}`;
}
