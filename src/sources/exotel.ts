import { ValidationError } from '../lib/errors';
import {
  agentEmail,
  agentUserId,
  CallLogOptions,
  CallLogResult,
  crmTime,
  Fields,
  objectPayload,
  PopupOptions,
  PopupResult,
  putDates,
  skipped,
  SourceRecord,
  wallTimeToEpochMs,
} from './common';

/**
 * Exotel: the status callback of a call (https://developer.exotel.com/api/statuscallback, see
 * ../shared/reference/exotel-connect-api.md) ends a call; the Passthru applet's GET query
 * (https://support.exotel.com/support/solutions/articles/48283-working-with-passthru-applet)
 * tells of an incoming call while it rings. Exotel writes times as 'YYYY-MM-DD HH:mm:ss' in
 * the account's zone (India: Asia/Kolkata).
 */

/** Exotel's zone when the node gives none: its accounts are Indian. */
export const EXOTEL_DEFAULT_TIME_ZONE = 'Asia/Kolkata';


export type ExotelCallbackResult =
  | { kind: 'record'; record: Record<string, unknown>; callSid: string; eventType: string }
  | { kind: 'ignore'; reason: string; callSid?: string; eventType?: string };

const DIRECTIONS: Readonly<Record<string, 'Inbound' | 'Outbound'>> = {
  inbound: 'Inbound',
  'outbound-dial': 'Outbound',
  'outbound-api': 'Outbound',
};

/**
 * Maps Exotel's status callback, as Node-RED's http-in node parses it (a JSON object, or
 * multipart/urlencoded fields as strings), onto a SangamCRM call-log record in the guide's field
 * names, not yet normalised. Only terminal events become records: EventType `terminal`, or none
 * (Exotel leaves it out unless StatusCallbackEvents was set, and then only calls on the end).
 */
export function exotelCallbackToCallRecord(body: unknown): ExotelCallbackResult {
  const fields = asFields(body);
  const callSid = requiredText(fields, 'CallSid');
  const status = requiredText(fields, 'Status');
  const eventType = (text(fields, 'EventType') ?? 'terminal').toLowerCase();
  if (eventType !== 'terminal') {
    const reason =
      eventType === 'answered'
        ? 'answered event: only terminal events are logged'
        : `unknown EventType "${printable(eventType)}": only terminal events are logged`;
    return { kind: 'ignore', reason, callSid, eventType };
  }

  const record: Record<string, unknown> = {};
  const from = text(fields, 'From');
  if (from !== undefined) record.enjay_lat_source_number = from;
  const to = text(fields, 'To');
  if (to !== undefined) record.enjay_lat_destination_number = to;
  const direction = text(fields, 'Direction');
  if (direction !== undefined) {
    const mapped = DIRECTIONS[direction.toLowerCase()];
    if (!mapped) {
      throw new ValidationError(
        `Exotel status callback: Direction "${printable(direction)}" is not inbound, outbound-dial or outbound-api`,
        'Direction',
      );
    }
    record.direction = mapped;
  }
  // Exotel's times are 'YYYY-MM-DD HH:mm:ss' in the account's zone: passed on as they are.
  const start = time(fields, 'StartTime') ?? time(fields, 'DateCreated') ?? time(fields, 'DateUpdated');
  if (start !== undefined) record.date_start = start;
  // A terminal event is sent when the call ends, so its DateUpdated is the end when EndTime is absent.
  const end = time(fields, 'EndTime') ?? time(fields, 'DateUpdated');
  if (end !== undefined) record.date_end = end;
  const duration = seconds(fields, 'ConversationDuration');
  if (duration !== undefined) record.duration = duration;
  record.call_status = status.toLowerCase() === 'completed' ? 'Held' : 'Not Held';
  record.synapse_recording_link = text(fields, 'RecordingUrl') ?? '';
  record.logged_by = 'IVR';
  record.exotel_call_sid = callSid;
  const customField = text(fields, 'CustomField');
  if (customField !== undefined) record.exotel_custom_field = customField;
  return { kind: 'record', record, callSid, eventType };
}

