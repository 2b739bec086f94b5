import { ValidationError } from '../lib/errors';
import { isPlainObject } from '../sangam/call-record';
import {
  agentUserId,
  CallLogOptions,
  CallLogResult,
  directionFromCaller,
  Fields,
  missingField,
  objectPayload,
  printable,
  putDates,
  SourceRecord,
  wallTimeToEpochMs,
} from './common';

/**
 * The JSON CDR that FreeSWITCH's mod_json_cdr POSTs at the end of each leg
 * (https://developer.signalwire.com/freeswitch/module-reference/event-handlers/mod_json_cdr/):
 * `variables` holds the channel variables (uuid, start_epoch, answer_epoch, end_epoch, billsec,
 * hangup_cause, ...), `callflow` the caller profiles (caller_id_number, destination_number): an
 * array in current versions, newest first; older ones wrote one object per profile under the
 * same key, which JSON.parse reduces to the last. With encode-values (the default) each value is
 * URL-encoded; with encode=true the body is a form whose `cdr` field is the JSON (or its base64).
 */

const FORMAT = 'FreeSWITCH';
const EXPECTED = 'mod_json_cdr\'s JSON CDR (variables.uuid, variables.start_epoch, variables.billsec, variables.hangup_cause, callflow[].caller_profile.caller_id_number, ...)';

export interface FreeswitchCallLogOptions extends CallLogOptions {
  /** Zone of the FreeSWITCH server, for a CDR that has *_stamp times but no *_epoch ones (default: timeZone). */
  pbxTimeZone?: string;
  /** Base URL that recordings are served from; a recording's file name is appended to it. */
  recordingUrlPrefix?: string;
}

/** FusionPBX and others set call_direction: the system saying which way the call went. */
const CALL_DIRECTIONS: Readonly<Record<string, 'Inbound' | 'Outbound'>> = {
  inbound: 'Inbound',
  outbound: 'Outbound',
  local: 'Outbound',
};

function cdrObject(body: unknown): Record<string, unknown> {
  let value: unknown = body;
  // encode=true: an http in node hands on the form as {cdr: "<json or base64>"}.
  if (isPlainObject(value) && typeof value.cdr === 'string' && value.variables === undefined) value = value.cdr;
  if (typeof value === 'string') {
    const text = value.trim();
    if (text !== '' && !text.startsWith('{') && /^[A-Za-z0-9+/=\s]+$/.test(text)) {
      value = Buffer.from(text, 'base64').toString('utf8');
    }
  }
  return objectPayload(value, FORMAT, EXPECTED);
}

