import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SangamCrmStandIn } from '../../dev/standins/sangam-crm';
import { KeepAliveAgents, createKeepAliveAgents } from '../../src/lib/http';
import { Outbox } from '../../src/lib/outbox';
import { QueuedRecord } from '../../src/sangam/call-log-batcher';
import { CallLogOutbox, CallLogOutboxOptions, OutboxEvent } from '../../src/sangam/call-log-outbox';
import { SangamClient } from '../../src/sangam/sangam-client';

const TOKEN = 'outbox-token-2a9c7e5f13';

/** append() as a promise of the ids the outbox gave the records. */
function appending(subject: CallLogOutbox, key: string, jsons: string[]): Promise<number[]> {
  const records: QueuedRecord[] = jsons.map((json) => ({ json }));
  return new Promise<number[]>((resolve, reject) => {
    subject.append(key, records, undefined, (error) => (error ? reject(error) : resolve(records.map((queued) => queued.outboxId ?? -1))));
  });
}

function record(source: string, overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    duration: '00:01:00',
    enjay_lat_source_number: source,
    date_start: '2020-11-10 10:58:47',
    mobile_call_detect_c: '0',
    name: source,
    enjay_lat_destination_number: '7890123456',
    direction: 'Inbound',
    logged_via: 'Calllog',
    ...overrides,
  });
}

/** Collects background events and lets a test wait for the n-th one of a kind. */
class EventLog {
  readonly events: OutboxEvent[] = [];
  private waiters: Array<() => void> = [];

  readonly push = (event: OutboxEvent): void => {
    this.events.push(event);
    for (const wake of this.waiters.splice(0)) wake();
  };

  of<K extends OutboxEvent['kind']>(kind: K): Array<Extract<OutboxEvent, { kind: K }>> {
    return this.events.filter((event): event is Extract<OutboxEvent, { kind: K }> => event.kind === kind);
  }

