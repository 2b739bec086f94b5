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
  /**
   * UTF-8 bytes of the JSON array: outside the JS heap, so a batch in flight costs the GC nothing.
   * The sender's until its promise settles: once the batch is answered, a later batch is written
   * into the same memory.
   */
  body: Buffer;
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
  /** Told after a batch started or finished (records pending changed). */
  onProgress?: () => void;
  /**
   * Turns a submission's BatchFailure into the error its callback gets (default: the BatchFailure
   * itself), so that a caller needs no wrapper closure per submission.
   */
  describeFailure?: (failure: BatchFailure) => Error;
}

/** One record of a submission that was not delivered, by its index in the submission. */
export interface RecordFailure {
  index: number;
  error: Error;
}

/**
 * A submission that failed, with how many of its records the CRM did store and why each of the
 * others was not (`cause` is the error of the first of them).
 */
export class BatchFailure extends Error {
  override name = 'BatchFailure';
  constructor(
    override readonly cause: Error,
    readonly delivered: number,
    readonly total: number,
    /** In index order. */
    readonly failures: readonly RecordFailure[] = [],
  ) {
    super(cause.message);
  }
}

/**
 * What a sender rejects with when the records of its batch fared differently (a refused batch
 * split to find the refused records): per record of the batch, in order, either its result or
 * the error that kept it from being delivered. Only failures take this path: a batch stored
 * whole resolves with the results as usual.
 */
export class MixedBatchOutcome<Result> extends Error {
  override name = 'MixedBatchOutcome';
  constructor(
    readonly results: ReadonlyArray<Result | undefined>,
    readonly errors: ReadonlyArray<Error | undefined>,
  ) {
    const failed = errors.filter((error) => error !== undefined);
    super(`${failed.length} of ${errors.length} record(s) of the batch were not delivered: ${failed[0]?.message ?? 'no error'}`);
  }
}

/**
 * Told once, when every record of a submission is answered and every earlier one has settled: the
 * results, or the BatchFailure (as `describeFailure` turned it, if given), and the submission's
 * context. One callback can serve every msg, each with its context: no closure per msg.
 */
export type SubmissionCallback<Result, C = undefined> = (failure: Error | undefined, results: Result[], context: C) => void;

/** A submission as its maker sees it: what it is told with, once. */
export interface OpenSubmission<Result> {
  readonly callback: SubmissionCallback<Result, unknown>;
  readonly context: unknown;
}

/**
 * One msg's records on their way. A plain object with a callback, not a promise: tens of
 * thousands are outstanding at once, and each promise, closure and array here is GC work.
 */
interface Submission<Result> extends OpenSubmission<Result> {
  /**
   * Made when the first result arrives, and only for more than one record: a msg waiting for the
   * CRM (thousands while it is down) holds no empty array, and a one-record msg none at all (see `only`).
   */
  results: Result[] | undefined;
  /**
   * The result of a one-record submission. An array made for it when the CRM answers would be new
   * memory held by an old object, which the young generation's collections keep (and promote)
   * until a full collection, even after the msg went on: 48 bytes a msg in a drain.
   */
  only: Result | undefined;
  /** Records not answered yet: the submission is settled at 0. */
  remaining: number;
  total: number;
  /** The records that were not delivered; made on the first failure only. */
  failures: RecordFailure[] | undefined;
  callback: SubmissionCallback<Result, unknown>;
  /** Handed back to the callback: stored next to it, so its type matches. */
  context: unknown;
}

interface Item<Result> {
  record: QueuedRecord;
  bytes: number;
  submission: Submission<Result>;
  index: number;
}

/** A FIFO that takes from the front in O(1): a long queue (CRM down) must not make each cut O(n). */
class ItemQueue<Result> {
  private items: Item<Result>[] = [];
  private head = 0;
  bytes = 0;
  /** When the oldest queued item arrived; the window counts from it. */
  since = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: Item<Result>): void {
    this.items.push(item);
    this.bytes += item.bytes;
  }

  peek(offset: number): Item<Result> {
    return this.items[this.head + offset];
  }

  take(count: number): Item<Result>[] {
    const taken = this.items.slice(this.head, this.head + count);
    this.head += count;
    for (const item of taken) this.bytes -= item.bytes;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return taken;
  }
}

export class CallLogBatcher<Result> {
  private readonly queues = new Map<string, ItemQueue<Result>>();
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  private inFlightBatches = 0;
  private queuedRecords = 0;
  private inFlightRecords = 0;
  /**
   * Bodies of batches the CRM answered, for the next batches to be written into. A body is 100 KB
   * or more; one allocated per batch stays in memory until the garbage collector gets round to its
   * small wrapper, which in a drain of 100,000 records was 45 MB held for nothing.
   */
  private readonly spareBodies: Buffer[] = [];
  /** Submissions not yet handed back, oldest first: they settle strictly in this order. */
  private order: Array<Submission<Result> | undefined> = [];
  private orderHead = 0;
  private idleWaiters: Array<() => void> = [];
  private flushingAll = false;
  /** Set by cancelQueued(): no batch starts any more. */
  private cancelled = false;

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
   * Queues records that share a key. Calls back with one result per record, in order, once every
   * record is answered and every earlier submission has settled; or with a BatchFailure.
   */
  submit(key: string, records: readonly QueuedRecord[], callback: SubmissionCallback<Result>): void;
  submit<C>(key: string, records: readonly QueuedRecord[], callback: SubmissionCallback<Result, C>, context: C): void;
  submit<C>(key: string, records: readonly QueuedRecord[], callback: SubmissionCallback<Result, C>, context?: C): void {
    // Without a context (the first form) C is undefined: what the callback is given.
    this.queue(key, records, this.open(records.length, callback, context as C));
  }

