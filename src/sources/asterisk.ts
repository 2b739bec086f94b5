import { ValidationError } from '../lib/errors';
import {
  agentEmail,
  agentUserId,
  CallLogOptions,
  CallLogResult,
  channelPeer,
  crmTime,
  directionFromCaller,
  Fields,
  missingField,
  objectPayload,
  PopupOptions,
  PopupResult,
  printable,
  putDates,
  skipped,
  SourceRecord,
  wallTimeToEpochMs,
} from './common';

/**
 * Asterisk CDRs in the shapes a call centre meets them: the AMI Cdr event of cdr_manager (an
 * object from an AMI client, keys in any case, or its raw "Key: Value" text), and the CDR
 * columns / CDR() variables (src, dst, calldate or start, answer, end, billsec, disposition,
 * uniqueid, linkedid, ...) of the cdr table or a dialplan hangup handler that posts them with
 * CURL(). The same meaning has one name per shape (Source/src, BillableSeconds/billsec), so each
 * field is read under both and no shape detection is needed.
 * Docs: https://docs.asterisk.org/Asterisk_20_Documentation/API_Documentation/AMI_Events/Cdr/,
 * https://docs.asterisk.org/Configuration/Reporting/Call-Detail-Records-CDR/CDR-Variables/
 */

const FORMAT = 'Asterisk';
const EXPECTED = 'an Asterisk CDR: the AMI Cdr event (Source, Destination, StartTime, AnswerTime, EndTime, BillableSeconds, Disposition, UniqueID, ...) or CDR columns (src, dst, calldate or start, answer, end, billsec, disposition, uniqueid, linkedid, ...)';
const EXPECTED_POPUP = 'an Asterisk AMI DialBegin or Newstate event (Event, CallerIDNum, DestChannel or Channel, Uniqueid, Linkedid, ...)';

export interface AsteriskCallLogOptions extends CallLogOptions {
  /** IANA zone of the Asterisk server: its CDR times are local wall-clock times without a zone. */
  pbxTimeZone: string;
  /** Base URL that recordings are served from; a recordingfile name is appended to it. */
  recordingUrlPrefix?: string;
}

/** AMI's Timestamp is epoch seconds: a pop-up needs no PBX zone. */
export type AsteriskPopupOptions = PopupOptions;

const ANSWERED = 'ANSWERED';
const NOT_ANSWERED: ReadonlySet<string> = new Set(['NO ANSWER', 'BUSY', 'FAILED', 'CONGESTION']);

/**
 * The raw text of one AMI event ("Event: Cdr\r\nSource: 201\r\n...") as an object. The first
 * block ends at a blank line; lines without "Key: " are an error naming their number.
 */
export function parseAmiText(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  let started = false;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i];
    if (line.trim() === '') {
      if (started) break;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) {
      throw new ValidationError(`${FORMAT}: line ${i + 1} of the AMI text is not "Key: Value": "${printable(line)}"`, 'payload');
    }
    started = true;
    const key = line.slice(0, colon).trim();
    if (!(key in out)) out[key] = line.slice(colon + 1).trim();
  }
  return out;
}

function asteriskFields(body: unknown, expected: string): Fields {
  if (typeof body === 'string' && !body.trim().startsWith('{')) {
    if (body.indexOf(':') < 0) {
      throw new ValidationError(`${FORMAT}: the payload is text that is neither AMI "Key: Value" lines nor JSON; expected ${expected}`, 'payload');
    }
    return new Fields(FORMAT, parseAmiText(body));
  }
  return new Fields(FORMAT, objectPayload(body, FORMAT, expected));
}

/** Asterisk writes an unknown caller id as "<unknown>" and an unset time as zeros. */
function number(fields: Fields, ...names: string[]): string | undefined {
  const value = fields.first(...names);
  return value === undefined || value === '<unknown>' ? undefined : value;
}

/**
 * A CDR time as an instant: 'YYYY-MM-DD HH:MM:SS' in the PBX's zone, or epoch seconds (CDR(start,u)).
 * Undefined for an unset time (empty, zeros).
 */
