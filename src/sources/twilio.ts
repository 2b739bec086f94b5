import { ValidationError } from '../lib/errors';
import {
  agentEmail,
  agentUserId,
  CallLogOptions,
  CallLogResult,
  crmTime,
  directionFromCaller,
  Fields,
  objectPayload,
  PopupOptions,
  PopupResult,
  printable,
  putDates,
  skipped,
  SourceRecord,
} from './common';

/**
 * Twilio Voice webhooks (https://www.twilio.com/docs/voice/api/call-resource#statuscallback,
 * https://www.twilio.com/docs/usage/webhooks/voice-webhooks): form-encoded parameters, as an
 * http in node parses them. The status callback ends a call; the incoming-call request (CallStatus
 * ringing) is the pop-up.
 */

const FORMAT = 'Twilio';
const EXPECTED = 'Twilio Voice status callback parameters (CallSid, CallStatus, From, To, Direction, CallDuration, Timestamp, ...)';
const EXPECTED_POPUP = 'Twilio incoming-call webhook parameters (CallSid, CallStatus ringing, From, To, Direction)';

/** Statuses after which the call is over; the others are progress. */
const FINAL: ReadonlySet<string> = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);
const PROGRESS: ReadonlySet<string> = new Set(['queued', 'initiated', 'ringing', 'in-progress', 'answered']);

const DIRECTIONS: Readonly<Record<string, 'Inbound' | 'Outbound'>> = {
  inbound: 'Inbound',
  'outbound-api': 'Outbound',
  'outbound-dial': 'Outbound',
  // Elastic SIP Trunking: originating is the PBX calling out, terminating a call into the PBX.
  'trunking-originating': 'Outbound',
  'trunking-terminating': 'Inbound',
};

const MONTHS: Readonly<Record<string, number>> = {
  jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11,
};
const RFC_2822 = /^(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2})(?::(\d{2}))?\s*(?:([+-])(\d{2})(\d{2})|GMT|UTC?|Z)$/;

/** Twilio's Timestamp ('Tue, 02 Mar 2021 21:12:56 +0000') as an instant; ISO 8601 is accepted too. */
export function parseTwilioTime(value: string, field = 'Timestamp'): number {
  const match = RFC_2822.exec(value.trim());
  if (match) {
    const month = MONTHS[match[2].toLowerCase()];
    const day = Number(match[1]);
    const hour = Number(match[4]);
    const minute = Number(match[5]);
    const second = match[6] === undefined ? 0 : Number(match[6]);
    if (month !== undefined && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 && second <= 60) {
      const offset = match[7] === undefined ? 0 : (match[7] === '-' ? -1 : 1) * (Number(match[8]) * 60 + Number(match[9]));
      return Date.UTC(Number(match[3]), month, day, hour, minute, second) - offset * 60_000;
    }
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(value.trim())) {
    const ms = Date.parse(value.trim());
    if (!Number.isNaN(ms)) return ms;
  }
  throw new ValidationError(`${FORMAT}: ${field} "${printable(value)}" is not a date such as "Tue, 02 Mar 2021 21:12:56 +0000"`, field);
}

function direction(fields: Fields): 'Inbound' | 'Outbound' | undefined {
  const value = fields.text('Direction');
  if (value === undefined) return undefined;
  const mapped = DIRECTIONS[value.toLowerCase()];
  if (!mapped) {
    throw new ValidationError(`${FORMAT}: Direction "${printable(value)}" is not inbound, outbound-api or outbound-dial`, 'Direction');
  }
  return mapped;
}

/**
 * A status callback -> one leg of a call, or skipped for a callback that does not end the call
 * (initiated, ringing, answered/in-progress). A child leg (<Dial>) carries ParentCallSid: it is
 * filed under its parent's call so that CallMerger keeps one record per call.
 * Throws ValidationError for a payload that is not a Twilio status callback.
 */