  /**
   * Makes a submission of `total` records without queueing them yet (`queue` does): a caller that
   * first journals the records keeps this one object per msg meanwhile, and no other.
   */
  open<C>(total: number, callback: SubmissionCallback<Result, C>, context: C): OpenSubmission<Result> {
    const submission: Submission<Result> = {
      results: undefined,
      only: undefined,
      remaining: total,
      total,
      failures: undefined,
      // The context is stored next to its own callback: the widening loses no safety.
      callback: callback as SubmissionCallback<Result, unknown>,
      context,
    };
    return submission;
  }

  /** Queues the records of a submission `open` made (as many as it was opened for). */
  queue(key: string, records: readonly QueuedRecord[], opened: OpenSubmission<Result>): void {
    // Queued now, it would never be sent: the caller must stop submitting before it cancels.
    if (this.cancelled) throw new Error('the batcher was cancelled: it takes no more records');
    const submission = opened as Submission<Result>;
    if (submission.total !== records.length) throw new RangeError(`a submission of ${submission.total} record(s) was given ${records.length}`);
    this.order.push(submission);
    if (submission.remaining === 0) {
      this.handBack();
      return;
    }
    let queue = this.queues.get(key);
    if (!queue) {
      queue = new ItemQueue<Result>();
      this.queues.set(key, queue);
    }
    if (queue.length === 0) queue.since = Date.now();
    for (let i = 0; i < records.length; i++) {
      queue.push({ record: records[i], bytes: recordBytes(records[i]), submission, index: i });
    }
    this.queuedRecords += records.length;
    this.pump();
  }

  /** Sends everything queued now, without waiting for windows to close. */
  flushAll(): void {
    this.flushingAll = true;
    this.pump();
  }

