import { AbortedError, RemoteError, ValidationError, statusReason } from '../lib/errors';
import { RetryPolicy, withRetry } from '../lib/retry';
import { createStopController } from '../lib/http';
import { BatchFailure, CallLogBatcher, MixedBatchOutcome, OpenSubmission, QueuedRecord, RecordFailure, jsonArrayBody } from './call-log-batcher';
import { CallLogResult, SangamClient } from './sangam-client';

/**
 * Durable storage for records between "accepted from a msg" and "acknowledged by the CRM".
 * Implemented by the outbox; absent when the user turned the outbox off.
 */
export interface CallLogJournal {
  /**
   * Stores the records (their JSON) durably, sets each one's `outboxId`, then calls `journalled`
   * (never within append); with an error (nothing stored) when it cannot, e.g. when full. The
   * caller's key, records and context come back as arguments, so that a msg costs no closure.
   */
  append<C>(key: string, records: readonly QueuedRecord[], context: C, journalled: JournalledCallback<C>): void;
  /** The CRM stored these records: forget them. */
  ack(ids: number[]): void;
  /** Delivery failed for now: the records stay journalled and are retried on the journal's schedule. */
  release(ids: number[]): void;
  /**
   * The CRM refused these records as such: move them out of the journal into the rejected file, for
   * a person. Resolves with that file's path; rejects (the records stay journalled) when it cannot.
   */
  setAside(key: string, records: readonly QueuedRecord[], reason: Error): Promise<string>;
}

/** What a journal calls once it stored (or could not store) one append's records. */
export type JournalledCallback<C> = (error: Error | undefined, key: string, records: readonly QueuedRecord[], context: C) => void;

/**
 * Told once per submission: the CRM's results in order, or why they could not be had, and the
 * context the submission was made with (one callback can serve every msg: no closure per msg).
 */
export type DeliveryCallback<C = undefined> = (error: Error | undefined, results: CallLogResult[] | undefined, context: C) => void;

export type DispatchActivity =
  | { kind: 'sending'; count: number }
  | { kind: 'retrying'; attempt: number; reason: string }
  | { kind: 'idle' };

export interface CallLogDispatcherOptions {
  client: SangamClient;
  maxBatchSize: number;
  windowMs: number;
  maxBatchBytes: number;
  concurrency: number;
  retry: RetryPolicy;
  journal?: CallLogJournal;
  onActivity?: (activity: DispatchActivity) => void;
}

/** A msg's records could not be delivered; says whether they are kept for a later retry. */
export class CallLogDeliveryError extends Error {
  override name = 'CallLogDeliveryError';
  constructor(
    message: string,
    readonly statusCode: number | undefined,
    readonly kept: number,
  ) {
    super(message);
  }
}

/**
 * What a msg's callback gets when the node stopped before its records were delivered and they are
 * in the journal: nothing went wrong and nothing is lost, the journal sends them (after a restart
 * too). Not a failure to report per msg: the node completes the msg quietly and says once, in its
 * close, how many records it handed over (see CallLogCloseSummary).
 */
export class CallLogKeptOnStop extends AbortedError {
  override name = 'CallLogKeptOnStop';
  constructor(
    /** Records of the msg left to the journal. */
    readonly kept: number,
    /** Records of the msg the CRM had stored before the stop (the msg is not sent on without all its results). */
    readonly delivered: number,
  ) {
    super(`the node stopped before the CRM answered: ${kept} record(s) are kept in the outbox and will be sent from it`);
  }
}

/** What a close left undelivered: handed to the journal (`kept`), or reported to each msg as lost (`lost`, no journal). */
export interface CallLogCloseSummary {
  kept: { records: number; msgs: number };
  lost: { records: number; msgs: number };
}

/** The error of queued records a close takes out of the queue (they were never sent). */
const NOT_SENT_ON_STOP = new AbortedError('the node stopped before the records were sent');

/**
 * One record the CRM refused (400/413/422 for a request holding it alone): `setAsideIn` names the
 * rejected file it was moved to; `setAsideError` says why it could not be (it stays journalled).
 */
