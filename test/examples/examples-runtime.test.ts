/**
 * Each example file deployed, unchanged, into a real `node-red` process (this package installed
 * in its user dir, the core mqtt/http/function/change/catch/debug nodes), its `${...}` settings
 * pointed at the SangamCRM and Exotel stand-ins and at a real MQTT broker (aedes, which `npm ci`
 * brings, listening on 127.0.0.1: examples 01 and 03 speak MQTT 3.1.1). Traffic goes in
 * through each flow's real entry (an MQTT publish, an HTTP POST); the assertions are on what the
 * stand-ins received and what the HTTP answer was.
 */
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { SangamCrmStandIn } from '../../dev/standins/sangam-crm';
import { ExotelStandIn } from '../../dev/standins/exotel';
import { AedesBroker } from '../support/aedes';
import { NodeRedProcess } from '../support/node-red-process';
import {
  CRM_TOKEN,
  EXOTEL_ACCOUNT,
  type Auth,
  WEBHOOK_SECRET,
  caughtErrors,
  connectMqtt,
  credentialsFor,
  exampleEnv,
  examples,
  flowsOf,
  indiaTime,
  postJson,
  probeUntilSubscribed,
} from './fixtures';

describe('example flows in a node-red process', function () {
  // A node-red start takes several seconds on a loaded 2-core machine.
  this.timeout(90_000);

  let crm: SangamCrmStandIn;
  let exotel: ExotelStandIn;
  let broker: AedesBroker;
  let nodeRed: NodeRedProcess;
  let publisher: MqttClient;

  before(async () => {
    crm = await SangamCrmStandIn.start({ token: CRM_TOKEN });
    exotel = await ExotelStandIn.start({ accountSid: EXOTEL_ACCOUNT.sid, apiKey: EXOTEL_ACCOUNT.apiKey, apiToken: EXOTEL_ACCOUNT.apiToken });
    broker = await AedesBroker.start();
    nodeRed = await NodeRedProcess.start({ env: (port) => exampleEnv({ crm, exotel, mqttPort: broker.port }, port) });
    publisher = await connectMqtt(broker.port);
  });

  after(async () => {
    await publisher?.endAsync();
    await nodeRed?.stop();
    await broker?.stop();
    await exotel?.close();
    await crm?.close();
  });

  async function deploy(...prefixes: string[]): Promise<void> {
    const flows = flowsOf(...prefixes);
    await nodeRed.deploy(flows, credentialsFor(flows));
    crm.reset();
    exotel.reset();
  }

  beforeEach(() => {
    crm.reset();
    exotel.reset();
  });

  afterEach(function () {
    // Whatever a test did, no secret may reach Node-RED's log.
    for (const secret of [CRM_TOKEN, EXOTEL_ACCOUNT.apiToken, WEBHOOK_SECRET]) assert.ok(!nodeRed.output.includes(secret), `${secret} in the node-red log`);
  });

  describe('01 - MQTT to call log', () => {
    before(async () => {
      await deploy('01');
      await probeUntilSubscribed(publisher, 'pbx/calls/ended', [nodeRed], 'example-01-debug-errors', 'sangam-call-log');
      assert.equal(crm.stats.requests, 0, 'a probe reached the CRM');
    });

    it('logs a published record and an array, normalised as the guide wants, and shows the results', async () => {
      const debugBefore = nodeRed.debugMessages('example-01-debug').length;
      const record = {
        direction: 'Inbound',
        enjay_lat_source_number: '+919812345678',
        enjay_lat_destination_number: '2001',
        date_start: '2024-03-01T05:00:00Z',
        date_end: '2024-03-01T05:02:05Z',
        call_status: 'held',
        logged_by: 'IVR',
        pbx_call_id: 'c-1',
      };
      await publisher.publishAsync('pbx/calls/ended', JSON.stringify(record), { qos: 2 });
      await publisher.publishAsync(
        'pbx/calls/ended',
        JSON.stringify([
          { ...record, pbx_call_id: 'c-2', direction: 'Outbound', enjay_lat_source_number: '2002', enjay_lat_destination_number: '+919800000002' },
          { ...record, pbx_call_id: 'c-3' },
        ]),
        { qos: 2 },
      );
      await crm.waitForRecords(3, 20_000);
      const shown = await nodeRed.waitForDebug('example-01-debug', debugBefore + 2);

      const byCallId = new Map(crm.callLogs.map((entry) => [entry.record.pbx_call_id, entry]));
      assert.deepEqual(byCallId.get('c-1')?.record, {
        direction: 'Inbound',
        enjay_lat_source_number: '+919812345678',
        enjay_lat_destination_number: '2001',
        date_start: '2024-03-01 10:30:00',
        date_end: '2024-03-01 10:32:05',
        duration: '00:02:05',
        name: '+919812345678',
        mobile_call_detect_c: '0',
        logged_via: 'Calllog',
        call_status: 'Held',
        logged_by: 'IVR',
        pbx_call_id: 'c-1',
      });
      assert.equal(byCallId.get('c-2')?.record.name, '+919800000002', 'an outbound call is named after its destination');
      assert.deepEqual([...byCallId.keys()].sort(), ['c-1', 'c-2', 'c-3']);
      assert.ok(crm.callLogs.every((entry) => entry.ivrName === 'examples-ivr'), 'ivr-name from SANGAM_IVR_NAME');
      assert.equal(crm.requests[0]?.headers.authorization, CRM_TOKEN, 'the token typed into the credentials is sent');

      // The debug sidebar shows the CRM's result: one object, then an array in input order.
      const results = shown.slice(debugBefore).map((message) => JSON.parse(message.msg) as unknown);
      const single = results.find((result) => !Array.isArray(result)) as { id: string };
      const pair = results.find((result) => Array.isArray(result)) as Array<{ id: string }>;
      assert.equal(single.id, byCallId.get('c-1')?.id);
      assert.deepEqual(
        pair.map((result) => result.id),
        [byCallId.get('c-2')?.id, byCallId.get('c-3')?.id],
      );
    });

    it('sends nothing for an invalid record and shows the error, naming the field', async () => {
      const errorsBefore = caughtErrors(nodeRed, 'example-01-debug-errors').length;
      await publisher.publishAsync('pbx/calls/ended', JSON.stringify({ ...validRecord(), direction: 'sideways' }), { qos: 2 });
      await nodeRed.waitForDebug('example-01-debug-errors', errorsBefore + 1);
      const error = caughtErrors(nodeRed, 'example-01-debug-errors').at(-1)!;
      assert.equal(error.source.type, 'sangam-call-log');
      assert.match(error.message, /direction/);
      assert.equal(crm.stats.requests, 0);
    });
  });

  describe('02 - HTTP to call log', () => {
    before(() => deploy('02'));

    it('answers 200 with the CRM result for one record, and the results in order for an array', async () => {
      const one = await postJson(`${nodeRed.url}/sangam/call-log`, { ...validRecord(), pbx_call_id: 'h-1' });
      assert.equal(one.status, 200);
      assert.equal((one.body as { id: string }).id, crm.callLogs[0]?.id);
      assert.deepEqual(crm.callLogs[0]?.record.pbx_call_id, 'h-1');

      const many = await postJson(`${nodeRed.url}/sangam/call-log`, [
        { ...validRecord(), pbx_call_id: 'h-2' },
        { ...validRecord(), pbx_call_id: 'h-3' },
      ]);
      assert.equal(many.status, 200);
      const ids = (many.body as Array<{ id: string }>).map((result) => result.id);
      const stored = (callId: string) => crm.callLogs.find((entry) => entry.record.pbx_call_id === callId)?.id;
      assert.deepEqual(ids, [stored('h-2'), stored('h-3')]);
      assert.equal(crm.callLogs.length, 3);
    });

    it('answers 400 with the validation message and sends nothing of that request', async () => {
      const answer = await postJson(`${nodeRed.url}/sangam/call-log`, [validRecord(), { ...validRecord(), direction: 'sideways' }]);
      assert.equal(answer.status, 400);
      assert.match((answer.body as { error: string }).error, /^payload\[1\]\.direction/);
      assert.equal(crm.stats.requests, 0);
    });

    it('answers 502 with the CRM\'s own message when the CRM refuses the records', async () => {
      crm.failNext(1, { kind: 'status', status: 400, body: JSON.stringify({ status: 400, message: 'assigned user 77 does not exist' }) }, 'call-log');
      const answer = await postJson(`${nodeRed.url}/sangam/call-log`, validRecord());
      assert.equal(answer.status, 502);
      assert.match((answer.body as { error: string }).error, /HTTP 400.*assigned user 77 does not exist/);
      assert.equal(crm.callLogs.length, 0);
    });

    it('answers 202 when the CRM is down but the record is kept in the outbox, which delivers it once later', async () => {
      // One attempt and 4 retries fail; the outbox's own retry (about 5 s later) finds the CRM back.
      crm.failNext(5, { kind: 'status', status: 503 }, 'call-log');
      const answer = await postJson(`${nodeRed.url}/sangam/call-log`, { ...validRecord(), pbx_call_id: 'kept-1' });
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      assert.match((answer.body as { error: string }).error, /HTTP 503.*kept in the outbox/);
      assert.equal(crm.callLogs.length, 0);
      await crm.waitForRecords(1, 40_000);
      assert.deepEqual(crm.callLogs.map((entry) => entry.record.pbx_call_id), ['kept-1']);
    });
  });

  describe('03 - MQTT to call pop-up', () => {
    before(async () => {
      await deploy('03');
      await probeUntilSubscribed(publisher, 'pbx/calls/ringing', [nodeRed], 'example-03-debug-errors', 'sangam-notify');
      assert.equal(crm.stats.requests, 0, 'a probe reached the CRM');
    });

    it('pops up a ringing call at once, with the time written in the config zone', async () => {
      const now = Date.now();
      const debugBefore = nodeRed.debugMessages('example-03-debug').length;
      await publisher.publishAsync(
        'pbx/calls/ringing',
        JSON.stringify({ cli: '+919812345678', event: 'TC', uniqueid: '1700000000.42', nm: 'agent@example.com', to: '2001', time: now }),
      );
      const shown = await nodeRed.waitForDebug('example-03-debug', debugBefore + 1);
      assert.deepEqual(crm.notifies.map((entry) => [entry.ivrName, entry.event]), [
        [
          'examples-ivr',
          { cli: '+919812345678', event: 'TC', uniqueid: '1700000000.42', nm: 'agent@example.com', to: '2001', time: indiaTime(now) },
        ],
      ]);
      assert.deepEqual(JSON.parse(shown.at(-1)!.msg), { message: 'success' });
    });
  });

  describe('04 - HTTP to click-to-call', () => {
    before(() => deploy('04'));

    it('places the call with the form Exotel expects and answers {sid, status}', async () => {
      const answer = await postJson(`${nodeRed.url}/sangam/click2call`, { from: '+919812345678', to: '+919800000002' });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const [placed] = exotel.calls;
      assert.ok(placed);
      assert.deepEqual(answer.body, { sid: placed.sid, status: 'in-progress' });
      assert.deepEqual(placed.form, {
        From: '+919812345678',
        To: '+919800000002',
        CallerId: EXOTEL_ACCOUNT.callerId,
        StatusCallback: `${nodeRed.url}/exotel/status-callback?token=${WEBHOOK_SECRET}`,
        'StatusCallbackEvents[0]': 'terminal',
      });
      const basic = `Basic ${Buffer.from(`${EXOTEL_ACCOUNT.apiKey}:${EXOTEL_ACCOUNT.apiToken}`).toString('base64')}`;
      assert.equal(exotel.requests[0]?.headers.authorization, basic);
    });

    it('answers 400 naming the missing number, without calling Exotel', async () => {
      const answer = await postJson(`${nodeRed.url}/sangam/click2call`, { to: '+919800000002' });
      assert.equal(answer.status, 400);
      assert.match((answer.body as { error: string }).error, /payload\.from is missing/);
      assert.equal(exotel.requests.length, 0);
    });

    it('answers 502 with Exotel\'s own message when Exotel refuses the call', async () => {
      exotel.failNext(1, { status: 402 });
      const answer = await postJson(`${nodeRed.url}/sangam/click2call`, { from: '+919812345678', to: '+919800000002' });
      assert.equal(answer.status, 502);
      assert.match((answer.body as { error: string }).error, /402.*Insufficient balance/);
      assert.equal(exotel.calls.length, 0);
    });
  });

  describe('04 + 05 - click-to-call, then Exotel\'s status callback to call log', () => {
    before(() => deploy('04', '05'));

    it('logs the placed call exactly once, also when Exotel delivers the callback twice', async () => {
      const placedAnswer = await postJson(`${nodeRed.url}/sangam/click2call`, { from: '+919812345678', to: '+919800000002' });
      assert.equal(placedAnswer.status, 200, JSON.stringify(placedAnswer.body));
      const { sid } = placedAnswer.body as { sid: string };

      // The stand-in POSTs Exotel's multipart status callback to example 05's endpoint, twice.
      const deliveries = await exotel.endCall(sid, { twice: true });
      assert.deepEqual(deliveries.map((delivery) => delivery.statusCode), [200, 200]);
      assert.match(deliveries[0]!.contentType, /^multipart\/form-data/);
      await crm.waitForRecords(1);

      const fields = deliveries[0]!.fields;
      assert.equal(crm.callLogs.length, 1);
      assert.deepEqual(crm.callLogs[0]?.record, {
        enjay_lat_source_number: '+919812345678',
        enjay_lat_destination_number: '+919800000002',
        direction: 'Outbound',
        date_start: fields.StartTime,
        date_end: fields.EndTime,
        duration: '00:00:42',
        call_status: 'Held',
        synapse_recording_link: '',
        logged_by: 'IVR',
        exotel_call_sid: sid,
        name: '+919800000002',
        mobile_call_detect_c: '0',
        logged_via: 'Calllog',
      });

      // A third delivery of the same callback (as JSON this time) is answered 200 and skipped.
      const again = await postJson(`${nodeRed.url}/exotel/status-callback`, fields);
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, { skipped: true, reason: 'repeated status callback', CallSid: sid, EventType: 'terminal' });
      assert.equal(crm.callLogs.length, 1);
    });

    it('answers Exotel 200 when the CRM is down but the record is kept, and logs the call once when it is back', async () => {
      const placedAnswer = await postJson(`${nodeRed.url}/sangam/click2call`, { from: '+919812345678', to: '+919800000003' });
      const { sid } = placedAnswer.body as { sid: string };
      crm.failNext(3, { kind: 'status', status: 503 }, 'call-log');
      const deliveries = await exotel.endCall(sid, { twice: true });
      assert.deepEqual(deliveries.map((delivery) => delivery.statusCode), [200, 200], 'Exotel need not retry');
      await crm.waitForRecords(1, 40_000);
      assert.deepEqual(crm.callLogs.map((entry) => entry.record.exotel_call_sid), [sid]);
    });

    it('answers an answered event 200 without logging it, and an unusable callback 400', async () => {
      const answered = await postJson(`${nodeRed.url}/exotel/status-callback`, { CallSid: 'c0ffee01', Status: 'in-progress', EventType: 'answered' });
      assert.equal(answered.status, 200);
      assert.equal((answered.body as { skipped: boolean }).skipped, true);

      const unusable = await postJson(`${nodeRed.url}/exotel/status-callback`, { Status: 'completed' });
      assert.equal(unusable.status, 400);
      assert.match((unusable.body as { error: string }).error, /CallSid is missing/);
      assert.equal(crm.stats.requests, 0);
    });
  });

  describe('the shared secret (SANGAM_WEBHOOK_SECRET) guards examples 02, 04 and 05', () => {
    before(() => deploy('02', '04', '05'));

    let sequence = 0;
    /** Each protected endpoint, a request it would carry out, and how to see that it did. */
    const endpoints = [
      {
        name: '02 POST /sangam/call-log',
        path: '/sangam/call-log',
        body: () => ({ ...validRecord(), pbx_call_id: `s-${++sequence}` }),
        reached: () => crm.stats.requests + crm.callLogs.length,
        carriedOut: () => crm.callLogs.length,
      },
      {
        name: '04 POST /sangam/click2call',
        path: '/sangam/click2call',
        // A different agent each time: the node's per-agent cap must not be what refuses it.
        body: () => ({ from: `+9198120000${String(++sequence).padStart(2, '0')}`, to: '+919800000002' }),
        reached: () => exotel.requests.length,
        carriedOut: () => exotel.calls.length,
      },
      {
        name: '05 POST /exotel/status-callback',
        path: '/exotel/status-callback',
        body: () => ({
          CallSid: `secret-check-${++sequence}`,
          Status: 'completed',
          EventType: 'terminal',
          From: '+919812345678',
          To: '+919800000002',
          Direction: 'outbound-api',
          StartTime: '2024-03-01 10:30:00',
          EndTime: '2024-03-01 10:31:00',
          ConversationDuration: '55',
        }),
        reached: () => crm.stats.requests + crm.callLogs.length,
        carriedOut: () => crm.callLogs.length,
      },
    ];
    // Same length as the secret, wrong only in its last character: a compare that stopped early would still refuse it,
    // but one that ignored the last characters would not.
    const almost = `${WEBHOOK_SECRET.slice(0, -1)}${WEBHOOK_SECRET.endsWith('x') ? 'y' : 'x'}`;
    const refused: Array<[string, Auth]> = [
      ['no secret', 'none'],
      ['a wrong bearer secret', { bearer: 'not-the-secret-at-all-0000' }],
      ['a bearer secret wrong in its last character', { bearer: almost }],
      ['a prefix of the secret', { bearer: WEBHOOK_SECRET.slice(0, 16) }],
      ['a wrong ?token=', { query: almost }],
      ['the secret as a Basic user name, not its password', { basic: [WEBHOOK_SECRET, 'x'] }],
      ['the secret in a header other than Bearer or Basic', { header: `Token ${WEBHOOK_SECRET}` }],
    ];
    const accepted: Array<[string, Auth]> = [
      ['Authorization: Bearer <secret>', { bearer: WEBHOOK_SECRET }],
      ['?token=<secret>', { query: WEBHOOK_SECRET }],
      ['Authorization: Basic with the secret as password (any user)', { basic: ['freeswitch', WEBHOOK_SECRET] }],
    ];

    for (const endpoint of endpoints) {
      describe(endpoint.name, () => {
        for (const [what, auth] of refused) {
          it(`answers 401 with WWW-Authenticate to ${what}, and sends nothing on`, async () => {
            const answer = await postJson(`${nodeRed.url}${endpoint.path}`, endpoint.body(), auth);
            assert.equal(answer.status, 401, JSON.stringify(answer.body));
            assert.match(answer.headers.get('www-authenticate') ?? '', /^Bearer realm="sangam-webhooks", Basic realm="sangam-webhooks"$/);
            assert.match((answer.body as { error: string }).error, /^unauthorised/);
            assert.ok(!JSON.stringify(answer.body).includes(WEBHOOK_SECRET), 'the answer holds the secret');
            // Give a request that slipped through time to reach the stand-in.
            await new Promise((resolve) => setTimeout(resolve, 300));
            assert.equal(endpoint.reached(), 0, 'a refused request reached the stand-in');
          });
        }
        for (const [what, auth] of accepted) {
          it(`carries out a request with ${what}`, async () => {
            const answer = await postJson(`${nodeRed.url}${endpoint.path}`, endpoint.body(), auth);
            assert.equal(answer.status, 200, JSON.stringify(answer.body));
            assert.equal(endpoint.carriedOut(), 1);
          });
        }
      });
    }

    // Mocha runs a suite's own tests before its nested suites: this one sees 02 + 04 + 05 deployed.
    it('lets Exotel\'s own callback in: the status callback URL of example 04 carries the token', async () => {
      const placed = await postJson(`${nodeRed.url}/sangam/click2call`, { from: '+919812349999', to: '+919800000002' });
      assert.equal(placed.status, 200, JSON.stringify(placed.body));
      const deliveries = await exotel.endCall((placed.body as { sid: string }).sid);
      assert.deepEqual(deliveries.map((delivery) => delivery.statusCode), [200]);
      await crm.waitForRecords(1);
    });
  });

  describe('Import > Examples', () => {
    it('lists every example under the package, and serves each file unchanged', async () => {
      const base = `${nodeRed.url}/library/examples/flows/${encodeURIComponent('@sangamcrm')}/node-red-telephony`;
      const listing = (await (await fetch(`${base}/`)).json()) as Array<string | { fn: string }> | { f?: string[] };
      const names = (Array.isArray(listing) ? listing : (listing.f ?? [])).map((entry) => (typeof entry === 'string' ? entry : entry.fn));
      const expected = examples().map((example) => example.title);
      assert.deepEqual([...names].sort(), expected, JSON.stringify(listing));
      for (const example of examples()) {
        const served = await fetch(`${base}/${encodeURIComponent(example.title)}`);
        assert.equal(served.status, 200, example.title);
        assert.deepEqual(await served.json(), example.nodes);
      }
    });
  });

  describe('credentials', () => {
    it('are stored by the runtime, encrypted, and never come back in the flows', async () => {
      await deploy('04', '05');
      const stored = JSON.stringify(await nodeRed.flows());
      for (const secret of [CRM_TOKEN, EXOTEL_ACCOUNT.apiKey, EXOTEL_ACCOUNT.apiToken]) {
        assert.ok(!stored.includes(secret), `${secret} in GET /flows`);
      }
      const { readFileSync } = await import('node:fs');
      const onDisk = readFileSync(`${nodeRed.userDir}/flows_cred.json`, 'utf8') + readFileSync(`${nodeRed.userDir}/flows.json`, 'utf8');
      for (const secret of [CRM_TOKEN, EXOTEL_ACCOUNT.apiKey, EXOTEL_ACCOUNT.apiToken]) {
        assert.ok(!onDisk.includes(secret), `${secret} in plain text on disk`);
      }
    });
  });
});

