import { ValidationError } from '../lib/errors';
import { isPlainObject } from '../sangam/call-record';
import { convertCrmDate, formatEpochMs } from '../sangam/dates';
import type { AgentDirectory } from '../sangam/agent-directory';

/**
 * What the source modules share: reading a payload's fields whatever their case, the outcomes of
 * a mapping, and the rules the issue sets for every system (direction, status, times).
 */

/** A call-log record in the guide's field names, before call-record.ts normalises it. */
export type SourceRecord = Record<string, string | number>;

/** One leg or callback of a call, mapped; what CallMerger needs to pick the leg that wins. */
export interface MappedCall {
  skipped: false;
  record: SourceRecord;
  /** The call this leg belongs to (linkedid, ParentCallSid, call_uuid, ...): legs with one key are one call. */
  callKey: string;
  /** This leg's own id (uniqueid, CallSid, uuid): a second arrival of it is a repeat. */
  legId: string;
  answered: boolean;
  talkSeconds: number;
  /** Instants of date_start / date_end (NaN when the source gave none). */
  startMs: number;
  endMs: number;
  /**
   * This leg is the call itself (a Twilio parent call, not a <Dial> child): its direction is the
   * call's, whichever leg wins. Legs of systems without such a leg leave it out.
   */
  leads?: boolean;
  /** The system's ids to echo in a skipped answer to a repeat (Exotel: CallSid, EventType). */
  ids?: Record<string, string>;
}

/** An event that does not end a call (or is not a ringing call, for pop-ups): answered, nothing sent. */
export interface SkippedEvent {
  skipped: true;
  reason: string;
  [id: string]: string | boolean;
}

export type CallLogResult = MappedCall | SkippedEvent;

/** A pop-up event in the guide's field names. */
export interface PopupEvent {
  cli: string;
  event: string;
  uniqueid: string;
  time: string;
  nm: string;
  to: string;
}

export type PopupResult = { skipped: false; event: PopupEvent } | SkippedEvent;

export interface CallLogOptions {
  /** IANA zone of the CRM: dates are written in it. */
  timeZone: string;
  agents?: AgentDirectory;
}

export interface PopupOptions {
  timeZone: string;
  agents?: AgentDirectory;
  /** The `event` written when the source has none (the node's eventCode). */
  eventCode: string;
  /** Clock for events that carry no time of their own (tests pass a fixed one). */
  now?: () => number;
}

export function skipped(reason: string, ids: Record<string, string | undefined> = {}): SkippedEvent {
  const out: SkippedEvent = { skipped: true, reason };
  for (const [key, value] of Object.entries(ids)) if (value !== undefined) out[key] = value;
  return out;
}

/**
 * A payload's fields, looked up without regard to case: AMI clients differ (asterisk-manager
 * lower-cases every key, others keep Asterisk's), and form parsers keep whatever was sent.
 */
export class Fields {
  private readonly byLowerName = new Map<string, unknown>();

  constructor(readonly format: string, source: Record<string, unknown>) {
    for (const [key, value] of Object.entries(source)) {
      const lower = key.toLowerCase();
      // The first spelling wins, as a form parser would keep it.
      if (!this.byLowerName.has(lower)) this.byLowerName.set(lower, value);
    }
  }

  has(name: string): boolean {
    return this.text(name) !== undefined;
  }

  raw(name: string): unknown {
    return this.byLowerName.get(name.toLowerCase());
  }

  /** A field as trimmed text; '', 'null' and (for repeated form fields) all but the first value mean absent. */
  text(name: string): string | undefined {
    let value = this.byLowerName.get(name.toLowerCase());
    if (Array.isArray(value)) value = value[0];
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    if (typeof value !== 'string') return undefined;
    const trimmed = value.trim();
    return trimmed === '' || trimmed.toLowerCase() === 'null' ? undefined : trimmed;
  }

  /** The first of several names that is present. */
  first(...names: string[]): string | undefined {
    for (const name of names) {
      const value = this.text(name);
      if (value !== undefined) return value;
    }
    return undefined;
  }

  required(name: string, expected: string): string {
    const value = this.text(name);
    if (value === undefined) throw missingField(this.format, name, expected);
    return value;
  }

  /** Whole seconds from a number or a string of digits (fractions rounded); undefined when absent. */
  seconds(name: string): number | undefined {
    const value = this.text(name);
    if (value === undefined) return undefined;
    if (!/^\d+(\.\d+)?$/.test(value)) {
      throw new ValidationError(`${this.format}: ${name} "${printable(value)}" is not a number of seconds`, name);
    }
    return Math.round(Number(value));
  }
}

