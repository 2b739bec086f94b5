import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { SECRET_TOKEN, collect, helper, loggedText, pause } from './support/node-red';
import { loadSangamFlow, useSangamCrm } from './support/sangam-crm';

interface Msg {
  payload: unknown;
  error?: { message: string };
  [key: string]: unknown;
}

/** A record with every field of the guide, written as the guide writes them. */
const GUIDE_RECORD = {
  duration: '00:01:00',
  enjay_lat_source_number: '9876509876',
  date_start: '2020-11-10 10:55:47',
  date_end: '2020-11-10 10:56:47',
  mobile_call_detect_c: '0',
  name: '7890178901',
  enjay_lat_destination_number: '7890178901',
  assigned_user_id: '1',
  decision_variable: '',
  direction: 'Outbound',
  call_status: 'Held',
  logged_via: 'Calllog',
  logged_by: 'IVR',
  synapse_recording_link: '',
};

describe('sangam-call-log in a Node-RED runtime', function () {
  const crm = useSangamCrm();

  async function load(config: Record<string, unknown> = {}, node: Record<string, unknown> = {}): Promise<void> {
    await loadSangamFlow({
      domain: crm().url,
      config: { ivrName: 'test-ivr', timezone: 'Asia/Kolkata', timeout: 2000, ...config },
      node: { batchWindow: 20, ...node },
    });
  }

  it('delivers every field of the guide unchanged, with the token, the ivr-name and JSON headers', async () => {
    await load();
    const out = collect<Msg>('out', 1);
    helper.getNode('log').receive({ payload: GUIDE_RECORD });
    const [msg] = await out;
    assert.equal(crm().callLogs.length, 1);
    assert.deepEqual(crm().callLogs[0].record, GUIDE_RECORD);
    assert.equal(crm().callLogs[0].ivrName, 'test-ivr');
    const request = crm().requests[0];
    assert.equal(request.headers.authorization, SECRET_TOKEN);
    assert.match(String(request.headers['content-type']), /^application\/json/);
    assert.match(String(request.headers.accept), /application\/json/);
    assert.equal(request.path, '/api/v1/ivr-call-log');
    const result = msg.payload as { id: string; deleted: string };
    assert.equal(result.id, crm().callLogs[0].id);
    assert.equal(result.deleted, '0');
  });

  it('derives name, duration, mobile_call_detect_c and logged_via, and writes dates in the config zone', async () => {
    await load();
    const out = collect<Msg>('out', 1);
    helper.getNode('log').receive({
      payload: [
        {
          direction: 'inbound',
          enjay_lat_source_number: '+919800000001',
          enjay_lat_destination_number: '2001',
          date_start: '2024-03-01T05:00:00Z',
          date_end: Date.UTC(2024, 2, 1, 5, 2, 5),
          call_status: 'not held',
          logged_by: 'ivr',
          decision_variable: 'ALWAYS',
          crm_campaign: 'spring',
        },
        {
          direction: 'OUTBOUND',
          enjay_lat_source_number: '2002',
          enjay_lat_destination_number: '+919800000002',
          date_start: new Date('2024-03-01T06:00:00Z'),
          duration: 3725,
          logged_by: 'crm app',
        },
      ],
    });
    const [msg] = await out;
    const [inbound, outbound] = crm().callLogs.map((entry) => entry.record);
    assert.deepEqual(inbound, {
      duration: '00:02:05',
      enjay_lat_source_number: '+919800000001',
      date_start: '2024-03-01 10:30:00',
      date_end: '2024-03-01 10:32:05',
      mobile_call_detect_c: '0',
      name: '+919800000001',
      enjay_lat_destination_number: '2001',
      decision_variable: 'always',
      direction: 'Inbound',
      call_status: 'Not Held',
      logged_via: 'Calllog',
      logged_by: 'IVR',
      crm_campaign: 'spring',
    });
    assert.equal(outbound.name, '+919800000002');
    assert.equal(outbound.duration, '01:02:05');
    assert.equal(outbound.date_start, '2024-03-01 11:30:00');
    assert.equal(outbound.logged_by, 'CRM App');
    const results = msg.payload as Array<{ id: string }>;
    assert.deepEqual(
      results.map((r) => r.id),
      crm().callLogs.map((entry) => entry.id),
    );
  });

  it('rejects a whole msg with an invalid record: nothing sent, the error names index and field, Catch gets it', async () => {
    await load();
    const caught = collect<Msg>('caught', 1);
    helper.getNode('log').receive({
      payload: [GUIDE_RECORD, { ...GUIDE_RECORD, direction: 'sideways' }],
    });
    const [msg] = await caught;
    assert.match(msg.error!.message, /payload\[1\]\.direction/);
    assert.match(msg.error!.message, /sideways/);
    await pause(100);
    assert.equal(crm().stats.requests, 0);
  });

  for (const [field, value] of [
    ['call_status', 'Maybe'],
    ['decision_variable', 'sometimes'],
    ['logged_by', 'Robot'],
    ['direction', 'Outward'],
  ] as const) {
    it(`checks the ${field} enumeration`, async () => {
      await load();
      const caught = collect<Msg>('caught', 1);
      helper.getNode('log').receive({ payload: { ...GUIDE_RECORD, [field]: value } });
      const [msg] = await caught;
      assert.match(msg.error!.message, new RegExp(`payload\\.${field}`));
      assert.equal(crm().stats.requests, 0);
    });
  }

  it('gathers records from many msgs into few POSTs, and answers each msg with its own results in order', async () => {
    await load({}, { batchSize: 50, batchWindow: 200 });
    const count = 120;
    const out = collect<Msg>('out', count);
    const log = helper.getNode('log');
    for (let i = 0; i < count; i++) {
      log.receive({ payload: { ...GUIDE_RECORD, call_ref: `call-${i}` }, seq: i });
    }
    const msgs = await out;
    assert.equal(crm().callLogs.length, count);
    assert.ok(crm().stats.callLogRequests <= 4, `expected at most 4 POSTs, saw ${crm().stats.callLogRequests}`);
    assert.ok(crm().stats.callLogRequests >= 3, 'a batch holds at most 50 records');
    const idByRef = new Map(crm().callLogs.map((entry) => [entry.record.call_ref, entry.id]));
    msgs.forEach((msg, i) => {
      assert.equal(msg.seq, i, 'msgs come out in the order they went in');
      assert.equal((msg.payload as { id: string }).id, idByRef.get(`call-${i}`));
    });
    assert.ok(crm().stats.connections <= 4, `keep-alive: ${crm().stats.connections} connections`);
  });

  it('with the default settings, gathers a burst of 500 msgs into a handful of POSTs', async () => {
    await load({}, { batchWindow: undefined });
    const count = 500;
    const out = collect<Msg>('out', count);
    for (let i = 0; i < count; i++) helper.getNode('log').receive({ payload: { ...GUIDE_RECORD, call_ref: `burst-${i}` } });
    await out;
    assert.equal(crm().callLogs.length, count);
    assert.ok(crm().stats.callLogRequests <= 20, `${crm().stats.callLogRequests} POSTs for ${count} msgs`);
  });

  it('sends one POST per msg when the batch size is 1', async () => {
    await load({}, { batchSize: 1 });
    const out = collect<Msg>('out', 5);
    for (let i = 0; i < 5; i++) helper.getNode('log').receive({ payload: GUIDE_RECORD });
    await out;
    assert.equal(crm().stats.callLogRequests, 5);
  });

  const retryable = [
    ['HTTP 503', { kind: 'status', status: 503 }],
    ['HTTP 500', { kind: 'status', status: 500 }],
    ['HTTP 408', { kind: 'status', status: 408 }],
    ['a dropped connection', { kind: 'drop' }],
    ['an HTML error page', { kind: 'html' }],
    ['truncated JSON', { kind: 'truncated' }],
    ['status 500 inside HTTP 200', { kind: 'innerStatus', status: 500 }],
  ] as const;
  for (const [label, fault] of retryable) {
    it(`retries after ${label} and then delivers`, async () => {
      await load();
      crm().failNext(2, fault);
      const out = collect<Msg>('out', 1);
      helper.getNode('log').receive({ payload: GUIDE_RECORD });
      await out;
      assert.equal(crm().callLogs.length, 1);
      assert.equal(crm().stats.callLogRequests, 3);
    });
  }

  it('retries after a time-out', async () => {
    await load({ timeout: 300 });
    crm().failNext(1, { kind: 'delay', ms: 1500 });
    const out = collect<Msg>('out', 1);
    helper.getNode('log').receive({ payload: GUIDE_RECORD });
    await out;
    assert.ok(crm().callLogs.length >= 1);
  });

  it('honours Retry-After on a 429', async () => {
    await load();
    crm().failNext(1, { kind: 'status', status: 429, retryAfter: '1' });
    const out = collect<Msg>('out', 1);
    const started = Date.now();
    helper.getNode('log').receive({ payload: GUIDE_RECORD });
    await out;
    const waited = Date.now() - started;
    // Backoff alone would retry within 250 ms; the server asked for a full second.
    assert.ok(waited >= 950, `retried after ${waited} ms`);
    assert.equal(crm().stats.callLogRequests, 2);
  });

  for (const status of [400, 401] as const) {
    it(`does not retry a ${status}, and Catch gets the CRM's message without the token`, async () => {
      await load();
      crm().failNext(1, { kind: 'status', status, body: JSON.stringify({ status, message: `refused by test ${status}` }) });
      const caught = collect<Msg>('caught', 1);
      helper.getNode('log').receive({ payload: GUIDE_RECORD });
      const [msg] = await caught;
      await pause(300);
      assert.equal(crm().stats.callLogRequests, 1);
      assert.match(msg.error!.message, new RegExp(`HTTP ${status}`));
      assert.match(msg.error!.message, new RegExp(`refused by test ${status}`));
      assert.ok(!msg.error!.message.includes(SECRET_TOKEN));
    });
  }

  it('with the outbox off, a record the CRM refuses fails only its own msg: the msgs sharing its batch get their ids, its msg says how many of its records were stored', async () => {
    await load({ outbox: false });
    crm().setUsers(['1']);
    const out = collect<Msg>('out', 2);
    const caught = collect<Msg>('caught', 1);
    const log = helper.getNode('log');
    const owned = (source: string, user: string) => ({ ...GUIDE_RECORD, enjay_lat_source_number: source, assigned_user_id: user });
    // One turn: all five records share a batch, which the CRM refuses whole.
    log.receive({ payload: [owned('1001', '1'), owned('1002', '77'), owned('1003', '1')] });
    log.receive({ payload: owned('2001', '1') });
    log.receive({ payload: owned('3001', '1') });
    const delivered = await out;
    const [refused] = await caught;
    assert.deepEqual(crm().callLogs.map((entry) => entry.record.enjay_lat_source_number).sort(), ['1001', '1003', '2001', '3001']);
    assert.deepEqual(delivered.map((msg) => (msg.payload as { id: string }).id), crm().callLogs.filter((entry) => entry.record.enjay_lat_source_number !== '1001' && entry.record.enjay_lat_source_number !== '1003').map((entry) => entry.id));
    assert.match(refused.error!.message, /payload\[1\] was refused: SangamCRM call-log API answered HTTP 400: record \[0\] field "assigned_user_id": assigned user "77" does not exist \(2 of 3 record\(s\) were delivered\)$/);
  });

  it('reports a CRM status other than 200 as an error', async () => {
    await load({}, { retries: 0 });
    crm().failNext(1, { kind: 'innerStatus', status: 403 });
    const caught = collect<Msg>('caught', 1);
    helper.getNode('log').receive({ payload: GUIDE_RECORD });
    const [msg] = await caught;
    assert.match(msg.error!.message, /status 403/);
  });

  it('sends the error to Catch once the retries run out', async () => {
    await load({}, { retries: 1 });
    crm().failNext(5, { kind: 'status', status: 503 });
    const caught = collect<Msg>('caught', 1);
    const out = collect<Msg>('out', 1, 1500).catch(() => []);
    helper.getNode('log').receive({ payload: GUIDE_RECORD });
    const [msg] = await caught;
    assert.match(msg.error!.message, /HTTP 503/);
    assert.equal(crm().stats.callLogRequests, 2);
    assert.deepEqual(await out, [], 'no output for a failed msg');
  });

  it('takes the ivr-name from the config, then the node, then msg.ivrName', async () => {
    await load({ ivrName: 'from-config' }, { ivrName: 'from-node' });
    const out = collect<Msg>('out', 2);
    helper.getNode('log').receive({ payload: GUIDE_RECORD });
    helper.getNode('log').receive({ payload: GUIDE_RECORD, ivrName: 'from-msg' });
    await out;
    assert.deepEqual(crm().callLogs.map((entry) => entry.ivrName).sort(), ['from-msg', 'from-node']);
  });

  it('uses the config ivr-name when the node sets none, and refuses a line break in msg.ivrName', async () => {
    await load({ ivrName: 'from-config' });
    const out = collect<Msg>('out', 1);
    const caught = collect<Msg>('caught', 1);
    helper.getNode('log').receive({ payload: GUIDE_RECORD });
    helper.getNode('log').receive({ payload: GUIDE_RECORD, ivrName: 'evil\r\nX-Injected: 1' });
    await out;
    const [msg] = await caught;
    assert.match(msg.error!.message, /ivrName/);
    assert.deepEqual(crm().callLogs.map((entry) => entry.ivrName), ['from-config']);
  });

  it('refuses plain http to a host that is not loopback', async () => {
    await load({ domain: 'http://crm.example.com' });
    const caught = collect<Msg>('caught', 1);
    helper.getNode('log').receive({ payload: GUIDE_RECORD });
    const [msg] = await caught;
    assert.match(msg.error!.message, /plain http/);
  });

  it('never shows the token in a log line, an error or an output', async () => {
    await load();
    crm().failNext(1, { kind: 'status', status: 401, body: `{"status":401,"message":"bad token ${SECRET_TOKEN}"}` });
    const caught = collect<Msg>('caught', 1);
    helper.getNode('log').receive({ payload: GUIDE_RECORD });
    const [msg] = await caught;
    assert.ok(!JSON.stringify(msg).includes(SECRET_TOKEN), 'error msg');
    assert.ok(!loggedText().includes(SECRET_TOKEN), 'log');
    assert.ok(msg.error!.message.includes('***'), 'the echoed token is masked');
  });
});

