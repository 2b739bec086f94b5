import type { MappedCall, SourceRecord } from './common';

/**
 * One call, one record. Two things make several payloads of one call:
 * - repeats: Twilio, Exotel and mod_json_cdr post the same callback again when the answer was
 *   slow or failed;
 * - legs: Asterisk writes a CDR per Party A channel and dial attempt (ring groups, queues,
 *   transfers: same linkedid), FreeSWITCH one per leg, Twilio a callback per <Dial> child.
 *
 * The legs of one call arrive within moments of each other (the PBX writes them as the channels
 * hang up), but which one comes first is not fixed, and the leg that matters (the one that was
 * answered) may come last. So the first leg of a call opens a short hold window keyed by the
 * call; legs arriving within it join; when it ends, one record is emitted through the callback,
 * built from the winning leg: answered before not answered, then the longest talk time, then the
 * first to arrive. The window is the same for every call, so calls end in the order they were
 * opened and one timer (for the oldest) serves all. Bounded: over `maxPending` calls the oldest
 * is emitted early rather than dropped.
 *
 * After a call is emitted its key is remembered for `rememberMs` (bounded too): a repeat or a
 * late leg of it is refused with a reason (the node answers it as skipped), so it is never
 * logged twice. `forget(callKey)` lets a retry through after the record could not be delivered.
 * With `holdMs` 0 (one callback per call, e.g. Exotel) a call is emitted inside offer().
 */

export interface Leg<T> {
  call: MappedCall;
  /** What the caller needs to finish this leg's msg (msg, send, done). */
  context: T;
}

export interface MergedCall<T> {
  callKey: string;
  /** The winning leg's record, with the earliest start and latest end of all legs. */
  record: SourceRecord;
  winner: Leg<T>;
  /** Every leg, in the order they arrived (the winner among them). */
  legs: Array<Leg<T>>;
}

export type OfferResult = { held: true } | { held: false; reason: string };