function asFields(body: unknown): Record<string, unknown> {
  let value = body;
  // An http-in node without a JSON body parser hands on the raw text.
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw new ValidationError('Exotel status callback: the body is text that is not JSON', 'payload');
    }
  }
  if (Buffer.isBuffer(value)) {
    throw new ValidationError('Exotel status callback: the body is raw bytes; parse it (http-in with "accept file uploads" for multipart)', 'payload');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError('Exotel status callback: the body must be an object of fields (CallSid, Status, ...)', 'payload');
  }
  return value as Record<string, unknown>;
}

/** A field as text; '' and Exotel's 'null' mean absent. Form parsers may give an array for a repeated field. */
function text(fields: Record<string, unknown>, name: string): string | undefined {
  let value = fields[name];
  if (Array.isArray(value)) value = value[0];
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' || trimmed.toLowerCase() === 'null' ? undefined : trimmed;
}

function requiredText(fields: Record<string, unknown>, name: string): string {
  const value = text(fields, name);
  if (value === undefined) throw new ValidationError(`Exotel status callback: ${name} is missing`, name);
  return value;
}

/** Exotel writes an unset time as zeros. */
function time(fields: Record<string, unknown>, name: string): string | undefined {
  const value = text(fields, name);
  return value === undefined || /^0000-00-00/.test(value) ? undefined : value;
}

function seconds(fields: Record<string, unknown>, name: string): number | undefined {
  const value = text(fields, name);
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value)) {
    throw new ValidationError(`Exotel status callback: ${name} "${printable(value)}" is not a number of seconds`, name);
  }
  return Math.round(Number(value));
}

function printable(value: string): string {
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 40 ? `${clean.slice(0, 39)}…` : clean;
}


// ---------------------------------------------------------------------------------------------
// The source-module API shared with Twilio, Asterisk and FreeSWITCH

const FORMAT = 'Exotel';
const EXPECTED_POPUP = 'the Exotel Passthru applet\'s query parameters (CallSid, CallFrom, CallTo, Direction, DialWhomNumber, CurrentTime, ...)';

export interface ExotelCallLogOptions extends CallLogOptions {
  /** Zone of the account's times (default Asia/Kolkata). */
  exotelTimeZone?: string;
}

export interface ExotelPopupOptions extends PopupOptions {
  exotelTimeZone?: string;
}

function instant(value: unknown, zone: string, field: string): number {
  return typeof value === 'string' ? wallTimeToEpochMs(value, zone, FORMAT, field) : NaN;
}

/**
 * A status callback -> the call it ends (times converted from Exotel's zone into the CRM's,
 * talk time as duration, the agent from the directory), or skipped for a non-terminal event.
 * Throws ValidationError naming the missing field.
 */
export function exotelCallLog(body: unknown, options: ExotelCallLogOptions): CallLogResult {
  const mapped = exotelCallbackToCallRecord(body);
  if (mapped.kind === 'ignore') return skipped(mapped.reason, { CallSid: mapped.callSid, EventType: mapped.eventType });
  const zone = options.exotelTimeZone ?? EXOTEL_DEFAULT_TIME_ZONE;
  const record: SourceRecord = {};
  for (const [key, value] of Object.entries(mapped.record)) {
    if (typeof value === 'string' || typeof value === 'number') record[key] = value;
  }
  const startMs = instant(mapped.record.date_start, zone, 'StartTime');
  const endMs = instant(mapped.record.date_end, zone, 'EndTime');
  delete record.date_start;
  delete record.date_end;
  putDates(record, startMs, endMs, options.timeZone);
  const answered = record.call_status === 'Held';
  // Without ConversationDuration (a callback without StatusCallbackEvents) a held call's duration
  // is left to be derived from its dates; a call not held had no talk time.
  if (!answered) record.duration = 0;
  const from = typeof record.enjay_lat_source_number === 'string' ? record.enjay_lat_source_number : undefined;
  const to = typeof record.enjay_lat_destination_number === 'string' ? record.enjay_lat_destination_number : undefined;
  const userId = agentUserId(options.agents, record.direction === 'Outbound' ? [from, to] : [to, from]);
  if (userId !== undefined) record.assigned_user_id = userId;
  return {
    skipped: false,
    record,
    callKey: `exotel:${mapped.callSid}`,
    legId: `${mapped.callSid}:${mapped.eventType}`,
    ids: { CallSid: mapped.callSid, EventType: mapped.eventType },
    answered,
    talkSeconds: typeof record.duration === 'number' ? record.duration : 0,
    startMs,
    endMs,
  };
}

