import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { twilioSignature } from '../src/lib/webhook-auth';
import { SECRET_TOKEN, catchNode, helper, onTab } from './support/node-red';
import { useSangamCrm } from './support/sangam-crm';
import { AGENTS, asteriskRingGroupCdr, twilioStatusCallback } from './sangam-call-log-samples';
import sangamConfig = require('../src/sangam-config');
import sangamCallLog = require('../src/sangam-call-log');

/*
 * The way a telephony system reaches sangam-call-log: its webhook through a real `http in` node,
 * the node, and an `http response` that answers it (a Catch answers 403 for a refused request).
 * Twilio posts its status callback form-encoded and signed; Asterisk's CURL() (dialplan
 * `CURL(url,src=${CDR(src)}&...)`) posts the CDR fields form-encoded.
 */

// eslint-disable-next-line @typescript-eslint/no-require-imports
const httpInNodes = require('@node-red/nodes/core/network/21-httpin.js') as (RED: NodeAPI) => void;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const changeNode = require('@node-red/nodes/core/function/15-change.js') as (RED: NodeAPI) => void;

/** The test helper mounts http in routes on an express app of its own: this captures it to serve it. */
let nodeApp: http.RequestListener | undefined;
function captureHttpNode(RED: NodeAPI): void {
  nodeApp = RED.httpNode as unknown as http.RequestListener;
  RED.nodes.registerType('http-app-capture', function (this: Node, def: NodeDef) {
    RED.nodes.createNode(this, def);
  });
}

const TWILIO_TOKEN = 'twilio-Auth-51b0-SECRET';
const PUBLIC_URL = 'https://pbx.example.com/twilio/status';

interface Answer {
  status: number;
  body: string;
  ms: number;
}

describe('sangam-call-log behind http in / http response', function () {
  this.timeout(30_000);
  const crm = useSangamCrm();
  let server: http.Server | undefined;
  let base = '';

  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function load(url: string, node: Record<string, unknown>, twilioAuthToken?: string): Promise<void> {
    const flow = onTab(
      { id: 'capture', type: 'http-app-capture' },
      { id: 'crm', type: 'sangam-config', domain: crm().url, ivrName: 'pbx', timezone: 'Asia/Kolkata', agents: AGENTS },
      { id: 'in', type: 'http in', url, method: 'post', wires: [['log']] },
      { id: 'log', type: 'sangam-call-log', server: 'crm', batchWindow: 10, wires: [['answer']], ...node },
      { id: 'answer', type: 'http response', statusCode: '', headers: {} },
      { id: 'catcher', type: 'catch', scope: ['log'], wires: [['forbidden']] },
      {
        id: 'forbidden', type: 'change', wires: [['answer']],
        rules: [
          { t: 'set', p: 'statusCode', pt: 'msg', to: '403', tot: 'num' },
          { t: 'set', p: 'payload', pt: 'msg', to: 'error.message', tot: 'msg' },
        ],
      },
    );
    const credentials: Record<string, Record<string, string>> = { crm: { token: SECRET_TOKEN } };
    if (twilioAuthToken) credentials.log = { twilioAuthToken };
    await helper.load([captureHttpNode, sangamConfig, sangamCallLog, httpInNodes, changeNode, catchNode], flow, credentials);
    server = http.createServer(nodeApp);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async function post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer> {
    const started = Date.now();
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
    return { status: response.status, body: await response.text(), ms: Date.now() - started };
  }

  it('Twilio: a signed status callback is logged and answered with the CRM result; a tampered one is answered 403, nothing sent', async () => {
    // webhookUrl: the public URL set in Twilio's console, which a proxy maps to Node-RED.
    await load('/twilio/status', { inputFormat: 'twilio', webhookUrl: PUBLIC_URL }, TWILIO_TOKEN);
    const params = twilioStatusCallback();
    const signature = twilioSignature(TWILIO_TOKEN, PUBLIC_URL, params);
    const tampered = await post('/twilio/status', { ...params, To: '+19005550100' }, { 'x-twilio-signature': signature });
    assert.equal(tampered.status, 403);
    assert.match(tampered.body, /X-Twilio-Signature does not match/);
    assert.ok(!tampered.body.includes(TWILIO_TOKEN));
    const ringing = await post('/twilio/status', { ...params, CallStatus: 'ringing' }, { 'x-twilio-signature': twilioSignature(TWILIO_TOKEN, PUBLIC_URL, { ...params, CallStatus: 'ringing' }) });
    assert.equal(ringing.status, 200);
    assert.equal(JSON.parse(ringing.body).skipped, true);
    assert.ok(ringing.ms < 1_000, 'a progress callback is answered at once');
    assert.equal(crm().stats.requests, 0);

    const logged = await post('/twilio/status', params, { 'x-twilio-signature': signature });
    assert.equal(logged.status, 200);
    assert.equal(JSON.parse(logged.body).id, crm().callLogs[0].id);
    // Held for the call's other legs (3 s), well inside the 15 s Twilio waits.
    assert.ok(logged.ms >= 2_900 && logged.ms < 15_000, `${logged.ms} ms`);
    assert.equal(crm().callLogs.length, 1);
    assert.equal(crm().callLogs[0].record.twilio_call_sid, 'CA5f7b1c2e8a1d4e0012c3b4a5d6e7f809');
  });

  it('Twilio without webhookUrl: the signature is checked against the URL Node-RED was called at', async () => {
    await load('/twilio/direct', { inputFormat: 'twilio' }, TWILIO_TOKEN);
    const params = twilioStatusCallback({ CallStatus: 'busy' });
    const good = await post('/twilio/direct', params, { 'x-twilio-signature': twilioSignature(TWILIO_TOKEN, `${base}/twilio/direct`, params) });
    assert.equal(good.status, 200);
    assert.equal(crm().callLogs[0].record.call_status, 'Not Held');
    const other = await post('/twilio/direct', params, { 'x-twilio-signature': twilioSignature(TWILIO_TOKEN, PUBLIC_URL, params) });
    assert.equal(other.status, 403);
  });

  it('Asterisk CURL() posts: a ring group\'s CDRs each get an answer, one record is stored, a CDR that is none gets 403 at once', async () => {
    await load('/asterisk/cdr', { inputFormat: 'asterisk' });
    const answers = await Promise.all([
      post('/asterisk/cdr', asteriskRingGroupCdr('201', 'NO ANSWER', '1')),
      post('/asterisk/cdr', asteriskRingGroupCdr('202', 'ANSWERED', '2')),
      post('/asterisk/cdr', asteriskRingGroupCdr('201', 'NO ANSWER', '1')),
    ]);
    assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200]);
    const bodies = answers.map((answer) => JSON.parse(answer.body) as Record<string, unknown>);
    assert.equal(bodies[1].id, crm().callLogs[0].id, 'the answered CDR gets the CRM result');
    assert.match(String(bodies[0].reason), /another leg of this call was logged/);
    assert.match(String(bodies[2].reason), /repeat/);
    assert.ok(answers[2].ms < 1_000, 'a repeat is answered at once');
    assert.equal(crm().callLogs.length, 1);
    assert.equal(crm().callLogs[0].record.assigned_user_id, 'u-ravi');
    const wrong = await post('/asterisk/cdr', { src: '201', dst: '202' });
    assert.equal(wrong.status, 403);
    assert.match(wrong.body, /Disposition \(disposition\) is missing/);
  });
});
