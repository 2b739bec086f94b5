import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NodeAPI } from 'node-red';
import { ExotelStandIn } from '../dev/standins/exotel';
import type { ExotelAccount } from '../src/exotel/account';
import exotelConfigNode = require('../src/exotel-config');
import exotelClick2CallNode = require('../src/exotel-click2call');
import sangamConfigNode = require('../src/sangam-config');
import { ACCOUNT_SID, API_KEY, API_TOKEN, BASIC_AUTH, assertNoSecret } from './exotel/support';
import { catchNode, helper, loggedText, onTab, pause, statusNode } from './support/node-red';
import { watchSends } from './support/runtime-watch';

interface Observed {
  out: Array<Record<string, unknown>>;
  caught: Array<{ error: { message: string; source?: { id: string } } }>;
  statuses: Array<{ status: { fill?: string; text?: string } }>;
}

/**
 * The helper's RED._ returns the key; translate with the package's own en-US catalog instead, so
 * that statuses read as users see them (and the catalog's keys are checked).
 */
const CATALOG_DIR = path.join(__dirname, '..', '..', 'nodes', 'locales', 'en-US');
function catalogTranslator(): (key: string, params?: Record<string, string | number>) => string {
  const catalogs: Record<string, unknown> = {};
  for (const type of ['exotel-config', 'exotel-click2call']) {
    Object.assign(catalogs, JSON.parse(fs.readFileSync(path.join(CATALOG_DIR, `${type}.json`), 'utf8')) as object);
  }
  return (key, params = {}) => {
    const found = key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], catalogs);
    if (typeof found !== 'string') return key;
    return found.replace(/__(\w+)__/g, (_match, name: string) => String(params[name] ?? ''));
  };
}
const withCatalog = (RED: NodeAPI): void => {
  (RED as unknown as { _: unknown })._ = catalogTranslator();
};

const AGENT = '+919812345678';
const CUSTOMER = '09876543210';
const EXOPHONE = '08047112233';

