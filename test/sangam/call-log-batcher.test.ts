import assert from 'node:assert/strict';
import { Batch, BatchFailure, CallLogBatcher, CallLogBatcherOptions, MixedBatchOutcome, QueuedRecord } from '../../src/sangam/call-log-batcher';

/** A batch the sender received, answered when the test says. */
interface ReceivedBatch extends Batch {
  /** The buffer the batcher handed over (`body` is a copy taken then: the batcher reuses an answered batch's buffer). */
  given: Buffer;
  answer(results?: string[]): void;
  fail(error: Error): void;
}

/**
 * The batcher's `send` collaborator, driven by the test: it records each batch and leaves it
 * unanswered until the test calls answer() or fail() on it.
 */
class ControlledSender {
  readonly batches: ReceivedBatch[] = [];
  /** When set, every batch is answered as soon as it arrives. */
  autoAnswer = false;
  private waiters: Array<() => void> = [];

  readonly send = (batch: Batch): Promise<string[]> =>
    new Promise<string[]>((resolve, reject) => {
      this.batches.push({
        ...batch,
        body: Buffer.from(batch.body),
        given: batch.body,
        // By default each record's result names the record, so tests can check the mapping.
        answer: (results) => resolve(results ?? batch.records.map((record) => `result of ${record.json}`)),
        fail: reject,
      });
      if (this.autoAnswer) this.batches[this.batches.length - 1].answer();
      for (const wake of this.waiters.splice(0)) wake();
    });

  /** Resolves once at least `count` batches have arrived. */
  async waitForBatches(count: number): Promise<void> {
    while (this.batches.length < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}

/** The batcher's callback as a promise, which the tests can await and race. */
function submitting<R>(subject: CallLogBatcher<R>, key: string, queued: QueuedRecord[]): Promise<R[]> {
  return new Promise<R[]>((resolve, reject) => {
    subject.submit(key, queued, (failure, results) => (failure ? reject(failure) : resolve(results)));
  });
}

function records(...names: string[]): QueuedRecord[] {
  return names.map((name) => ({ json: JSON.stringify({ name }) }));
}

const resultOf = (name: string) => `result of ${JSON.stringify({ name })}`;

/** Lets queued promise callbacks and immediate timers run. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Records when a promise settles, so tests can assert settle order. */
function track<T>(promise: Promise<T>, label: string, log: string[]): Promise<T> {
  promise.then(
    () => log.push(`${label} ok`),
    () => log.push(`${label} failed`),
  );
  return promise;
}

function batcher(sender: ControlledSender, options: Partial<CallLogBatcherOptions<string>> = {}): CallLogBatcher<string> {
  return new CallLogBatcher<string>({
    maxBatchSize: 3,
    windowMs: 60_000,
    maxBatchBytes: 1024 * 1024,
    concurrency: 4,
    send: sender.send,
    ...options,
  });
}

describe('sangam/call-log-batcher', () => {
  it('refuses a batch size or concurrency below 1', () => {
    const sender = new ControlledSender();
    assert.throws(() => batcher(sender, { maxBatchSize: 0 }), RangeError);
    assert.throws(() => batcher(sender, { concurrency: 0 }), RangeError);
    assert.throws(() => batcher(sender, { concurrency: NaN }), RangeError);
  });

  it('sends as soon as a batch is full, with the records as one JSON array', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 3, windowMs: 60_000 });
    const first = submitting(subject, 'ivr-1', records('a', 'b'));
    await tick();
    assert.equal(sender.batches.length, 0, 'two records wait for the window');
    assert.equal(subject.pending, 2);
    const second = submitting(subject, 'ivr-1', records('c', 'd'));
    assert.equal(sender.batches.length, 1);
    const [batch] = sender.batches;
    assert.equal(batch.key, 'ivr-1');
    assert.equal(batch.body.toString(), '[{"name":"a"},{"name":"b"},{"name":"c"}]');
    assert.deepEqual(JSON.parse(batch.body.toString()), [{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
    assert.equal(subject.inFlight, 1);
    assert.equal(subject.pending, 4);

    subject.flushAll();
    await sender.waitForBatches(2);
    assert.equal(sender.batches[1].body.toString(), '[{"name":"d"}]');
    sender.batches[0].answer();
    sender.batches[1].answer();
    assert.deepEqual(await first, [resultOf('a'), resultOf('b')]);
    assert.deepEqual(await second, [resultOf('c'), resultOf('d')]);
    assert.equal(subject.pending, 0);
  });

  it('sends what the window gathered once the window closes', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 100, windowMs: 30 });
    const first = submitting(subject, 'ivr-1', records('a'));
    const second = submitting(subject, 'ivr-1', records('b', 'c'));
    assert.equal(sender.batches.length, 0);
    await sender.waitForBatches(1);
    assert.equal(sender.batches[0].records.length, 3);
    sender.batches[0].answer();
    assert.deepEqual(await first, [resultOf('a')]);
    assert.deepEqual(await second, [resultOf('b'), resultOf('c')]);

    // A later record opens a new window of its own.
    const third = submitting(subject, 'ivr-1', records('d'));
    await sender.waitForBatches(2);
    sender.batches[1].answer();
    assert.deepEqual(await third, [resultOf('d')]);
  });

