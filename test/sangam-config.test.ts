import assert from 'node:assert/strict';
import { SECRET_TOKEN, catchNode, clearOutboxes, collect, helper, loggedText, onTab } from './support/node-red';
import sangamConfig = require('../src/sangam-config');
import sangamCallLog = require('../src/sangam-call-log');

interface Msg {
  error?: { message: string };
}

describe('sangam-config in a Node-RED runtime', function () {
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    clearOutboxes();
  });

  let serial = 0;
  async function firstError(config: Record<string, unknown>, token: string | null = SECRET_TOKEN): Promise<string> {
    // A fresh config id each time: the runtime's credential store outlives one load.
    const id = `crm${++serial}`;
    await helper.load(
      [sangamConfig, sangamCallLog, catchNode],
      onTab(
        { id, type: 'sangam-config', ivrName: 'x', ...config },
        { id: 'log', type: 'sangam-call-log', server: id, wires: [[]] },
        { id: 'catcher', type: 'catch', scope: null, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ),
      token === null ? {} : { [id]: { token } },
    );
    const caught = collect<Msg>('caught', 1);
    helper.getNode('log').receive({ payload: {} });
    const [msg] = await caught;
    return msg.error!.message;
  }

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['plain http to a remote host', { domain: 'http://crm.example.com' }, /plain http/],
    ['a domain with a path', { domain: 'acme.sangamcrm.com/api' }, /without a path/],
    ['a domain with user info', { domain: 'https://user:pw@acme.sangamcrm.com' }, /user name or password/],
    ['an unknown time zone', { domain: 'acme.sangamcrm.com', timezone: 'Mars/Olympus' }, /time zone/],
    ['a missing domain', {}, /domain is missing/],
  ];
  for (const [label, config, pattern] of refused) {
    it(`refuses ${label} with a clear error at every msg`, async () => {
      assert.match(await firstError(config), pattern);
    });
  }

  it('refuses a missing token without inventing one', async () => {
    assert.match(await firstError({ domain: 'acme.sangamcrm.com' }, null), /token is not set/);
  });

  it('refuses a token with a line break without echoing it', async () => {
    const message = await firstError({ domain: 'acme.sangamcrm.com' }, `${SECRET_TOKEN}\r\nX: y`);
    assert.match(message, /line break/);
    assert.ok(!message.includes(SECRET_TOKEN));
    assert.ok(!loggedText().includes(SECRET_TOKEN));
  });

  it('allows plain http to a remote host when allowInsecure is set', async () => {
    // The msg is invalid, so nothing is sent anywhere: the error shows the config was accepted.
    const message = await firstError({ domain: 'http://crm.example.com', allowInsecure: true });
    assert.match(message, /payload\.direction/);
  });
});