  /**
   * Fails every queued record's submission with `error` (in flight ones finish), and starts no
   * batch from now on: for a close that leaves what waits to a journal instead of sending it. Returns
   * the records taken out of the queue, so the caller can release them.
   */
  cancelQueued(error: Error): QueuedRecord[] {
    this.cancelled = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
    const taken: QueuedRecord[] = [];
    for (const queue of this.queues.values()) {
      for (const { record, submission, index } of queue.take(queue.length)) {
        taken.push(record);
        (submission.failures ??= []).push({ index, error });
        submission.remaining--;
      }
    }
    this.queues.clear();
    this.queuedRecords = 0;
    this.handBack();
    this.wakeIdleWaiters();
    return taken;
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
      while (!this.cancelled && queue.length > 0 && this.inFlightBatches < this.options.concurrency) {
        const full = queue.length >= this.options.maxBatchSize || queue.bytes >= this.options.maxBatchBytes;
        const due = this.flushingAll || now - queue.since >= this.options.windowMs;
        if (!full && !due) break;
        this.startBatch(key, queue);
      }
      if (queue.length > 0) nextDue = Math.min(nextDue, queue.since + this.options.windowMs);
      else this.queues.delete(key);
    }
    if (this.queuedRecords === 0) this.flushingAll = false;
    // While every slot is busy a finishing batch calls pump(); a timer then would only spin.
    const wanted = nextDue !== Infinity && this.inFlightBatches < this.options.concurrency ? nextDue : Infinity;
    if (wanted === this.timerDue) return;
    // Re-arming on every submit would cost a timer per msg: keep an armed timer that is due in time.
    if (this.timer && wanted >= this.timerDue && wanted !== Infinity) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = wanted;
    if (wanted !== Infinity) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.timerDue = Infinity;
        this.pump();
      }, Math.max(0, wanted - now));
    }
  }

  private startBatch(key: string, queue: ItemQueue<Result>): void {
    let count = 0;
    let bytes = 2;
    while (count < queue.length && count < this.options.maxBatchSize) {
      const size = queue.peek(count).bytes;
      // Always take at least one item, even if it alone is over the byte bound.
      if (count > 0 && bytes + size > this.options.maxBatchBytes) break;
      bytes += size;
      count++;
    }
    const items = queue.take(count);
    queue.since = Date.now();
    this.queuedRecords -= items.length;
    this.inFlightRecords += items.length;
    this.inFlightBatches++;

    const records = items.map((item) => item.record);
    this.options.onProgress?.();
    // Inside a promise executor so that a sender that throws instead of rejecting fails only its
    // batch: a throw escaping here would leave the batch counted in flight for ever.
    // (`bytes` counted a comma after every record: one more than the body has.)
    const size = bytes - 1;
    const whole = this.spareBody(size);
    new Promise<Result[]>((resolve) => resolve(this.options.send({ key, records, body: jsonArrayBody(records, size, whole) })))
      .then(
        (results) => {
          // Answered, so the request was written out whole: the buffer is free for the next batch.
          // (Not after a failure: a request cut short may still sit in a socket's write queue.)
          if (this.spareBodies.length < this.options.concurrency) this.spareBodies.push(whole);
          for (let i = 0; i < items.length; i++) {
            const { submission, index } = items[i];
            setResult(submission, index, results[i]!);
            submission.remaining--;
          }
        },
        (error: unknown) => {
          const failure = error instanceof Error ? error : new Error(String(error));
          const mixed = failure instanceof MixedBatchOutcome ? (failure as MixedBatchOutcome<Result>) : undefined;
          for (let i = 0; i < items.length; i++) {
            const { submission, index } = items[i];
            const recordError = mixed ? mixed.errors[i] : failure;
            if (mixed && recordError === undefined) {
              setResult(submission, index, mixed.results[i] as Result);
            } else {
              (submission.failures ??= []).push({ index, error: recordError ?? failure });
            }
            submission.remaining--;
          }
        },
      )
      .finally(() => {
        this.inFlightBatches--;
        this.inFlightRecords -= items.length;
        this.handBack();
        this.pump();
        this.options.onProgress?.();
        this.wakeIdleWaiters();
      });
  }

  /** A spare body buffer that holds `size` bytes, or a new one (rounded up to 16 KB, so that it fits later batches too). */
  private spareBody(size: number): Buffer {
    for (let i = 0; i < this.spareBodies.length; i++) {
      const spare = this.spareBodies[i];
      if (spare.length >= size) {
        this.spareBodies[i] = this.spareBodies[this.spareBodies.length - 1];
        this.spareBodies.pop();
        return spare;
      }
    }
    return Buffer.allocUnsafeSlow(Math.ceil(size / 16_384) * 16_384);
  }

  private wakeIdleWaiters(): void {
    if (this.pending !== 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Settles finished submissions from the front, so a later one never overtakes an earlier one. */
  private handBack(): void {
    while (this.orderHead < this.order.length) {
      const submission = this.order[this.orderHead];
      if (!submission || submission.remaining > 0) break;
      this.order[this.orderHead++] = undefined;
      // A callback that throws must not stop the others from being told.
      try {
        const failures = submission.failures;
        if (failures) {
          // Batches of one submission may be answered in any order: name its records in index order.
          failures.sort((a, b) => a.index - b.index);
          const delivered = submission.total - failures.length;
          const failure = new BatchFailure(failures[0].error, delivered, submission.total, failures);
          const reported = this.options.describeFailure ? this.options.describeFailure(failure) : failure;
          submission.callback(reported, resultsOf(submission), submission.context);
        } else {
          submission.callback(undefined, resultsOf(submission), submission.context);
        }
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    if (this.orderHead === this.order.length) {
      this.order = [];
      this.orderHead = 0;
    } else if (this.orderHead > 4096 && this.orderHead * 2 > this.order.length) {
      this.order = this.order.slice(this.orderHead);
      this.orderHead = 0;
    }
  }
}

function setResult<Result>(submission: Submission<Result>, index: number, result: Result): void {
  if (submission.total === 1) submission.only = result;
  else (submission.results ??= new Array<Result>(submission.total))[index] = result;
}

/** A settled submission's results in record order; a record that was not delivered has none. */
function resultsOf<Result>(submission: Submission<Result>): Result[] {
  if (submission.total === 1) return submission.only === undefined ? new Array<Result>(1) : [submission.only];
  return submission.results ?? new Array<Result>(submission.total);
}

/** What a record adds to a request body: its UTF-8 bytes (the bound is on bytes sent) and a comma. */
function recordBytes(record: QueuedRecord): number {
  return Buffer.byteLength(record.json) + 1;
}

/**
 * `[json,json,...]` as UTF-8 bytes, written once into one buffer: no joined string on the JS
 * heap, no second copy when the request is written. `byteLength`, when the caller knows it, is
 * the exact size (each record's bytes plus a comma, plus 2 for the brackets, less 1). With `into`,
 * the body is written at its start (a view of it is returned).
 */
export function jsonArrayBody(records: ReadonlyArray<{ json: string }>, byteLength?: number, into?: Buffer): Buffer {
  let size = byteLength;
  if (size === undefined) {
    size = 2 + Math.max(0, records.length - 1);
    for (const record of records) size += Buffer.byteLength(record.json);
  }
  if (into && into.length < size) throw new RangeError(`a buffer of ${into.length} bytes cannot take a body of ${size}`);
  const body = into ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  let offset = 0;
  body[offset++] = 0x5b; // [
  for (let i = 0; i < records.length; i++) {
    if (i > 0) body[offset++] = 0x2c; // ,
    offset += body.write(records[i].json, offset, 'utf8');
  }
  body[offset++] = 0x5d; // ]
  // A wrong size would send garbage or stale memory: refuse rather than send it.
  if (offset !== size) throw new RangeError(`JSON body is ${offset} bytes, expected ${size}`);
  return body;
}
