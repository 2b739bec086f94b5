import assert from 'node:assert/strict';
import { SangamCrmStandIn } from '../../dev/standins/sangam-crm';
import { AbortedError, RemoteError } from '../../src/lib/errors';
import { KeepAliveAgents, createKeepAliveAgents } from '../../src/lib/http';
import { RetryPolicy } from '../../src/lib/retry';
import {
  CallLogDeliveryError,
  CallLogDispatcher,
  CallLogDispatcherOptions,
  CallLogJournal,
  JournalledCallback,
  CallLogKeptOnStop,
  DispatchActivity,
  refusesRecords,
} from '../../src/sangam/call-log-dispatcher';
import { SangamClient } from '../../src/sangam/sangam-client';
import { QueuedRecord } from '../../src/sangam/call-log-batcher';
import type { CallLogResult } from '../../src/sangam/sangam-client';

/** submit() as a promise: a throw (invalid record, stopping) and a failure both reject. */
function delivering(subject: CallLogDispatcher, key: string, records: ReadonlyArray<object>): Promise<CallLogResult[]> {
  return new Promise<CallLogResult[]>((resolve, reject) => {
    subject.submit(key, records, (error, results) => (error ? reject(error) : resolve(results ?? [])));
  });
}

const TOKEN = 'dispatch-token-4c1d9e2a7b';
const FAST_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 1_000 };

function callRecord(source: string): Record<string, unknown> {
  return {
    duration: '00:01:00',
    enjay_lat_source_number: source,
    date_start: '2020-11-10 10:58:47',
    date_end: '2020-11-10 10:59:47',
    mobile_call_detect_c: '0',
    name: source,
    enjay_lat_destination_number: '7890123456',
    direction: 'Inbound',
    call_status: 'Held',
    logged_via: 'Calllog',
    logged_by: 'IVR',
  };
}

/** A journal that keeps what it is told in memory and records every call, in order. */
class RecordingJournal implements CallLogJournal {
  readonly calls: Array<{ op: 'append' | 'ack' | 'release' | 'setAside'; ids: number[] }> = [];
  /** Set to make setAside fail, as a rejected file that cannot be written does. */
  setAsideFailure: Error | undefined;
  /** Set to make append fail, as a full outbox does: nothing is stored. */
  appendFailure: Error | undefined;
  readonly appended = new Map<number, { key: string; json: string }>();
  private nextId = 1;

  append<C>(key: string, records: readonly QueuedRecord[], context: C, journalled: JournalledCallback<C>): void {
    const failure = this.appendFailure;
    if (failure) {
      setImmediate(() => journalled(failure, key, records, context));
      return;
    }
    const ids = records.map((record) => {
      const id = this.nextId++;
      this.appended.set(id, { key, json: record.json });
      record.outboxId = id;
      return id;
    });
    this.calls.push({ op: 'append', ids });
    // Like the outbox: the callback comes later, never inside append().
    setImmediate(() => journalled(undefined, key, records, context));
  }

  ack(ids: number[]): void {
    this.calls.push({ op: 'ack', ids: [...ids] });
  }

  release(ids: number[]): void {
    this.calls.push({ op: 'release', ids: [...ids] });
  }

  setAside(_key: string, records: readonly QueuedRecord[]): Promise<string> {
    if (this.setAsideFailure) return Promise.reject(this.setAsideFailure);
    this.calls.push({ op: 'setAside', ids: records.map((record) => record.outboxId ?? -1) });
    return Promise.resolve('/outbox/crm.rejected.jsonl');
  }

  ops(): string[] {
    return this.calls.map((call) => `${call.op} ${call.ids.join(',')}`);
  }
}

