import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { USER_DIR, collect, helper } from './support/node-red';
import { loadSangamFlow, useSangamCrm } from './support/sangam-crm';

interface Msg {
  payload: unknown;
  error?: { message: string };
}

interface Summary {
  entries: number;
  waiting: number;
  discarded?: number;
}

const RECORD = {
  direction: 'Inbound',
  enjay_lat_source_number: '9876509876',
  enjay_lat_destination_number: '2001',
  date_start: '2024-05-01 10:00:00',
  duration: 42,
};

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

  it('rejects new msgs with a clear error when the outbox is full, and keeps what it holds', async () => {
    await load({ outboxMaxRecords: 100 });
    await crm().goDown();
    const caught = collect<Msg>('caught', 2);
    helper.getNode('log').receive({ payload: Array.from({ length: 100 }, (_, i) => ({ ...RECORD, call_ref: `full-${i}` })) });
    await new Promise((resolve) => setTimeout(resolve, 200));
    send(1, 'over');
    const [kept, refused] = await caught;
    assert.match(kept.error!.message, /kept in the outbox/);
    assert.match(refused.error!.message, /full|limit/i);
    assert.equal((await summary()).entries, 100);
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
