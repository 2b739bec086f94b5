/**
 * Gathers records from many msgs into few requests. Records submitted close together (within
 * `windowMs`, up to `maxBatchSize` records or `maxBatchBytes` of JSON) go out in one batch; each
 * submission still gets its own results, in its own order, and submissions settle in the order
 * they were made, so a flow sees its msgs come out as they went in.
 */

/** One record waiting to be sent, already serialised so its size is known and it is encoded once. */
export interface QueuedRecord {
  json: string;
  /** Set when the record is journalled in an outbox: acknowledged once the CRM stored it. */
  outboxId?: number;
}

/** What the sender gets: records that share a key (the ivr-name) and the JSON array body. */
export interface Batch {
  key: string;
  records: QueuedRecord[];
  body: string;
}

export type BatchSender<Result> = (batch: Batch) => Promise<Result[]>;

export interface CallLogBatcherOptions<Result> {
  /** Records per request; 1 turns batching off. */
  maxBatchSize: number;
  /** How long the first queued record waits for others to join it. */
  windowMs: number;
  /** Upper bound on one request body (bytes of JSON). */
  maxBatchBytes: number;
  /** Batches in flight at once. */
  concurrency: number;
  send: BatchSender<Result>;
}

/** A submission that failed, with how many of its records the CRM did store before that. */
export class BatchFailure extends Error {
  override name = 'BatchFailure';
  constructor(
    override readonly cause: Error,
    readonly delivered: number,
    readonly total: number,
  ) {
    super(cause.message);
  }
}

interface Submission<Result> {
  results: Result[];
  remaining: number;
  failure?: Error;
  delivered: number;
  settle: () => void;
  done: Promise<void>;
}

interface Item<Result> {
  record: QueuedRecord;
  submission: Submission<Result>;
  index: number;
}

interface KeyQueue<Result> {
  items: Item<Result>[];
  bytes: number;
  /** When the oldest queued item arrived; the window counts from it. */
  since: number;
}

export class CallLogBatcher<Result> {
  private readonly queues = new Map<string, KeyQueue<Result>>();
  private timer: NodeJS.Timeout | undefined;
  private inFlightBatches = 0;
  private queuedRecords = 0;
  private inFlightRecords = 0;
  private orderTail: Promise<unknown> = Promise.resolve();
  private idleWaiters: Array<() => void> = [];
  private flushingAll = false;

  constructor(private readonly options: CallLogBatcherOptions<Result>) {
    if (!(options.maxBatchSize >= 1)) throw new RangeError('maxBatchSize must be at least 1');
    if (!(options.concurrency >= 1)) throw new RangeError('concurrency must be at least 1');
  }

  /** Records waiting to be sent plus records in requests not yet answered. */
  get pending(): number {
    return this.queuedRecords + this.inFlightRecords;
  }

  get inFlight(): number {
    return this.inFlightBatches;
  }

  /**
   * Queues records that share a key. Resolves with one result per record, in order, once every
   * record is answered and every earlier submission has settled; rejects with BatchFailure.
   */
  submit(key: string, records: QueuedRecord[]): Promise<Result[]> {
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    const submission: Submission<Result> = {
      results: new Array<Result>(records.length),
      remaining: records.length,
      delivered: 0,
      settle,
      done,
    };
    if (records.length === 0) settle();
    let queue = this.queues.get(key);
    if (!queue) {
      queue = { items: [], bytes: 0, since: Date.now() };
      this.queues.set(key, queue);
    }
    if (queue.items.length === 0) queue.since = Date.now();
    for (let i = 0; i < records.length; i++) {
      queue.items.push({ record: records[i], submission, index: i });
      queue.bytes += recordBytes(records[i]);
    }
    this.queuedRecords += records.length;
    this.pump();

    // Settle in submission order: wait for the previous submission, then for our own.
    const ordered = this.orderTail.then(() => done);
    this.orderTail = ordered;
    return ordered.then(() => {
      if (submission.failure) {
        throw new BatchFailure(submission.failure, submission.delivered, records.length);
      }
      return submission.results;
    });
  }

  /** Sends everything queued now, without waiting for windows to close. */
  flushAll(): void {
    this.flushingAll = true;
    this.pump();
  }

  /** Resolves when nothing is queued or in flight. */
  whenIdle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Starts as many batches as the concurrency allows, and arms the window timer for the rest. */
  private pump(): void {
    const now = Date.now();
    let nextDue = Infinity;
    for (const [key, queue] of this.queues) {
      while (queue.items.length > 0 && this.inFlightBatches < this.options.concurrency) {
        const full = queue.items.length >= this.options.maxBatchSize || queue.bytes >= this.options.maxBatchBytes;
        const due = this.flushingAll || now - queue.since >= this.options.windowMs;
        if (!full && !due) break;
        this.startBatch(key, queue);
      }
      if (queue.items.length > 0) nextDue = Math.min(nextDue, queue.since + this.options.windowMs);
      else this.queues.delete(key);
    }
    if (this.queuedRecords === 0) this.flushingAll = false;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // While every slot is busy a finishing batch calls pump(); a timer then would only spin.
    if (nextDue !== Infinity && this.inFlightBatches < this.options.concurrency) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, Math.max(0, nextDue - now));
    }
  }

  private startBatch(key: string, queue: KeyQueue<Result>): void {
    // Count first, then cut once: shifting one item at a time is quadratic on a long queue.
    let count = 0;
    let bytes = 2;
    while (count < queue.items.length && count < this.options.maxBatchSize) {
      const size = recordBytes(queue.items[count].record);
      // Always take at least one item, even if it alone is over the byte bound.
      if (count > 0 && bytes + size > this.options.maxBatchBytes) break;
      bytes += size;
      count++;
    }
    const items = queue.items.splice(0, count);
    queue.bytes -= bytes - 2;
    queue.since = Date.now();
    this.queuedRecords -= items.length;
    this.inFlightRecords += items.length;
    this.inFlightBatches++;

    const records = items.map((item) => item.record);
    const body = `[${records.map((record) => record.json).join(',')}]`;
    // Inside a promise executor so that a sender that throws instead of rejecting fails only its
    // batch: a throw escaping here would leave the batch counted in flight for ever.
    new Promise<Result[]>((resolve) => resolve(this.options.send({ key, records, body })))
      .then(
        (results) => {
          for (let i = 0; i < items.length; i++) {
            const { submission, index } = items[i];
            submission.results[index] = results[i];
            submission.delivered++;
            this.finishItem(submission);
          }
        },
        (error: unknown) => {
          const failure = error instanceof Error ? error : new Error(String(error));
          for (const { submission } of items) {
            submission.failure ??= failure;
            this.finishItem(submission);
          }
        },
      )
      .finally(() => {
        this.inFlightBatches--;
        this.inFlightRecords -= items.length;
        this.pump();
        if (this.pending === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const resolve of waiters) resolve();
        }
      });
  }

  private finishItem(submission: Submission<Result>): void {
    submission.remaining--;
    if (submission.remaining === 0) submission.settle();
  }
}

/** What a record adds to a request body: its UTF-8 bytes (the bound is on bytes sent) and a comma. */
function recordBytes(record: QueuedRecord): number {
  return Buffer.byteLength(record.json) + 1;
}