async function deliveryFailure(promise: Promise<unknown>): Promise<CallLogDeliveryError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof CallLogDeliveryError, `expected a CallLogDeliveryError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}

describe('sangam/call-log-dispatcher', () => {
  let crm: SangamCrmStandIn;
  let agents: KeepAliveAgents;
  let client: SangamClient;
  const dispatchers: CallLogDispatcher[] = [];

  before(async () => {
    crm = await SangamCrmStandIn.start({ token: TOKEN });
  });
  after(async () => {
    await crm.close();
  });
  beforeEach(() => {
    crm.reset();
    agents = createKeepAliveAgents(8);
    client = new SangamClient({ baseUrl: crm.url, token: TOKEN, timeoutMs: 5_000, agents, maxInFlight: 8 });
  });
  afterEach(async () => {
    await Promise.all(dispatchers.splice(0).map((dispatcher) => dispatcher.close(0)));
    agents.destroy();
  });

  function dispatcher(options: Partial<CallLogDispatcherOptions> = {}): CallLogDispatcher {
    const made = new CallLogDispatcher({
      client,
      maxBatchSize: 100,
      windowMs: 20,
      maxBatchBytes: 1024 * 1024,
      concurrency: 2,
      retry: FAST_RETRY,
      ...options,
    });
    dispatchers.push(made);
    return made;
  }

  it('batches the records of several msgs into one request and gives each msg its results in order', async () => {
    const activity: DispatchActivity[] = [];
    const subject = dispatcher({ onActivity: (event) => activity.push(event) });
    const [first, second, third] = await Promise.all([
      delivering(subject, 'main-ivr', [callRecord('1001'), callRecord('1002')]),
      delivering(subject, 'main-ivr', [callRecord('1003')]),
      delivering(subject, 'main-ivr', [callRecord('1004'), callRecord('1005')]),
    ]);
    assert.equal(crm.stats.callLogRequests, 1);
    assert.deepEqual(crm.callLogs.map((log) => log.record.enjay_lat_source_number), ['1001', '1002', '1003', '1004', '1005']);
    assert.deepEqual(first.map((result) => result.num), ['1001', '1002']);
    assert.deepEqual(second.map((result) => result.num), ['1003']);
    assert.deepEqual(third.map((result) => result.num), ['1004', '1005']);
    assert.deepEqual(activity.at(-1), { kind: 'idle' });
    assert.equal(subject.pending, 0);
  });

  it('hands each msg\'s context back with its results, or with the journal\'s refusal, through one callback', async () => {
    const journal = new RecordingJournal();
    const subject = dispatcher({ journal });
    const told: string[] = [];
    let all: () => void = () => undefined;
    const everyone = new Promise<void>((resolve) => (all = resolve));
    const callback = (error: Error | undefined, results: CallLogResult[] | undefined, context: { name: string }): void => {
      told.push(`${context.name}: ${error ? error.message : (results ?? []).map((result) => result.num).join(',')}`);
      if (told.length === 3) all();
    };
    subject.submit('main-ivr', [callRecord('1001'), callRecord('1002')], callback, { name: 'first' });
    subject.submit('main-ivr', [callRecord('1003')], callback, { name: 'second' });
    journal.appendFailure = new Error('the outbox is full');
    subject.submit('main-ivr', [callRecord('1004')], callback, { name: 'third' });
    await everyone;
    assert.deepEqual(told.sort(), ['first: 1001,1002', 'second: 1003', 'third: the outbox is full']);
  });

  it('refuses a record too large for one request before journalling or sending anything', async () => {
    const journal = new RecordingJournal();
    const subject = dispatcher({ maxBatchBytes: 4096, journal });
    const huge = { ...callRecord('1001'), notes: 'x'.repeat(5000) };
    await assert.rejects(delivering(subject, 'main-ivr', [callRecord('1002'), huge]), /payload\[1\] is \d+ bytes as JSON; one record may be at most 4096/);
    assert.deepEqual(journal.ops(), []);
    assert.equal(crm.stats.requests, 0);
  });

  it('reports "sending" with the msg\'s own records as soon as a msg is accepted', async () => {
    const activity: DispatchActivity[] = [];
    const subject = dispatcher({ onActivity: (event) => activity.push(event) });
    await delivering(subject, 'main-ivr', [callRecord('1001'), callRecord('1002')]);
    assert.deepEqual(activity, [{ kind: 'sending', count: 2 }, { kind: 'idle' }]);
  });

  it('sends each ivr-name in its own request', async () => {
    const subject = dispatcher();
    await Promise.all([delivering(subject, 'ivr-a', [callRecord('1')]), delivering(subject, 'ivr-b', [callRecord('2')])]);
    assert.equal(crm.stats.callLogRequests, 2);
    assert.deepEqual(crm.callLogs.map((log) => `${log.ivrName}:${String(log.record.name)}`).sort(), ['ivr-a:1', 'ivr-b:2']);
  });

  it('retries retryable failures, reporting each retry, and delivers once', async () => {
    const activity: DispatchActivity[] = [];
    crm.failNext(1, { kind: 'status', status: 503 });
    crm.failNext(1, { kind: 'drop' });
    const subject = dispatcher({ onActivity: (event) => activity.push(event) });
    const results = await delivering(subject, 'main-ivr', [callRecord('1001')]);
    assert.equal(results.length, 1);
    assert.equal(crm.stats.callLogRequests, 3);
    assert.equal(crm.callLogs.length, 1);
    const retries = activity.filter((event) => event.kind === 'retrying');
    assert.equal(retries.length, 2);
    assert.deepEqual(retries[0], { kind: 'retrying', attempt: 1, reason: 'HTTP 503' });
    assert.equal(retries[1].kind === 'retrying' && retries[1].attempt, 2);
    assert.equal(retries[1].kind === 'retrying' && /^E[A-Z]+$/.test(retries[1].reason), true, JSON.stringify(retries[1]));
  });

  it('retries a batch that found the CRM unreachable as soon as another batch gets through, not after its backoff', async () => {
    // Backoffs of 150-300, 300-600, then 600-1,200 ms; a retry woken by another batch's success waits 300 ms at least.
    let failedAt = 0;
    let sendOther: () => void = () => undefined;
    const subject = dispatcher({
      maxBatchSize: 1,
      retry: { retries: 4, baseDelayMs: 300, maxDelayMs: 60_000, maxRetryAfterMs: 1_000 },
      onActivity: (event) => {
        if (event.kind !== 'retrying' || event.attempt !== 3) return;
        failedAt = Date.now();
        sendOther();
      },
    });
    // The first msg's first three requests find no CRM: connections reset without an answer.
    crm.failNext(3, { kind: 'drop' });
    const other = new Promise<CallLogResult[]>((resolve, reject) => {
      sendOther = () => void delivering(subject, 'main-ivr', [callRecord('1002')]).then(resolve, reject);
    });
    const first = await delivering(subject, 'main-ivr', [callRecord('1001')]);
    const took = Date.now() - failedAt;
    assert.deepEqual(first.map((result) => result.num), ['1001']);
    assert.deepEqual((await other).map((result) => result.num), ['1002']);
    assert.ok(took >= 295 && took < 550, `the fourth attempt came ${took} ms after the third failed (its backoff: 600-1,200 ms)`);
    // Three that found no CRM, then one each.
    assert.equal(crm.stats.callLogRequests, 5);
  });

  it('journals records first and acknowledges them once the CRM stored them', async () => {
    const journal = new RecordingJournal();
    const subject = dispatcher({ journal });
    await Promise.all([delivering(subject, 'main-ivr', [callRecord('1'), callRecord('2')]), delivering(subject, 'main-ivr', [callRecord('3')])]);
    assert.deepEqual(journal.ops(), ['append 1,2', 'append 3', 'ack 1,2,3']);
    assert.deepEqual(JSON.parse(journal.appended.get(3)?.json ?? 'null'), callRecord('3'));
  });

  it('releases journalled records when retries run out and says they are kept', async () => {
    const journal = new RecordingJournal();
    crm.failNext(10, { kind: 'status', status: 503 });
    const subject = dispatcher({ journal, retry: { ...FAST_RETRY, retries: 1 } });
    const error = await deliveryFailure(delivering(subject, 'main-ivr', [callRecord('1'), callRecord('2')]));
    assert.equal(crm.stats.callLogRequests, 2);
    assert.deepEqual(journal.ops(), ['append 1,2', 'release 1,2']);
    assert.equal(error.statusCode, 503);
    assert.equal(error.kept, 2);
    assert.equal(
      error.message,
      'SangamCRM call-log API answered HTTP 503: stand-in fault: HTTP 503; 2 record(s) are kept in the outbox and will be retried',
    );
  });

  it('sets aside a lone record the CRM refused (400) without retrying, and says where it is', async () => {
    const journal = new RecordingJournal();
    const subject = dispatcher({ journal });
    const error = await deliveryFailure(delivering(subject, 'main-ivr', [{ ...callRecord('2'), direction: 'Sideways' }]));
    assert.equal(crm.stats.callLogRequests, 1);
    assert.deepEqual(journal.ops(), ['append 1', 'setAside 1']);
    assert.equal(error.statusCode, 400);
    assert.equal(error.kept, 0);
    assert.match(error.message, /^SangamCRM call-log API answered HTTP 400: record \[0\] field "direction".*; set aside in \/outbox\/crm\.rejected\.jsonl$/);
  });

  it('splits a refused batch: the other msgs\' records are delivered with their results, only the refused record\'s msg fails', async () => {
    const journal = new RecordingJournal();
    const subject = dispatcher({ journal });
    const outcomes = await Promise.allSettled([
      delivering(subject, 'main-ivr', [callRecord('1001')]),
      delivering(subject, 'main-ivr', [callRecord('1002')]),
      delivering(subject, 'main-ivr', [{ ...callRecord('1003'), direction: 'Sideways' }]),
      delivering(subject, 'main-ivr', [callRecord('1004')]),
    ]);
    assert.deepEqual(
      outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value.map((result) => result.num).join() : 'failed')),
      ['1001', '1002', 'failed', '1004'],
    );
    // 4 refused, [1001,1002] stored, [1003,1004] refused, [1003] refused, [1004] stored.
    assert.equal(crm.stats.callLogRequests, 5);
    assert.deepEqual(crm.callLogs.map((log) => log.record.name).sort(), ['1001', '1002', '1004']);
    const ids = outcomes.map((outcome) => outcome.status === 'fulfilled' && outcome.value[0].id);
    assert.deepEqual(ids.map((id, i) => (i === 2 ? id : crm.callLogs.some((log) => log.id === id))), [true, true, false, true]);
    assert.deepEqual(journal.ops(), ['append 1', 'append 2', 'append 3', 'append 4', 'setAside 3', 'ack 1,2,4']);
    const failed = outcomes[2];
    assert.ok(failed.status === 'rejected' && failed.reason instanceof CallLogDeliveryError);
    assert.equal(failed.reason.kept, 0);
    assert.equal(failed.reason.statusCode, 400);
    assert.match(failed.reason.message, /record \[0\] field "direction".*; set aside in \/outbox\/crm\.rejected\.jsonl$/);
  });

  it('without a journal a split still delivers the refused record\'s neighbours', async () => {
    const subject = dispatcher();
    const outcomes = await Promise.allSettled([
      delivering(subject, 'main-ivr', [callRecord('1001'), { ...callRecord('1002'), call_status: 'Lost' }]),
      delivering(subject, 'main-ivr', [callRecord('1003')]),
    ]);
    assert.deepEqual(crm.callLogs.map((log) => log.record.name).sort(), ['1001', '1003']);
    assert.equal(outcomes[1].status === 'fulfilled' && outcomes[1].value[0].num, '1003');
    const failed = outcomes[0];
    assert.ok(failed.status === 'rejected' && failed.reason instanceof CallLogDeliveryError);
    assert.equal(failed.reason.kept, 0);
    assert.match(failed.reason.message, /^payload\[1\] was refused: SangamCRM call-log API answered HTTP 400: record \[0\] field "call_status".* \(1 of 2 record\(s\) were delivered\)$/);
  });

  it('names each refused record of a msg and says how many of its records were delivered', async () => {
    const journal = new RecordingJournal();
    const subject = dispatcher({ journal });
    const bad = { ...callRecord('9'), direction: 'Sideways' };
    const error = await deliveryFailure(delivering(subject, 'main-ivr', [callRecord('1'), bad, callRecord('2'), bad, callRecord('3')]));
    assert.deepEqual(crm.callLogs.map((log) => log.record.name), ['1', '2', '3']);
    assert.equal(error.kept, 0);
    assert.match(error.message, /^payload\[1\], payload\[3\] were refused: .*record \[0\] field "direction".* \(3 of 5 record\(s\) were delivered\); set aside in \/outbox\/crm\.rejected\.jsonl$/);
    assert.deepEqual(journal.ops().filter((op) => !op.startsWith('append')), ['setAside 2', 'setAside 4', 'ack 1,3,5']);
  });

  it('keeps a refused record journalled (released for the replays) when it cannot be set aside, and says so', async () => {
    const journal = new RecordingJournal();
    journal.setAsideFailure = new Error('EISDIR: illegal operation on a directory');
    const subject = dispatcher({ journal });
    const error = await deliveryFailure(delivering(subject, 'main-ivr', [{ ...callRecord('2'), direction: 'Sideways' }]));
    assert.deepEqual(journal.ops(), ['append 1', 'release 1']);
    assert.equal(error.kept, 1);
    assert.match(error.message, /1 of them could not be set aside \(EISDIR: illegal operation on a directory\) and stay in the outbox$/);
  });

  it('acknowledges, never releases, records whose answer had the wrong number of results, and says they were probably stored', async () => {
    const journal = new RecordingJournal();
    crm.failNext(1, { kind: 'wrongLength' });
    const subject = dispatcher({ journal });
    const error = await deliveryFailure(delivering(subject, 'main-ivr', [callRecord('1'), callRecord('2')]));
    assert.equal(crm.stats.callLogRequests, 1, 'not retried');
    assert.deepEqual(journal.ops(), ['append 1,2', 'ack 1,2']);
    assert.equal(error.kept, 0);
    assert.match(error.message, /answered 1 result\(s\) for 2 record\(s\).*; the CRM took the request, so payload\[0\], payload\[1\] were probably stored: not sent again/);
  });

  it('without a journal never claims that records are kept', async () => {
    crm.failNext(10, { kind: 'status', status: 500 });
    const subject = dispatcher({ retry: { ...FAST_RETRY, retries: 0 } });
    const error = await deliveryFailure(delivering(subject, 'main-ivr', [callRecord('1')]));
    assert.equal(error.kept, 0);
    assert.equal(error.statusCode, 500);
    assert.equal(error.message, 'SangamCRM call-log API answered HTTP 500: stand-in fault: HTTP 500');
  });

  it('says how many records of a msg were delivered when a later batch of it failed', async () => {
    const journal = new RecordingJournal();
    // The first request passes untouched (a delay of 0), the second is refused.
    crm.failNext(1, { kind: 'delay', ms: 0 });
    crm.failNext(1, { kind: 'status', status: 503 });
    const subject = dispatcher({ journal, maxBatchSize: 2, concurrency: 1, retry: { ...FAST_RETRY, retries: 0 } });
    const error = await deliveryFailure(delivering(subject, 'main-ivr', [callRecord('1'), callRecord('2'), callRecord('3')]));
    assert.equal(crm.callLogs.length, 2);
    assert.deepEqual(journal.ops(), ['append 1,2,3', 'ack 1,2', 'release 3']);
    assert.equal(error.kept, 1);
    assert.match(error.message, /\(2 of 3 record\(s\) were delivered\); 1 record\(s\) are kept in the outbox/);
  });

  it('close sends what waits for its window and waits for the answer', async () => {
    const subject = dispatcher({ windowMs: 60_000 });
    const submitted = delivering(subject, 'main-ivr', [callRecord('1')]);
    await subject.close(10_000);
    assert.equal((await submitted).length, 1);
    assert.equal(crm.callLogs.length, 1);
    await assert.rejects(delivering(subject, 'main-ivr', [callRecord('2')]), AbortedError);
  });

  it('close abandons a stalled request after the grace period and releases its records', async () => {
    const journal = new RecordingJournal();
    crm.failNext(1, { kind: 'delay', ms: 30_000 });
    const subject = dispatcher({ journal, windowMs: 0 });
    const submitted = delivering(subject, 'main-ivr', [callRecord('1')]);
    const failed = submitted.then(() => assert.fail('delivered'), (error: unknown) => error);
    await crm.waitForRequests(1);
    const started = Date.now();
    const summary = await subject.close(100);
    assert.ok(Date.now() - started < 10_000, 'close must not wait for the stalled answer');
    const error = await failed;
    assert.ok(error instanceof CallLogKeptOnStop, String(error));
    assert.equal(error.kept, 1);
    assert.deepEqual(summary, { kept: { records: 1, msgs: 1 }, lost: { records: 0, msgs: 0 } });
    assert.deepEqual(journal.ops(), ['append 1', 'release 1']);
    assert.equal(crm.stats.callLogRequests, 1, 'no retry after close');
  });

  it('close with a journal starts no retry: a batch waiting to retry goes to the journal at once, the grace unspent', async () => {
    const journal = new RecordingJournal();
    // The first answer is a 503; close starts during the 2 s back-off before the retry.
    crm.failNext(1, { kind: 'status', status: 503 });
    let retryScheduled!: () => void;
    const retrying = new Promise<void>((resolve) => (retryScheduled = resolve));
    const subject = dispatcher({
      journal,
      windowMs: 0,
      retry: { ...FAST_RETRY, retries: 5, baseDelayMs: 2_000, maxDelayMs: 2_000 },
      onActivity: (event) => {
        if (event.kind === 'retrying') retryScheduled();
      },
    });
    const failed = delivering(subject, 'main-ivr', [callRecord('1')]).then(() => assert.fail('delivered'), (error: unknown) => error);
    await retrying;
    const started = Date.now();
    const summary = await subject.close(30_000);
    const closedInMs = Date.now() - started;
    assert.ok(closedInMs < 10_000, `close waited ${closedInMs} ms: for a retry's back-off or the whole grace`);
    assert.ok((await failed) instanceof CallLogKeptOnStop);
    assert.deepEqual(summary, { kept: { records: 1, msgs: 1 }, lost: { records: 0, msgs: 0 } });
    assert.deepEqual(journal.ops(), ['append 1', 'release 1']);
    assert.equal(crm.stats.callLogRequests, 1, 'no retry after close');
  });

  it('close with a journal hands the queued records to it unsent, waiting for records still being journalled', async () => {
    const journal = new RecordingJournal();
    const subject = dispatcher({ journal, windowMs: 60_000 });
    const outcomes: unknown[] = [];
    // The second msg is still being journalled (its callback comes a turn later) when close starts.
    subject.submit('main-ivr', [callRecord('1'), callRecord('2')], (error) => outcomes.push(error));
    await new Promise((resolve) => setImmediate(resolve));
    subject.submit('main-ivr', [callRecord('3')], (error) => outcomes.push(error));
    const summary = await subject.close(5_000);
    assert.deepEqual(summary, { kept: { records: 3, msgs: 2 }, lost: { records: 0, msgs: 0 } });
    assert.deepEqual(outcomes.map((error) => (error instanceof CallLogKeptOnStop ? `kept ${error.kept}` : String(error))), ['kept 2', 'kept 1']);
    assert.deepEqual(journal.ops(), ['append 1,2', 'append 3', 'release 1,2,3']);
    assert.equal(crm.stats.callLogRequests, 0, 'nothing started that the grace could cut after the CRM stored it');
  });

  it('close without a journal sends what is queued and reports what the grace cut as lost, to each msg', async () => {
    crm.failNext(1, { kind: 'delay', ms: 30_000 });
    const subject = dispatcher({ windowMs: 60_000 });
    const failed = deliveryFailure(delivering(subject, 'main-ivr', [callRecord('1'), callRecord('2')]));
    const summary = await subject.close(300);
    assert.deepEqual(summary, { kept: { records: 0, msgs: 0 }, lost: { records: 2, msgs: 1 } });
    const error = await failed;
    assert.equal(error.kept, 0);
    assert.match(error.message, /request abandoned: the node was stopped/);
  });

  describe('refusesRecords', () => {
    it('counts only 400, 413 and 422 RemoteErrors as refusals of the records', () => {
      for (const status of [400, 413, 422]) assert.equal(refusesRecords(new RemoteError('x', { statusCode: status, retryable: false })), true);
      for (const status of [401, 403, 404, 429, 500, undefined]) {
        assert.equal(refusesRecords(new RemoteError('x', { statusCode: status, retryable: false })), false, String(status));
      }
      assert.equal(refusesRecords(Object.assign(new Error('x'), { statusCode: 400 })), false);
    });
  });
});
