import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Outbox, OutboxEntry, OutboxProblem } from '../lib/outbox';
import { sleep } from '../lib/retry';
import { createStopController } from '../lib/http';
import type { QueuedRecord } from './call-log-batcher';
import type { CallLogJournal, JournalledCallback } from './call-log-dispatcher';
import { batcherModule, dispatcherModule, journalModule } from './call-log-modules';
import type { SangamClient } from './sangam-client';

export interface CallLogOutboxOptions {
  dir: string;
  /** File stem: the config node's id. */
  name: string;
  maxEntries: number;
  client: SangamClient;
  /** Records per replay request. */
  batchSize?: number;
  /** Batches sent at once by a replay. */
  replayConcurrency?: number;
  /** The slower schedule for records whose delivery failed: first wait, doubling up to the last. */
  firstRetryMs?: number;
  maxRetryMs?: number;
  /** Told when the number of records waiting (journalled, not being sent) changes. */
  onWaiting?: (waiting: number) => void;
  /** Told about what happened in the background (replays, refusals) for the log. */
  onEvent?: (event: OutboxEvent) => void;
  /** After a failed open: the first retry, doubling up to a minute (default 5 s); see openJournal(). */
  openRetryMs?: number;
}

export type OutboxEvent =
  | { kind: 'replayed'; count: number }
  | { kind: 'replay-failed'; waiting: number; retryInMs: number; reason: string }
  | { kind: 'refused'; count: number; reason: string; keptIn: string }
  /** The journal's writer met a problem (a compaction failing) or got over it. */
  | { kind: 'journal-problem'; problem: OutboxProblem }
  /** The CRM took a replayed batch but its answer cannot be matched to the records: not resent. */
  | { kind: 'unverified'; count: number; reason: string }
  /** The journal could not be opened (told once, not per retry): msgs needing it are refused until it opens. */
  | { kind: 'unavailable'; dir: string; reason: string }
  /** The journal opened after failing to: call logs are kept again. */
  | { kind: 'reopened'; dir: string };

const DEFAULT_REPLAY_BATCH = 250;
const DEFAULT_REPLAY_CONCURRENCY = 4;
/** The slower schedule: 2 s after a failure, doubling to a minute, so records follow soon after the CRM is back. */
const DEFAULT_FIRST_RETRY_MS = 2_000;
/** About a MiB of JSON text per journal line (whole msgs; a msg's records always share a line). */
const LINE_CHARS = 1024 * 1024;
const DEFAULT_MAX_RETRY_MS = 60_000;
/** A journal that failed to open is tried again after 5 s, doubling to a minute (and on demand, see openJournal). */
const DEFAULT_OPEN_RETRY_MS = 5_000;
const MAX_OPEN_RETRY_MS = 60_000;

interface PendingAppend {
  key: string;
  records: readonly QueuedRecord[];
  context: unknown;
  journalled: JournalledCallback<unknown>;
}

export interface OutboxSummary {
  /** Records journalled and not yet acknowledged. */
  entries: number;
  /** Of those, records not being sent right now: waiting for the next replay. */
  waiting: number;
  bytes: number;
}

/**
 * The durable outbox of one sangam-config node: every call-log node using that config journals its
 * records here before sending them, and acknowledges them once the CRM stored them. Records whose
 * delivery failed (or that a crash or restart left behind) are replayed on a slower schedule.
 * Records the CRM refused as invalid are moved to `<name>.rejected.jsonl` beside the journal.
 */
export class CallLogOutbox implements CallLogJournal {
  private outbox: Outbox<string> | undefined;
  /** An open in progress. */
  private opening: Promise<Outbox<string>> | undefined;
  /** Set while the journal cannot be opened: the error msgs get. */
  private openError: Error | undefined;
  /** No on-demand open before this time (ms) after a failed one. */
  private openNotBefore = 0;
  private openRetryTimer: NodeJS.Timeout | undefined;
  private openRetryDelayMs: number;
  /** Ids a dispatcher or the replayer is sending now: the replayer leaves them alone. */
  private readonly sending = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private nextDelayMs: number;
  private replaying: Promise<void> | undefined;
  /** Asked for a round while one ran: schedule another when it ends. */
  private replayAgain = false;
  private readonly abort = createStopController();
  private closed = false;
  private lastWaiting = -1;
  private appends: PendingAppend[] = [];
  private appendTimer: NodeJS.Immediate | undefined;