  async waitFor(kind: OutboxEvent['kind'], count = 1, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.of(kind).length < count) {
      if (Date.now() > deadline) throw new Error(`waited for ${count} "${kind}" events, have ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

describe('sangam/call-log-outbox', () => {
  let crm: SangamCrmStandIn;
  let agents: KeepAliveAgents;
  let client: SangamClient;
  let dir: string;
  const opened: CallLogOutbox[] = [];

  before(async () => {
    crm = await SangamCrmStandIn.start({ token: TOKEN });
  });
  after(async () => {
    await crm.close();
  });
  beforeEach(async () => {
    await crm.comeBack();
    crm.reset();
    agents = createKeepAliveAgents(4);
    client = new SangamClient({ baseUrl: crm.url, token: TOKEN, timeoutMs: 5_000, agents, maxInFlight: 4 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'call-log-outbox-test-'));
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((outbox) => outbox.close(0)));
    agents.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function outbox(options: Partial<CallLogOutboxOptions> = {}): { outbox: CallLogOutbox; log: EventLog; waiting: number[] } {
    const log = new EventLog();
    const waiting: number[] = [];
    const made = new CallLogOutbox({
      dir,
      name: 'config.1',
      maxEntries: 1000,
      client,
      firstRetryMs: 50,
      maxRetryMs: 1_000,
      // One batch at a time makes the order of a round's requests part of what the tests can check.
      replayConcurrency: 1,
      onEvent: log.push,
      onWaiting: (count) => waiting.push(count),
      ...options,
    });
    opened.push(made);
    return { outbox: made, log, waiting };
  }

  /** What a fresh Outbox finds in the journal (the CallLogOutbox must be closed first). */
  async function journalled(): Promise<Array<{ key: string; item: string }>> {
    const reader = await Outbox.open<string>({ dir, name: 'config.1', itemsAreJsonText: true });
    try {
      return reader.pending().map(({ key, item }) => ({ key, item }));
    } finally {
      await reader.close();
    }
  }

  it('journals appended records as being sent, and forgets them on ack', async () => {
    const { outbox: subject } = outbox();
    const ids = await appending(subject, 'main-ivr', [record('1'), record('2')]);
    assert.equal(ids.length, 2);
    assert.deepEqual(subject.summary(), { ...subject.summary(), entries: 2, waiting: 0 });
    subject.ack(ids);
    assert.equal(subject.summary().entries, 0);
    await subject.close(0);
    assert.deepEqual(await journalled(), []);
    assert.equal(crm.stats.requests, 0, 'acknowledged records are never resent');
  });

  it('replays released records after firstRetryMs and forgets them once stored', async () => {
    const { outbox: subject, log, waiting } = outbox();
    const ids = await appending(subject, 'main-ivr', [record('1'), record('2')]);
    subject.release(ids);
    assert.equal(subject.summary().waiting, 2);
    await log.waitFor('replayed');
    assert.deepEqual(log.of('replayed'), [{ kind: 'replayed', count: 2 }]);
    assert.deepEqual(crm.callLogs.map((entry) => `${entry.ivrName}:${String(entry.record.name)}`), ['main-ivr:1', 'main-ivr:2']);
    assert.equal(crm.stats.callLogRequests, 1);
    assert.equal(subject.summary().entries, 0);
    assert.equal(waiting.at(-1), 0);
    assert.ok(waiting.includes(2), JSON.stringify(waiting));
  });

  it('replays several batches at once: one stalled batch does not hold up the others', async () => {
    const { outbox: subject, log } = outbox({ batchSize: 10, replayConcurrency: 4 });
    const ids = await appending(subject, 'main-ivr', Array.from({ length: 40 }, (_, i) => record(String(i))));
    crm.failNext(1, { kind: 'delay', ms: 500 });
    subject.release(ids);
    await log.waitFor('replayed');
    assert.equal(crm.callLogs.length, 40);
    // The first batch (records 0-9) stalled; the other three went on beside it and landed first.
    assert.notEqual(crm.callLogs[0].record.name, '0');
    assert.deepEqual(
      crm.callLogs.slice(-10).map((entry) => entry.record.name),
      Array.from({ length: 10 }, (_, i) => String(i)),
    );
  });

  it('stops a replay round at the first failure and sends the rest in the next round', async () => {
    const { outbox: subject, log } = outbox({ batchSize: 1 });
    const first = await appending(subject, 'ivr-a', [record('1'), record('2')]);
    const second = await appending(subject, 'ivr-b', [record('3')]);
    crm.failNext(1, { kind: 'status', status: 503 });
    subject.release([...first, ...second]);
    await log.waitFor('replay-failed');
    assert.equal(crm.stats.callLogRequests, 1, 'nothing more is sent in a round after a failure');
    const [failed] = log.of('replay-failed');
    assert.equal(failed.waiting, 3);
    assert.equal(failed.retryInMs, 100, "the wait doubles after each failed round");
    assert.match(failed.reason, /HTTP 503/);
    await log.waitFor('replayed');
    assert.deepEqual(log.of('replayed'), [{ kind: 'replayed', count: 3 }]);
    assert.equal(crm.stats.callLogRequests, 4);
    assert.deepEqual(crm.callLogs.map((entry) => `${entry.ivrName}:${String(entry.record.name)}`), ['ivr-a:1', 'ivr-a:2', 'ivr-b:3']);
  });

  it('replays records released while a round runs in a round after it, not at the next failure', async () => {
    const { outbox: subject, log } = outbox({ batchSize: 1 });
    const first = await appending(subject, 'main-ivr', [record('1'), record('2'), record('3')]);
    // A slow CRM keeps the round (three requests, one at a time) running while more records fail.
    crm.setLatency(300);
    subject.release(first);
    await crm.waitForRequests(1);
    const second = await appending(subject, 'main-ivr', [record('4')]);
    subject.release(second); // its retry timer fires while the round still runs
    await log.waitFor('replayed', 2);
    assert.deepEqual(
      crm.callLogs.map((entry) => entry.record.name),
      ['1', '2', '3', '4'],
    );
    assert.equal(subject.summary().entries, 0);
  });

  it('backs off while the CRM is down (doubling up to maxRetryMs) and delivers once it is back', async () => {
    const { outbox: subject, log } = outbox({ maxRetryMs: 200 });
    const ids = await appending(subject, 'main-ivr', [record('1')]);
    await crm.goDown();
    subject.release(ids);
    await log.waitFor('replay-failed', 4);
    const delays = log.of('replay-failed').map((event) => event.retryInMs);
    assert.deepEqual(delays.slice(0, 4), [100, 200, 200, 200]);
    assert.equal(subject.summary().entries, 1);
    await crm.comeBack();
    await log.waitFor('replayed');
    assert.equal(crm.callLogs.length, 1);
    assert.equal(subject.summary().entries, 0);
  });

  it('cuts a long back-off short when a live batch gets through: the CRM is back, what waits goes at once', async () => {
    const { outbox: subject, log } = outbox({ firstRetryMs: 1_000, maxRetryMs: 60_000 });
    const waitingIds = await appending(subject, 'main-ivr', [record('1')]);
    await crm.goDown();
    subject.release(waitingIds);
    await log.waitFor('replay-failed');
    const { retryInMs } = log.of('replay-failed')[0];
    assert.equal(retryInMs, 2_000, 'in back-off');
    await crm.comeBack();
    // A live msg's batch is delivered (by its dispatcher) and acknowledged.
    const [liveId] = await appending(subject, 'main-ivr', [record('2')]);
    const started = Date.now();
    subject.ack([liveId]);
    await log.waitFor('replayed');
    assert.ok(Date.now() - started < retryInMs, 'replayed before the back-off ran out');
    assert.deepEqual(crm.callLogs.map((entry) => entry.record.name), ['1']);
    assert.equal(subject.summary().entries, 0);
  });

  it('replays at start what a previous instance left in the journal', async () => {
    const first = outbox();
    await appending(first.outbox, 'main-ivr', [record('1'), record('2')]);
    await first.outbox.close(0);
    assert.equal(crm.stats.requests, 0);

    const { outbox: second, log } = outbox();
    await log.waitFor('replayed');
    assert.equal(crm.callLogs.length, 2);
    assert.equal(second.summary().entries, 0);
    await second.close(0);
    assert.deepEqual(await journalled(), []);
  });

  it('replays the records of several IVRs about as old as they are: each batch begins with the oldest record waiting', async () => {
    // The journal a restart finds: 3 records of ivr-a, then 4 of ivr-b, then 3 more of ivr-a.
    const first = outbox();
    await appending(first.outbox, 'ivr-a', [record('a1'), record('a2'), record('a3')]);
    await appending(first.outbox, 'ivr-b', [record('b1'), record('b2'), record('b3'), record('b4')]);
    await appending(first.outbox, 'ivr-a', [record('a4'), record('a5'), record('a6')]);
    await first.outbox.close(0);

    const { outbox: second, log } = outbox({ batchSize: 2 });
    await log.waitFor('replayed');
    const requests = crm.requests.filter((request) => request.path.endsWith('/ivr-call-log'));
    // One request per batch of up to 2 of one IVR; ivr-b's older records go before ivr-a's later ones.
    assert.deepEqual(
      requests.map((request) => {
        const names = (JSON.parse(request.body) as Array<{ name: string }>).map((stored) => stored.name);
        return `${new URLSearchParams(request.query).get('ivr-name') ?? ''}:${names.join(',')}`;
      }),
      ['ivr-a:a1,a2', 'ivr-a:a3,a4', 'ivr-b:b1,b2', 'ivr-b:b3,b4', 'ivr-a:a5,a6'],
    );
    assert.equal(second.summary().entries, 0);
  });

  it('moves records the CRM refuses to the .rejected.jsonl file and goes on with the rest', async () => {
    const { outbox: subject, log } = outbox({ batchSize: 1 });
    const ids = await appending(subject, 'main-ivr', [record('1'), record('2')]);
    crm.failNext(1, { kind: 'status', status: 400, body: JSON.stringify({ status: 400, message: 'record [0] is not wanted' }) });
    subject.release(ids);
    await log.waitFor('replayed');
    assert.equal(subject.rejectedFile, path.join(dir, 'config_1.rejected.jsonl'));
    const refused = log.of('refused');
    assert.equal(refused.length, 1);
    assert.equal(refused[0].count, 1);
    assert.equal(refused[0].keptIn, subject.rejectedFile);
    assert.match(refused[0].reason, /record \[0\] is not wanted/);
    assert.deepEqual(log.of('replayed'), [{ kind: 'replayed', count: 1 }]);
    assert.equal(crm.callLogs.length, 1);
    assert.equal(crm.callLogs[0].record.name, '2');

    const lines = fs.readFileSync(subject.rejectedFile, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 1);
    const rejected = JSON.parse(lines[0]) as { ivrName: string; record: Record<string, unknown>; error: string };
    assert.equal(rejected.ivrName, 'main-ivr');
    assert.deepEqual(rejected.record, JSON.parse(record('1')));
    assert.match(rejected.error, /HTTP 400/);
    assert.equal(fs.statSync(subject.rejectedFile).mode & 0o777, 0o600);

    await subject.close(0);
    assert.deepEqual(await journalled(), []);
  });

  // setAside() rejects when the .rejected.jsonl file cannot be written; replayRound() then rejects
  // inside the timer's `void this.replay()`, an unhandled rejection that stops a Node.js 15+ process.
  it('keeps a refused record in the journal when the rejected file cannot be written, without an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    const mochaListeners = process.listeners('unhandledRejection');
    process.removeAllListeners('unhandledRejection');
    process.on('unhandledRejection', onUnhandled);
    try {
      const { outbox: subject, log } = outbox({ batchSize: 1 });
      fs.mkdirSync(subject.rejectedFile); // appendFile on a directory fails with EISDIR
      const ids = await appending(subject, 'main-ivr', [record('1')]);
      crm.failNext(1, { kind: 'status', status: 400 });
      subject.release(ids);
      // The round that could not set the record aside ends as a failed round.
      await log.waitFor('replay-failed');
      assert.match(log.of('replay-failed')[0].reason, /EISDIR/);
      // A rejection the process would see as unhandled is reported a turn later at the most.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(unhandled.map(String), []);
      await subject.close(0);
      // Kept in the journal, and retried: the next round may already have delivered it.
      assert.equal((await journalled()).length + crm.callLogs.length, 1, 'the refused record must not be lost');
    } finally {
      process.off('unhandledRejection', onUnhandled);
      for (const listener of mochaListeners) process.on('unhandledRejection', listener);
    }
  });

  it('splits a refused replay batch: the good records are delivered, only the refused one is set aside', async () => {
    const { outbox: subject, log } = outbox({ batchSize: 10 });
    const ids = await appending(subject, 'main-ivr', [record('1'), record('2', { direction: 'Sideways' }), record('3'), record('4')]);
    subject.release(ids);
    await log.waitFor('replayed');
    assert.deepEqual(crm.callLogs.map((entry) => entry.record.name), ['1', '3', '4']);
    assert.deepEqual(log.of('replayed'), [{ kind: 'replayed', count: 3 }]);
    const refused = log.of('refused');
    assert.equal(refused.length, 1);
    assert.match(refused[0].reason, /record \[0\] field "direction"/);
    const lines = fs.readFileSync(subject.rejectedFile, 'utf8').trimEnd().split('\n');
    assert.deepEqual(lines.map((line) => (JSON.parse(line) as { record: { name: string } }).record.name), ['2']);
    await subject.close(0);
    assert.deepEqual(await journalled(), []);
  });

  it('acknowledges a replay answered with the wrong number of results, reports it, and never sends it again', async () => {
    const { outbox: subject, log } = outbox({ batchSize: 10 });
    const ids = await appending(subject, 'main-ivr', [record('1'), record('2')]);
    crm.failNext(1, { kind: 'wrongLength' });
    subject.release(ids);
    await log.waitFor('unverified');
    assert.equal(log.of('unverified')[0].count, 2);
    assert.match(log.of('unverified')[0].reason, /answered 1 result\(s\) for 2 record\(s\)/);
    assert.deepEqual(await subject.flush(), { entries: 0, waiting: 0, bytes: subject.summary().bytes });
    assert.equal(crm.stats.callLogRequests, 1);
    assert.deepEqual(log.of('replay-failed'), []);
  });

  it('journals the msgs of one turn on lines of about a MiB, each msg whole on one line, in order', async () => {
    const { outbox: subject } = outbox({ maxEntries: 10_000 });
    // Five msgs of ~450 KB (1,000 records each) in one turn: ~2.2 MB, so three lines of two, two and one msg.
    const msgs = Array.from({ length: 5 }, (_, m) => Array.from({ length: 1000 }, (_, i) => record(`98${m}${String(i).padStart(7, '0')}`, { pad: 'x'.repeat(300) })));
    const ids = await Promise.all(msgs.map((jsons) => appending(subject, 'main-ivr', jsons)));
    assert.deepEqual(ids.flat(), Array.from({ length: 5000 }, (_, i) => i + 1));
    await subject.close(0);
    const lines = fs.readFileSync(path.join(dir, 'config_1.journal'), 'utf8').split('\n').filter((line) => line.includes('["A",'));
    const firstIds = lines.map((line) => Number(/\["A",(\d+),/.exec(line)![1]));
    assert.deepEqual(firstIds, [1, 2001, 4001], 'one line per ~MiB of whole msgs');
    assert.deepEqual((await journalled()).map((entry) => entry.item), msgs.flat());
  });

  it('near its limit takes or refuses each append of one turn on its own, in order', async () => {
    const { outbox: subject } = outbox({ maxEntries: 100 });
    const many = (count: number, tag: string) => Array.from({ length: count }, (_, i) => record(`${tag}${i}`));
    // One turn: the three would share one journal line.
    const outcomes = await Promise.allSettled([
      appending(subject, 'main-ivr', many(60, 'a')),
      appending(subject, 'main-ivr', many(50, 'b')),
      appending(subject, 'main-ivr', many(40, 'c')),
    ]);
    assert.deepEqual(outcomes.map((outcome) => outcome.status), ['fulfilled', 'rejected', 'fulfilled']);
    const refused = outcomes[1];
    assert.ok(refused.status === 'rejected');
    assert.match(String(refused.reason), /Outbox full: 60 records wait .*This msg's 50 record\(s\) were rejected/);
    assert.equal(subject.summary().entries, 100);
  });

  it('reports once when its journal cannot be opened, naming the directory, and refuses appends saying so without touching the disk again for openRetryMs', async () => {
    const blocked = path.join(dir, 'not-a-dir');
    fs.writeFileSync(blocked, '');
    const { outbox: subject, log } = outbox({ dir: blocked, openRetryMs: 60_000 });
    const beforeAnyMsg = subject.unavailable;
    assert.equal(beforeAnyMsg, undefined, 'not tried before a msg needs it');
    await assert.rejects(appending(subject, 'main-ivr', [record('1')]), (error: Error) =>
      error.message.startsWith('outbox journal unusable (') && error.message.includes(`mend ${blocked} or turn the outbox off`),
    );
    assert.match(subject.unavailable?.message ?? '', /outbox journal unusable/);
    // Mended, but within openRetryMs of the failure: refused with the same error, no new try.
    fs.rmSync(blocked);
    await assert.rejects(appending(subject, 'main-ivr', [record('2')]), /outbox journal unusable/);
    assert.equal(fs.existsSync(blocked), false, 'no open was tried for the second msg');
    const unavailable = log.of('unavailable');
    assert.equal(unavailable.length, 1);
    assert.equal(unavailable[0].dir, blocked);
    assert.match(unavailable[0].reason, /EEXIST|ENOTDIR/);
    assert.deepEqual(log.of('reopened'), []);
  });

  it('opens a journal that could not be opened once the directory is mended, without a redeploy: told once when it fails and once when it opens', async () => {
    const blocked = path.join(dir, 'not-a-dir');
    fs.writeFileSync(blocked, '');
    const { outbox: subject, log } = outbox({ dir: blocked, openRetryMs: 1 });
    await assert.rejects(appending(subject, 'main-ivr', [record('1')]), /outbox journal unusable/);
    await assert.rejects(appending(subject, 'main-ivr', [record('2')]), /outbox journal unusable/);
    fs.rmSync(blocked);
    // The retry timer or this msg (openRetryMs has passed) opens it: either way no redeploy.
    await log.waitFor('reopened');
    const [id] = await appending(subject, 'main-ivr', [record('3')]);
    assert.equal(typeof id, 'number');
    assert.equal(subject.unavailable, undefined);
    assert.deepEqual(log.events.filter((event) => event.kind === 'unavailable' || event.kind === 'reopened').map((event) => event.kind), ['unavailable', 'reopened']);
    await subject.close(0);
    const reader = await Outbox.open<string>({ dir: blocked, name: 'config.1', itemsAreJsonText: true });
    assert.deepEqual(reader.pending().map((entry) => JSON.parse(entry.item).name), ['3'], 'only the msg told it was kept is journalled');
    await reader.close();
  });

  it('retries on a timer a journal with records that could not be opened at start (held by another live process), and replays them once it opens', async () => {
    const first = outbox();
    await appending(first.outbox, 'main-ivr', [record('1'), record('2')]);
    await first.outbox.close(0);
    // The lock of a live process (our parent) on this host: the journal is in use.
    const lock = path.join(dir, 'config_1.lock');
    fs.writeFileSync(lock, `${process.ppid}\n${os.hostname()}\n`);
    const { outbox: subject, log } = outbox({ openRetryMs: 20 });
    await log.waitFor('unavailable');
    assert.match(log.of('unavailable')[0].reason, /Outbox journal is in use/);
    fs.rmSync(lock);
    await log.waitFor('replayed');
    assert.deepEqual(log.of('reopened').length, 1);
    assert.equal(log.of('unavailable').length, 1, 'told once however many retries failed');
    assert.deepEqual(crm.callLogs.map((entry) => entry.record.name), ['1', '2']);
    assert.equal(subject.summary().entries, 0);
  });

  it('opens no journal for a config that never logs a call: no file, 0 waiting, and flush and discard answer without opening one', async () => {
    const { outbox: subject } = outbox();
    assert.deepEqual(subject.summary(), { entries: 0, waiting: 0, bytes: 0 });
    assert.deepEqual(await subject.flush(), { entries: 0, waiting: 0, bytes: 0 });
    assert.equal(await subject.discard(), 0);
    assert.deepEqual(fs.readdirSync(dir), [], 'no journal, lock or directory made');
    await appending(subject, 'main-ivr', [record('1')]);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['config_1.journal', 'config_1.lock'], 'the first call log opens it');
    await subject.close(0);
    assert.deepEqual(fs.readdirSync(dir), ['config_1.journal'], 'closed: the lock is released');
  });

  it('discard drops the records that wait, not those being sent', async () => {
    const { outbox: subject } = outbox({ firstRetryMs: 60_000 });
    const sending = await appending(subject, 'main-ivr', [record('1')]);
    const failed = await appending(subject, 'main-ivr', [record('2'), record('3')]);
    subject.release(failed);
    assert.equal(subject.summary().waiting, 2);
    assert.equal(await subject.discard(), 2);
    assert.deepEqual(subject.summary(), { ...subject.summary(), entries: 1, waiting: 0 });
    subject.ack(sending);
    await subject.close(0);
    assert.deepEqual(await journalled(), []);
    assert.equal(crm.stats.requests, 0);
  });

  it('flush sends what waits now, without waiting for the schedule', async () => {
    const { outbox: subject } = outbox({ firstRetryMs: 60_000 });
    const ids = await appending(subject, 'main-ivr', [record('1')]);
    subject.release(ids);
    const summary = await subject.flush();
    assert.equal(summary.entries, 0);
    assert.equal(crm.callLogs.length, 1);
  });

  it('close waits up to the grace period for records being sent and keeps the rest in the journal', async () => {
    const { outbox: subject } = outbox();
    await appending(subject, 'main-ivr', [record('1'), record('2')]);
    const started = Date.now();
    await subject.close(100);
    assert.ok(Date.now() - started >= 90, 'close waits for the records being sent');
    assert.deepEqual((await journalled()).map((entry) => JSON.parse(entry.item).name), ['1', '2']);
  });

  it('close returns as soon as the records being sent are acknowledged', async () => {
    const { outbox: subject } = outbox();
    const ids = await appending(subject, 'main-ivr', [record('1')]);
    const closing = subject.close(30_000);
    subject.ack(ids);
    const started = Date.now();
    await closing;
    assert.ok(Date.now() - started < 10_000);
    assert.deepEqual(await journalled(), []);
  });

  it('close abandons a replay stalled on the CRM and keeps its records', async () => {
    const { outbox: subject } = outbox();
    const ids = await appending(subject, 'main-ivr', [record('1')]);
    crm.failNext(1, { kind: 'delay', ms: 30_000 });
    subject.release(ids);
    await crm.waitForRequests(1);
    const started = Date.now();
    await subject.close(100);
    assert.ok(Date.now() - started < 10_000, 'close must not wait for the stalled answer');
    assert.equal((await journalled()).length, 1);
  });
});