export function twilioCallLog(body: unknown, options: CallLogOptions): CallLogResult {
  const fields = new Fields(FORMAT, objectPayload(body, FORMAT, EXPECTED));
  const callSid = fields.required('CallSid', EXPECTED);
  const status = fields.required('CallStatus', EXPECTED).toLowerCase();
  if (!FINAL.has(status)) {
    if (PROGRESS.has(status)) return skipped(`CallStatus ${status}: only a call's end is logged`, { CallSid: callSid, CallStatus: status });
    throw new ValidationError(`${FORMAT}: CallStatus "${printable(status)}" is not a Twilio call status (queued, ringing, in-progress, completed, busy, failed, no-answer, canceled)`, 'CallStatus');
  }
  const from = fields.text('From');
  const to = fields.text('To');
  const dir = direction(fields) ?? directionFromCaller(from, options.agents);
  const answered = status === 'completed';
  // CallDuration counts from the answer; a <Dial> action's DialCallDuration is the talk with the
  // dialled party when the flow posts that instead.
  const talkSeconds = answered ? fields.seconds('DialCallDuration') ?? fields.seconds('CallDuration') ?? 0 : 0;
  // The callback is sent when the call ends: its Timestamp is the end. Twilio sends no start, so
  // the start is the answer (end minus the call's duration).
  const timestamp = fields.text('Timestamp');
  const endMs = timestamp === undefined ? NaN : parseTwilioTime(timestamp);
  const callSeconds = fields.seconds('CallDuration') ?? talkSeconds;
  const startMs = Number.isNaN(endMs) ? NaN : endMs - callSeconds * 1000;

  const record: SourceRecord = {};
  if (from !== undefined) record.enjay_lat_source_number = from;
  if (to !== undefined) record.enjay_lat_destination_number = to;
  record.direction = dir;
  record.call_status = answered ? 'Held' : 'Not Held';
  putDates(record, startMs, endMs, options.timeZone);
  record.duration = talkSeconds;
  record.synapse_recording_link = fields.text('RecordingUrl') ?? '';
  record.logged_by = 'IVR';
  const userId = agentUserId(options.agents, dir === 'Outbound' ? [from, to] : [to, from]);
  if (userId !== undefined) record.assigned_user_id = userId;
  record.twilio_call_sid = callSid;
  const parent = fields.text('ParentCallSid');
  return {
    skipped: false,
    record,
    callKey: `twilio:${parent ?? callSid}`,
    legId: callSid,
    answered,
    talkSeconds,
    startMs,
    endMs,
    leads: parent === undefined,
  };
}

/**
 * The incoming-call webhook (or a <Dial> child's ringing status callback, whose To is the
 * agent's phone) -> a pop-up. Anything else is skipped: a pop-up is for a phone that rings.
 */
export function twilioPopup(body: unknown, options: PopupOptions): PopupResult {
  const fields = new Fields(FORMAT, objectPayload(body, FORMAT, EXPECTED_POPUP));
  const callSid = fields.required('CallSid', EXPECTED_POPUP);
  const status = fields.required('CallStatus', EXPECTED_POPUP).toLowerCase();
  const rawDirection = (fields.text('Direction') ?? 'inbound').toLowerCase();
  if (status !== 'ringing') return skipped(`CallStatus ${status}: a pop-up is sent for a ringing call`, { CallSid: callSid, CallStatus: status });
  if (rawDirection === 'outbound-api') {
    return skipped('Direction outbound-api: a call placed through the API rings a customer, not an agent', { CallSid: callSid, CallStatus: status });
  }
  const from = fields.required('From', EXPECTED_POPUP);
  const to = fields.required('To', EXPECTED_POPUP);
  const timestamp = fields.text('Timestamp');
  const at = timestamp === undefined ? (options.now ?? Date.now)() : parseTwilioTime(timestamp);
  return {
    skipped: false,
    event: {
      cli: from,
      event: options.eventCode,
      uniqueid: fields.text('ParentCallSid') ?? callSid,
      time: crmTime(at, options.timeZone),
      nm: agentEmail(options.agents, [to]) ?? '',
      to,
    },
  };
}