/** A call record every check of the guide accepts. */
function validRecord(): Record<string, unknown> {
  return {
    direction: 'Inbound',
    enjay_lat_source_number: '+919812345678',
    enjay_lat_destination_number: '2001',
    date_start: '2024-03-01T05:00:00Z',
    date_end: '2024-03-01T05:01:00Z',
    call_status: 'Held',
    logged_by: 'IVR',
  };
}

describe('example flows without SANGAM_WEBHOOK_SECRET in the environment', function () {
  this.timeout(90_000);

  let crm: SangamCrmStandIn;
  let exotel: ExotelStandIn;
  let nodeRed: NodeRedProcess;

  before(async () => {
    assert.equal(process.env.SANGAM_WEBHOOK_SECRET, undefined, 'the test runner must not have SANGAM_WEBHOOK_SECRET set');
    crm = await SangamCrmStandIn.start({ token: CRM_TOKEN });
    exotel = await ExotelStandIn.start({ accountSid: EXOTEL_ACCOUNT.sid, apiKey: EXOTEL_ACCOUNT.apiKey, apiToken: EXOTEL_ACCOUNT.apiToken });
    nodeRed = await NodeRedProcess.start({ env: (port) => exampleEnv({ crm, exotel, webhookSecret: null }, port) });
    const flows = flowsOf('02', '04', '05');
    await nodeRed.deploy(flows, credentialsFor(flows));
  });

  after(async () => {
    await nodeRed?.stop();
    await exotel?.close();
    await crm?.close();
  });

  it('fails closed: every protected endpoint answers 401 to any secret, and the log says why', async () => {
    const requests: Array<[string, unknown]> = [
      ['/sangam/call-log', validRecord()],
      ['/sangam/click2call', { from: '+919812345678', to: '+919800000002' }],
      ['/exotel/status-callback', { CallSid: 'unset-1', Status: 'completed', EventType: 'terminal', From: '+919812345678', To: '+919800000002' }],
    ];
    for (const [path, body] of requests) {
      // What a caller configured with the secret sends; and what one guessing "no secret" would send.
      for (const auth of [{ bearer: WEBHOOK_SECRET }, { query: '' }, { bearer: 'undefined' }] as const) {
        const answer = await postJson(`${nodeRed.url}${path}`, body, auth);
        assert.equal(answer.status, 401, `${path} ${JSON.stringify(auth)}: ${JSON.stringify(answer.body)}`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(crm.stats.requests, 0);
    assert.equal(exotel.requests.length, 0);
    const warnings = nodeRed.output.split('\n').filter((line) => /\[warn\].*SANGAM_WEBHOOK_SECRET is not set/.test(line));
    assert.ok(warnings.length >= 1, `no warning naming SANGAM_WEBHOOK_SECRET in:\n${nodeRed.output.slice(-2000)}`);
  });
});
