/**
 * Redeploys while requests are on the wire. Node-RED starts the close of every node of a deploy at
 * once (config nodes too) and waits for none before the next: a config node must keep its
 * connections open until the requests of its worker nodes have answered.
 */
import * as assert from 'node:assert/strict';
import { ExotelStandIn } from '../dev/standins/exotel';
import { SangamCrmStandIn } from '../dev/standins/sangam-crm';
import exotelConfigNode = require('../src/exotel-config');
import exotelClick2CallNode = require('../src/exotel-click2call');
import sangamConfigNode = require('../src/sangam-config');
import sangamCallLogNode = require('../src/sangam-call-log');
import sangamNotifyNode = require('../src/sangam-notify');
import { ACCOUNT_SID, API_KEY, API_TOKEN } from './exotel/support';
import { SECRET_TOKEN, TAB, catchNode, clearOutboxes, helper, pause } from './support/node-red';
import { recordRuntimeLog, watchSends } from './support/runtime-watch';

/** The helper's setFlows (not in our declaration of it): deploys a flow as the editor's Deploy button does. */
function deploy(flowConfig: Array<Record<string, unknown>>, type: 'full' | 'flows' | 'nodes', credentials: Record<string, Record<string, string>>): Promise<void> {
  const withSetFlows = helper as unknown as { setFlows(flow: unknown, type: string, credentials: unknown): Promise<void> };
  return withSetFlows.setFlows(flowConfig, type, credentials);
}

