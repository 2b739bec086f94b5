import { exotelCallbackToCallRecord } from '../sources/exotel';

// The mapping moved to src/sources/exotel.ts with the other telephony sources; re-exported so
// that this module's users keep their imports.
export { exotelCallbackToCallRecord };
export type { ExotelCallbackResult } from '../sources/exotel';

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