export class CallLogRefusedError extends Error {
  override name = 'CallLogRefusedError';
  constructor(
    readonly refusal: RemoteError,
    readonly setAsideIn?: string,
    readonly setAsideError?: Error,
  ) {
    super(refusal.message);
  }
}

/**
 * Call-log delivery for one node: journal (if any), batch, POST with retries, acknowledge.
 * Knows nothing of Node-RED: the node maps msgs in and results out.
 */
export class CallLogDispatcher {
  private readonly batcher: CallLogBatcher<CallLogResult>;
  private readonly abort = createStopController();
  /**
   * Aborted when a close with a journal begins: no retry starts after that (a batch that fails is
   * released to the journal at once), while the request on the wire may still finish in the grace.
   */
  private readonly stopRetries = createStopController();
  private closed = false;
  /** Set when a close handed what was queued to the journal: records journalled later go there too. */
  private handedOver = false;
  /** Msgs whose records the journal is writing; a close waits for them before it hands over. */
  private journalling = 0;
  private journalledWaiter: (() => void) | undefined;
  private readonly stopped: CallLogCloseSummary = { kept: { records: 0, msgs: 0 }, lost: { records: 0, msgs: 0 } };
  /** Records pending at the last report (0 = idle was the last word). */
  private lastReported = 0;

  constructor(private readonly options: CallLogDispatcherOptions) {
    this.batcher = new CallLogBatcher<CallLogResult>({
      maxBatchSize: options.maxBatchSize,
      windowMs: options.windowMs,
      maxBatchBytes: options.maxBatchBytes,
      concurrency: options.concurrency,
      send: (batch) => this.sendBatch(batch.key, batch.records, batch.body),
      // Once per batch started or finished, not per msg: the status is throttled anyway.
      onProgress: () => this.report(),
      describeFailure: (failure) => this.describeFailure(failure),
    });
  }

  /** Records queued or in flight. */
  get pending(): number {
    return this.batcher.pending;
  }

  /**
   * Delivers one msg's records (already normalised). Throws at once for records that can never be
   * sent (ValidationError) or when stopping (AbortedError); otherwise calls back once, with the
   * CRM's results in order or a CallLogDeliveryError (or the journal's error when it is full),
   * with `context`. Callbacks rather than promises: at tens of thousands of msgs a second, each
   * promise, await and closure per msg is work for the garbage collector.
   */
  submit(key: string, records: ReadonlyArray<object>, callback: DeliveryCallback): void;
  submit<C>(key: string, records: ReadonlyArray<object>, callback: DeliveryCallback<C>, context: C): void;
  submit<C>(key: string, records: ReadonlyArray<object>, callback: DeliveryCallback<C>, context?: C): void {
    if (this.closed) throw new AbortedError('the node is stopping; the msg was not accepted');
    const total = records.length;
    const queued = new Array<QueuedRecord>(total);
    for (let i = 0; i < total; i++) {
      const json = JSON.stringify(records[i]);
      // Counting the bytes now also flattens the text: V8's JSON.stringify returns a rope of
      // pieces, and flattened later (by the journal, a batch) both the pieces and the flat copy
      // would have outlived a young-generation collection: twice the record's size in old space.
      const bytes = Buffer.byteLength(json);
      // A record that cannot fit in one request would be refused by the CRM every time.
      if (bytes > this.options.maxBatchBytes) {
        const where = total === 1 ? 'payload' : `payload[${i}]`;
        throw new ValidationError(`${where} is ${bytes} bytes as JSON; one record may be at most ${this.options.maxBatchBytes}`);
      }
      queued[i] = { json, outboxId: undefined };
    }
    // The submission is made now and is the journal's context: the one object a msg keeps meanwhile.
    // Without a context (the first form) C is undefined: what the callback is given.
    const submission = this.batcher.open(total, callback, context as C);
    const journal = this.options.journal;
    if (!journal) {
      this.enqueue(key, queued, submission);
      return;
    }
    this.journalling++;
    journal.append(key, queued, submission, this.journalled);
  }