/** mod_json_cdr URL-encodes values unless encode-values is false. */
function decoded(value: unknown): unknown {
  if (typeof value !== 'string' || !value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function decodedObject(source: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) out[key] = decoded(value);
  return out;
}

/** The caller profiles, oldest (the one the call arrived with) first. */
function callerProfiles(cdr: Record<string, unknown>): Fields[] {
  const flow = cdr.callflow;
  const entries = Array.isArray(flow) ? flow : flow === undefined ? [] : [flow];
  const profiles: Array<{ index: number; order: number; fields: Fields }> = [];
  entries.forEach((entry: unknown, order) => {
    if (!isPlainObject(entry) || !isPlainObject(entry.caller_profile)) return;
    const index = Number(decoded(entry.profile_index));
    profiles.push({
      index: Number.isFinite(index) ? index : Number.MAX_SAFE_INTEGER - order,
      order,
      fields: new Fields(FORMAT, decodedObject(entry.caller_profile)),
    });
  });
  profiles.sort((a, b) => a.index - b.index || b.order - a.order);
  return profiles.map((p) => p.fields);
}

function epochMs(variables: Fields, name: string): number | undefined {
  const value = variables.text(name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new ValidationError(`${FORMAT}: variables.${name} "${printable(value)}" is not epoch seconds`, `variables.${name}`);
  const seconds = Number(value);
  return seconds === 0 ? undefined : seconds * 1000;
}

function time(variables: Fields, epochName: string, stampName: string, zone: string): number | undefined {
  const fromEpoch = epochMs(variables, epochName);
  if (fromEpoch !== undefined) return fromEpoch;
  const stamp = variables.text(stampName);
  if (stamp === undefined || /^0000-00-00/.test(stamp)) return undefined;
  return wallTimeToEpochMs(stamp, zone, FORMAT, `variables.${stampName}`);
}

function recordingLink(variables: Fields, prefix: string | undefined): string {
  const url = variables.first('recording_url', 'record_url');
  if (url !== undefined && /^https?:\/\//i.test(url)) return url;
  const file = variables.first('record_name', 'recording_file', 'record_file', 'record_path');
  if (file === undefined || !prefix) return '';
  if (/^https?:\/\//i.test(file)) return file;
  return `${prefix.replace(/\/+$/, '')}/${encodeURIComponent(file.replace(/^.*\//, ''))}`;
}

/**
 * One mod_json_cdr CDR -> one leg of a call. The a-leg and b-leg CDRs of a call share a key
 * (the b-leg's originating_leg_uuid is the a-leg's uuid), so CallMerger keeps one record.
 * Throws ValidationError naming the missing field for a payload that is no JSON CDR.
 */
export function freeswitchCallLog(body: unknown, options: FreeswitchCallLogOptions): CallLogResult {
  const cdr = cdrObject(body);
  if (!isPlainObject(cdr.variables)) throw missingField(FORMAT, 'variables', EXPECTED);
  const variables = new Fields(FORMAT, decodedObject(cdr.variables));
  const profiles = callerProfiles(cdr);
  const first = profiles[0];
  const last = profiles[profiles.length - 1];
  const uuid = variables.text('uuid') ?? first?.text('uuid');
  if (uuid === undefined) throw missingField(FORMAT, 'variables.uuid', EXPECTED);

  const zone = options.pbxTimeZone ?? options.timeZone;
  const startMs = time(variables, 'start_epoch', 'start_stamp', zone);
  if (startMs === undefined) throw missingField(FORMAT, 'variables.start_epoch (or start_stamp)', EXPECTED);
  const answerMs = time(variables, 'answer_epoch', 'answer_stamp', zone);
  let endMs = time(variables, 'end_epoch', 'end_stamp', zone);
  const billsec = variables.seconds('billsec');
  const total = variables.seconds('duration');
  if (endMs === undefined && total !== undefined) endMs = startMs + total * 1000;
  const answered = answerMs !== undefined || (billsec ?? 0) > 0;
  let talkSeconds = billsec ?? (answerMs !== undefined && endMs !== undefined ? Math.round((endMs - answerMs) / 1000) : 0);
  if (!answered) talkSeconds = 0;

  const caller = first?.text('caller_id_number') ?? variables.first('caller_id_number', 'effective_caller_id_number', 'sip_from_user');
  const destination = first?.text('destination_number') ?? variables.first('destination_number', 'sip_req_user', 'sip_to_user');
  const stated = variables.text('call_direction');
  const direction = (stated !== undefined ? CALL_DIRECTIONS[stated.toLowerCase()] : undefined) ?? directionFromCaller(caller, options.agents);

  const record: SourceRecord = {};
  if (caller !== undefined) record.enjay_lat_source_number = caller;
  if (destination !== undefined) record.enjay_lat_destination_number = destination;
  record.direction = direction;
  record.call_status = answered ? 'Held' : 'Not Held';
  putDates(record, startMs, endMs ?? NaN, options.timeZone);
  record.duration = talkSeconds;
  record.synapse_recording_link = recordingLink(variables, options.recordingUrlPrefix);
  record.logged_by = 'IVR';
  // Who took an inbound call: the user the dialplan bridged to, or the last number dialled.
  const inboundSide = [variables.text('dialed_user'), variables.text('last_sent_callee_id_number'), last?.text('destination_number'), destination];
  const outboundSide = [caller, variables.text('sip_from_user'), variables.text('user_name')];
  const userId = agentUserId(options.agents, direction === 'Outbound' ? [...outboundSide, ...inboundSide] : [...inboundSide, ...outboundSide]);
  if (userId !== undefined) record.assigned_user_id = userId;
  record.freeswitch_uuid = uuid;
  const cause = variables.text('hangup_cause');
  if (cause !== undefined) record.freeswitch_hangup_cause = cause;

  const aLeg = variables.first('originating_leg_uuid', 'call_uuid') ?? uuid;
  return {
    skipped: false,
    record,
    callKey: `freeswitch:${aLeg}`,
    legId: uuid,
    answered,
    talkSeconds,
    startMs,
    endMs: endMs ?? NaN,
  };
}
