/**
 * No secret anywhere: a real node-red process runs sangam-config (token) and exotel-config
 * (apiKey, apiToken) nodes with distinctive secrets, and traffic that fails in every way we can
 * make it fail (401 answers that echo the secret, HTML error pages, the CRM down so records wait
 * in the outbox, invalid input). Then everything the runtime wrote or said is searched: its whole
 * output, every comms message (status, debug, notifications), the errors that reached Catch,
 * every HTTP answer the flows gave, every file in the user dir (flows.json, the encrypted
 * flows_cred.json, the outbox journal and its side files), and GET /flows.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ExotelStandIn } from '../dev/standins/exotel';
import { SangamCrmStandIn } from '../dev/standins/sangam-crm';
import { type FlowNode, NodeRedProcess } from './support/node-red-process';
import { RECORD } from './support/call-record';

const GOOD_TOKEN = 'Tk-GOOD-secret-4c8e1f9a2b';
/** A second config's token the CRM does not know: every answer to it is a 401. */
const WRONG_TOKEN = 'Tk-WRONG-secret-77ab03d2e6';
const EXOTEL_SID = 'acme-secrets1';
const EXOTEL_API_KEY = 'ExoKey-secret-5d1c0b8e31';
const EXOTEL_API_TOKEN = 'ExoTok-secret-e93f2761aa';

/** Each secret, and the forms it takes on the wire (HTTP Basic base64). */
const SECRET_FORMS: Record<string, string> = {
  'sangam token': GOOD_TOKEN,
  'wrong sangam token': WRONG_TOKEN,
  'exotel apiToken': EXOTEL_API_TOKEN,
  'exotel apiKey': EXOTEL_API_KEY,
  'exotel Basic credentials': Buffer.from(`${EXOTEL_API_KEY}:${EXOTEL_API_TOKEN}`).toString('base64'),
};

/** Every secret found in `text`, as "<where>: <which>". */
function leaks(where: string, text: string): string[] {
  return Object.entries(SECRET_FORMS)
    .filter(([, secret]) => text.includes(secret))
    .map(([which]) => `${where}: ${which}`);
}

/** Every file under dir except the installed package (node_modules), as [relative path, content]. */
function userDirFiles(dir: string, root = dir): Array<[string, string]> {
  const files: Array<[string, string]> = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(full).isDirectory()) files.push(...userDirFiles(full, root));
    else files.push([relative(root, full), readFileSync(full, 'latin1')]);
  }
  return files;
}

function flows(crmUrl: string, exotelUrl: string): FlowNode[] {
  const z = 'secrets-tab';
  const endpoint = (path: string, worker: Record<string, unknown> & { id: string; type: string }): FlowNode[] => [
    { id: `in-${worker.id}`, type: 'http in', z, url: path, method: 'post', upload: false, swaggerDoc: '', wires: [[worker.id]] },
    { z, ...worker, wires: [['answer', 'debug-out']] },
  ];
  return [
    { id: z, type: 'tab', label: 'secrets' },
    { id: 'crm-good', type: 'sangam-config', name: 'good', domain: crmUrl, ivrName: 'secrets', timezone: 'UTC', timeout: 2000 },
    { id: 'crm-wrong', type: 'sangam-config', name: 'wrong', domain: crmUrl, ivrName: 'secrets', timezone: 'UTC', timeout: 2000 },
    { id: 'exo', type: 'exotel-config', name: 'exotel account', accountSid: EXOTEL_SID, subdomain: exotelUrl, callerId: '08047112233', timeout: 2000 },
    ...endpoint('/log-good', { id: 'log-good', type: 'sangam-call-log', server: 'crm-good', retries: 1 }),
    ...endpoint('/log-wrong', { id: 'log-wrong', type: 'sangam-call-log', server: 'crm-wrong', retries: 1 }),
    ...endpoint('/notify-wrong', { id: 'notify-wrong', type: 'sangam-notify', server: 'crm-wrong' }),
    ...endpoint('/notify-good', { id: 'notify-good', type: 'sangam-notify', server: 'crm-good' }),
    ...endpoint('/c2c', { id: 'c2c', type: 'exotel-click2call', account: 'exo' }),
    { id: 'answer', type: 'http response', z, statusCode: '', headers: {}, wires: [] },
    { id: 'debug-out', type: 'debug', z, active: true, tosidebar: true, console: false, complete: 'true', targetType: 'full' },
    // Errors: to the sidebar (whole msg.error) and back to the HTTP client, so both are searched.
    { id: 'catcher', type: 'catch', z, scope: null, uncaught: false, wires: [['debug-error', 'fail']] },
    { id: 'debug-error', type: 'debug', z, active: true, tosidebar: true, console: true, complete: 'error', targetType: 'msg' },
    {
      id: 'fail',
      type: 'function',
      z,
      func: 'msg.statusCode = 500;\nmsg.payload = { error: msg.error };\nreturn msg;',
      outputs: 1,
      libs: [],
      wires: [['answer']],
    },
    { id: 'statuses', type: 'status', z, scope: null, wires: [['debug-status']] },
    { id: 'debug-status', type: 'debug', z, active: true, tosidebar: true, console: false, complete: 'status', targetType: 'msg' },
  ];
}