/** Passthru's CallType once the call is over (its table in the doc: completed, client-hangup, incomplete, voicemail). */
const ENDED_CALL_TYPES: ReadonlySet<string> = new Set(['completed', 'client-hangup', 'incomplete', 'voicemail']);
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** Passthru's Created ('Tue, 03 Sep 2024 11:44:54', the account's wall time) as 'YYYY-MM-DD HH:mm:ss'. */
function createdAsWallTime(value: string): string | undefined {
  const match = /^(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}:\d{2}:\d{2})$/.exec(value);
  if (!match) return undefined;
  const month = MONTHS.indexOf(match[2].toLowerCase());
  if (month < 0) return undefined;
  return `${match[3]}-${String(month + 1).padStart(2, '0')}-${match[1].padStart(2, '0')} ${match[4]}`;
}

/**
 * The Passthru applet's parameters for an incoming call -> a pop-up for the number being dialled
 * (DialWhomNumber, once a Connect applet has chosen an agent; else CallTo). Outgoing calls and
 * calls that have ended are skipped.
 */
export function exotelPopup(body: unknown, options: ExotelPopupOptions): PopupResult {
  const fields = new Fields(FORMAT, objectPayload(body, FORMAT, EXPECTED_POPUP));
  const callSid = fields.required('CallSid', EXPECTED_POPUP);
  const direction = (fields.text('Direction') ?? 'incoming').toLowerCase();
  const ids = { CallSid: callSid, Direction: direction };
  if (direction !== 'incoming' && direction !== 'inbound') {
    return skipped(`Direction ${direction}: a pop-up is sent for an incoming call`, ids);
  }
  const callType = fields.text('CallType')?.toLowerCase();
  if (callType !== undefined && ENDED_CALL_TYPES.has(callType)) return skipped(`CallType ${callType}: the call has ended`, ids);
  const cli = fields.first('CallFrom', 'From');
  if (cli === undefined) throw new ValidationError(`${FORMAT}: CallFrom is missing; expected ${EXPECTED_POPUP}`, 'CallFrom');
  const dialWhom = fields.text('DialWhomNumber');
  const to = dialWhom ?? fields.first('CallTo', 'To');
  if (to === undefined) throw new ValidationError(`${FORMAT}: CallTo is missing; expected ${EXPECTED_POPUP}`, 'CallTo');
  const zone = options.exotelTimeZone ?? EXOTEL_DEFAULT_TIME_ZONE;
  const current = fields.text('CurrentTime');
  const created = fields.text('Created');
  const createdWall = created === undefined ? undefined : createdAsWallTime(created);
  let at: number;
  if (current !== undefined) at = wallTimeToEpochMs(current, zone, FORMAT, 'CurrentTime');
  else if (createdWall !== undefined) at = wallTimeToEpochMs(createdWall, zone, FORMAT, 'Created');
  else at = (options.now ?? Date.now)();
  return {
    skipped: false,
    event: {
      cli,
      event: options.eventCode,
      uniqueid: callSid,
      time: crmTime(at, options.timeZone),
      nm: agentEmail(options.agents, [dialWhom]) ?? '',
      to,
    },
  };
}
