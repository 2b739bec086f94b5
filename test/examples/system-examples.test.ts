/**
 * Examples 07-10 (Asterisk, FreeSWITCH, Twilio, Exotel Passthru) end to end in a real node-red
 * process against the SangamCRM stand-in, fed with the vendors' sample payloads (those of
 * test/sangam-call-log-samples.ts that test/sources/*.test.ts use too, each cited there).
 *
 * The shared-secret checks in front of these endpoints need nothing new and are tested here too;
 * the rest needs the nodes' runtime for the `asterisk`, `freeswitch`, `twilio` and `exotel`
 * (pop-up) input formats, `pbxTimezone`, `webhookUrl` and `twilioAuthToken` (issue 12/14). Those
 * tests are marked in their titles.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { SangamCrmStandIn } from '../../dev/standins/sangam-crm';
import { NodeRedProcess } from '../support/node-red-process';
import {
  CRM_TOKEN,
  TWILIO_AUTH_TOKEN,
  WEBHOOK_SECRET,
  credentialsFor,
  exampleEnv,
  flowsOf,
  indiaTime,
  postForm,
  postJson,
  withAuthQuery,
} from './fixtures';
import { AMI_DIAL_BEGIN, EXOTEL_PASSTHRU, freeswitchJsonCdr, twilioStatusCallback } from '../sangam-call-log-samples';


/** Twilio's request signature: base64 HMAC-SHA1, keyed with the auth token, of the URL and the sorted POST parameters. */
function twilioSignature(url: string, params: Record<string, string>, authToken = TWILIO_AUTH_TOKEN): string {
  const data = Object.keys(params)
    .sort()
    .reduce((text, key) => text + key + params[key], url);
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

function assertFields(actual: Record<string, unknown> | undefined, expected: Record<string, unknown>, what: string): void {
  assert.ok(actual, `${what}: no record`);
  const picked = Object.fromEntries(Object.keys(expected).map((key) => [key, actual[key]]));
  assert.deepEqual(picked, expected, `${what}: ${JSON.stringify(actual)}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('examples 07-10: telephony systems in their own formats', function () {
  this.timeout(90_000);

  let crm: SangamCrmStandIn;
  let nodeRed: NodeRedProcess;

  before(async () => {
    crm = await SangamCrmStandIn.start({ token: CRM_TOKEN });
    nodeRed = await NodeRedProcess.start({ env: (port) => exampleEnv({ crm }, port) });
    const flows = flowsOf('07', '08', '09', '10');
    await nodeRed.deploy(flows, credentialsFor(flows));
  });

  after(async () => {
    await nodeRed?.stop();
    await crm?.close();
  });

  beforeEach(() => crm.reset());

  afterEach(() => {
    for (const secret of [CRM_TOKEN, WEBHOOK_SECRET, TWILIO_AUTH_TOKEN]) assert.ok(!nodeRed.output.includes(secret), `${secret} in the node-red log`);
  });

  describe('the shared secret', () => {
    const guarded: Array<[string, 'POST' | 'GET']> = [
      ['/asterisk/cdr', 'POST'],
      ['/asterisk/ringing', 'POST'],
      ['/freeswitch/cdr', 'POST'],
      ['/exotel/passthru', 'GET'],
    ];
    for (const [path, method] of guarded) {
      it(`${method} ${path} answers 401 without the secret and with a wrong one, and sends nothing to the CRM`, async () => {
        for (const token of [undefined, `${WEBHOOK_SECRET}x`, WEBHOOK_SECRET.slice(0, -1)]) {
          const url = token === undefined ? `${nodeRed.url}${path}` : withAuthQuery(`${nodeRed.url}${path}`, { query: token });
          const response = await fetch(url, method === 'POST' ? { method, headers: { 'content-type': 'application/json' }, body: '{"src": "9812000002"}' } : {});
          assert.equal(response.status, 401, `${path} token=${String(token !== undefined)}`);
          assert.match(response.headers.get('www-authenticate') ?? '', /Bearer/);
        }
        await sleep(300);
        assert.equal(crm.stats.requests, 0);
      });
    }
  });

  describe('07 Asterisk', () => {
    it(`logs a CURL() post of CDR() columns (Basic auth, the secret as password) as one record`, async () => {
      // The missed call of test/sources/asterisk.test.ts, as the hangup handler's CURL() form.
      const cdr = {
        calldate: '2024-05-02 11:00:00', clid: '"Customer" <9812000002>', src: '9812000002', dst: '201', dcontext: 'from-internal',
        channel: 'PJSIP/trunk-00000020', dstchannel: 'PJSIP/201-00000021', lastapp: 'Dial', lastdata: 'PJSIP/201,20',
        duration: '20', billsec: '0', disposition: 'NO ANSWER', amaflags: '3', accountcode: '', uniqueid: '1714647600.32',
        userfield: '', linkedid: '1714647600.32', sequence: '7', recordingfile: '', answer: '0000-00-00 00:00:00', end: '2024-05-02 11:00:20',
      };
      const answer = await postForm(`${nodeRed.url}/asterisk/cdr`, cdr, { basic: ['asterisk', WEBHOOK_SECRET] });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      await crm.waitForRecords(1, 30_000);
      assertFields(crm.callLogs[0]?.record, {
        enjay_lat_source_number: '9812000002',
        enjay_lat_destination_number: '201',
        direction: 'Inbound',
        call_status: 'Not Held',
        date_end: '2024-05-02 11:00:20',
        duration: '00:00:00',
        logged_by: 'IVR',
      }, 'asterisk CDR');
    });

    it(`pops up an AMI DialBegin posted as JSON`, async () => {
      const dialBegin = AMI_DIAL_BEGIN;
      const answer = await postJson(`${nodeRed.url}/asterisk/ringing`, dialBegin);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.body, { message: 'success' });
      assert.equal(crm.notifies.length, 1);
      assertFields(crm.notifies[0]?.event, { cli: '9812000001', uniqueid: '1714645200.18', to: '202' }, 'asterisk pop-up');
    });
  });

  describe('08 FreeSWITCH', () => {
    it(`logs mod_json_cdr's JSON CDR sent with its cred (Basic auth)`, async () => {
      // The cgrates sample of test/sources/freeswitch.test.ts (a FreeSWITCH host at UTC+2).
      const cdr = freeswitchJsonCdr();
      const answer = await postJson(`${nodeRed.url}/freeswitch/cdr`, cdr, { basic: ['freeswitch', WEBHOOK_SECRET] });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      // mod_json_cdr with encode=true sends the same CDR url-encoded as cdr=...: a repeat of the same call.
      const again = await postForm(`${nodeRed.url}/freeswitch/cdr`, { cdr: JSON.stringify(cdr) }, { basic: ['freeswitch', WEBHOOK_SECRET] });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      await crm.waitForRecords(1, 30_000);
      await sleep(500);
      assert.equal(crm.callLogs.length, 1, 'one call, one record');
      assertFields(crm.callLogs[0]?.record, {
        enjay_lat_source_number: '1001',
        enjay_lat_destination_number: '1002',
        direction: 'Outbound',
        call_status: 'Held',
        date_start: '2014-04-09 00:40:21',
        date_end: '2014-04-09 00:40:42',
        duration: '00:00:15',
      }, 'freeswitch CDR');
    });
  });

  describe('09 Twilio', () => {
    // The completed call of test/sources/twilio.test.ts, without its recording.
    const completed: Record<string, string> = twilioStatusCallback({ RecordingUrl: undefined, RecordingSid: undefined, RecordingDuration: undefined });

    it(`logs a status callback with a valid X-Twilio-Signature`, async () => {
      const url = `${nodeRed.url}/twilio/status-callback`;
      const answer = await postForm(url, completed, 'none', { 'x-twilio-signature': twilioSignature(url, completed) });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      await crm.waitForRecords(1, 30_000);
      assertFields(crm.callLogs[0]?.record, {
        enjay_lat_source_number: '+919812345678',
        enjay_lat_destination_number: '+14155552671',
        direction: 'Outbound',
        call_status: 'Held',
        date_start: '2021-03-03 02:42:14',
        date_end: '2021-03-03 02:42:56',
        duration: '00:00:42',
      }, 'twilio status callback');
    });

    it(`answers 403 to a tampered parameter and to a missing signature, and logs nothing`, async () => {
      const url = `${nodeRed.url}/twilio/status-callback`;
      const other = { ...completed, CallSid: 'CA00000000000000000000000000000001' };
      const tampered = await postForm(url, { ...other, CallDuration: '4200' }, 'none', { 'x-twilio-signature': twilioSignature(url, other) });
      assert.equal(tampered.status, 403, JSON.stringify(tampered.body));
      const unsigned = await postForm(url, other, 'none');
      assert.equal(unsigned.status, 403, JSON.stringify(unsigned.body));
      await sleep(500);
      assert.equal(crm.stats.requests, 0);
    });

    it(`pops up an incoming call and answers Twilio <Response/> as text/xml`, async () => {
      const url = `${nodeRed.url}/twilio/voice`;
      const incoming: Record<string, string> = {
        AccountSid: 'AC0123456789abcdef0123456789abcdef', ApiVersion: '2010-04-01', CallSid: 'CA11111111111111111111111111111111',
        CallStatus: 'ringing', Direction: 'inbound', From: '+919812345678', To: '+14155552671', Called: '+14155552671', Caller: '+919812345678',
      };
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(url, incoming) },
        body: new URLSearchParams(incoming).toString(),
      });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/xml/);
      assert.equal((await response.text()).trim(), '<Response/>');
      assert.equal(crm.notifies.length, 1);
      assertFields(crm.notifies[0]?.event, { cli: '+919812345678', uniqueid: 'CA11111111111111111111111111111111' }, 'twilio pop-up');
    });
  });

  describe('10 Exotel Passthru', () => {
    it(`pops up the caller of a Passthru GET (?token=) and answers Exotel 200`, async () => {
      // The Passthru parameters of test/sources/exotel.test.ts, CurrentTime now (a pop-up older than 30 s is dropped).
      const now = Date.now();
      const query = new URLSearchParams({
        ...EXOTEL_PASSTHRU, StartTime: indiaTime(now), CurrentTime: indiaTime(now),
        token: WEBHOOK_SECRET,
      });
      const response = await fetch(`${nodeRed.url}/exotel/passthru?${query.toString()}`);
      assert.equal(response.status, 200, await response.clone().text());
      assert.equal(crm.notifies.length, 1);
      assertFields(crm.notifies[0]?.event, { cli: '09901320691', uniqueid: '9953099079d70b89bbc1aa43ae6d1893' }, 'exotel pop-up');
      assert.ok(!JSON.stringify(crm.requests).includes(WEBHOOK_SECRET), 'the token reached the CRM');
    });
  });
});
