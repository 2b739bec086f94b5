import * as assert from 'node:assert/strict';
import { ExotelStandIn } from '../dev/standins/exotel';
import exotelConfigNode = require('../src/exotel-config');
import exotelClick2CallNode = require('../src/exotel-click2call');
import type { ExotelAccount } from '../src/exotel/account';
import { ACCOUNT_SID, API_KEY, API_TOKEN, assertNoSecret } from './exotel/support';
import { catchNode, helper, loggedText, onTab, pause } from './support/node-red';

interface ConfigNodeView {
  exotelAccount?: ExotelAccount;
  configError?: string;
}

describe('exotel-config in a Node-RED runtime', function () {
  this.timeout(20_000);
  let standIn: ExotelStandIn;

  beforeEach(async () => {
    standIn = await ExotelStandIn.start({ accountSid: ACCOUNT_SID, apiKey: API_KEY, apiToken: API_TOKEN });
    await helper.startServer();
  });
  afterEach(async () => {
    const logged = loggedText();
    await helper.unload();
    await helper.stopServer();
    await standIn.close();
    assertNoSecret(logged, 'a log line');
  });

  it('declares apiKey and apiToken as password credentials and opens the account', async () => {
    await helper.load(
      exotelConfigNode,
      [{ id: 'cfg', type: 'exotel-config', accountSid: ACCOUNT_SID, subdomain: '', callerId: '08047112233', rateLimit: '', timeout: '' }],
      { cfg: { apiKey: API_KEY, apiToken: API_TOKEN } },
    );
    const runtime = helper._RED as unknown as { nodes: { getCredentialDefinition(type: string): unknown } };
    assert.deepEqual(runtime.nodes.getCredentialDefinition('exotel-config'), { apiKey: { type: 'password' }, apiToken: { type: 'password' } });
    const account = (helper.getNode('cfg') as unknown as ConfigNodeView).exotelAccount;
    assert.ok(account);
    assert.equal(account.baseUrl, 'https://api.exotel.com');
    assert.equal(account.rateLimitPerMinute, 200);
    assert.equal(account.timeoutMs, 10_000);
    assert.equal(account.callerId, '08047112233');
  });

  it('logs an invalid setting once, naming it, without a secret', async () => {
    await helper.load(
      exotelConfigNode,
      [{ id: 'cfg', type: 'exotel-config', accountSid: 'bad sid!', subdomain: 'api.exotel.com' }],
      { cfg: { apiKey: API_KEY, apiToken: API_TOKEN } },
    );
    const view = helper.getNode('cfg') as unknown as ConfigNodeView;
    assert.equal(view.exotelAccount, undefined);
    assert.match(view.configError ?? '', /^accountSid "bad sid!" may only contain letters, digits, dashes and underscores$/);
    assert.match(loggedText(), /exotel-config: accountSid \\"bad sid!\\"/);
  });

  it('shares one rate pacer between the click-to-call nodes using it, and rejects what waits on close', async () => {
    await helper.load(
      [exotelConfigNode, exotelClick2CallNode, catchNode],
      onTab(
        { id: 'cfg', type: 'exotel-config', accountSid: ACCOUNT_SID, subdomain: standIn.url, callerId: '08047112233', rateLimit: 2 },
        { id: 'a', type: 'exotel-click2call', account: 'cfg', wires: [['out']] },
        { id: 'b', type: 'exotel-click2call', account: 'cfg', wires: [['out']] },
        { id: 'out', type: 'helper' },
        { id: 'catcher', type: 'catch', scope: null, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ),
      { cfg: { apiKey: API_KEY, apiToken: API_TOKEN } },
    );
    const out: unknown[] = [];
    const caught: unknown[] = [];
    helper.getNode('out').on('input', (msg) => out.push(msg));
    helper.getNode('caught').on('input', (msg) => caught.push(msg));
    const account = (helper.getNode('cfg') as unknown as ConfigNodeView).exotelAccount as ExotelAccount;
    for (const id of ['a', 'b', 'a', 'b']) helper.getNode(id).receive({ payload: { from: '9812345678', to: '9876543210' } });
    while (out.length < 2) await pause(10);
    // Two a minute for the account, not per node: the other two wait (30 s apart), none is sent yet.
    while (account.pacer.waiting < 2) await pause(10);
    await pause(200);
    assert.equal(standIn.requests.length, 2);
    assert.equal(caught.length, 0);
    await helper.unload();
    assert.equal(account.pacer.waiting, 0, 'closing released the waiting requests');
    await assert.rejects(account.pacer.acquire(), /closed/);
    assert.equal(standIn.requests.length, 2);
  });
});