export interface CallMergerOptions<T> {
  emit: (call: MergedCall<T>) => void;
  /** How long the first leg of a call waits for the others (default 3000 ms; 0: no wait). */
  holdMs?: number;
  /** Calls held at once (default 10,000). */
  maxPending?: number;
  /** How long an emitted call is remembered against repeats (default one hour). */
  rememberMs?: number;
  /** Calls remembered at once (default 100,000). */
  maxRemembered?: number;
  now?: () => number;
  setTimer?: (callback: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

interface Pending<T> {
  deadline: number;
  legs: Array<Leg<T>>;
}

export const DEFAULT_HOLD_MS = 3000;

export class CallMerger<T> {
  private readonly pending = new Map<string, Pending<T>>();
  private readonly remembered: RecentKeys;
  private readonly emit: (call: MergedCall<T>) => void;
  private readonly holdMs: number;
  private readonly maxPending: number;
  private readonly now: () => number;
  private readonly setTimer: (callback: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private timer: unknown;
  private timerDeadline = Infinity;

  constructor(options: CallMergerOptions<T>) {
    this.emit = options.emit;
    this.holdMs = Math.max(0, options.holdMs ?? DEFAULT_HOLD_MS);
    this.maxPending = Math.max(1, Math.floor(options.maxPending ?? 10_000));
    this.now = options.now ?? Date.now;
    this.remembered = new RecentKeys(options.maxRemembered ?? 100_000, options.rememberMs ?? 3_600_000, this.now);
    this.setTimer = options.setTimer ?? ((callback, ms) => {
      const handle = setTimeout(callback, ms);
      // A held call must not keep Node-RED from exiting; close() flushes it anyway.
      handle.unref();
      return handle;
    });
    this.clearTimer = options.clearTimer ?? ((handle) => clearTimeout(handle as NodeJS.Timeout));
  }

  /** Calls waiting for their window to end. */
  get pendingCalls(): number {
    return this.pending.size;
  }

  /**
   * A leg of a call. Held: it will come back through `emit` (as the winner or one of the legs).
   * Refused (a repeat, or a leg of a call already emitted): the caller answers it with the reason.
   */
  offer(call: MappedCall, context: T): OfferResult {
    if (this.remembered.has(call.callKey)) {
      return { held: false, reason: 'repeat: this call was already logged' };
    }
    const open = this.pending.get(call.callKey);
    if (open) {
      if (open.legs.some((leg) => leg.call.legId === call.legId)) {
        return { held: false, reason: 'repeat: this callback or CDR was already received' };
      }
      open.legs.push({ call, context });
      return { held: true };
    }
    if (this.holdMs === 0) {
      this.finish(call.callKey, [{ call, context }]);
      return { held: true };
    }
    const now = this.now();
    this.pending.set(call.callKey, { deadline: now + this.holdMs, legs: [{ call, context }] });
    if (this.pending.size > this.maxPending) {
      const oldest = this.pending.keys().next().value as string;
      this.finishPending(oldest);
    }
    this.schedule(now);
    return { held: true };
  }

  /** Emits every held call now (the node is closing, or a test wants the result). */
  flush(): void {
    this.cancelTimer();
    for (const key of [...this.pending.keys()]) this.finishPending(key);
  }

  /** A call's record was not delivered: let a retry of it through. */
  forget(callKey: string): void {
    this.remembered.delete(callKey);
  }

  private finishPending(key: string): void {
    const open = this.pending.get(key);
    if (!open) return;
    this.pending.delete(key);
    this.finish(key, open.legs);
  }

  private finish(callKey: string, legs: Array<Leg<T>>): void {
    this.remembered.add(callKey);
    this.emit(mergeLegs(callKey, legs));
  }

  private schedule(now: number): void {
    const head = this.pending.values().next().value as Pending<T> | undefined;
    if (!head) {
      this.cancelTimer();
      return;
    }
    if (this.timer !== undefined && this.timerDeadline <= head.deadline) return;
    this.cancelTimer();
    this.timerDeadline = head.deadline;
    this.timer = this.setTimer(() => this.expire(), Math.max(0, head.deadline - now));
  }

  private expire(): void {
    this.timer = undefined;
    this.timerDeadline = Infinity;
    const now = this.now();
    for (const [key, open] of this.pending) {
      if (open.deadline > now) break;
      this.finishPending(key);
    }
    this.schedule(now);
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.clearTimer(this.timer);
    this.timer = undefined;
    this.timerDeadline = Infinity;
  }
}

/** Answered first, then the longest talk, then the first to arrive. */
function better(a: MappedCall, b: MappedCall): boolean {
  if (a.answered !== b.answered) return a.answered;
  return a.talkSeconds > b.talkSeconds;
}

export function mergeLegs<T>(callKey: string, legs: Array<Leg<T>>): MergedCall<T> {
  let winner = legs[0];
  let first = legs[0];
  let last = legs[0];
  let leader: Leg<T> | undefined;
  for (const leg of legs) {
    if (leg.call.leads && !leader) leader = leg;
    if (better(leg.call, winner.call)) winner = leg;
    if (leg.call.startMs < first.call.startMs || Number.isNaN(first.call.startMs)) first = leg;
    if (leg.call.endMs > last.call.endMs || Number.isNaN(last.call.endMs)) last = leg;
  }
  const record: SourceRecord = { ...winner.call.record };
  // The call began when its first leg did (the customer waiting in a queue counts) and ended
  // with its last; the talk time stays the winner's.
  if (first.call.record.date_start !== undefined) record.date_start = first.call.record.date_start;
  if (last.call.record.date_end !== undefined) record.date_end = last.call.record.date_end;
  // A Twilio <Dial> child (outbound-dial, to the agent) can win an inbound call: the call went
  // the way its parent did.
  if (leader && leader !== winner && leader.call.record.direction !== undefined) record.direction = leader.call.record.direction;
  // The winning leg may not name the agent (a Twilio parent call rings a company number, its
  // <Dial> child the agent): the agent of the answered leg with the longest talk that names one.
  if (record.assigned_user_id === undefined) {
    let agentLeg: Leg<T> | undefined;
    for (const leg of legs) {
      if (leg.call.record.assigned_user_id === undefined || !leg.call.answered) continue;
      if (!agentLeg || leg.call.talkSeconds > agentLeg.call.talkSeconds) agentLeg = leg;
    }
    if (agentLeg) record.assigned_user_id = agentLeg.call.record.assigned_user_id;
  }
  return { callKey, record, winner, legs };
}

/** Keys seen recently: bounded, the oldest dropped first, each kept for `ttlMs`. */
export class RecentKeys {
  /** key -> when added; a Map keeps insertion order, so the oldest come first. */
  private readonly entries = new Map<string, number>();

  constructor(private readonly maxEntries: number, private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    const added = this.entries.get(key);
    if (added === undefined) return false;
    if (this.now() - added < this.ttlMs) return true;
    this.entries.delete(key);
    return false;
  }

  add(key: string): void {
    const now = this.now();
    for (const [old, added] of this.entries) {
      if (now - added < this.ttlMs) break;
      this.entries.delete(old);
    }
    this.entries.delete(key);
    this.entries.set(key, now);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