  /**
   * Opens the journal at once only if it exists (records a crash, a redeploy or a restart left
   * there go out soon after start); otherwise at the first msg that needs it, so a config that
   * never logs a call costs no file, lock or memory for it.
   */
  constructor(private readonly options: CallLogOutboxOptions) {
    this.nextDelayMs = options.firstRetryMs ?? DEFAULT_FIRST_RETRY_MS;
    this.openRetryDelayMs = options.openRetryMs ?? DEFAULT_OPEN_RETRY_MS;
    if (existsSync(this.fileOf('journal'))) void this.openJournal().catch(() => undefined);
  }

  /** The error msgs get while the journal cannot be opened; undefined when it is open or not tried yet. */
  get unavailable(): Error | undefined {
    return this.openError;
  }

  /**
   * The open journal, opening it if need be. After a failed open, msgs are refused at once with the
   * same error for openRetryMs (no disk touched per msg), then the next msg tries again; a timer
   * also tries, backing off from openRetryMs to a minute, so records waiting on disk go out and
   * the status clears once the disk is mended even when no msg comes. Either way no redeploy.
   */
  private openJournal(byTimer = false): Promise<Outbox<string>> {
    if (this.outbox) return Promise.resolve(this.outbox);
    if (this.opening) return this.opening;
    if (this.closed) return Promise.reject(new Error(`outbox of ${this.options.name} is closed`));
    // The timer always tries: a timer may fire a millisecond before Date.now() says its time came,
    // and a refusal here would end its retries.
    if (!byTimer && this.openError && Date.now() < this.openNotBefore) return Promise.reject(this.openError);
    const { dir, name, maxEntries } = this.options;
    const onProblem = (problem: OutboxProblem) => this.options.onEvent?.({ kind: 'journal-problem', problem });
    this.opening = journalModule().Outbox.open<string>({ dir, name, maxEntries, itemsAreJsonText: true, onProblem }).then(
      (outbox) => {
        this.opening = undefined;
        if (this.closed) {
          void outbox.close();
          throw new Error(`outbox of ${name} is closed`);
        }
        this.outbox = outbox;
        if (this.openRetryTimer) clearTimeout(this.openRetryTimer);
        this.openRetryTimer = undefined;
        if (this.openError) {
          this.openError = undefined;
          this.options.onEvent?.({ kind: 'reopened', dir });
        }
        // Whatever a crash, redeploy or restart left behind goes out soon after start.
        if (outbox.size.entries > 0) this.schedule(1_000);
        this.reportWaiting();
        return outbox;
      },
      (error: unknown) => {
        this.opening = undefined;
        if (this.closed) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        const first = this.openError === undefined;
        this.openError = new Error(
          `outbox journal unusable (${reason}): call logs are refused until it opens, which is tried again every few seconds; ` +
            `mend ${dir} or turn the outbox off in the sangam-config node`,
        );
        this.openNotBefore = Date.now() + (this.options.openRetryMs ?? DEFAULT_OPEN_RETRY_MS);
        // Said once per spell (log and status), and to every msg that needs the outbox by append().
        if (first) this.options.onEvent?.({ kind: 'unavailable', dir, reason });
        if (!this.closed && !this.openRetryTimer) {
          this.openRetryTimer = setTimeout(() => {
            this.openRetryTimer = undefined;
            void this.openJournal(true).catch(() => undefined);
          }, this.openRetryDelayMs);
          this.openRetryDelayMs = Math.min(Math.max(this.openRetryDelayMs * 2, 1), MAX_OPEN_RETRY_MS);
        }
        throw this.openError;
      },
    );
    return this.opening;
  }

  private fileOf(kind: 'journal' | 'rejected.jsonl'): string {
    return path.join(this.options.dir, `${this.options.name.replace(/[^A-Za-z0-9_-]/g, '_')}.${kind}`);
  }

  get rejectedFile(): string {
    return this.fileOf('rejected.jsonl');
  }

  append<C>(key: string, records: readonly QueuedRecord[], context: C, journalled: JournalledCallback<C>): void {
    this.appends.push({ key, records, context, journalled: journalled as JournalledCallback<unknown> });
    // Msgs arrive one per event-loop callback: gathering one loop turn's worth into a single
    // journal line saves a line, a checksum and a write per msg at thousands of msgs/s.
    this.appendTimer ??= setImmediate(() => void this.flushAppends());
  }

