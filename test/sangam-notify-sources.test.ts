import assert from 'node:assert/strict';
import { twilioSignature } from '../src/lib/webhook-auth';
import { SECRET_TOKEN, catchNode, collect, helper, loggedText, pause } from './support/node-red';
import { sangamFlow, useSangamCrm } from './support/sangam-crm';
import { AGENTS, AMI_CDR_TEXT, AMI_DIAL_BEGIN, EXOTEL_PASSTHRU, TWILIO_INCOMING, twilioStatusCallback } from './sangam-call-log-samples';
import sangamConfig = require('../src/sangam-config');
import sangamNotify = require('../src/sangam-notify');

/*
 * sangam-notify with a telephony system's own events (inputFormat exotel, twilio, asterisk) in a
 * real Node-RED runtime against the SangamCRM stand-in; the vendor samples of
 * test/sangam-call-log-samples.ts (each says where it comes from).
 */

interface Msg {
  payload: Record<string, unknown>;
  error?: { message: string };
}

const TWILIO_TOKEN = 'twilio-Auth-3d9a-SECRET';
const WEBHOOK_URL = 'https://pbx.example.com/twilio/voice';

describe('sangam-notify with telephony input formats', function () {
  const crm = useSangamCrm();

  async function load(node: Record<string, unknown>, twilioAuthToken?: string): Promise<void> {
    const credentials: Record<string, Record<string, string>> = { crm: { token: SECRET_TOKEN } };
    if (twilioAuthToken !== undefined) credentials.notify = { twilioAuthToken };
    await helper.load(
      [sangamConfig, sangamNotify, catchNode],
      // maxAge 0: the samples carry their vendors' (old) times.
      sangamFlow({ domain: crm().url, type: 'sangam-notify', config: { ivrName: 'pbx', timezone: 'Asia/Kolkata', agents: AGENTS }, node: { maxAge: 0, ...node } }),
      credentials,
    );
  }

  const send = (payload: unknown, extra: Record<string, unknown> = {}): void => helper.getNode('notify').receive({ payload, ...extra });

  it('exotel: posts the Passthru call as a pop-up for the agent dialled, nm from the directory, the default event code TC', async () => {
    await load({ inputFormat: 'exotel' });
    const out = collect<Msg>('out', 1);
    send(EXOTEL_PASSTHRU);
    const [msg] = await out;
    assert.deepEqual(msg.payload, { message: 'success' });
    assert.deepEqual(crm().notifies[0].event, {
      cli: '09901320691', event: 'TC', uniqueid: '9953099079d70b89bbc1aa43ae6d1893', time: '2024-09-03 11:44:56', nm: 'ravi@example.com', to: '09876543210',
    });
  });

  it('twilio: posts the incoming-call webhook with the node\'s eventCode, nm of the agent whose number rings', async () => {
    await load({ inputFormat: 'twilio', eventCode: 'IN' });
    const out = collect<Msg>('out', 1);
    const before = Date.now();
    send(TWILIO_INCOMING);
    await out;
    const event = crm().notifies[0].event;
    assert.equal(event.cli, '+14155552671');
    assert.equal(event.event, 'IN');
    assert.equal(event.uniqueid, 'CA1d2e3f40000000000000000000000001');
    assert.equal(event.nm, 'asha@example.com', '+919812345678 is Asha\'s phone');
    assert.equal(event.to, '+919812345678');
    // The webhook carries no time: the time it arrived, in the config's zone (IST, UTC+05:30).
    const asUtc = Date.parse(`${String(event.time).replace(' ', 'T')}+05:30`);
    assert.ok(Math.abs(asUtc - before) < 5_000, String(event.time));
  });

  it('asterisk: posts DialBegin for the agent of the dialled channel', async () => {
    await load({ inputFormat: 'asterisk' });
    const out = collect<Msg>('out', 1);
    send(AMI_DIAL_BEGIN);
    await out;
    const event = crm().notifies[0].event;
    assert.deepEqual({ ...event, time: undefined }, { cli: '9812000001', event: 'TC', uniqueid: '1714645200.18', time: undefined, nm: 'ravi@example.com', to: '202' });
  });

  it('answers events that are not a ringing call with skipped, and sends nothing', async () => {
    await load({ inputFormat: 'asterisk' });
    const out = collect<Msg>('out', 2);
    send(AMI_CDR_TEXT);
    send({ Event: 'Newstate', Channel: 'PJSIP/201-00000015', ChannelState: '6', ChannelStateDesc: 'Up', CallerIDNum: '201', ConnectedLineNum: '9812000003', Uniqueid: '1.2', Linkedid: '1.1' });
    const msgs = await out;
    assert.equal(msgs[0].payload.skipped, true);
    assert.match(String(msgs[0].payload.reason), /AMI Cdr event/);
    assert.equal(msgs[1].payload.skipped, true);
    assert.match(String(msgs[1].payload.reason), /Newstate Up/);
    await pause(100);
    assert.equal(crm().stats.requests, 0);
  });

  it('sends a payload of another format to Catch naming what was expected, and sends nothing', async () => {
    await load({ inputFormat: 'exotel' });
    const caught = collect<Msg>('caught', 1);
    send(AMI_DIAL_BEGIN);
    assert.match((await caught)[0].error!.message, /Exotel: CallSid is missing; expected the Exotel Passthru applet's query parameters/);
    assert.equal(crm().stats.requests, 0);
  });

  it('twilio with an auth token: a signed webhook is posted, a tampered one reaches Catch without the token, nothing sent for it', async () => {
    await load({ inputFormat: 'twilio', webhookUrl: WEBHOOK_URL }, TWILIO_TOKEN);
    const out = collect<Msg>('out', 1);
    const caught = collect<Msg>('caught', 1);
    const req = { method: 'POST', originalUrl: '/twilio/voice', headers: { 'x-twilio-signature': twilioSignature(TWILIO_TOKEN, WEBHOOK_URL, TWILIO_INCOMING) } };
    send({ ...TWILIO_INCOMING, From: '+15005550006' }, { req });
    send(TWILIO_INCOMING, { req });
    await out;
    const [error] = await caught;
    assert.match(error.error!.message, /X-Twilio-Signature does not match/);
    assert.ok(!error.error!.message.includes(TWILIO_TOKEN));
    assert.ok(!loggedText().includes(TWILIO_TOKEN));
    assert.equal(crm().notifies.length, 1);
    assert.equal(crm().notifies[0].event.cli, '+14155552671');
  });

  it('twilio: a status callback of a finished call is skipped, not a pop-up', async () => {
    await load({ inputFormat: 'twilio' });
    const out = collect<Msg>('out', 1);
    send(twilioStatusCallback());
    assert.match(String((await out)[0].payload.reason), /CallStatus completed: a pop-up is sent for a ringing call/);
    assert.equal(crm().stats.requests, 0);
  });
});