describe('exotel-click2call in a Node-RED runtime, against the Exotel stand-in', function () {
  this.timeout(20_000);
  let standIn: ExotelStandIn;
  let observed: Observed;

  /** Loads config + click2call + Catch + Status, wiring each to a helper node that records what arrives. */
  async function load(
    options: {
      config?: Record<string, unknown>;
      node?: Record<string, unknown>;
      credentials?: Record<string, string>;
      /** Properties of a sangam-config `crm` (no outbox, nothing sent to it) that the node's `server` names. */
      server?: Record<string, unknown>;
    } = {},
  ): Promise<void> {
    const crm = options.server ? [{ id: 'crm', type: 'sangam-config', domain: 'http://127.0.0.1:9', outbox: false, ...options.server }] : [];
    const flow = onTab(
      ...crm,
      {
        id: 'cfg',
        type: 'exotel-config',
        name: 'acme',
        accountSid: ACCOUNT_SID,
        subdomain: standIn.url,
        allowInsecure: false,
        callerId: EXOPHONE,
        rateLimit: 200,
        timeout: 2000,
        ...options.config,
      },
      { id: 'c2c', type: 'exotel-click2call', account: 'cfg', ...(options.server ? { server: 'crm' } : {}), wires: [['out']], ...options.node },
      { id: 'out', type: 'helper' },
      { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
      { id: 'statusWatcher', type: 'status', scope: null, wires: [['statuses']] },
      { id: 'statuses', type: 'helper' },
    );
    const credentials = { cfg: options.credentials ?? { apiKey: API_KEY, apiToken: API_TOKEN }, crm: { token: 'crm-token-unused' } };
    await helper.load([withCatalog, exotelConfigNode, sangamConfigNode, exotelClick2CallNode, catchNode, statusNode], flow, credentials);
    observed = { out: [], caught: [], statuses: [] };
    helper.getNode('out').on('input', (msg) => observed.out.push(msg));
    helper.getNode('caught').on('input', (msg) => observed.caught.push(msg as unknown as Observed['caught'][number]));
    helper.getNode('statuses').on('input', (msg) => observed.statuses.push(msg as unknown as Observed['statuses'][number]));
  }

  function send(payload: unknown): void {
    helper.getNode('c2c').receive({ payload });
  }

  /** Waits until `count` msgs have arrived at out and Catch together (no timed assertion: mocha's timeout bounds it). */
  async function settled(count: number): Promise<void> {
    while (observed.out.length + observed.caught.length < count) await pause(10);
  }

  /** The error as a Catch node sees it: `<ErrorClass>: <message>`. */
  async function caughtMessage(payload: unknown): Promise<string> {
    const before = observed.caught.length;
    send(payload);
    while (observed.caught.length === before) await pause(10);
    return observed.caught[before]!.error.message;
  }

  beforeEach(async () => {
    standIn = await ExotelStandIn.start({ accountSid: ACCOUNT_SID, apiKey: API_KEY, apiToken: API_TOKEN });
    await helper.startServer();
  });

  afterEach(async () => {
    // Every log line, status and error of every test: no API key or token, in any form.
    const everything = JSON.stringify(observed) + loggedText();
    await helper.unload();
    await helper.stopServer();
    await standIn.close();
    assertNoSecret(everything, 'a log line, status, error or output msg');
  });

  it('sends Exotel exactly the request it expects and puts the Call object on msg.payload', async () => {
    await load({ node: { timeLimit: '600', callType: 'trans', record: false, recordingChannels: 'dual', statusCallbackEvents: 'terminal' } });
    send({
      from: '+91 98123-45678',
      to: CUSTOMER,
      record: true,
      customField: 'lead-42',
      statusCallback: 'http://127.0.0.1:1880/exotel/status',
      statusCallbackEvents: ['terminal', 'answered'],
      statusCallbackContentType: 'application/json',
    });
    await settled(1);
    assert.equal(observed.caught.length, 0, JSON.stringify(observed.caught));
    assert.equal(standIn.requests.length, 1);
    const request = standIn.requests[0]!;
    assert.equal(request.method, 'POST');
    assert.equal(request.path, `/v1/Accounts/${ACCOUNT_SID}/Calls/connect.json`);
    assert.equal(request.headers.authorization, BASIC_AUTH);
    assert.equal(request.headers.accept, 'application/json');
    assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.deepEqual(request.form, {
      From: AGENT,
      To: CUSTOMER,
      CallerId: EXOPHONE,
      CallType: 'trans',
      TimeLimit: '600',
      Record: 'true',
      RecordingChannels: 'dual',
      CustomField: 'lead-42',
      StatusCallback: 'http://127.0.0.1:1880/exotel/status',
      'StatusCallbackEvents[0]': 'terminal',
      'StatusCallbackEvents[1]': 'answered',
      StatusCallbackContentType: 'application/json',
    });
    const call = observed.out[0]!.payload as Record<string, unknown>;
    assert.equal(call.Sid, standIn.calls[0]!.sid);
    assert.equal(call.Status, 'in-progress');
    assert.equal(call.From, AGENT);
    assert.equal(call.To, CUSTOMER);
    assert.equal(call.AccountSid, ACCOUNT_SID);
  });

  it('takes callerId from msg, else the node, else the config; accepts phone for from', async () => {
    await load({ node: { callerId: '08047110000' } });
    send({ phone: AGENT, to: CUSTOMER });
    send({ from: AGENT, to: CUSTOMER, callerId: '08047119999' });
    await settled(2);
    assert.deepEqual(standIn.requests.map((r) => r.form.CallerId).sort(), ['08047110000', '08047119999']);
    assert.ok(standIn.requests.every((r) => r.form.From === AGENT));
    await helper.unload();
    await load();
    send({ from: AGENT, to: CUSTOMER });
    await settled(1);
    assert.equal(standIn.requests[2]!.form.CallerId, EXOPHONE);
  });

  it('rejects invalid input before any request is sent, naming the field', async () => {
    await load({ config: { callerId: '' } });
    assert.equal(await caughtMessage({ from: '98AB', to: CUSTOMER, callerId: EXOPHONE }), 'ValidationError: payload.from: "98AB" is not a phone number (6 to 16 digits, optionally after +)');
    assert.match(await caughtMessage({ from: AGENT, to: '12-34', callerId: EXOPHONE }), /^ValidationError: payload\.to: "12-34" is not a phone number/);
    assert.match(await caughtMessage({ from: AGENT, to: CUSTOMER }), /^ValidationError: callerId is missing/);
    assert.match(await caughtMessage({ from: AGENT, to: CUSTOMER, callerId: EXOPHONE, timeLimit: 14_401 }), /^ValidationError: payload\.timeLimit: 14401 must be a whole number from 1 to 14400/);
    assert.match(await caughtMessage({ from: AGENT, to: CUSTOMER, callerId: EXOPHONE, customField: 'x'.repeat(129) }), /^ValidationError: payload\.customField is 129 characters long/);
    assert.match(await caughtMessage('9812345678'), /^ValidationError: payload must be an object/);
    assert.equal(standIn.requests.length, 0);
    assert.equal(observed.out.length, 0);
    assert.ok(observed.caught.every((msg) => msg.error.source?.id === 'c2c'));
    assert.ok(observed.statuses.some((msg) => msg.status.fill === 'red'));
  });

  it('sends each Exotel error to Catch with a clear message, retrying none but 429', async () => {
    await load();
    const call = { from: AGENT, to: CUSTOMER };
    const cases: Array<[number, RegExp]> = [
      [400, /^RemoteError: Exotel answered 400: Invalid parameter \(code 400\)$/],
      [401, /^RemoteError: Exotel answered 401: Authentication failed \(code 401; bad credentials\)$/],
      [402, /^RemoteError: Exotel answered 402: Insufficient balance in your account \(code 402; out of balance\)$/],
      [403, /^RemoteError: Exotel answered 403: .+ \(code 403; not permitted\)$/],
      [404, /^RemoteError: Exotel answered 404: .+ \(code 404; unknown account SID\)$/],
    ];
    for (const [status, message] of cases) {
      standIn.failNext(1, { status: status as 400 });
      assert.match(await caughtMessage(call), message);
    }
    assert.equal(standIn.requests.length, cases.length, 'one request per msg');
    assert.equal(observed.out.length, 0);
    const errorStatuses = observed.statuses.filter((msg) => msg.status.fill === 'red').map((msg) => msg.status.text);
    for (const text of ['bad credentials', 'out of balance', 'not permitted']) {
      assert.ok(errorStatuses.includes(text), JSON.stringify(errorStatuses));
    }
    assert.ok(errorStatuses.some((text) => text?.startsWith('Exotel answered 400')), JSON.stringify(errorStatuses));
  });

  it('reports a real 401 (wrong token) and a real 404 (wrong account SID) from the stand-in', async () => {
    await load({ credentials: { apiKey: API_KEY, apiToken: 'Tok-not-the-right-one' } });
    assert.match(await caughtMessage({ from: AGENT, to: CUSTOMER }), /^RemoteError: Exotel answered 401: .*bad credentials/);
    await helper.unload();
    await load({ config: { accountSid: 'someone_else' } });
    assert.match(await caughtMessage({ from: AGENT, to: CUSTOMER }), /^RemoteError: Exotel answered 404: Account not found/);
    assert.equal(standIn.calls.length, 0);
  });

  it('retries a 429 after Retry-After and then delivers the Call', async () => {
    await load();
    standIn.failNext(1, { status: 429, retryAfter: 1 });
    send({ from: AGENT, to: CUSTOMER });
    await settled(1);
    assert.equal(observed.caught.length, 0, JSON.stringify(observed.caught));
    assert.equal(standIn.requests.length, 2);
    assert.ok(standIn.requests[1]!.at - standIn.requests[0]!.at >= 990, 'waited for Retry-After');
    assert.equal((observed.out[0]!.payload as { Sid: string }).Sid, standIn.calls[0]!.sid);
    assert.ok(observed.statuses.some((msg) => /^retrying \(attempt 1\): rate limited$/.test(msg.status.text ?? '')));
  });

  it('never sends a second request after a 5xx or a time-out (the call may have rung)', async () => {
    await load({ config: { timeout: 300 } });
    standIn.failNext(1, { status: 500 });
    assert.match(await caughtMessage({ from: AGENT, to: CUSTOMER }), /^RemoteError: Exotel answered 500: .*not retried: the call may have been placed$/);
    standIn.failNext(1, { status: 503 });
    assert.match(await caughtMessage({ from: AGENT, to: CUSTOMER }), /^RemoteError: Exotel answered 503/);
    standIn.failNext(1, { delay: 1_500 });
    assert.match(await caughtMessage({ from: AGENT, to: CUSTOMER }), /^RemoteError: no answer from 127\.0\.0\.1:\d+ within 300 ms/);
    // Give a wrong retry every chance to happen before counting.
    await pause(700);
    assert.equal(standIn.requests.length, 3);
    assert.equal(standIn.calls.length, 1, 'the slow request did place a call: retrying would have rung twice');
  });

  it('paces a burst over the account\'s rate limit: the extra requests wait their turn and none fails', async () => {
    // 60 a minute: a burst of 60, then one a second.
    // One agent: the per-agent cap (10 a minute by default) is turned off for this burst.
    await load({ config: { rateLimit: 60 }, node: { maxCallsPerAgentPerMinute: '0' } });
    const count = 63;
    const sentAt = Date.now();
    for (let i = 0; i < count; i++) send({ from: AGENT, to: CUSTOMER, customField: `n${i}` });
    await settled(count);
    assert.equal(observed.caught.length, 0, JSON.stringify(observed.caught.slice(0, 2)));
    assert.equal(observed.out.length, count);
    assert.equal(standIn.requests.length, count);
    const late = standIn.requests.slice(60).map((r) => r.at - sentAt);
    // Lower bounds only (a loaded machine is late, never early); 50 ms for timer rounding and clocks.
    late.forEach((elapsed, i) => assert.ok(elapsed >= (i + 1) * 1000 - 50, `request ${61 + i} after ${elapsed} ms`));
    assert.ok(observed.statuses.some((msg) => /^\d+ waiting$/.test(msg.status.text ?? '')));
  });

  it('on close, abandons requests waiting for the rate pacer: they are never sent, not even once the pacer would have let them go', async () => {
    // 60 a minute: a burst of 60, then one a second; the 61st and 62nd wait (until 1 s and 2 s).
    await load({ config: { rateLimit: 60 }, node: { maxCallsPerAgentPerMinute: '0' } });
    const pacer = (helper.getNode('cfg') as unknown as { exotelAccount: ExotelAccount }).exotelAccount.pacer;
    const sends = watchSends();
    const queuedAt = Date.now();
    for (let i = 0; i < 62; i++) send({ from: AGENT, to: CUSTOMER, customField: `n${i}` });
    while (pacer.waiting < 2) await pause(1);
    // Closed at once, long before the pacer's turn for the 61st (the burst is still on the wire).
    assert.ok(Date.now() - queuedAt < 1_000, 'the machine was too slow to close before the pacer let the 61st go');
    await helper.unload();
    // Each waiting msg was told it was not sent (its Catch node, closing too, still took the error):
    // its request is settled and cannot go out later. The burst was answered and sent on.
    assert.deepEqual(sends.caughtBy('catcher'), [
      'AbortedError: stopped while waiting for the rate limit',
      'AbortedError: stopped while waiting for the rate limit',
    ]);
    assert.equal(sends.sentBy('c2c').length, 60);
    // Past the time the pacer would have let both go, still none of them sent.
    while (Date.now() < queuedAt + 2_000 + 200) await pause(50);
    sends.stop();
    assert.equal(standIn.requests.length, 60);
    await load();
  });

  it('reports a config problem in the status and to Catch with each msg, without secrets', async () => {
    await load({ credentials: { apiKey: API_KEY, apiToken: '' } });
    assert.equal(await caughtMessage({ from: AGENT, to: CUSTOMER }), 'ConfigError: exotel-click2call is not configured: the API token is missing');
    await helper.unload();
    await load({ config: { subdomain: 'http://exotel.example.com' } });
    assert.match(await caughtMessage({ from: AGENT, to: CUSTOMER }), /subdomain "http:\/\/exotel\.example\.com" uses plain http/);
    // Shown when the node started, before the test could listen: read the runtime's own record.
    const statusSpy = helper.getNode('c2c').status as unknown as {
      getCalls(): Array<{ thisValue: { id: string }; args: Array<{ fill?: string; text?: string }> }>;
    };
    const shown = statusSpy.getCalls().filter((call) => call.thisValue.id === 'c2c').map((call) => call.args[0]);
    assert.ok(shown.some((s) => s?.fill === 'red' && s.text?.startsWith('config: subdomain "http://exotel.example.com" uses plain http')), JSON.stringify(shown));
    observed.statuses.push(...shown.map((s) => ({ status: s ?? {} })));
    assert.equal(standIn.requests.length, 0);
  });

  describe('what it refuses to dial (allowedPrefixes, maxCallsPerAgentPerMinute)', () => {
    const redTexts = (): Array<string | undefined> => observed.statuses.filter((msg) => msg.status.fill === 'red').map((msg) => msg.status.text);

    it('refuses a destination outside the default +91 before anything is sent, naming its prefix and the setting; national numbers go', async () => {
      await load();
      assert.match(
        await caughtMessage({ from: AGENT, to: '+44 7700 900123' }),
        /^ValidationError: payload\.to: a number with prefix \+44 \(\+44770…\) may not be dialled: it is outside allowedPrefixes \(\+91\)/,
      );
      assert.match(await caughtMessage({ from: AGENT, to: '00882361234567' }), /prefix \+882 .*allowedPrefixes \(\+91\)/);
      assert.match(await caughtMessage({ from: AGENT, to: '+18005550100' }), /prefix \+1 .*allowedPrefixes \(\+91\)/);
      assert.equal(standIn.requests.length, 0, 'nothing reached Exotel');
      assert.equal(observed.out.length, 0);
      assert.ok(observed.caught.every((msg) => msg.error.source?.id === 'c2c'));
      assert.ok(redTexts().includes('refused: +44 outside allowedPrefixes'), JSON.stringify(redTexts()));
      // National spellings of Indian numbers: leading 0, 10 digits, toll-free 1800 without the 0.
      for (const to of [CUSTOMER, '9876543210', '+91 98765 43210', '18001234567']) send({ from: AGENT, to });
      await settled(7);
      assert.equal(observed.caught.length, 3, JSON.stringify(observed.caught.slice(3)));
      assert.deepEqual(standIn.requests.map((r) => r.form.To), ['09876543210', '9876543210', '+919876543210', '18001234567']);
    });

    it('dials what the list allows: more countries, narrower prefixes, or * for anywhere', async () => {
      await load({ node: { allowedPrefixes: '+91, +44' } });
      send({ from: AGENT, to: '+447700900123' });
      await settled(1);
      assert.match(await caughtMessage({ from: AGENT, to: '+14155550100' }), /prefix \+1 .*allowedPrefixes \(\+91, \+44\)/);
      await helper.unload();
      await load({ node: { allowedPrefixes: '+9180' } });
      send({ from: AGENT, to: '08012345678' });
      await settled(1);
      assert.match(await caughtMessage({ from: AGENT, to: CUSTOMER }), /prefix \+91 .*allowedPrefixes \(\+9180\)/);
      await helper.unload();
      await load({ node: { allowedPrefixes: '*' } });
      send({ from: AGENT, to: '+882361234567' });
      await settled(1);
      assert.equal(observed.caught.length, 0, JSON.stringify(observed.caught));
      assert.deepEqual(standIn.requests.map((r) => r.form.To), ['+447700900123', '08012345678', '+882361234567']);
    });

    it('refuses an agent\'s 11th call within a minute (nothing sent) while another agent still goes', async () => {
      await load();
      for (let i = 0; i < 10; i++) send({ from: AGENT, to: CUSTOMER, customField: `n${i}` });
      await settled(10);
      assert.equal(observed.caught.length, 0, JSON.stringify(observed.caught));
      assert.match(
        await caughtMessage({ from: AGENT, to: CUSTOMER }),
        /^ValidationError: payload\.from: 10 call\(s\) were already placed for this agent \(\+919812345678\) in the last minute \(maxCallsPerAgentPerMinute 10\); the next is allowed in \d+ s$/,
      );
      // The same agent written nationally is the same agent.
      assert.match(await caughtMessage({ from: '09812345678', to: CUSTOMER }), /maxCallsPerAgentPerMinute 10/);
      assert.equal(standIn.requests.length, 10, 'the refused calls were not sent');
      assert.ok(redTexts().includes('refused: agent over 10 calls a minute'), JSON.stringify(redTexts()));
      send({ from: '+919800000002', to: CUSTOMER });
      await settled(13);
      assert.equal(observed.caught.length, 2);
      assert.equal(standIn.requests.length, 11);
      assert.equal(standIn.requests[10]!.form.From, '+919800000002');
    });

    it('refuses before the account\'s rate pacer: refused msgs take none of its turns', async () => {
      // A burst of 60 a minute: 60 refused msgs, then 60 allowed ones from 60 agents, none waits.
      await load({ config: { rateLimit: 60 } });
      const pacer = (helper.getNode('cfg') as unknown as { exotelAccount: ExotelAccount }).exotelAccount.pacer;
      for (let i = 0; i < 60; i++) send({ from: AGENT, to: '+447700900123' });
      for (let i = 0; i < 60; i++) send({ from: `+9198000${String(i).padStart(5, '0')}`, to: CUSTOMER });
      let maxWaiting = 0;
      while (observed.out.length + observed.caught.length < 120 && maxWaiting === 0) {
        maxWaiting = Math.max(maxWaiting, pacer.waiting);
        await pause(5);
      }
      assert.equal(maxWaiting, 0, 'allowed calls waited for turns the refused ones took');
      assert.equal(observed.caught.length, 60);
      assert.equal(standIn.requests.length, 60);
    });

    it('takes the cap from the node: 2 refuses the third call, 0 turns it off', async () => {
      await load({ node: { maxCallsPerAgentPerMinute: '2' } });
      send({ from: AGENT, to: CUSTOMER });
      send({ from: AGENT, to: CUSTOMER });
      await settled(2);
      assert.match(await caughtMessage({ from: AGENT, to: CUSTOMER }), /^ValidationError: payload\.from: 2 call\(s\) .*\(maxCallsPerAgentPerMinute 2\)/);
      assert.equal(standIn.requests.length, 2);
      await helper.unload();
      await load({ node: { maxCallsPerAgentPerMinute: 0 } });
      for (let i = 0; i < 15; i++) send({ from: AGENT, to: CUSTOMER });
      await settled(15);
      assert.equal(observed.caught.length, 0, JSON.stringify(observed.caught));
      assert.equal(standIn.requests.length, 17);
    });

    it('is misconfigured by invalid settings: the status says so and each msg reaches Catch with the reason, nothing sent', async () => {
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ allowedPrefixes: '91, +44' }, /^ConfigError: exotel-click2call is not configured: allowedPrefixes: "91," is not an E\.164 prefix|^ConfigError: exotel-click2call is not configured: allowedPrefixes: "91" is not an E\.164 prefix/],
        [{ allowedPrefixes: '+91, *' }, /^ConfigError: exotel-click2call is not configured: allowedPrefixes: "\*" is not an E\.164 prefix/],
        [{ maxCallsPerAgentPerMinute: 'ten' }, /^ConfigError: exotel-click2call is not configured: maxCallsPerAgentPerMinute must be a whole number from 0 \(no cap\) to 10000, not "ten"$/],
        [{ maxCallsPerAgentPerMinute: -1 }, /^ConfigError: exotel-click2call is not configured: maxCallsPerAgentPerMinute must be a whole number .* not -1$/],
        [{ server: 'no-such-config' }, /^ConfigError: exotel-click2call is not configured: the selected sangam-config \(server\) does not exist$/],
      ];
      for (const [node, message] of cases) {
        await load({ node });
        assert.match(await caughtMessage({ from: AGENT, to: CUSTOMER }), message);
        assert.match(await caughtMessage({ from: AGENT, to: CUSTOMER }), message, 'every msg, not only the first');
        const statusSpy = helper.getNode('c2c').status as unknown as { getCalls(): Array<{ thisValue: { id: string }; args: Array<{ fill?: string; text?: string }> }> };
        const shown = statusSpy.getCalls().filter((call) => call.thisValue.id === 'c2c').map((call) => call.args[0]);
        assert.ok(shown.some((st) => st?.fill === 'red' && st.text?.startsWith('config: ')), JSON.stringify(shown));
        await helper.unload();
      }
      assert.equal(standIn.requests.length, 0);
      await load();
    });
  });

  describe('from as an agent of the server\'s directory', () => {
    const agents = [
      { name: 'Asha', extension: '201', phone: '+91 98123 45678', userId: '19x5', email: 'asha@example.com' },
      { name: 'Ravi', extension: '202', phone: '09800000002', userId: '19x6', email: 'ravi@example.com' },
      { name: 'Desk', extension: '203', phone: '', userId: '', email: '' },
    ];

    it('dials the agent\'s phone for an extension, a userId or an email, and counts them as one agent', async () => {
      await load({ server: { agents }, node: { maxCallsPerAgentPerMinute: '3' } });
      send({ from: '201', to: CUSTOMER });
      send({ phone: '19x5', to: CUSTOMER });
      send({ from: 'Asha@Example.com', to: CUSTOMER });
      send({ from: 202, to: CUSTOMER });
      await settled(4);
      assert.equal(observed.caught.length, 0, JSON.stringify(observed.caught));
      assert.deepEqual(standIn.requests.map((r) => r.form.From).sort(), ['+919812345678', '+919812345678', '+919812345678', '09800000002']);
      // Asha's 4th call, by her phone this time: the cap counts the number dialled, whatever named it.
      assert.match(await caughtMessage({ from: '+919812345678', to: CUSTOMER }), /maxCallsPerAgentPerMinute 3/);
      assert.match(await caughtMessage({ from: '201', to: CUSTOMER }), /maxCallsPerAgentPerMinute 3/);
      // A phone number that is nobody's is dialled as given.
      send({ from: '+919811111111', to: CUSTOMER });
      await settled(7);
      assert.equal(standIn.requests.length, 5);
      assert.equal(standIn.requests[4]!.form.From, '+919811111111');
    });

    it('refuses an unknown agent or one without a phone with a clear error, nothing sent', async () => {
      await load({ server: { agents } });
      assert.equal(
        await caughtMessage({ from: 'nobody@example.com', to: CUSTOMER }),
        'ValidationError: payload.from: "nobody@example.com" is neither a phone number nor the extension, userId or email of an agent in the sangam-config\'s directory',
      );
      assert.match(await caughtMessage({ from: '299', to: CUSTOMER }), /^ValidationError: payload\.from: "299" is neither a phone number nor/);
      assert.match(await caughtMessage({ from: '203', to: CUSTOMER }), /^ValidationError: payload\.from: agent "Desk" has no phone/);
      assert.equal(standIn.requests.length, 0);
    });

    it('says why when the sangam-config\'s directory is invalid, and still dials plain phone numbers', async () => {
      await load({ server: { agents: [{ name: 'A', extension: '201' }, { name: 'B', extension: '201' }] } });
      assert.match(await caughtMessage({ from: '201', to: CUSTOMER }), /^ValidationError: payload\.from: "201" is not a phone number, and the sangam-config's agent directory is not available \(.*agents\[1\]\.extension/);
      send({ from: AGENT, to: CUSTOMER });
      await settled(2);
      assert.equal(standIn.requests.length, 1);
      assert.equal(standIn.requests[0]!.form.From, AGENT);
    });

    it('without a server, an extension is not a phone number', async () => {
      await load();
      assert.match(await caughtMessage({ from: '201', to: CUSTOMER }), /^ValidationError: payload\.from: "201" is not a phone number/);
      assert.equal(standIn.requests.length, 0);
    });
  });
});
