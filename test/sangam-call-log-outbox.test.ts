import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SECRET_TOKEN, USER_DIR, catchNode, collect, helper, loggedText } from './support/node-red';
import { loadSangamFlow, sangamFlow, useSangamCrm } from './support/sangam-crm';
import sangamConfig = require('../src/sangam-config');
import sangamCallLog = require('../src/sangam-call-log');
import { RECORD } from './support/call-record';
import { withCatalog } from './support/catalog';

interface Msg {
  payload: unknown;
  error?: { message: string };
}

interface Summary {
  entries: number;
  waiting: number;
  discarded?: number;
}

describe('sangam-call-log with the durable outbox (on by default)', function () {
  this.timeout(40_000);
  const crm = useSangamCrm();

  async function load(config: Record<string, unknown> = {}, node: Record<string, unknown> = {}): Promise<void> {
    await loadSangamFlow({
      domain: crm().url,
      config: { ivrName: 'ivr', timezone: 'UTC', timeout: 1000, ...config },
      node: { batchWindow: 10, retries: 0, ...node },
    });
  }

  async function summary(): Promise<Summary> {
    const response = await helper.request().get('/sangam-config/crm/outbox');
    assert.equal(response.status, 200);
    return response.body as Summary;
  }

  function send(count: number, tag: string): void {
    for (let i = 0; i < count; i++) helper.getNode('log').receive({ payload: { ...RECORD, call_ref: `${tag}-${i}` } });
  }

  it('keeps records while the CRM is down, says so in the error, and delivers each once when it is back', async () => {
    await load();
    await crm().goDown();
    const caught = collect<Msg>('caught', 3);
    send(3, 'down');
    for (const msg of await caught) {
      assert.match(msg.error!.message, /kept in the outbox and will be retried/);
    }
    assert.equal((await summary()).waiting, 3);
    await crm().comeBack();
    await crm().waitForRecords(3, 20_000);
    const refs = crm().callLogs.map((entry) => entry.record.call_ref).sort();
    assert.deepEqual(refs, ['down-0', 'down-1', 'down-2']);
    // Nothing is left in the outbox, so no later replay can send these records a second time.
    const after = await summary();
    assert.equal(after.entries, 0);
    assert.equal(crm().callLogs.length, 3);
  });

  it('replays after a restart what the CRM had not acknowledged', async () => {
    await load();
    await crm().goDown();
    const caught = collect<Msg>('caught', 2);
    send(2, 'restart');
    await caught;
    await helper.unload();
    await crm().comeBack();
    await load();
    await crm().waitForRecords(2, 15_000);
    assert.deepEqual(crm().callLogs.map((entry) => entry.record.call_ref).sort(), ['restart-0', 'restart-1']);
  });

  it('near the limit judges each msg of one turn on its own: the one that fits is kept, the next is refused naming its own count', async () => {
    await load({ outboxMaxRecords: 100 });
    await crm().goDown();
    const caught = collect<Msg>('caught', 2);
    const log = helper.getNode('log');
    // Same turn of the event loop: both would share one journal line.
    log.receive({ payload: Array.from({ length: 60 }, (_, i) => ({ ...RECORD, call_ref: `fits-${i}` })) });
    log.receive({ payload: Array.from({ length: 50 }, (_, i) => ({ ...RECORD, call_ref: `over-${i}` })) });
    const msgs = await caught;
    // The refused msg is answered at once, the kept one after its request failed.
    const kept = msgs.find((msg) => (msg.payload as unknown[]).length === 60)!;
    const refused = msgs.find((msg) => (msg.payload as unknown[]).length === 50)!;
    assert.match(kept.error!.message, /60 record\(s\) are kept in the outbox/);
    assert.equal((kept.payload as unknown[]).length, 60);
    assert.match(refused.error!.message, /Outbox full: 60 records wait .*This msg's 50 record\(s\) were rejected/);
    assert.equal((refused.payload as unknown[]).length, 50);
    assert.equal((await summary()).entries, 60);
  });

  it('delivers the good msgs of a batch the CRM refused for one record, with their ids, and sets only that record aside and sends it to Catch', async () => {
    await load();
    crm().setUsers(['1', '2']);
    const out = collect<Msg>('out', 3);
    const caught = collect<Msg>('caught', 1);
    const log = helper.getNode('log');
    // One turn, so the four share a batch: the CRM refuses that request whole.
    for (const [ref, user] of [['a', '1'], ['b', '2'], ['bad', '77'], ['c', '1']]) {
      log.receive({ payload: { ...RECORD, call_ref: ref, assigned_user_id: user } });
    }
    const delivered = await out;
    const [refused] = await caught;
    assert.deepEqual(crm().callLogs.map((entry) => entry.record.call_ref).sort(), ['a', 'b', 'c']);
    for (const msg of delivered) {
      const { id } = msg.payload as { id: string };
      assert.ok(crm().callLogs.some((entry) => entry.id === id), `id ${id} is one the CRM gave`);
    }
    const rejectedFile = path.join(USER_DIR, 'sangam-outbox', 'crm.rejected.jsonl');
    assert.equal((refused.payload as { call_ref: string }).call_ref, 'bad');
    assert.match(refused.error!.message, /HTTP 400: record \[0\] field "assigned_user_id": assigned user "77" does not exist/);
    assert.ok(refused.error!.message.endsWith(`set aside in ${rejectedFile}`), refused.error!.message);
    const rejected = fs.readFileSync(rejectedFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { record: { call_ref: string }; error: string });
    assert.deepEqual(rejected.map((entry) => entry.record.call_ref), ['bad']);
    assert.match(rejected[0].error, /assigned user "77" does not exist/);
    assert.equal((await summary()).entries, 0);
  });

  it('acknowledges an answer with the wrong number of results and never replays it: Catch is told the records were probably stored', async () => {
    await load();
    crm().failNext(1, { kind: 'wrongLength' });
    const caught = collect<Msg>('caught', 1);
    helper.getNode('log').receive({ payload: [{ ...RECORD, call_ref: 'len-0' }, { ...RECORD, call_ref: 'len-1' }] });
    const [msg] = await caught;
    assert.match(msg.error!.message, /answered 1 result\(s\) for 2 record\(s\)/);
    assert.match(msg.error!.message, /probably stored: not sent again, as that could store them twice/);
    assert.doesNotMatch(msg.error!.message, /kept in the outbox/);
    assert.equal((await summary()).entries, 0);
    // A replay round now would send them a second time: there must be nothing for it.
    await helper.request().post('/sangam-config/crm/outbox/flush');
    assert.equal(crm().stats.callLogRequests, 1);
    assert.equal(crm().callLogs.length, 0);
  });

  it('says once in the log, and in the status, when the journal cannot be opened, refuses msgs naming the directory, and opens it once mended, without a redeploy', async () => {
    const dir = path.join(USER_DIR, 'sangam-outbox');
    fs.writeFileSync(dir, 'not a directory');
    const flow = sangamFlow({ domain: crm().url, config: { ivrName: 'ivr', timezone: 'UTC' }, node: { batchWindow: 10, retries: 0 } });
    await helper.load([withCatalog, sangamConfig, sangamCallLog, catchNode], flow, { crm: { token: SECRET_TOKEN } });
    const statusSpy = helper.getNode('log').status as unknown as { getCalls(): Array<{ thisValue: { id: string }; args: Array<{ fill?: string; text?: string }> }> };
    const shown = (): Array<{ fill?: string; text?: string }> => statusSpy.getCalls().filter((call) => call.thisValue.id === 'log').map((call) => call.args[0]);
    const unusable = (status: { fill?: string; text?: string }): boolean => status.fill === 'red' && /journal unusable/.test(status.text ?? '');
    const logged = (...parts: string[]): string[] => helper.log().args.map((args) => JSON.stringify(args)).filter((text) => parts.every((part) => text.includes(part)));
    const unavailable = (): string[] => logged('journal in', 'could not be opened');
    // Opened lazily: nothing is tried (or said) before a msg needs the journal.
    assert.deepEqual(unavailable(), []);
    const caught = collect<Msg>('caught', 2);
    helper.getNode('log').receive({ payload: { ...RECORD, call_ref: 'nowhere-0' } });
    helper.getNode('log').receive({ payload: { ...RECORD, call_ref: 'nowhere-1' } });
    for (const msg of await caught) {
      assert.ok(msg.error!.message.includes('outbox journal unusable ('), msg.error!.message);
      assert.ok(msg.error!.message.includes(`call logs are refused until it opens, which is tried again every few seconds; mend ${dir} `), msg.error!.message);
    }
    assert.equal(unavailable().length, 1, `logged once, not per msg: ${loggedText()}`);
    assert.ok(unavailable()[0].includes(`the journal in ${dir} could not be opened (`), unavailable()[0]);
    assert.ok(shown().some(unusable), JSON.stringify(shown()));
    // Mended: the outbox's own retry (every few seconds) opens it and says so once; the status clears.
    fs.rmSync(dir);
    for (const deadline = Date.now() + 20_000; logged('journal in', 'opened; call logs are kept again').length === 0; ) {
      if (Date.now() > deadline) assert.fail(`the journal was not opened again: ${loggedText()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(shown().at(-1)?.fill, 'grey', JSON.stringify(shown().at(-1)));
    const out = collect<Msg>('out', 1);
    helper.getNode('log').receive({ payload: { ...RECORD, call_ref: 'mended' } });
    await out;
    assert.deepEqual(crm().callLogs.map((entry) => entry.record.call_ref), ['mended']);
    assert.equal(unavailable().length, 1);
  });

  it('opens no journal for a config that never logs a call, and its outbox view answers 0 waiting', async () => {
    await load();
    assert.deepEqual(await summary(), { entries: 0, waiting: 0, bytes: 0, lastError: null });
    const flushed = await helper.request().post('/sangam-config/crm/outbox/flush');
    assert.equal(flushed.status, 200);
    assert.equal((flushed.body as Summary).entries, 0);
    assert.equal(fs.existsSync(path.join(USER_DIR, 'sangam-outbox')), false, 'no outbox directory, journal or lock at deploy');
    const out = collect<Msg>('out', 1);
    send(1, 'first');
    await out;
    assert.ok(fs.existsSync(path.join(USER_DIR, 'sangam-outbox', 'crm.journal')), 'the first call log opens it');
  });

  it('flushes and discards through the admin API', async () => {
    await load();
    await crm().goDown();
    const caught = collect<Msg>('caught', 4);
    send(4, 'admin');
    await caught;
    await crm().comeBack();
    const flushed = await helper.request().post('/sangam-config/crm/outbox/flush');
    assert.equal(flushed.status, 200);
    assert.equal((flushed.body as Summary).entries, 0);
    assert.equal(crm().callLogs.length, 4);

    await crm().goDown();
    const caughtAgain = collect<Msg>('caught', 2);
    send(2, 'drop');
    await caughtAgain;
    const discarded = await helper.request().post('/sangam-config/crm/outbox/discard');
    assert.equal((discarded.body as Summary).discarded, 2);
    assert.equal((await summary()).entries, 0);
    const missing = await helper.request().get('/sangam-config/nope/outbox');
    assert.equal(missing.status, 404);
  });

  it('sets aside records the CRM refuses on replay, in a file beside the journal', async () => {
    await load();
    await crm().goDown();
    const caught = collect<Msg>('caught', 1);
    send(1, 'refused');
    await caught;
    await crm().comeBack();
    crm().failNext(1, { kind: 'status', status: 400, body: '{"status":400,"message":"unknown user"}' });
    await helper.request().post('/sangam-config/crm/outbox/flush');
    const rejected = fs.readFileSync(path.join(USER_DIR, 'sangam-outbox', 'crm.rejected.jsonl'), 'utf8').trim().split('\n');
    assert.equal(rejected.length, 1);
    const entry = JSON.parse(rejected[0]) as { record: { call_ref: string }; error: string };
    assert.equal(entry.record.call_ref, 'refused-0');
    assert.match(entry.error, /unknown user/);
    assert.equal((await summary()).entries, 0);
  });

  it('writes no journal when the outbox is turned off, and then reports failures as not kept', async () => {
    await load({ outbox: false });
    await crm().goDown();
    const caught = collect<Msg>('caught', 1);
    send(1, 'off');
    const [msg] = await caught;
    assert.doesNotMatch(msg.error!.message, /kept/);
    assert.ok(!fs.existsSync(path.join(USER_DIR, 'sangam-outbox', 'crm.journal')));
  });
});