describe('sangam-call-log loads its delivery path at its first call log', function () {
  this.timeout(60_000);

  it('a deployed Node-RED that logs no call loads neither the dispatcher nor the outbox journal; the first call log loads both', () => {
    const child = join(__dirname, 'support', 'module-loading-child.js');
    const answer = JSON.parse(execFileSync(process.execPath, [child], { encoding: 'utf8', timeout: 45_000 })) as {
      deployed: string[];
      afterCallLog: string[];
      answer: { id?: unknown } | string;
    };
    const deliveryPath = ['lib/journal-line', 'lib/lock-file', 'lib/outbox', 'sangam/call-log-batcher', 'sangam/call-log-dispatcher'];
    // The nodes themselves did load (the test sees modules at all).
    assert.ok(answer.deployed.includes('sangam-call-log') && answer.deployed.includes('sangam/call-log-outbox'), answer.deployed.join(' '));
    assert.deepEqual(deliveryPath.filter((name) => answer.deployed.includes(name)), []);
    // The CRM's result for the record (a string would be the error that reached Catch).
    assert.equal(typeof answer.answer === 'object' && typeof answer.answer.id, 'string', JSON.stringify(answer.answer));
    assert.deepEqual(deliveryPath.filter((name) => answer.afterCallLog.includes(name)), deliveryPath);
  });
});