function cdrTime(fields: Fields, pbxTimeZone: string, names: string[]): number | undefined {
  for (const name of names) {
    const value = fields.text(name);
    if (value === undefined || /^0000-00-00/.test(value) || /^0+(\.0+)?$/.test(value)) continue;
    if (/^\d{9,10}(\.\d+)?$/.test(value)) return Math.floor(Number(value) * 1000);
    return wallTimeToEpochMs(value, pbxTimeZone, FORMAT, name);
  }
  return undefined;
}

function recordingLink(file: string | undefined, prefix: string | undefined): string {
  if (file === undefined) return '';
  if (/^https?:\/\//i.test(file)) return file;
  if (!prefix) return '';
  const name = file.replace(/^.*\//, '');
  return `${prefix.replace(/\/+$/, '')}/${encodeURIComponent(name)}`;
}

/**
 * One CDR -> one leg of a call (several CDRs with one linkedid are one call: CallMerger), or
 * skipped for an AMI event other than Cdr. Throws ValidationError naming the missing field for a
 * payload that is no Asterisk CDR, ConfigError for an unknown pbxTimeZone.
 */
export function asteriskCallLog(body: unknown, options: AsteriskCallLogOptions): CallLogResult {
  const fields = asteriskFields(body, EXPECTED);
  const event = fields.text('Event');
  if (event !== undefined && event.toLowerCase() !== 'cdr') {
    return skipped(`AMI ${printable(event)} event: only Cdr events are logged`, { Event: event, Uniqueid: fields.text('Uniqueid') });
  }
  const dispositionText = fields.first('Disposition');
  if (dispositionText === undefined) throw missingField(FORMAT, 'Disposition (disposition)', EXPECTED);
  const disposition = dispositionText.toUpperCase();
  if (disposition !== ANSWERED && !NOT_ANSWERED.has(disposition)) {
    throw new ValidationError(
      `${FORMAT}: Disposition "${printable(dispositionText)}" is not ANSWERED, NO ANSWER, BUSY, FAILED or CONGESTION (numeric dispositions from CDR(disposition,u) differ between Asterisk versions: post the text)`,
      'Disposition',
    );
  }
  const startNames = ['StartTime', 'start', 'calldate'];
  const startMs = cdrTime(fields, options.pbxTimeZone, startNames);
  if (startMs === undefined) throw missingField(FORMAT, 'StartTime (start or calldate)', EXPECTED);
  const answerMs = cdrTime(fields, options.pbxTimeZone, ['AnswerTime', 'answer']);
  const answered = disposition === ANSWERED;
  const totalSeconds = fields.seconds('Duration');
  let endMs = cdrTime(fields, options.pbxTimeZone, ['EndTime', 'end']);
  if (endMs === undefined && totalSeconds !== undefined) endMs = startMs + totalSeconds * 1000;
  // Talk time is billsec; without it, end minus answer. A call that was not answered had none.
  let talkSeconds = fields.seconds('BillableSeconds') ?? fields.seconds('billsec');
  if (talkSeconds === undefined) {
    talkSeconds = answerMs !== undefined && endMs !== undefined ? Math.max(0, Math.round((endMs - answerMs) / 1000)) : 0;
  }
  if (!answered) talkSeconds = 0;

  const src = number(fields, 'Source', 'src');
  const dst = number(fields, 'Destination', 'dst');
  const channel = fields.first('Channel');
  const dstChannel = fields.first('DestinationChannel', 'dstchannel');
  const direction = directionFromCaller(src, options.agents);

  const record: SourceRecord = {};
  if (src !== undefined) record.enjay_lat_source_number = src;
  if (dst !== undefined) record.enjay_lat_destination_number = dst;
  record.direction = direction;
  record.call_status = answered ? 'Held' : 'Not Held';
  putDates(record, startMs, endMs ?? NaN, options.timeZone);
  record.duration = talkSeconds;
  record.synapse_recording_link = recordingLink(fields.first('RecordingFile', 'recordingfile'), options.recordingUrlPrefix);
  record.logged_by = 'IVR';
  // The agent who took an inbound call is the peer of the answering channel (PJSIP/201-...);
  // the one who made an outbound call is the caller.
  const inboundSide = [channelPeer(dstChannel), dst];
  const outboundSide = [src, channelPeer(channel)];
  const userId = agentUserId(options.agents, direction === 'Outbound' ? [...outboundSide, ...inboundSide] : [...inboundSide, ...outboundSide]);
  if (userId !== undefined) record.assigned_user_id = userId;
  const uniqueid = fields.first('UniqueID');
  const linkedid = fields.first('LinkedID');
  if (uniqueid !== undefined) record.asterisk_uniqueid = uniqueid;
  if (linkedid !== undefined) record.asterisk_linkedid = linkedid;

  // One Party A channel can have several CDRs (one per dial attempt): its uniqueid alone does
  // not name a CDR, the sequence does (or the channel it reached and when).
  const sequence = fields.first('Sequence');
  const legId = sequence !== undefined
    ? `${uniqueid ?? ''}#${sequence}`
    : `${uniqueid ?? src ?? ''}|${dstChannel ?? dst ?? ''}|${startMs}`;
  return {
    skipped: false,
    record,
    callKey: `asterisk:${linkedid ?? uniqueid ?? legId}`,
    legId,
    answered,
    talkSeconds,
    startMs,
    endMs: endMs ?? NaN,
  };
}

function digitsLike(value: string | undefined): boolean {
  return value !== undefined && /^\+?\d+$/.test(value);
}

/** The number a DialBegin rings: the dialled channel's peer, the dial string, the extension. */
function dialledNumber(fields: Fields): string | undefined {
  const dialString = fields.text('DialString');
  const candidates = [
    channelPeer(fields.text('DestChannel')),
    dialString?.replace(/^[A-Za-z0-9_]+\//, '').replace(/[@/].*$/, ''),
    fields.text('DestExten'),
    number(fields, 'DestCallerIDNum'),
  ];
  return candidates.find(digitsLike) ?? candidates.find((c) => c !== undefined && c !== '' && c !== 's');
}

/**
 * AMI DialBegin, or Newstate of a channel that is Ringing -> a pop-up; other events are skipped.
 * Throws ValidationError for a payload that is no AMI event.
 */
export function asteriskPopup(body: unknown, options: AsteriskPopupOptions): PopupResult {
  const fields = asteriskFields(body, EXPECTED_POPUP);
  const event = fields.text('Event');
  if (event === undefined) throw missingField(FORMAT, 'Event', EXPECTED_POPUP);
  const uniqueid = fields.text('Uniqueid');
  const ids = { Event: event, Uniqueid: uniqueid };
  let cli: string | undefined;
  let to: string | undefined;
  switch (event.toLowerCase()) {
    case 'dialbegin':
      cli = number(fields, 'CallerIDNum');
      to = dialledNumber(fields);
      break;
    case 'newstate': {
      const state = fields.text('ChannelStateDesc');
      const stateNumber = fields.text('ChannelState');
      if (!(state?.toLowerCase() === 'ringing' || (state === undefined && stateNumber === '5'))) {
        return skipped(`Newstate ${printable(state ?? stateNumber ?? 'without a state')}: a pop-up is sent for a Ringing channel`, ids);
      }
      // The ringing channel is the agent's phone: its connected line is the caller.
      cli = number(fields, 'ConnectedLineNum');
      to = [number(fields, 'CallerIDNum'), channelPeer(fields.text('Channel')), fields.text('Exten')].find((c) => c !== undefined && c !== 's');
      break;
    }
    default:
      return skipped(`AMI ${printable(event)} event: a pop-up is sent for DialBegin or a Ringing Newstate`, ids);
  }
  if (cli === undefined) return skipped('the caller\'s number is unknown: no pop-up', ids);
  if (to === undefined) return skipped('the number that rings is unknown: no pop-up', ids);
  // With timestampevents=yes in manager.conf each event carries its time as epoch seconds.
  const stamp = fields.text('Timestamp');
  const at = stamp !== undefined && /^\d{9,10}(\.\d+)?$/.test(stamp) ? Math.floor(Number(stamp) * 1000) : (options.now ?? Date.now)();
  return {
    skipped: false,
    event: {
      cli,
      event: options.eventCode,
      uniqueid: fields.text('Linkedid') ?? uniqueid ?? '',
      time: crmTime(at, options.timeZone),
      nm: agentEmail(options.agents, [to]) ?? '',
      to,
    },
  };
}