  it('with a window of 0 sends each submission on its own turn', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 100, windowMs: 0 });
    const first = submitting(subject, 'ivr-1', records('a'));
    await sender.waitForBatches(1);
    sender.batches[0].answer();
    assert.deepEqual(await first, [resultOf('a')]);
  });

  it('keeps each request body within maxBatchBytes, counted in UTF-8 bytes', async () => {
    const sender = new ControlledSender();
    // Devanagari: 3 UTF-8 bytes per UTF-16 code unit; each record is 3 + 60 * 3 + 2 + 2 = 187 bytes as JSON.
    const hindi = (i: number) => ({ json: JSON.stringify({ n: `${i}`.padEnd(60, 'न') }) });
    const queued = Array.from({ length: 10 }, (_, i) => hindi(i));
    const recordBytes = Buffer.byteLength(queued[0].json);
    const maxBatchBytes = 2 + 3 * (recordBytes + 1);
    const subject = batcher(sender, { maxBatchSize: 100, maxBatchBytes, windowMs: 60_000 });
    sender.autoAnswer = true;
    const submitted = submitting(subject, 'ivr-1', queued);
    subject.flushAll();
    assert.equal((await submitted).length, 10);
    for (const batch of sender.batches) {
      assert.ok(batch.body.length <= maxBatchBytes, `${batch.body.length} > ${maxBatchBytes}`);
    }
    assert.deepEqual(sender.batches.map((batch) => batch.records.length), [3, 3, 3, 1]);
  });

  it('sends as soon as the queued bytes reach the bound, and a record over the bound alone', async () => {
    const sender = new ControlledSender();
    const small = { json: '{"n":"xxxxxxxxxxxxxxxx"}' }; // 24 bytes
    const huge = { json: JSON.stringify({ n: 'y'.repeat(500) }) };
    const subject = batcher(sender, { maxBatchSize: 100, maxBatchBytes: 2 + 2 * 25, windowMs: 60_000 });
    const first = submitting(subject, 'ivr-1', [small]);
    assert.equal(sender.batches.length, 0);
    const second = submitting(subject, 'ivr-1', [small, huge, small]);
    // [small, small] fill the bound; huge goes alone although it exceeds it; the last small waits.
    assert.deepEqual(sender.batches.map((batch) => batch.records.length), [2, 1]);
    assert.equal(sender.batches[1].records[0], huge);
    subject.flushAll();
    await sender.waitForBatches(3);
    for (const batch of sender.batches) batch.answer();
    assert.equal((await first).length, 1);
    assert.equal((await second).length, 3);
  });

  it('keeps at most `concurrency` batches in flight and starts the next when one is answered', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 1, concurrency: 2 });
    const submissions = ['a', 'b', 'c', 'd', 'e'].map((name) => submitting(subject, 'ivr-1', records(name)));
    await tick();
    assert.equal(sender.batches.length, 2);
    assert.equal(subject.inFlight, 2);
    assert.equal(subject.pending, 5);
    sender.batches[1].answer();
    await sender.waitForBatches(3);
    await tick();
    assert.equal(sender.batches.length, 3);
    assert.equal(subject.inFlight, 2);
    for (let i = 0; i < 5; i++) {
      await sender.waitForBatches(i + 1);
      if (i !== 1) sender.batches[i].answer();
    }
    assert.deepEqual(await Promise.all(submissions), [['a'], ['b'], ['c'], ['d'], ['e']].map(([name]) => [resultOf(name)]));
    assert.deepEqual(sender.batches.map((batch) => batch.body.toString()), ['a', 'b', 'c', 'd', 'e'].map((name) => `[{"name":"${name}"}]`));
  });

  it("writes a later batch into the buffer of a batch the CRM answered, never of one that failed or is in flight", async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 1, concurrency: 2 });
    const submissions = ['a', 'b', 'c', 'd'].map((name) => submitting(subject, 'ivr-1', records(name)));
    await sender.waitForBatches(2);
    sender.batches[0].answer();
    await sender.waitForBatches(3);
    assert.equal(sender.batches[2].given.buffer, sender.batches[0].given.buffer, 'c went into the buffer of a');
    assert.notEqual(sender.batches[2].given.buffer, sender.batches[1].given.buffer);
    assert.equal(sender.batches[2].given.toString(), '[{"name":"c"}]');
    sender.batches[1].fail(new Error('down'));
    await sender.waitForBatches(4);
    assert.notEqual(sender.batches[3].given.buffer, sender.batches[1].given.buffer, 'the failed batch\'s buffer is not reused');
    assert.notEqual(sender.batches[3].given.buffer, sender.batches[2].given.buffer);
    sender.batches[2].answer();
    sender.batches[3].answer();
    const settled = await Promise.allSettled(submissions);
    assert.deepEqual(settled.map((outcome) => outcome.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  });

  it('never mixes keys in one batch', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 2 });
    const a1 = submitting(subject, 'ivr-a', records('a1'));
    const b1 = submitting(subject, 'ivr-b', records('b1'));
    const a2 = submitting(subject, 'ivr-a', records('a2'));
    assert.equal(sender.batches.length, 1);
    assert.equal(sender.batches[0].key, 'ivr-a');
    assert.equal(sender.batches[0].body.toString(), '[{"name":"a1"},{"name":"a2"}]');
    subject.flushAll();
    await sender.waitForBatches(2);
    assert.equal(sender.batches[1].key, 'ivr-b');
    assert.equal(sender.batches[1].body.toString(), '[{"name":"b1"}]');
    for (const batch of sender.batches) batch.answer();
    assert.deepEqual(await Promise.all([a1, b1, a2]), [[resultOf('a1')], [resultOf('b1')], [resultOf('a2')]]);
  });

  it('maps results back to each submission in its own order, across batches', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 2 });
    const first = submitting(subject, 'ivr-1', records('a', 'b', 'c'));
    const second = submitting(subject, 'ivr-1', records('d'));
    await sender.waitForBatches(2);
    assert.deepEqual(sender.batches.map((batch) => batch.records.length), [2, 2]);
    // Answer the second batch first, with results that say where they came from.
    sender.batches[1].answer(['R-c', 'R-d']);
    sender.batches[0].answer(['R-a', 'R-b']);
    assert.deepEqual(await first, ['R-a', 'R-b', 'R-c']);
    assert.deepEqual(await second, ['R-d']);
  });

  it('hands each submission its own context with its results or failure, through one callback all of them share', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 2 });
    const told: Array<{ context: string; results?: string[]; failure?: string }> = [];
    const callback = (failure: Error | undefined, results: string[], context: { name: string }): void => {
      told.push(failure ? { context: context.name, failure: failure.message } : { context: context.name, results });
    };
    subject.submit('ivr-1', records('a'), callback, { name: 'first' });
    subject.submit('ivr-1', records('b'), callback, { name: 'second' });
    subject.submit('ivr-1', records('c'), callback, { name: 'third' });
    await sender.waitForBatches(1);
    sender.batches[0].answer(['R-a', 'R-b']);
    subject.flushAll();
    await sender.waitForBatches(2);
    sender.batches[1].fail(new Error('HTTP 503'));
    await subject.whenIdle();
    assert.deepEqual(told, [
      { context: 'first', results: ['R-a'] },
      { context: 'second', results: ['R-b'] },
      { context: 'third', failure: 'HTTP 503' },
    ]);
  });

  it('queues a submission opened before its records were ready, in the order it is queued, and refuses a records count other than the one opened', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 3 });
    const told: string[] = [];
    const callback = (failure: Error | undefined, results: string[], context: string): void => {
      told.push(`${context}: ${failure ? failure.message : results.join(',')}`);
    };
    const early = subject.open(2, callback, 'early');
    subject.submit('ivr-1', records('a'), callback, 'direct');
    assert.throws(() => subject.queue('ivr-1', records('b'), early), (error: unknown) =>
      error instanceof RangeError && /a submission of 2 record\(s\) was given 1/.test(error.message));
    subject.queue('ivr-1', records('b', 'c'), early);
    await sender.waitForBatches(1);
    assert.deepEqual(sender.batches[0].records.map((record) => record.json), records('a', 'b', 'c').map((record) => record.json));
    sender.batches[0].answer(['R-a', 'R-b', 'R-c']);
    await subject.whenIdle();
    assert.deepEqual(told, ['direct: R-a', 'early: R-b,R-c']);
  });

  it('settles submissions in submission order even when a later batch is answered first', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 1, concurrency: 3 });
    const log: string[] = [];
    const first = track(submitting(subject, 'ivr-1', records('a')), 'a', log);
    const second = track(submitting(subject, 'ivr-2', records('b')), 'b', log);
    const third = track(submitting(subject, 'ivr-1', records('c')), 'c', log);
    await sender.waitForBatches(3);
    sender.batches[2].answer();
    sender.batches[1].fail(new Error('HTTP 503'));
    await tick();
    await tick();
    assert.deepEqual(log, [], 'nothing settles before the first submission');
    sender.batches[0].answer();
    await Promise.allSettled([first, second, third]);
    assert.deepEqual(log, ['a ok', 'b failed', 'c ok']);
  });

  it('hands a failure to the callback as describeFailure turns it', async () => {
    const sender = new ControlledSender();
    const described: BatchFailure[] = [];
    const subject = batcher(sender, {
      maxBatchSize: 2,
      describeFailure: (failure) => {
        described.push(failure);
        return new RangeError(`${failure.delivered} of ${failure.total}: ${failure.message}`);
      },
    });
    const submitted = submitting(subject, 'ivr-1', records('a', 'b', 'c'));
    subject.flushAll();
    await sender.waitForBatches(2);
    sender.batches[0].answer();
    sender.batches[1].fail(new Error('HTTP 503'));
    await assert.rejects(submitted, (error: unknown) => error instanceof RangeError && error.message === '2 of 3: HTTP 503');
    assert.equal(described.length, 1);
    assert.ok(described[0] instanceof BatchFailure);
  });

  it('rejects only the submissions of a failing batch, with how many of their records were delivered', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 2 });
    const whole = submitting(subject, 'ivr-1', records('a', 'b'));
    const split = submitting(subject, 'ivr-1', records('c', 'd', 'e'));
    const after = submitting(subject, 'ivr-1', records('f'));
    subject.flushAll();
    await sender.waitForBatches(3);
    assert.deepEqual(sender.batches.map((batch) => batch.body.toString()), [
      '[{"name":"a"},{"name":"b"}]',
      '[{"name":"c"},{"name":"d"}]',
      '[{"name":"e"},{"name":"f"}]',
    ]);
    const cause = new Error('SangamCRM call-log API answered HTTP 500: boom');
    sender.batches[0].answer();
    sender.batches[1].answer();
    sender.batches[2].fail(cause);

    assert.deepEqual(await whole, [resultOf('a'), resultOf('b')]);
    const splitFailure = await split.then(
      () => assert.fail('the split submission should fail'),
      (error: unknown) => error,
    );
    assert.ok(splitFailure instanceof BatchFailure);
    assert.equal(splitFailure.cause, cause);
    assert.equal(splitFailure.message, cause.message);
    assert.equal(splitFailure.delivered, 2);
    assert.equal(splitFailure.total, 3);
    await assert.rejects(after, (error: unknown) => error instanceof BatchFailure && error.delivered === 0 && error.total === 1);
  });

  it('answers each submission of a batch the sender split by its own records: results where stored, a failure naming its records where not', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 6 });
    const alone = submitting(subject, 'ivr-1', records('a'));
    const mixed = submitting(subject, 'ivr-1', records('b', 'c', 'd'));
    const after = submitting(subject, 'ivr-1', records('e', 'f'));
    subject.flushAll();
    await sender.waitForBatches(1);
    const refused = new Error('HTTP 400: record [0] is bad');
    const down = new Error('HTTP 503');
    sender.batches[0].fail(
      new MixedBatchOutcome(
        [resultOf('a'), resultOf('b'), undefined, undefined, resultOf('e'), resultOf('f')],
        [undefined, undefined, down, refused, undefined, undefined],
      ),
    );
    assert.deepEqual(await alone, [resultOf('a')]);
    assert.deepEqual(await after, [resultOf('e'), resultOf('f')]);
    const failure = await mixed.then(
      () => assert.fail('the msg with undelivered records must fail'),
      (error: unknown) => error,
    );
    assert.ok(failure instanceof BatchFailure);
    assert.equal(failure.delivered, 1);
    assert.equal(failure.total, 3);
    assert.equal(failure.cause, down);
    assert.deepEqual(failure.failures, [
      { index: 1, error: down },
      { index: 2, error: refused },
    ]);
    assert.equal(subject.pending, 0);
  });

  it('wraps a non-Error rejection of the sender', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 1 });
    const submitted = submitting(subject, 'ivr-1', records('a'));
    await sender.waitForBatches(1);
    (sender.batches[0].fail as (reason: unknown) => void)('plain string');
    await assert.rejects(submitted, (error: unknown) => error instanceof BatchFailure && error.message === 'plain string');
  });

  it('rejects the submissions of a batch whose sender throws synchronously, and keeps working', async () => {
    let calls = 0;
    const subject = new CallLogBatcher<string>({
      maxBatchSize: 1,
      windowMs: 0,
      maxBatchBytes: 1024,
      concurrency: 1,
      send: (batch) => {
        calls++;
        if (calls === 1) throw new Error('sender bug');
        return Promise.resolve(batch.records.map(() => 'ok'));
      },
    });
    const log: string[] = [];
    const first = track(submitting(subject, 'ivr-1', records('a')), 'a', log);
    const second = track(submitting(subject, 'ivr-1', records('b')), 'b', log);
    await assert.rejects(first, (error: unknown) => error instanceof BatchFailure && error.message === 'sender bug');
    assert.deepEqual(await second, ['ok']);
    assert.equal(subject.pending, 0);
    assert.equal(subject.inFlight, 0);
  });

  it('flushAll sends what waits for its window at once, and resets after', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 100, windowMs: 60_000 });
    const first = submitting(subject, 'ivr-1', records('a'));
    const second = submitting(subject, 'ivr-2', records('b'));
    assert.equal(sender.batches.length, 0);
    subject.flushAll();
    assert.equal(sender.batches.length, 2);
    for (const batch of sender.batches) batch.answer();
    await Promise.all([first, second]);

    const later = submitting(subject, 'ivr-1', records('c'));
    await tick();
    assert.equal(sender.batches.length, 2, 'a submission after the flush waits for its window again');
    subject.flushAll();
    sender.batches[2].answer();
    await later;
  });

  it('cancelQueued fails what is queued, lets what is in flight finish, keeps the order and starts nothing more', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 2, windowMs: 60_000, concurrency: 1 });
    const log: string[] = [];
    const inFlight = track(submitting(subject, 'ivr-1', records('a', 'b')), 'a+b', log);
    const split = track(submitting(subject, 'ivr-1', records('c', 'd', 'e')), 'c+d+e', log);
    await sender.waitForBatches(1);
    const stop = new Error('stopped');
    const taken = subject.cancelQueued(stop);
    assert.deepEqual(taken.map((record) => record.json), records('c', 'd', 'e').map((record) => record.json));
    await tick();
    assert.deepEqual(log, [], 'the cancelled submission waits for the one before it');
    sender.batches[0].answer();
    assert.deepEqual(await inFlight, [resultOf('a'), resultOf('b')]);
    const failure = await split.catch((error: unknown) => error);
    assert.ok(failure instanceof BatchFailure);
    assert.equal(failure.cause, stop);
    assert.deepEqual(failure.failures.map((entry) => entry.index), [0, 1, 2]);
    assert.deepEqual(log, ['a+b ok', 'c+d+e failed']);
    await subject.whenIdle();
    assert.equal(sender.batches.length, 1, 'nothing queued was sent');
    assert.throws(() => subject.submit('ivr-1', records('f'), () => undefined), /cancelled/);
  });

  it('whenIdle resolves at once when idle and otherwise once every record is answered', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 1, concurrency: 1 });
    await subject.whenIdle();
    const submissions = [submitting(subject, 'ivr-1', records('a')), submitting(subject, 'ivr-1', records('b'))];
    let idle = false;
    const idling = subject.whenIdle().then(() => (idle = true));
    await sender.waitForBatches(1);
    sender.batches[0].answer();
    await sender.waitForBatches(2);
    await tick();
    assert.equal(idle, false);
    assert.equal(subject.pending, 1);
    sender.batches[1].fail(new Error('down'));
    await idling;
    assert.equal(subject.pending, 0);
    await Promise.allSettled(submissions);
  });

  it('resolves an empty submission with no results, in its turn', async () => {
    const sender = new ControlledSender();
    const subject = batcher(sender, { maxBatchSize: 1 });
    const log: string[] = [];
    const first = track(submitting(subject, 'ivr-1', records('a')), 'a', log);
    const empty = track(submitting(subject, 'ivr-1', []), 'empty', log);
    await sender.waitForBatches(1);
    await tick();
    assert.deepEqual(log, []);
    sender.batches[0].answer();
    assert.deepEqual(await empty, []);
    await first;
    assert.deepEqual(log, ['a ok', 'empty ok']);
    assert.equal(sender.batches.length, 1);
  });
});