  private async flushAppends(): Promise<void> {
    this.appendTimer = undefined;
    const appends = this.appends;
    this.appends = [];
    let outbox: Outbox<string>;
    try {
      outbox = await this.openJournal();
    } catch (error) {
      for (const request of appends) tell(request, error as Error);
      return;
    }
    const byKey = new Map<string, PendingAppend[]>();
    for (const request of appends) {
      const group = byKey.get(request.key);
      if (group) group.push(request);
      else byKey.set(request.key, [request]);
    }
    for (const [key, group] of byKey) {
      // Lines of about a MiB: the journal makes a line when its group commit runs and caps a commit
      // at a few MiB, so a burst of big msgs never holds its records twice, as text and as one huge line.
      let start = 0;
      let chars = 0;
      for (let i = 0; i < group.length; i++) {
        for (const record of group[i]!.records) chars += record.json.length;
        if (chars >= LINE_CHARS && i + 1 < group.length) {
          this.journal(outbox, key, group.slice(start, i + 1));
          start = i + 1;
          chars = 0;
        }
      }
      this.journal(outbox, key, start === 0 ? group : group.slice(start));
    }
  }

  /**
   * Journals msgs of one turn that share a key as one line. Each msg is accepted or refused on
   * its own: when the line as a whole does not fit, the msgs are journalled one by one (a line
   * each), in order, so each that fits is taken and each that does not is refused with its own
   * count. That retry runs in a microtask, before any msg of a later turn can take the room (a later
   * line of the same turn may have taken it).
   */
  private journal(outbox: Outbox<string>, key: string, group: PendingAppend[]): void {
    const texts: string[] = [];
    for (const request of group) for (const record of request.records) texts.push(record.json);
    outbox.append(key, texts).then(
      (ids) => {
        for (const id of ids) this.sending.add(id);
        let next = 0;
        for (const request of group) for (const record of request.records) record.outboxId = ids[next++];
        for (const request of group) tell(request, undefined);
      },
      (error: Error) => {
        if (group.length > 1 && error instanceof journalModule().OutboxFullError) {
          for (const request of group) this.journal(outbox, key, [request]);
          return;
        }
        for (const request of group) tell(request, error);
      },
    );
  }

  ack(ids: number[]): void {
    for (const id of ids) this.sending.delete(id);
    void this.outbox?.ack(ids);
    this.reportWaiting();
    // A live batch got through while records wait out a back-off (up to a minute): the CRM is back,
    // so they go now rather than when the timer would have tried again.
    const firstRetryMs = this.options.firstRetryMs ?? DEFAULT_FIRST_RETRY_MS;
    if (this.timer && !this.replaying && this.nextDelayMs > firstRetryMs && this.summary().waiting > 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.nextDelayMs = firstRetryMs;
      this.schedule(0);
    }
  }

  release(ids: number[]): void {
    for (const id of ids) this.sending.delete(id);
    this.schedule(this.nextDelayMs);
    this.reportWaiting();
  }

  summary(): OutboxSummary {
    const size = this.outbox?.size ?? { entries: 0, bytes: 0 };
    return { entries: size.entries, waiting: Math.max(0, size.entries - this.sending.size), bytes: size.bytes };
  }

  /** Sends what waits now (admin "flush"); resolves when that round is over. */
  async flush(): Promise<OutboxSummary> {
    // A journal never opened holds nothing; one that failed to open is tried again (and says why not).
    if (!this.outbox && !this.opening && !this.openError) return this.summary();
    await this.openJournal();
    this.nextDelayMs = this.options.firstRetryMs ?? DEFAULT_FIRST_RETRY_MS;
    await this.replay();
    return this.summary();
  }

  /** Drops every record waiting (admin "discard"); records being sent now finish normally. */
  async discard(): Promise<number> {
    if (!this.outbox && !this.opening && !this.openError) return 0;
    const outbox = await this.openJournal();
    const waiting = outbox.pending().filter((entry) => !this.sending.has(entry.id));
    await outbox.ack(waiting.map((entry) => entry.id));
    this.reportWaiting();
    return waiting.length;
  }