  /** One function for every msg: a closure per msg would be garbage that thousands of waiting msgs keep alive. */
  private readonly journalled: JournalledCallback<OpenSubmission<CallLogResult>> = (error, key, queued, submission) => {
    if (--this.journalling === 0) this.journalledWaiter?.();
    if (error) tell(submission, error);
    else this.enqueue(key, queued, submission);
  };

  private enqueue(key: string, queued: readonly QueuedRecord[], submission: OpenSubmission<CallLogResult>): void {
    if (this.handedOver) {
      // Journalled after the close handed the queue over (the grace ran out first): same fate.
      this.options.journal?.release(outboxIds(queued));
      this.stopped.kept.records += queued.length;
      this.stopped.kept.msgs++;
      tell(submission, new CallLogKeptOnStop(queued.length, 0));
      return;
    }
    this.batcher.queue(key, queued, submission);
    // Show "sending" as soon as work arrives; after that, batches starting and ending update it.
    if (this.lastReported === 0) this.report();
  }

  /**
   * Stops: lets the requests on the wire answer until `graceMs`, then abandons them. With a journal
   * the queued records are not sent: they are journalled already, and a batch started now would
   * likely be cut by the grace after the CRM got it, and be stored twice when replayed. So they and
   * whatever the grace cuts are released to the journal, and their msgs get CallLogKeptOnStop.
   * Without one, everything queued is sent at once and what is still unanswered at the end is lost:
   * those msgs get a CallLogDeliveryError. Resolves, once every msg has been told, with the counts.
   */
  async close(graceMs: number): Promise<CallLogCloseSummary> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    const journal = this.options.journal;
    if (journal) {
      this.stopRetries.abort();
      if (this.journalling > 0) await Promise.race([new Promise<void>((resolve) => (this.journalledWaiter = resolve)), deadline]);
      this.handedOver = true;
      const queued = outboxIds(this.batcher.cancelQueued(NOT_SENT_ON_STOP));
      if (queued.length > 0) journal.release(queued);
    } else {
      this.batcher.flushAll();
    }
    await Promise.race([this.batcher.whenIdle(), deadline]);
    clearTimeout(timer);
    this.stopRetries.abort();
    this.abort.abort();
    await this.batcher.whenIdle();
    return this.stopped;
  }

  /** One request with the node's retries. */
  private post(key: string, body: Buffer, count: number): Promise<CallLogResult[]> {
    const { client, retry, onActivity } = this.options;
    return withRetry(() => client.postCallLogs(body, count, key, this.abort.signal), retry, {
      signal: this.stopRetries.signal,
      recovery: client.recovery,
      onRetry: ({ attempt, error }) => onActivity?.({ kind: 'retrying', attempt, reason: statusReason(error) }),
    });
  }

  private async sendBatch(key: string, records: QueuedRecord[], body: Buffer): Promise<CallLogResult[]> {
    const journal = this.options.journal;
    let results: CallLogResult[];
    try {
      results = await this.post(key, body, records.length);
    } catch (error) {
      if (!refusesRecords(error)) {
        // Unverifiable answers are acknowledged, not replayed: see isUnverified.
        if (journal && isUnverified(error)) journal.ack(outboxIds(records));
        else if (journal) journal.release(outboxIds(records));
        throw error;
      }
      // The CRM stored nothing of the request and does not say which record it refused: find out,
      // so that the records of other msgs that shared this batch are still delivered.
      const outcome =
        records.length === 1
          ? new MixedBatchOutcome<CallLogResult>([undefined], [error])
          : await isolateRefusals(records, error, (part) => this.post(key, jsonArrayBody(part), part.length));
      throw await this.settle(key, records, outcome);
    }
    if (journal) journal.ack(outboxIds(records));
    return results;
  }

  /** Tells the journal what became of each record of a split batch; refused records get their own error. */
  private async settle(key: string, records: QueuedRecord[], outcome: MixedBatchOutcome<CallLogResult>): Promise<MixedBatchOutcome<CallLogResult>> {
    const journal = this.options.journal;
    const errors = outcome.errors.slice();
    const done: number[] = [];
    const retry: number[] = [];
    for (let i = 0; i < records.length; i++) {
      const error = errors[i];
      const id = records[i].outboxId;
      if (!refusesRecords(error)) {
        if (id !== undefined) (error === undefined || isUnverified(error) ? done : retry).push(id);
        continue;
      }
      if (!journal) {
        errors[i] = new CallLogRefusedError(error);
        continue;
      }
      try {
        errors[i] = new CallLogRefusedError(error, await journal.setAside(key, [records[i]], error));
      } catch (setAsideError) {
        // Still journalled: the outbox's replays refuse it again and try again to set it aside.
        errors[i] = new CallLogRefusedError(error, undefined, asError(setAsideError));
        if (id !== undefined) retry.push(id);
      }
    }
    if (journal) {
      if (done.length > 0) journal.ack(done);
      if (retry.length > 0) journal.release(retry);
    }
    return new MixedBatchOutcome(outcome.results, errors);
  }

  /**
   * A msg with a record the CRM refused fails (Catch), even when its other records were stored:
   * the contract's "an invalid record rejects its whole msg" is about our own checks, made before
   * anything is sent; the CRM's refusal comes after its neighbours may have been stored, and a
   * stored record cannot be withdrawn. So the error says which records were refused and how many
   * were delivered, rather than claiming the msg was all-or-nothing.
   *
   * One error per msg that names what happened to each of its records that was not delivered:
   * refused by the CRM (and set aside), answered unverifiably (probably stored, not resent), or
   * failed for now (kept in the outbox, when there is one); and how many were delivered.
   */
  private describeFailure(failure: BatchFailure): Error {
    const { total, delivered } = failure;
    const failures: readonly RecordFailure[] = failure.failures.length > 0 ? failure.failures : [{ index: 0, error: failure.cause }];
    // Only close() aborts, so AbortedErrors alone mean the stop kept these records from the CRM.
    if (this.closed && failures.every((entry) => entry.error instanceof AbortedError)) {
      const tally = this.options.journal ? this.stopped.kept : this.stopped.lost;
      tally.records += failures.length;
      tally.msgs++;
      if (this.options.journal) return new CallLogKeptOnStop(failures.length, delivered);
    }
    const refused: RecordFailure[] = [];
    const unverified: RecordFailure[] = [];
    const other: RecordFailure[] = [];
    for (const entry of failures) {
      if (entry.error instanceof CallLogRefusedError) refused.push(entry);
      else if (isUnverified(entry.error)) unverified.push(entry);
      else other.push(entry);
    }
    const journal = this.options.journal !== undefined;
    const parts: Array<{ text: string; then: string }> = [];
    let kept = 0;
    if (refused.length > 0) {
      const first = refused[0].error as CallLogRefusedError;
      const notSetAside = refused.filter((entry) => (entry.error as CallLogRefusedError).setAsideIn === undefined);
      let then = '';
      if (journal && notSetAside.length === 0) then = `; set aside in ${first.setAsideIn ?? '?'}`;
      else if (journal) {
        kept += notSetAside.length;
        const cause = (notSetAside[0].error as CallLogRefusedError).setAsideError?.message ?? 'unknown error';
        then = `; ${notSetAside.length} of them could not be set aside (${cause}) and stay in the outbox`;
      }
      const names = total === 1 ? '' : `${recordNames(refused)} ${refused.length === 1 ? 'was' : 'were'} refused: `;
      parts.push({ text: `${names}${first.message}`, then });
    }
    if (unverified.length > 0) {
      parts.push({
        text: unverified[0].error.message,
        then: `; the CRM took the request, so ${total === 1 ? 'the record was' : `${recordNames(unverified)} were`} probably stored: not sent again, as that could store them twice`,
      });
    }
    if (other.length > 0) {
      if (journal) kept += other.length;
      parts.push({ text: other[0].error.message, then: journal ? `; ${other.length} record(s) are kept in the outbox and will be retried` : '' });
    }
    const partly = delivered > 0 ? ` (${delivered} of ${total} record(s) were delivered)` : '';
    const message = parts.map((part, i) => `${part.text}${i === 0 ? partly : ''}${part.then}`).join('; and ');
    const firstError = failures[0].error;
    const remote = firstError instanceof CallLogRefusedError ? firstError.refusal : firstError;
    return new CallLogDeliveryError(message, remote instanceof RemoteError ? remote.statusCode : undefined, kept);
  }

  private report(): void {
    const count = this.batcher.pending;
    if (count === this.lastReported) return;
    this.lastReported = count;
    this.options.onActivity?.(count > 0 ? { kind: 'sending', count } : { kind: 'idle' });
  }
}

