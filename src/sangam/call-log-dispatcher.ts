import { AbortedError, RemoteError, ValidationError, statusReason } from '../lib/errors';
import { RetryPolicy, withRetry } from '../lib/retry';
import { createStopController } from '../lib/http';
import { BatchFailure, CallLogBatcher, QueuedRecord } from './call-log-batcher';
import { CallLogResult, SangamClient } from './sangam-client';

/**
 * Durable storage for records between "accepted from a msg" and "acknowledged by the CRM".
 * Implemented by the outbox; absent when the user turned the outbox off.
 */
export interface CallLogJournal {
  /**
   * Stores the records (their JSON) durably, sets each one's `outboxId`, then calls back; calls
   * back with an error (nothing stored) when it cannot, e.g. when full.
   */
  append(key: string, records: readonly QueuedRecord[], callback: (error?: Error) => void): void;
  /** The CRM stored these records: forget them. */
  ack(ids: number[]): void;
  /** Delivery failed for now: the records stay journalled and are retried on the journal's schedule. */
  release(ids: number[]): void;
}

/** Told once per submission: the CRM's results in order, or why they could not be had. */
export type DeliveryCallback = (error: Error | undefined, results: CallLogResult[] | undefined) => void;

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
 * Call-log delivery for one node: journal (if any), batch, POST with retries, acknowledge.
 * Knows nothing of Node-RED: the node maps msgs in and results out.
 */
export class CallLogDispatcher {
  private readonly batcher: CallLogBatcher<CallLogResult>;
  private readonly abort = createStopController();
  private closed = false;
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
      describeFailure: (failure) => this.describeFailure(failure, failure.total),
    });
  }

  /** Records queued or in flight. */
  get pending(): number {
    return this.batcher.pending;
  }

  /**
   * Delivers one msg's records (already normalised). Throws at once for records that can never be
   * sent (ValidationError) or when stopping (AbortedError); otherwise calls back once, with the
   * CRM's results in order or a CallLogDeliveryError (or the journal's error when it is full).
   * Callbacks rather than promises: at tens of thousands of msgs a second, each promise, await
   * and closure per msg is work for the garbage collector.
   */
  submit(key: string, records: ReadonlyArray<object>, callback: DeliveryCallback): void {
    if (this.closed) throw new AbortedError('the node is stopping; the msg was not accepted');
    const total = records.length;
    const queued = new Array<QueuedRecord>(total);
    for (let i = 0; i < total; i++) {
      const json = JSON.stringify(records[i]);
      // A record that cannot fit in one request would be refused by the CRM every time.
      if (json.length * 3 > this.options.maxBatchBytes && Buffer.byteLength(json) > this.options.maxBatchBytes) {
        const where = total === 1 ? 'payload' : `payload[${i}]`;
        throw new ValidationError(`${where} is ${Buffer.byteLength(json)} bytes as JSON; one record may be at most ${this.options.maxBatchBytes}`);
      }
      queued[i] = { json, outboxId: undefined };
    }
    const journal = this.options.journal;
    if (!journal) {
      this.enqueue(key, queued, callback);
      return;
    }
    journal.append(key, queued, (error) => {
      if (error) callback(error, undefined);
      else this.enqueue(key, queued, callback);
    });
  }

  private enqueue(key: string, queued: QueuedRecord[], callback: DeliveryCallback): void {
    this.batcher.submit(key, queued, callback);
    // Show "sending" as soon as work arrives; after that, batches starting and ending update it.
    if (this.lastReported === 0) this.report();
  }

  /**
   * Stops: sends what is queued, waits for answers until `graceMs`, then abandons what is left.
   * With a journal nothing is lost: unacknowledged records stay in it for the next start.
   */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    this.batcher.flushAll();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([this.batcher.whenIdle(), deadline]);
    clearTimeout(timer);
    this.abort.abort();
    await this.batcher.whenIdle();
  }

  private async sendBatch(key: string, records: QueuedRecord[], body: Buffer): Promise<CallLogResult[]> {
    const { client, retry, journal, onActivity } = this.options;
    const ids: number[] = [];
    if (journal) for (const record of records) if (record.outboxId !== undefined) ids.push(record.outboxId);
    try {
      const results = await withRetry(() => client.postCallLogs(body, records.length, key, this.abort.signal), retry, {
        signal: this.abort.signal,
        onRetry: ({ attempt, error }) => onActivity?.({ kind: 'retrying', attempt, reason: statusReason(error) }),
      });
      if (journal && ids.length > 0) journal.ack(ids);
      return results;
    } catch (error) {
      if (journal && ids.length > 0) {
        // Records the CRM refused as such are reported to Catch with the msg, not resent forever.
        if (refusesRecords(error)) journal.ack(ids);
        else journal.release(ids);
      }
      throw error;
    }
  }

  private describeFailure(error: unknown, total: number): Error {
    const failure = error instanceof BatchFailure ? error : undefined;
    const cause = failure ? failure.cause : error instanceof Error ? error : new Error(String(error));
    const delivered = failure?.delivered ?? 0;
    const statusCode = cause instanceof RemoteError ? cause.statusCode : undefined;
    const undelivered = total - delivered;
    const partly = delivered > 0 ? ` (${delivered} of ${total} record(s) were delivered)` : '';
    if (this.options.journal && !refusesRecords(cause)) {
      return new CallLogDeliveryError(
        `${cause.message}${partly}; ${undelivered} record(s) are kept in the outbox and will be retried`,
        statusCode,
        undelivered,
      );
    }
    return new CallLogDeliveryError(`${cause.message}${partly}`, statusCode, 0);
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
export function refusesRecords(error: unknown): boolean {
  if (!(error instanceof RemoteError)) return false;
  const status = error.statusCode;
  return status === 400 || status === 413 || status === 422;
}