  /** Waits up to graceMs for records being sent, then closes the journal; what is left stays in it. */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.openRetryTimer) clearTimeout(this.openRetryTimer);
    this.openRetryTimer = undefined;
    const deadline = Date.now() + graceMs;
    while ((this.sending.size > 0 || this.replaying) && Date.now() < deadline) await sleep(20);
    this.abort.abort();
    await this.replaying?.catch(() => undefined);
    // An open still under way closes what it opens itself (it sees `closed`).
    await this.opening?.catch(() => undefined);
    await this.outbox?.close();
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.replay();
    }, delayMs);
  }

  /** One round: send every waiting record in batches, stop at the first failure and wait longer. */
  private replay(): Promise<void> {
    if (this.replaying) {
      // A round takes the records waiting when it starts: those released since (a live batch that
      // failed during a long replay) get a round of their own after it, not the next failure's.
      this.replayAgain = true;
      return this.replaying;
    }
    this.replaying = this.replayRound().finally(() => {
      this.replaying = undefined;
      if (this.replayAgain) {
        this.replayAgain = false;
        this.schedule(this.nextDelayMs);
      }
    });
    return this.replaying;
  }

  private async replayRound(): Promise<void> {
    const outbox = this.outbox;
    if (!outbox || this.closed) return;
    const batchSize = this.options.batchSize ?? DEFAULT_REPLAY_BATCH;
    const waiting = outbox.pending().filter((entry) => !this.sending.has(entry.id));
    const batches = batchesOldestFirst(waiting, batchSize);
    const tally = { sent: 0 };
    let failure: unknown;
    let next = 0;
    // A few batches at once: a backlog after an outage drains in seconds, not minutes, while the
    // client's connection bound still keeps the CRM from being flooded.
    const worker = async (): Promise<void> => {
      while (failure === undefined && !this.closed && next < batches.length) {
        const { key, entries } = batches[next++];
        try {
          await this.replayBatch(key, entries, tally);
        } catch (error) {
          failure ??= error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.replayConcurrency ?? DEFAULT_REPLAY_CONCURRENCY, batches.length) }, worker));
    if (tally.sent > 0) this.options.onEvent?.({ kind: 'replayed', count: tally.sent });
    if (failure !== undefined && !this.closed) {
      const reason = failure instanceof Error ? failure.message : String(failure);
      this.nextDelayMs = Math.min(this.nextDelayMs * 2, this.options.maxRetryMs ?? DEFAULT_MAX_RETRY_MS);
      const retryInMs = this.nextDelayMs;
      this.options.onEvent?.({ kind: 'replay-failed', waiting: this.summary().waiting, retryInMs, reason });
      this.reportWaiting();
      this.schedule(retryInMs);
      return;
    }
    this.nextDelayMs = this.options.firstRetryMs ?? DEFAULT_FIRST_RETRY_MS;
    this.reportWaiting();
  }

  /**
   * Sends one batch, counting the records the CRM stored in `tally`; rejects when the round must
   * stop (the records not stored stay journalled). A refused batch is split like the dispatcher's,
   * so one bad record does not send its neighbours to the rejected file.
   */
  private async replayBatch(key: string, batch: OutboxEntry<string>[], tally: { sent: number }): Promise<void> {
    const ids = batch.map((entry) => entry.id);
    for (const id of ids) this.sending.add(id);
    const { isUnverified, isolateRefusals, refusesRecords } = dispatcherModule();
    const { jsonArrayBody } = batcherModule();
    const records = batch.map((entry) => ({ json: entry.item }));
    const post = (part: typeof records) => this.options.client.postCallLogs(jsonArrayBody(part), part.length, key, this.abort.signal);
    try {
      await post(records);
      this.ack(ids);
      tally.sent += batch.length;
    } catch (error) {
      if (isUnverified(error)) {
        this.ack(ids);
        this.options.onEvent?.({ kind: 'unverified', count: batch.length, reason: (error as Error).message });
        return;
      }
      if (!refusesRecords(error)) {
        for (const id of ids) this.sending.delete(id);
        throw error;
      }
      const outcome = batch.length === 1 ? undefined : await isolateRefusals(records, error, post);
      const stored: number[] = [];
      const unverified: number[] = [];
      let unverifiedReason = '';
      let failure: unknown;
      const refused: Array<{ entry: OutboxEntry<string>; error: Error }> = [];
      for (let i = 0; i < batch.length; i++) {
        const recordError = outcome ? outcome.errors[i] : error;
        if (recordError === undefined) stored.push(batch[i].id);
        else if (refusesRecords(recordError)) refused.push({ entry: batch[i], error: recordError });
        else if (isUnverified(recordError)) {
          unverified.push(batch[i].id);
          unverifiedReason ||= recordError.message;
        } else {
          this.sending.delete(batch[i].id);
          failure ??= recordError;
        }
      }
      if (stored.length > 0) this.ack(stored);
      tally.sent += stored.length;
      if (unverified.length > 0) {
        this.ack(unverified);
        this.options.onEvent?.({ kind: 'unverified', count: unverified.length, reason: unverifiedReason });
      }
      // If setting aside fails (disk full, permissions) the records stay journalled and the round
      // stops like any other failure.
      for (const { entry } of refused) this.sending.delete(entry.id);
      for (const { entry, error: reason } of refused) await this.setAsideEntries([entry], reason);
      if (failure !== undefined) throw failure;
    }
  }

  /** The dispatcher's way in: records it journalled and the CRM refused. */
  setAside(key: string, records: readonly QueuedRecord[], reason: Error): Promise<string> {
    const entries: OutboxEntry<string>[] = [];
    for (const record of records) if (record.outboxId !== undefined) entries.push({ id: record.outboxId, key, item: record.json });
    return this.setAsideEntries(entries, reason);
  }

  /**
   * Records the CRM refuses can never be delivered as they are: keep them for a person, not the
   * journal. The one way to the rejected file, for the dispatcher's batches and for replays.
   */
  private async setAsideEntries(entries: OutboxEntry<string>[], error: Error): Promise<string> {
    const lines = entries.map((entry) => `${JSON.stringify({ ivrName: entry.key, record: JSON.parse(entry.item) as unknown, error: error.message })}\n`);
    await fsp.appendFile(this.rejectedFile, lines.join(''), { mode: 0o600 });
    this.ack(entries.map((entry) => entry.id));
    this.options.onEvent?.({ kind: 'refused', count: entries.length, reason: error.message, keptIn: this.rejectedFile });
    return this.rejectedFile;
  }

  private reportWaiting(): void {
    const { waiting } = this.summary();
    if (waiting === this.lastWaiting) return;
    this.lastWaiting = waiting;
    this.options.onWaiting?.(waiting);
  }
}