/** A flow with its config node on no tab (global, as the editor puts them) and the rest on TAB. */
function flow(config: Record<string, unknown>, ...nodes: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return [
    { id: TAB, type: 'tab', label: 'test' },
    config,
    ...nodes.map((node) => ({ z: TAB, ...node })),
    { id: 'out', z: TAB, type: 'helper' },
    { id: 'catcher', z: TAB, type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', z: TAB, type: 'helper' },
  ];
}

describe('closing order: a redeploy with requests in flight', function () {
  this.timeout(20_000);
  let sends: ReturnType<typeof watchSends>;
  let log: ReturnType<typeof recordRuntimeLog>;
  const caught: Array<Record<string, unknown>> = [];
  const out: Array<Record<string, unknown>> = [];

  function listen(): void {
    caught.length = 0;
    out.length = 0;
    helper.getNode('caught').on('input', (msg) => caught.push(msg));
    helper.getNode('out').on('input', (msg) => out.push(msg));
  }

  beforeEach(async () => {
    await helper.startServer();
    sends = watchSends();
    log = recordRuntimeLog();
  });
  afterEach(async () => {
    sends.stop();
    log.stop();
    await helper.unload();
    await helper.stopServer();
    clearOutboxes();
  });

  describe('exotel-click2call, with a slow Exotel', () => {
    let exotel: ExotelStandIn;
    const AGENT = '+919812345678';
    const CUSTOMER = '09876543210';
    const credentials = { cfg: { apiKey: API_KEY, apiToken: API_TOKEN } };
    const exotelFlow = (name: string): Array<Record<string, unknown>> =>
      flow(
        { id: 'cfg', type: 'exotel-config', name, accountSid: ACCOUNT_SID, subdomain: exotel.url, callerId: '08047112233', timeout: 3_000 },
        { id: 'c2c', type: 'exotel-click2call', account: 'cfg', wires: [['out']] },
      );

    beforeEach(async () => {
      exotel = await ExotelStandIn.start({ accountSid: ACCOUNT_SID, apiKey: API_KEY, apiToken: API_TOKEN });
    });
    afterEach(() => exotel.close());

    /** Sends one click-to-call and resolves once Exotel has placed the call and holds back its answer. */
    async function callInFlight(): Promise<void> {
      exotel.failNext(1, { delay: 800 });
      helper.getNode('c2c').receive({ payload: { from: AGENT, to: CUSTOMER } });
      while (exotel.calls.length === 0) await pause(5);
    }

    it('full redeploy: the placed call is answered and sent on, no error', async () => {
      await helper.load([exotelConfigNode, exotelClick2CallNode, catchNode], exotelFlow('acme'), credentials);
      listen();
      await callInFlight();
      await helper.unload();
      // unload resolves once every close is done: the click-to-call node has had its answer by now.
      assert.deepEqual(sends.caughtBy('catcher'), [], 'an error for a call Exotel placed invites a retry that rings twice');
      const sent = sends.sentBy('c2c');
      assert.equal(sent.length, 1, 'the Call was sent on');
      assert.equal((sent[0]!.payload as { Sid?: string }).Sid, exotel.calls[0]!.sid);
      assert.equal(exotel.requests.length, 1);
      assert.equal(exotel.requests[0]!.status, 200, 'Exotel answered the request in full');
      assert.deepEqual(log.warningsOf('cfg'), [], 'the account waited for the click-to-call node, not for its time limit');
    });

    it('modified-nodes deploy of the config alone: the msg reaches the next node, nothing reaches Catch', async () => {
      await helper.load([exotelConfigNode, exotelClick2CallNode, catchNode], exotelFlow('acme'), credentials);
      listen();
      await callInFlight();
      // Node-RED restarts the config and the nodes that use it; `out` and Catch keep running.
      await deploy(exotelFlow('acme renamed'), 'nodes', credentials);
      while (out.length + caught.length === 0) await pause(10);
      assert.deepEqual(caught.map((msg) => (msg.error as { message: string }).message), []);
      assert.equal((out[0]!.payload as { Sid?: string }).Sid, exotel.calls[0]!.sid);
      assert.equal(exotel.requests.length, 1);
      assert.equal(exotel.requests[0]!.status, 200);
    });
    it('a request still unanswered when Node-RED\'s close time runs out is reported as possibly placed', async () => {
      // Node-RED gives each node 4 s to close; 3 s of it are kept for the config: 1 s for the request.
      // settings() answers the runtime settings (our declaration of the helper says void).
      const settings = (helper.settings as unknown as (user?: object) => Record<string, unknown>)();
      helper.settings({ ...settings, nodeCloseTimeout: 4_000 });
      try {
        await helper.load([exotelConfigNode, exotelClick2CallNode, catchNode], exotelFlow('acme'), credentials);
        exotel.failNext(1, { delay: 2_500 });
        helper.getNode('c2c').receive({ payload: { from: AGENT, to: CUSTOMER } });
        while (exotel.calls.length === 0) await pause(5);
        const closing = Date.now();
        await helper.unload();
        const took = Date.now() - closing;
        assert.ok(took >= 950 && took < 2_500, `closed after ${took} ms: the node's 1 s, not Exotel's 2.5 s`);
        assert.deepEqual(sends.caughtBy('catcher'), [
          'RemoteError: Node-RED stopped the node while the request was on the wire, and Exotel had not answered 1000 ms later: the call may have been placed (not retried)',
        ]);
        assert.equal(exotel.requests.length, 1, 'not retried');
        assert.deepEqual(log.warningsOf('cfg'), [], 'the account waited for the click-to-call node to give up');
      } finally {
        helper.settings(settings);
      }
    });
  });

  describe('sangam-config and its workers (outbox off), with a slow CRM', () => {
    let crm: SangamCrmStandIn;
    const credentials = { crm: { token: SECRET_TOKEN } };
    const crmFlow = (name: string): Array<Record<string, unknown>> =>
      flow(
        { id: 'crm', type: 'sangam-config', name, domain: crm.url, ivrName: 'main-ivr', outbox: false },
        // One record, one batch, no retry wait worth the name: a cut batch would be sent again at once.
        { id: 'log', type: 'sangam-call-log', server: 'crm', batchWindow: 0, wires: [['out']] },
      );
    const record = {
      direction: 'Inbound',
      enjay_lat_source_number: '9812345678',
      enjay_lat_destination_number: '1800123456',
      date_start: '2026-01-05T10:00:00Z',
      date_end: '2026-01-05T10:02:00Z',
      call_status: 'Held',
    };

    before(async () => {
      crm = await SangamCrmStandIn.start({ token: SECRET_TOKEN });
    });
    after(() => crm.close());
    afterEach(() => crm.reset());

    /** Sends one call record and resolves once its batch has reached the CRM, which answers in 800 ms. */
    async function batchInFlight(): Promise<void> {
      crm.setLatency(800);
      helper.getNode('log').receive({ payload: record });
      await crm.waitForRequests(1).catch((error: Error) => {
        throw new Error(`${error.message}; caught: ${JSON.stringify(caught)}; logged: ${JSON.stringify(helper.log().args)}`);
      });
    }

    /** Resolves once the CRM has answered every request that reached it (stored or refused). */
    async function crmSettled(): Promise<void> {
      while (crm.requests.length < crm.stats.requests) await pause(10);
    }

    it('full redeploy: the batch is stored exactly once and its msg sent on, no error', async () => {
      await helper.load([sangamConfigNode, sangamCallLogNode, catchNode], crmFlow('main CRM'), credentials);
      listen();
      await batchInFlight();
      await helper.unload();
      await crmSettled();
      assert.deepEqual(sends.caughtBy('catcher'), []);
      assert.equal(crm.stats.requests, 1, 'one POST: the batch was not cut and sent again');
      assert.equal(crm.callLogs.length, 1, 'stored exactly once');
      assert.deepEqual(log.warningsOf('crm'), []);
      const sent = sends.sentBy('log');
      assert.equal(sent.length, 1);
      assert.equal((sent[0]!.payload as { id?: string }).id, crm.callLogs[0]!.id);
    });

    it('full redeploy with a pop-up on the wire: it lands and is sent on, no error', async () => {
      const notifyFlow = flow(
        { id: 'crm', type: 'sangam-config', name: 'main CRM', domain: crm.url, ivrName: 'main-ivr', outbox: false },
        { id: 'notify', type: 'sangam-notify', server: 'crm', wires: [['out']] },
      );
      await helper.load([sangamConfigNode, sangamNotifyNode, catchNode], notifyFlow, credentials);
      crm.setLatency(300);
      helper.getNode('notify').receive({ payload: { cli: '9876509876', event: 'TC', uniqueid: 'u-1', nm: 'agent@example.com', to: '101' } });
      await crm.waitForRequests(1);
      await helper.unload();
      await crmSettled();
      assert.deepEqual(sends.caughtBy('catcher'), []);
      assert.equal(crm.notifies.length, 1);
      assert.equal(sends.sentBy('notify').length, 1);
    });

    it('modified-nodes deploy of the config alone: stored once, the msg reaches the next node', async () => {
      await helper.load([sangamConfigNode, sangamCallLogNode, catchNode], crmFlow('main CRM'), credentials);
      listen();
      await batchInFlight();
      await deploy(crmFlow('main CRM renamed'), 'nodes', credentials);
      while (out.length + caught.length === 0) await pause(10);
      await crmSettled();
      assert.deepEqual(caught.map((msg) => (msg.error as { message: string }).message), []);
      assert.equal(crm.stats.requests, 1);
      assert.equal(crm.callLogs.length, 1);
      assert.equal((out[0]!.payload as { id?: string }).id, crm.callLogs[0]!.id);
    });
  });
});
