import { ValidationError } from '../lib/errors';

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

export interface CallbackDeduplicatorOptions {
  maxEntries: number;
  ttlMs: number;
  now?: () => number;
}

/**
 * Remembers which (CallSid, EventType) pairs were handled, so that Exotel's retries of a
 * callback (it retries when the answer takes over 15 s) log a call once. Bounded: the oldest
 * entries go first.
 */
export class CallbackDeduplicator {
  /** key -> when first seen; a Map keeps insertion order, so the oldest come first. */
  private readonly entries = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: Partial<CallbackDeduplicatorOptions> = {}) {
    this.maxEntries = Math.max(1, Math.floor(options.maxEntries ?? 10_000));
    this.ttlMs = options.ttlMs ?? 3_600_000;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** True if this pair was seen within the ttl; otherwise records it and returns false. */
  seen(callSid: string, eventType: string): boolean {
    const now = this.now();
    this.expire(now);
    const key = keyOf(callSid, eventType);
    const seenAt = this.entries.get(key);
    if (seenAt !== undefined && now - seenAt < this.ttlMs) return true;
    this.entries.delete(key);
    this.entries.set(key, now);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return false;
  }

  /** After a failed delivery, so that Exotel's retry of the same callback is not dropped. */
  forget(callSid: string, eventType: string): void {
    this.entries.delete(keyOf(callSid, eventType));
  }

  private expire(now: number): void {
    for (const [key, seenAt] of this.entries) {
      if (now - seenAt < this.ttlMs) break;
      this.entries.delete(key);
    }
  }
}

function keyOf(callSid: string, eventType: string): string {
  return `${callSid}\u0000${eventType.toLowerCase()}`;
}

/** What the call-log node does with one status callback. */
export type CallbackDecision =
  | { kind: 'log'; record: Record<string, unknown>; callSid: string; eventType: string }
  | { kind: 'skip'; answer: { skipped: true; reason: string; CallSid?: string; EventType?: string } };

/**
 * Exotel's status callbacks into call records: maps each one, drops repeats of a CallSid +
 * EventType (Exotel retries), and forgets a callback whose record was not kept, so that Exotel's
 * retry of it is logged rather than dropped.
 */
export class ExotelCallbackIntake {
  private readonly seen = new CallbackDeduplicator({ maxEntries: 10_000, ttlMs: 3_600_000 });

  /** Throws ValidationError for a callback that cannot be read. */
  decide(body: unknown): CallbackDecision {
    const mapped = exotelCallbackToCallRecord(body);
    if (mapped.kind === 'ignore') return skip(mapped.reason, mapped.callSid, mapped.eventType);
    if (this.seen.seen(mapped.callSid, mapped.eventType)) {
      return skip('repeated status callback', mapped.callSid, mapped.eventType);
    }
    return { kind: 'log', record: mapped.record, callSid: mapped.callSid, eventType: mapped.eventType };
  }

  /** The record of a logged callback was neither delivered nor kept: let a retry of it through. */
  notKept(decision: CallbackDecision): void {
    if (decision.kind === 'log') this.seen.forget(decision.callSid, decision.eventType);
  }
}

function skip(reason: string, callSid?: string, eventType?: string): CallbackDecision {
  return { kind: 'skip', answer: { skipped: true, reason, CallSid: callSid, EventType: eventType } };
}