export function missingField(format: string, name: string, expected: string): ValidationError {
  return new ValidationError(`${format}: ${name} is missing; expected ${expected}`, name);
}

/** An object payload, or a JSON text of one (an http-in node without a body parser hands on text). */
export function objectPayload(body: unknown, format: string, expected: string): Record<string, unknown> {
  let value = body;
  if (typeof value === 'string') {
    const text = value.trim();
    if (!text.startsWith('{')) {
      throw new ValidationError(`${format}: the payload is text that is not a JSON object; expected ${expected}`, 'payload');
    }
    try {
      value = JSON.parse(text);
    } catch {
      throw new ValidationError(`${format}: the payload is text that is not valid JSON; expected ${expected}`, 'payload');
    }
  }
  if (Buffer.isBuffer(value)) {
    throw new ValidationError(`${format}: the payload is raw bytes; parse the body first (an http in node does for form and JSON bodies); expected ${expected}`, 'payload');
  }
  if (!isPlainObject(value)) {
    throw new ValidationError(`${format}: the payload must be an object of fields; expected ${expected}`, 'payload');
  }
  return value;
}

export function printable(value: string): string {
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 40 ? `${clean.slice(0, 39)}…` : clean;
}

/** An extension: a number of at most 6 digits (the rule for a calling party inside the PBX). */
export function isExtension(number: string | undefined): boolean {
  return number !== undefined && /^\d{1,6}$/.test(number);
}

/**
 * The rule for systems that do not say which way a call went (Asterisk, FreeSWITCH): a call whose
 * calling party is one of our agents or an extension is Outbound, else Inbound.
 */
export function directionFromCaller(caller: string | undefined, agents?: AgentDirectory): 'Inbound' | 'Outbound' {
  if (isExtension(caller)) return 'Outbound';
  if (caller !== undefined && agents?.byNumber(caller)) return 'Outbound';
  return 'Inbound';
}

/** The first candidate number that names an agent of the directory: that agent's user id. */
export function agentUserId(agents: AgentDirectory | undefined, candidates: ReadonlyArray<string | undefined>): string | undefined {
  if (!agents) return undefined;
  for (const candidate of candidates) {
    if (candidate === undefined) continue;
    const agent = agents.byNumber(candidate);
    if (agent && agent.userId !== '') return agent.userId;
  }
  return undefined;
}

/** The first candidate number that names an agent with an email: that email (a pop-up's nm). */
export function agentEmail(agents: AgentDirectory | undefined, candidates: ReadonlyArray<string | undefined>): string | undefined {
  if (!agents) return undefined;
  for (const candidate of candidates) {
    if (candidate === undefined) continue;
    const agent = agents.byNumber(candidate);
    if (agent && agent.email !== '') return agent.email;
  }
  return undefined;
}

/**
 * The user part of an Asterisk or FreeSWITCH channel name, the phone or extension behind it:
 * PJSIP/201-00000012 -> 201, SIP/1310-asfe -> 1310, Local/201@from-queue-0000001;1 -> 201,
 * sofia/internal/1001@192.168.56.74 -> 1001.
 */
export function channelPeer(channel: string | undefined): string | undefined {
  if (channel === undefined) return undefined;
  // Technology/[profile/]peer, then Asterisk's -<sequence> suffix or an @host / ;n part.
  const match = /^[A-Za-z0-9_]+\/(?:[A-Za-z0-9_.-]+\/)?(?:sip:)?([^@;/]+?)(?:-[0-9a-z]{4,8})?(?:[@;].*)?$/i.exec(channel);
  return match ? match[1] : undefined;
}

/**
 * A wall-clock time of the source's own zone ('YYYY-MM-DD HH:mm:ss' or ISO without offset) as
 * an instant; throws ValidationError naming the field. The zone has been checked by the caller.
 */
export function wallTimeToEpochMs(value: string, sourceZone: string, format: string, field: string): number {
  try {
    return convertCrmDate(value, sourceZone, field, true).epochMs;
  } catch (error) {
    if (error instanceof ValidationError) throw new ValidationError(`${format}: ${error.message}`, field);
    throw error;
  }
}

/** An instant as the CRM's 'YYYY-MM-DD HH:mm:ss' in its zone. */
export function crmTime(epochMs: number, timeZone: string): string {
  return formatEpochMs(epochMs, timeZone);
}

/** Fills date_start, date_end from instants: end from start + duration when the source gave no end. */
export function putDates(record: SourceRecord, startMs: number, endMs: number, timeZone: string): void {
  if (!Number.isNaN(startMs)) record.date_start = crmTime(startMs, timeZone);
  if (!Number.isNaN(endMs)) record.date_end = crmTime(endMs, timeZone);
}