/** One caller's callback throwing must not keep the others in the same journal line untold. */
function tell(request: PendingAppend, error: Error | undefined): void {
  try {
    request.journalled(error, request.key, request.records, request.context);
  } catch (thrown) {
    queueMicrotask(() => {
      throw thrown;
    });
  }
}

/**
 * A round's batches: each holds up to `size` records of one key (one IVR name, one request), in
 * journal order, and each begins with the oldest record still waiting, whichever its key. So the
 * records of several IVRs go out about as old as they are, where taking one key's records all
 * before the next key's had an IVR's oldest calls wait for every record of the keys before it.
 */
export function batchesOldestFirst(entries: OutboxEntry<string>[], size: number): Array<{ key: string; entries: OutboxEntry<string>[] }> {
  const queues = [...groupByKey(entries)].map(([key, queued]) => ({ key, queued, next: 0 }));
  const batches: Array<{ key: string; entries: OutboxEntry<string>[] }> = [];
  for (;;) {
    // Few keys (one per IVR name): a scan for the oldest head costs nothing next to a request.
    let oldest: (typeof queues)[number] | undefined;
    for (const queue of queues) {
      if (queue.next < queue.queued.length && (!oldest || queue.queued[queue.next]!.id < oldest.queued[oldest.next]!.id)) oldest = queue;
    }
    if (!oldest) return batches;
    batches.push({ key: oldest.key, entries: oldest.queued.slice(oldest.next, oldest.next + size) });
    oldest.next += size;
  }
}

function groupByKey(entries: OutboxEntry<string>[]): Map<string, OutboxEntry<string>[]> {
  const groups = new Map<string, OutboxEntry<string>[]>();
  for (const entry of entries) {
    const group = groups.get(entry.key);
    if (group) group.push(entry);
    else groups.set(entry.key, [entry]);
  }
  return groups;
}