describe('secrets never leak from a running node-red', function () {
  this.timeout(180_000);
  let crm: SangamCrmStandIn;
  let exotel: ExotelStandIn;
  let nodeRed: NodeRedProcess | undefined;
  const answers: string[] = [];
  // Ours, not the helper's temporary one: its files are searched again after the runtime stopped.
  const userDir = mkdtempSync(join(tmpdir(), 'sangam-secrets-'));

  before(async () => {
    crm = await SangamCrmStandIn.start({ token: GOOD_TOKEN });
    exotel = await ExotelStandIn.start({ accountSid: EXOTEL_SID, apiKey: EXOTEL_API_KEY, apiToken: EXOTEL_API_TOKEN });
    nodeRed = await NodeRedProcess.start({ userDir });
  });
  after(async () => {
    await nodeRed?.stop();
    await crm.close();
    await exotel.close();
    rmSync(userDir, { recursive: true, force: true });
  });

  async function post(path: string, payload: unknown): Promise<{ status: number; body: string }> {
    const response = await fetch(`${nodeRed!.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(60_000),
    });
    const body = await response.text();
    answers.push(`${path} ${response.status} ${body}`);
    return { status: response.status, body };
  }

  async function expectStatus(path: string, payload: unknown, status: number): Promise<string> {
    const answer = await post(path, payload);
    // On a surprise, the runtime's warnings and errors say why (a node that did not start, say).
    const problems = (): string => (nodeRed?.output ?? '').split('\n').filter((line) => /\[(warn|error)\]/.test(line)).join('\n');
    assert.equal(answer.status, status, `POST ${path} answered ${answer.status}: ${answer.body}\n${answer.status === status ? '' : problems()}`);
    return answer.body;
  }

  it('keeps tokens and API credentials out of logs, comms, errors, answers, files and GET /flows', async () => {
    const runtime = nodeRed!;
    await runtime.deploy(flows(crm.url, exotel.url), {
      'crm-good': { token: GOOD_TOKEN },
      'crm-wrong': { token: WRONG_TOKEN },
      exo: { apiKey: EXOTEL_API_KEY, apiToken: EXOTEL_API_TOKEN },
    });

    // Successes first: the secrets are really in use.
    await expectStatus('/log-good', { ...RECORD, call_ref: 'ok-1' }, 200);
    await expectStatus('/notify-good', { cli: '9876509876', event: 'TC', uniqueid: 'u-1', to: '2001' }, 200);
    await expectStatus('/c2c', { from: '+919812345678', to: '09876543210' }, 200);
    assert.equal(crm.requests[0]?.headers.authorization, GOOD_TOKEN, 'the token is sent to the CRM');
    const refusedBefore = crm.requests.filter((request) => request.status === 401).length;

    // 401s whose bodies echo the secret (JSON and an HTML page), and the plain 401 of a wrong token.
    crm.failNext(1, { kind: 'status', status: 401, body: JSON.stringify({ status: 401, message: `token ${WRONG_TOKEN} is not valid` }) });
    crm.failNext(1, { kind: 'status', status: 401, body: `<html><body><h1>401</h1><p>Authorization: ${WRONG_TOKEN}</p></body></html>` });
    const wrongLog = await post('/log-wrong', { ...RECORD, call_ref: 'wrong-1' });
    assert.equal(wrongLog.status, 500);
    assert.match(wrongLog.body, /401/);
    crm.failNext(1, { kind: 'status', status: 401, body: JSON.stringify({ message: `unknown token ${WRONG_TOKEN}` }) });
    await expectStatus('/notify-wrong', { cli: '9876509876', event: 'TC', uniqueid: 'u-2', to: '2001' }, 500);
    await expectStatus('/log-wrong', { ...RECORD, call_ref: 'wrong-2' }, 500);

    assert.ok(crm.requests.filter((request) => request.status === 401).length - refusedBefore >= 3, 'the CRM answered 401s');

    // Exotel: a 401 that echoes the key and token, and a phone number that is no phone number.
    exotel.failNext(1, { status: 401, message: `Authentication failed for ${EXOTEL_API_KEY}:${EXOTEL_API_TOKEN}` });
    const exoDenied = await post('/c2c', { from: '+919812345678', to: '09876543210' });
    assert.equal(exoDenied.status, 500);
    assert.match(exoDenied.body, /401|Authentication/);
    await expectStatus('/c2c', { from: 'call me maybe', to: '09876543210' }, 500);

    // The CRM down: records wait in the outbox journal (and replays fail and are logged).
    await crm.goDown();
    for (let i = 0; i < 3; i++) {
      const kept = await post('/log-good', { ...RECORD, call_ref: `down-${i}` });
      assert.equal(kept.status, 500);
      assert.match(kept.body, /kept in the outbox/);
    }
    await expectStatus('/notify-good', { cli: '9876509876', event: 'TC', uniqueid: 'u-3', to: '2001' }, 500);
    const journalFiles = (): Array<[string, string]> => userDirFiles(runtime.userDir).filter(([name]) => name.startsWith('sangam-outbox'));
    assert.ok(journalFiles().some(([, text]) => text.includes('down-0')), 'records are in the outbox journal');
    // A failed replay round is logged: wait for its warning, so that it is searched too.
    await runtime.waitUntil(() => /call logs waiting, next attempt in/.test(runtime.output), 60_000, 'a failed outbox replay in the log');
    await crm.comeBack();
    await crm.waitForRecords(4, 60_000);

    // Search everything while it runs, and again after a graceful stop (close handlers log too).
    const found: string[] = [];
    const search = async (phase: string): Promise<void> => {
      found.push(...leaks(`${phase} node-red output`, runtime.output));
      found.push(...leaks(`${phase} comms`, JSON.stringify(runtime.comms)));
      for (const [name, text] of userDirFiles(runtime.userDir)) found.push(...leaks(`${phase} ${name}`, text));
    };
    const flowsAnswer = await fetch(`${runtime.url}/flows`, { headers: { 'Node-RED-API-Version': 'v2' } });
    found.push(...leaks('GET /flows', await flowsAnswer.text()));
    for (const id of ['crm-good', 'crm-wrong']) {
      // The editor's credentials endpoint shows only that a password is set, never its value.
      const credentials = await fetch(`${runtime.url}/credentials/sangam-config/${id}`);
      found.push(...leaks(`GET /credentials/sangam-config/${id}`, await credentials.text()));
    }
    // Both Exotel credentials are passwords: the editor learns only that they are set.
    const exoCredentials = await (await fetch(`${runtime.url}/credentials/exotel-config/exo`)).text();
    assert.match(exoCredentials, /"has_apiToken":true/);
    assert.match(exoCredentials, /"has_apiKey":true/);
    found.push(...leaks('GET /credentials/exotel-config/exo', exoCredentials));
    found.push(...leaks('HTTP answers of the flows', answers.join('\n')));
    await search('running:');
    assert.ok(runtime.debugMessages('debug-error').length >= 8, 'errors reached Catch and the debug sidebar');
    assert.ok(runtime.comms.some((message) => message.topic.startsWith('status/')), 'statuses were published');
    assert.ok(
      userDirFiles(runtime.userDir).some(([name]) => name === 'flows_cred.json'),
      'the credentials file exists (and was searched for the raw secrets)',
    );

    await runtime.stop();
    nodeRed = undefined;
    await search('after stop:');
    assert.deepEqual(found, []);
  });
});