/**
 * True when the CRM refused the records themselves (400, 413, 422): sending them again cannot
 * help. Auth and server failures (401, 403, 5xx, network) can be mended, so those records are kept.
 */
export function refusesRecords(error: unknown): error is RemoteError {
  if (!(error instanceof RemoteError)) return false;
  const status = error.statusCode;
  return status === 400 || status === 413 || status === 422;
}

/**
 * True when the CRM took a request but answered a different number of results than records sent
 * (ERESULTLENGTH). The request was accepted, so the records were probably stored: sending them
 * again could store them twice, and the CRM offers no way to look them up. Such records are
 * acknowledged (never replayed) and reported as unverified; the msg at Catch still holds them.
 */
export function isUnverified(error: unknown): boolean {
  return error instanceof RemoteError && error.code === 'ERESULTLENGTH';
}

/**
 * Per record of a batch the CRM refused whole: its result, or the error that kept it out. The CRM
 * stores nothing of a request that holds one bad record and need not say which one, so the batch
 * is halved and each half sent again, down to single records: the good records are stored and
 * only refused ones fail (about 2·log2(n) requests per bad record, and only after a refusal).
 * A half that fails otherwise (network, 5xx, ERESULTLENGTH) gives that error to its records.
 */
export async function isolateRefusals<R extends { json: string }>(
  records: readonly R[],
  refusal: RemoteError,
  post: (part: R[]) => Promise<CallLogResult[]>,
): Promise<MixedBatchOutcome<CallLogResult>> {
  const results = new Array<CallLogResult | undefined>(records.length);
  const errors = new Array<Error | undefined>(records.length);
  const split = async (start: number, end: number, error: RemoteError): Promise<void> => {
    if (end - start === 1) {
      errors[start] = error;
      return;
    }
    const middle = start + Math.ceil((end - start) / 2);
    for (const [from, to] of [
      [start, middle],
      [middle, end],
    ] as const) {
      try {
        const answer = await post(records.slice(from, to));
        for (let i = from; i < to; i++) results[i] = answer[i - from];
      } catch (failure) {
        if (refusesRecords(failure)) await split(from, to, failure);
        else for (let i = from; i < to; i++) errors[i] = asError(failure);
      }
    }
  };
  await split(0, records.length, refusal);
  return new MixedBatchOutcome(results, errors);
}

/** Tells a submission that never reached the batcher (its journal failed, or a stop kept it) why, at once. */
function tell(submission: OpenSubmission<CallLogResult>, error: Error): void {
  // It was opened with a DeliveryCallback, which takes no results with an error.
  (submission.callback as DeliveryCallback<unknown>)(error, undefined, submission.context);
}

function outboxIds(records: readonly QueuedRecord[]): number[] {
  const ids: number[] = [];
  for (const record of records) if (record.outboxId !== undefined) ids.push(record.outboxId);
  return ids;
}

/** `payload[1], payload[4]`, at most five named. */
function recordNames(entries: readonly RecordFailure[]): string {
  const named = entries.slice(0, 5).map((entry) => `payload[${entry.index}]`);
  return entries.length > 5 ? `${named.join(', ')} and ${entries.length - 5} more` : named.join(', ');
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
