import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { ExotelStandIn } from '../../dev/standins/exotel';
import { parseExotelCliArgs as parseCli } from '../../dev/standins/exotel-cli';
import { ACCOUNT_SID, API_KEY, API_TOKEN, BASIC_AUTH, assertNoSecret, parseMultipart, startCallbackReceiver } from '../exotel/support';

const FORM = 'application/x-www-form-urlencoded';

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', body, headers: { 'content-type': FORM, authorization: BASIC_AUTH, ...headers } });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: JSON.parse(text) as Record<string, Record<string, unknown>> };
}

describe('Exotel stand-in', () => {
  let standIn: ExotelStandIn;
  let connect: string;

  beforeEach(async () => {
    standIn = await ExotelStandIn.start({ accountSid: ACCOUNT_SID, apiKey: API_KEY, apiToken: API_TOKEN });
    connect = `${standIn.url}/v1/Accounts/${ACCOUNT_SID}/Calls/connect.json`;
  });
  afterEach(() => standIn.close());

  it('places a call and answers with Exotel\'s Call object', async () => {
    const answer = await post(connect, 'From=%2B919812345678&To=09876543210&CallerId=08047112233&CustomField=x');
    assert.equal(answer.status, 200);
    const call = answer.json.Call as Record<string, unknown>;
    for (const field of ['Sid', 'ParentCallSid', 'DateCreated', 'DateUpdated', 'AccountSid', 'To', 'From', 'PhoneNumberSid',
      'Status', 'StartTime', 'EndTime', 'Duration', 'Price', 'Direction', 'AnsweredBy', 'ForwardedFrom', 'CallerName', 'Uri',
      'RecordingUrl', 'SubResourceUris']) {
      assert.ok(field in call, `Call.${field}`);
    }
    assert.equal(call.From, '+919812345678');
    assert.equal(call.Status, 'in-progress');
    assert.equal(call.Direction, 'outbound-api');
    assert.match(call.DateCreated as string, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.equal(standIn.calls.length, 1);
    assert.equal(standIn.requests[0]?.form.CustomField, 'x');
    assert.equal(standIn.stats.placed, 1);
  });

  it('refuses wrong credentials with 401 and never echoes them', async () => {
    const wrong = `Basic ${Buffer.from(`${API_KEY}:wrong-token-value`).toString('base64')}`;
    const answer = await post(connect, 'From=9812345678&To=9876543210&CallerId=8047112233', { authorization: wrong });
    assert.equal(answer.status, 401);
    assert.equal(answer.json.RestException?.Status, 401);
    assert.ok(!answer.text.includes('wrong-token-value') && !answer.text.includes(API_KEY));
    assertNoSecret(answer.text, 'the 401 body');
    const missing = await fetch(connect, { method: 'POST', body: 'From=1', headers: { 'content-type': FORM } });
    assert.equal(missing.status, 401);
    assert.equal(standIn.calls.length, 0);
  });

  it('answers 404 for an unknown account SID or path', async () => {
    const other = await post(`${standIn.url}/v1/Accounts/someone-else/Calls/connect.json`, 'From=9812345678&To=9876543210&CallerId=8047112233');
    assert.equal(other.status, 404);
    assert.match(String(other.json.RestException?.Message), /Account not found/);
    const xml = await post(`${standIn.url}/v1/Accounts/${ACCOUNT_SID}/Calls/connect`, 'From=1');
    assert.equal(xml.status, 404);
  });

  it('answers 400 naming the parameter for each bad form field', async () => {
    const base = 'From=9812345678&To=9876543210&CallerId=8047112233';
    const cases: Array<[string, RegExp]> = [
      ['To=9876543210&CallerId=8047112233', /Missing parameter From/],
      ['From=9812345678&CallerId=8047112233', /Missing parameter To/],
      ['From=9812345678&To=9876543210', /Missing parameter CallerId/],
      ['From=98AB&To=9876543210&CallerId=8047112233', /Invalid phone number in From/],
      [`${base}&TimeLimit=14401`, /TimeLimit/],
      [`${base}&TimeOut=0`, /TimeOut/],
      [`${base}&CustomField=${'x'.repeat(129)}`, /CustomField must be at most 128/],
      [`${base}&CallType=promo`, /CallType/],
      [`${base}&RecordingChannels=stereo`, /RecordingChannels/],
      [`${base}&RecordingFormat=wav`, /RecordingFormat/],
      [`${base}&StatusCallback=ftp%3A%2F%2Fx`, /StatusCallback must be an http/],
      [`${base}&StatusCallbackEvents%5B0%5D=ringing`, /StatusCallbackEvents\[0\]/],
      [`${base}&StatusCallbackContentType=text%2Fplain`, /StatusCallbackContentType/],
      [`${base}&Statuscallback=http%3A%2F%2Fx`, /Unknown parameter Statuscallback/],
    ];
    for (const [body, message] of cases) {
      const answer = await post(connect, body);
      assert.equal(answer.status, 400, body);
      assert.match(String(answer.json.RestException?.Message), message, body);
    }
    const json = await post(connect, JSON.stringify({ From: '9812345678' }), { 'content-type': 'application/json' });
    assert.equal(json.status, 400);
    assert.match(String(json.json.RestException?.Message), /Content-Type/);
    const full = await post(
      connect,
      `${base}&TimeLimit=14400&StatusCallbackEvents%5B0%5D=terminal&StatusCallbackEvents%5B1%5D=answered&Record=true`,
    );
    assert.equal(full.status, 200);
    assert.equal(standIn.calls.length, 1);
  });

  it('answers 429 with Retry-After past its rate limit', async () => {
    await standIn.close();
    standIn = await ExotelStandIn.start({ accountSid: ACCOUNT_SID, apiKey: API_KEY, apiToken: API_TOKEN, rateLimit: 5 });
    connect = `${standIn.url}/v1/Accounts/${ACCOUNT_SID}/Calls/connect.json`;
    const body = 'From=9812345678&To=9876543210&CallerId=8047112233';
    for (let i = 0; i < 5; i++) assert.equal((await post(connect, body)).status, 200);
    const limited = await post(connect, body);
    assert.equal(limited.status, 429);
    assert.equal(limited.json.RestException?.Code, 'RATE_LIMIT_EXCEEDED');
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(limited.headers.get('x-ratelimit-remaining'), '0');
    assert.equal(standIn.calls.length, 5);
  });

  it('injects faults: a status, a dropped connection, a slow answer', async () => {
    const body = 'From=9812345678&To=9876543210&CallerId=8047112233';
    standIn.failNext(1, { status: 402 });
    standIn.failNext(1, { status: 429, retryAfter: 3 });
    standIn.failNext(1, { drop: true });
    standIn.failNext(1, { delay: 150 });
    assert.equal((await post(connect, body)).status, 402);
    const limited = await post(connect, body);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '3');
    await assert.rejects(post(connect, body));
    const started = Date.now();
    assert.equal((await post(connect, body)).status, 200);
    assert.ok(Date.now() - started >= 140);
    assert.equal(standIn.stats.requests, 4);
    assert.equal(standIn.stats.dropped, 1);
    assert.equal(standIn.calls.length, 1, 'only the slow answer placed a call');
  });

  it('ends a call with a multipart status callback carrying Exotel\'s fields, twice when asked', async () => {
    const receiver = await startCallbackReceiver();
    try {
      const body = new URLSearchParams({
        From: '9812345678', To: '9876543210', CallerId: '8047112233', CustomField: 'lead-7', Record: 'true',
        StatusCallback: receiver.url, 'StatusCallbackEvents[0]': 'terminal',
      }).toString();
      const sid = (await post(connect, body)).json.Call?.Sid as string;
      const deliveries = await standIn.endCall(sid, { twice: true });
      assert.deepEqual(deliveries.map((d) => d.statusCode), [200, 200]);
      assert.equal(receiver.received.length, 2);
      const first = receiver.received[0]!;
      assert.match(first.contentType, /^multipart\/form-data; boundary=/);
      const fields = parseMultipart(first.contentType, first.body);
      assert.equal(fields.CallSid, sid);
      assert.equal(fields.Status, 'completed');
      assert.equal(fields.EventType, 'terminal');
      assert.equal(fields.From, '9812345678');
      assert.equal(fields.To, '9876543210');
      assert.equal(fields.PhoneNumberSid, '8047112233');
      assert.equal(fields.Direction, 'outbound-api');
      assert.equal(fields.CustomField, 'lead-7');
      assert.equal(fields.ConversationDuration, '42');
      assert.match(fields.RecordingUrl ?? '', /\/recordings\/.+\.mp3$/);
      for (const name of ['DateUpdated', 'DateCreated', 'StartTime', 'EndTime']) {
        assert.match(fields[name] ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/, name);
      }
      assert.equal((JSON.parse(fields.Legs ?? '[]') as unknown[]).length, 2);
      assert.equal(standIn.calls[0]?.ended, true);
    } finally {
      await receiver.close();
    }
  });

  it('sends JSON when the call asked for application/json, and reports a failing receiver', async () => {
    const receiver = await startCallbackReceiver(500);
    try {
      const body = new URLSearchParams({
        From: '9812345678', To: '9876543210', CallerId: '8047112233', StatusCallback: receiver.url,
        StatusCallbackContentType: 'application/json',
      }).toString();
      const sid = (await post(connect, body)).json.Call?.Sid as string;
      const [delivery] = await standIn.endCall(sid, { status: 'no-answer' });
      assert.equal(delivery?.statusCode, 500);
      assert.equal(receiver.received[0]?.contentType, 'application/json');
      const fields = JSON.parse(receiver.received[0]?.body ?? '{}') as Record<string, unknown>;
      assert.equal(fields.Status, 'no-answer');
      assert.equal(fields.ConversationDuration, 0);
      assert.ok(Array.isArray(fields.Legs));
      assert.equal(standIn.stats.callbacksFailed, 1);
    } finally {
      await receiver.close();
    }
  });

  it('ends calls on its own with autoEnd', async () => {
    await standIn.close();
    standIn = await ExotelStandIn.start({ accountSid: ACCOUNT_SID, apiKey: API_KEY, apiToken: API_TOKEN, autoEndMs: 20 });
    connect = `${standIn.url}/v1/Accounts/${ACCOUNT_SID}/Calls/connect.json`;
    const receiver = await startCallbackReceiver();
    try {
      await post(connect, new URLSearchParams({ From: '9812345678', To: '9876543210', CallerId: '8047112233', StatusCallback: receiver.url }).toString());
      for (let i = 0; i < 200 && receiver.received.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      assert.equal(receiver.received.length, 1);
    } finally {
      await receiver.close();
    }
  });

  it('has a control API: fault, calls, end, stats, reset', async () => {
    const receiver = await startCallbackReceiver();
    try {
      const control = (p: string, body?: unknown) =>
        fetch(`${standIn.url}/__control/${p}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) }).then(
          async (r) => ({ status: r.status, json: (await r.json()) as Record<string, unknown> & unknown[] }),
        );
      assert.equal((await control('fault', { count: 1, fault: { status: 503 } })).status, 200);
      const body = new URLSearchParams({ From: '9812345678', To: '9876543210', CallerId: '8047112233', StatusCallback: receiver.url }).toString();
      assert.equal((await post(connect, body)).status, 503);
      const sid = (await post(connect, body)).json.Call?.Sid as string;
      const calls = await control('calls');
      assert.equal(calls.json.length, 1);
      assert.equal((calls.json[0] as { sid: string }).sid, sid);
      const ended = await control(`end/${sid}`, { status: 'busy' });
      assert.equal(ended.status, 200);
      assert.equal(receiver.received.length, 1);
      const stats = await control('stats');
      assert.deepEqual(stats.json.refused, { 503: 1 });
      assert.equal(stats.json.placed, 1);
      assert.equal((await control('end/nope', {})).status, 404);
      await control('reset', {});
      assert.equal(standIn.calls.length, 0);
      assert.equal(standIn.stats.requests, 0);
      assertNoSecret(JSON.stringify(calls.json) + JSON.stringify(stats.json), 'the control API');
    } finally {
      await receiver.close();
    }
  });
});

describe('Exotel stand-in CLI', () => {
  it('parses its arguments and refuses bad ones', () => {
    const settings = parseCli(['--sid', 'S', '--key', 'K', '--token', 'T', '--port', '8090', '--auto-end', '500'], {});
    assert.equal(settings.options.port, 8090);
    assert.equal(settings.options.autoEndMs, 500);
    assert.throws(() => parseCli(['--sid', 'S', '--key', 'K'], {}), /API token is required/);
    assert.throws(() => parseCli(['--bogus'], {}), /unknown argument --bogus/);
    assert.throws(() => parseCli(['--sid', 'S', '--key', 'K', '--token', 'T', '--port', 'x'], {}), /port/);
  });

  it('prints one listening line, serves, and exits on SIGTERM', async () => {
    const cli = path.join(__dirname, '..', '..', 'dev', 'standins', 'exotel-cli.js');
    const child = spawn(process.execPath, [cli, '--sid', ACCOUNT_SID, '--key', API_KEY, '--token', API_TOKEN, '--quiet'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
          if (match) resolve(match[1] as string);
        });
        child.on('exit', () => reject(new Error(`exited early: ${output}`)));
      });
      const answer = await post(`${url}/v1/Accounts/${ACCOUNT_SID}/Calls/connect.json`, 'From=9812345678&To=9876543210&CallerId=8047112233');
      assert.equal(answer.status, 200);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
    assert.equal(output.trim().split('\n').length, 1);
    assertNoSecret(output, 'the CLI output');
  });
});
