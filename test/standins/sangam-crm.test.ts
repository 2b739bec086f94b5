import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { type CrmFault, SangamCrmStandIn, MAX_BODY_BYTES, isRealDateTime } from '../../dev/standins/sangam-crm';
import { parseCliArgs } from '../../dev/standins/sangam-crm-cli';

const TOKEN = 'stand-in-token-5f1c9a7e';
const CALL_LOG = '/api/v1/ivr-call-log?ivr-name=main-ivr';
const NOTIFY = '/api/v1/ivr-call-notify?ivr-name=main-ivr';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface SendOptions {
  method?: string;
  headers?: Record<string, string | undefined>;
  body?: string | Buffer;
  agent?: http.Agent;
}

const GOOD_HEADERS = { 'content-type': 'application/json', accept: 'application/json', authorization: TOKEN };

/** One request with full control over headers (fetch would add an Accept header of its own). */
function send(base: string, target: string, options: SendOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...GOOD_HEADERS, ...options.headers })) {
    if (value !== undefined) headers[name] = value;
  }
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(target, base), { method: options.method ?? 'POST', headers, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function postJson(base: string, target: string, value: unknown, options: SendOptions = {}): Promise<Reply> {
  return send(base, target, { ...options, body: JSON.stringify(value) });
}

function inbound(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    duration: '00:01:00',
    enjay_lat_source_number: '9876543210',
    date_start: '2020-11-10 10:58:47',
    date_end: '2020-11-10 10:59:47',
    mobile_call_detect_c: '0',
    name: '9876543210',
    enjay_lat_destination_number: '7890123456',
    assigned_user_id: '1',
    decision_variable: '',
    direction: 'Inbound',
    call_status: 'Held',
    logged_via: 'Calllog',
    logged_by: 'IVR',
    synapse_recording_link: '',
    ...overrides,
  };
}

function outbound(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return inbound({
    enjay_lat_source_number: '7890123456',
    enjay_lat_destination_number: '9876543210',
    name: '9876543210',
    direction: 'Outbound',
    ...overrides,
  });
}

const EVENT = { cli: '9876543210', event: 'TC', uniqueid: '12398778.1234', time: '2020-11-10 10:55:47', nm: 'abc@gmail.com', to: '7890123456' };

function messageOf(reply: Reply): string {
  const parsed = JSON.parse(reply.body) as { status: number; message: string };
  assert.equal(parsed.status, reply.status, 'the body repeats the HTTP status');
  assert.equal(typeof parsed.message, 'string');
  return parsed.message;
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('SangamCRM stand-in', () => {
  let crm: SangamCrmStandIn;

  beforeEach(async () => {
    crm = await SangamCrmStandIn.start({ token: TOKEN });
  });
  afterEach(async () => {
    await crm.close();
  });

  describe('call log', () => {
    it('stores a valid batch and answers one result per record, in order, as in the guide', async () => {
      const records = [outbound({ custom_campaign: 'diwali', custom_score: 7, custom_flag: true, custom_none: null }), inbound({ decision_variable: 'never' })];
      const reply = await postJson(crm.url, CALL_LOG, records);
      assert.equal(reply.status, 200);
      assert.match(String(reply.headers['content-type']), /^application\/json/);
      const answer = JSON.parse(reply.body) as { status: number; result: Array<Record<string, unknown>> };
      assert.equal(answer.status, 200);
      assert.equal(answer.result.length, 2);
      assert.deepEqual(Object.keys(answer.result[0]!), ['id', 'call_match', 'decision_variable', 'num', 'deleted']);
      assert.match(String(answer.result[0]!.id), UUID);
      assert.deepEqual({ ...answer.result[0], id: 'x' }, { id: 'x', call_match: 0, decision_variable: 'always', num: '9876543210', deleted: '0' });
      assert.deepEqual({ ...answer.result[1], id: 'x' }, { id: 'x', call_match: 0, decision_variable: 'never', num: '9876543210', deleted: '0' });
      assert.notEqual(answer.result[0]!.id, answer.result[1]!.id);

      assert.equal(crm.callLogs.length, 2);
      assert.deepEqual(crm.callLogs.map((stored) => stored.record), records);
      assert.deepEqual(crm.callLogs.map((stored) => stored.id), answer.result.map((result) => result.id));
      assert.ok(crm.callLogs.every((stored) => stored.ivrName === 'main-ivr' && typeof stored.receivedAt === 'number'));
      assert.equal(crm.stats.records, 2);
      assert.equal(crm.stats.callLogRequests, 1);
      assert.equal(crm.requests.length, 1);
      const request = crm.requests[0]!;
      assert.equal(request.method, 'POST');
      assert.equal(request.path, '/api/v1/ivr-call-log');
      assert.equal(request.query, 'ivr-name=main-ivr');
      assert.equal(request.status, 200);
      assert.equal(request.headers.authorization, TOKEN);
      assert.deepEqual(JSON.parse(request.body), records);
    });

    it('accepts the minimum our nodes send and charset / quality parameters on the headers', async () => {
      const minimal = inbound();
      for (const optional of ['date_end', 'assigned_user_id', 'decision_variable', 'call_status', 'logged_by', 'synapse_recording_link']) {
        delete minimal[optional];
      }
      const reply = await postJson(crm.url, CALL_LOG, [minimal], {
        headers: { 'content-type': 'application/json; charset=utf-8', accept: 'text/plain;q=0.5, application/json' },
      });
      assert.equal(reply.status, 200, reply.body);
      assert.equal((JSON.parse(reply.body) as { result: Array<{ num: string }> }).result[0]!.num, '9876543210');
    });

    const badRecords: Array<[string, string, unknown]> = [
      ['duration', 'duration', '1:00'],
      ['duration with minutes over 59', 'duration', '00:60:00'],
      ['duration as a number', 'duration', 60],
      ['date_start', 'date_start', '2020-11-10T10:58:47Z'],
      ['date_start that is no real date', 'date_start', '2021-02-29 10:00:00'],
      ['date_end', 'date_end', '2020-11-10 24:00:00'],
      ['source number', 'enjay_lat_source_number', ''],
      ['destination number', 'enjay_lat_destination_number', 9876543210],
      ['name', 'name', ''],
      ['mobile_call_detect_c', 'mobile_call_detect_c', 0],
      ['decision_variable', 'decision_variable', 'Always'],
      ['direction', 'direction', 'inbound'],
      ['call_status', 'call_status', 'held'],
      ['logged_via', 'logged_via', 'CallLog'],
      ['logged_by', 'logged_by', 'PBX'],
      ['assigned_user_id as a number', 'assigned_user_id', 1],
      ['a nested custom field', 'custom_data', { a: 1 }],
      ['an array custom field', 'custom_list', [1, 2]],
    ];
    for (const [label, field, value] of badRecords) {
      it(`refuses a bad ${label} with 400 naming record index and field, storing nothing of the request`, async () => {
        const reply = await postJson(crm.url, CALL_LOG, [inbound(), inbound({ [field]: value })]);
        assert.equal(reply.status, 400);
        const message = messageOf(reply);
        assert.match(message, /record \[1\]/);
        assert.ok(message.includes(`"${field}"`), message);
        assert.equal(crm.callLogs.length, 0);
        assert.equal(crm.stats.records, 0);
        assert.equal(crm.stats.rejected, 1);
      });
    }

    for (const field of ['duration', 'enjay_lat_source_number', 'enjay_lat_destination_number', 'date_start', 'name', 'direction', 'mobile_call_detect_c', 'logged_via']) {
      it(`requires ${field}`, async () => {
        const record = inbound();
        delete record[field];
        const reply = await postJson(crm.url, CALL_LOG, [record]);
        assert.equal(reply.status, 400);
        assert.equal(messageOf(reply), `record [0] field "${field}": required but missing`);
        assert.equal(crm.callLogs.length, 0);
      });
    }

    it('with setUsers, refuses a record owned by an unknown user with 400 naming the record, storing nothing; reset forgets the users', async () => {
      crm.setUsers(['1', '2']);
      const known = await postJson(crm.url, CALL_LOG, [inbound({ assigned_user_id: '2' }), inbound({ assigned_user_id: '' }), inbound()]);
      assert.equal(known.status, 200);
      const reply = await postJson(crm.url, CALL_LOG, [inbound({ assigned_user_id: '1' }), inbound({ assigned_user_id: '77' })]);
      assert.equal(reply.status, 400);
      assert.equal(messageOf(reply), 'record [1] field "assigned_user_id": assigned user "77" does not exist');
      assert.equal(crm.callLogs.length, 3);
      crm.reset();
      assert.equal((await postJson(crm.url, CALL_LOG, [inbound({ assigned_user_id: '77' })])).status, 200);
    });

    it('refuses a body that is not a non-empty array of objects', async () => {
      for (const [body, expected] of [
        [inbound(), /JSON array of call records, got an object/],
        [[], /at least one call record/],
        [[inbound(), 'text'], /record \[1\] must be an object, got "text"/],
        [[null], /record \[0\] must be an object/],
      ] as const) {
        const reply = await postJson(crm.url, CALL_LOG, body);
        assert.equal(reply.status, 400);
        assert.match(messageOf(reply), expected);
      }
      assert.equal(crm.callLogs.length, 0);
    });
  });

  describe('request checks', () => {
    it('refuses each broken request with the right status and a message that says what is wrong, never the token', async () => {
      const body = JSON.stringify([inbound()]);
      const cases: Array<[string, SendOptions & { target?: string }, number, RegExp]> = [
        ['no Authorization', { headers: { authorization: undefined } }, 401, /Authorization header missing/],
        ['a wrong Authorization', { headers: { authorization: `Bearer ${TOKEN}` } }, 401, /does not match/],
        ['a token differing in case', { headers: { authorization: TOKEN.toUpperCase() } }, 401, /does not match/],
        ['no ivr-name', { target: '/api/v1/ivr-call-log' }, 400, /ivr-name missing/],
        ['an empty ivr-name', { target: '/api/v1/ivr-call-log?ivr-name=' }, 400, /ivr-name is empty/],
        ['two ivr-names', { target: '/api/v1/ivr-call-log?ivr-name=a&ivr-name=b' }, 400, /more than once/],
        ['no Content-Type', { headers: { 'content-type': undefined } }, 415, /Content-Type must be application\/json, got none/],
        ['a text Content-Type', { headers: { 'content-type': 'text/plain' } }, 415, /got "text\/plain"/],
        ['no Accept', { headers: { accept: undefined } }, 406, /Accept must include application\/json, got none/],
        ['Accept */*', { headers: { accept: '*/*' } }, 406, /Accept must include application\/json/],
        ['Accept application/json;q=0', { headers: { accept: 'application/json;q=0' } }, 406, /Accept must include/],
        ['invalid JSON', { body: '[{"duration": ' }, 400, /not valid JSON/],
        ['a body over 5 MB', { body: Buffer.alloc(MAX_BODY_BYTES + 1, 0x20) }, 413, /larger than 5242880 bytes/],
        ['GET', { method: 'GET', body: undefined }, 405, /GET not allowed/],
        ['an unknown path', { target: '/api/v1/ivr-call-logs?ivr-name=x' }, 404, /no such API/],
        ['an unknown API version', { target: '/api/v2/ivr-call-log?ivr-name=x' }, 404, /no such API/],
      ];
      for (const [label, options, status, expected] of cases) {
        const reply = await send(crm.url, options.target ?? CALL_LOG, { body, ...options });
        assert.equal(reply.status, status, `${label}: ${reply.body}`);
        assert.match(String(reply.headers['content-type']), /^application\/json/, label);
        assert.match(messageOf(reply), expected, label);
        assert.ok(!reply.body.includes(TOKEN) && !reply.body.toLowerCase().includes(TOKEN.toLowerCase()), `${label}: token in the answer`);
        assert.ok(!JSON.stringify(reply.headers).includes(TOKEN), `${label}: token in a header`);
        if (status === 405) assert.equal(reply.headers.allow, 'POST');
      }
      assert.equal(crm.callLogs.length, 0);
      assert.equal(crm.stats.rejected, cases.length);
      assert.equal(crm.stats.requests, cases.length);
    });

    it('checks the notify API the same way', async () => {
      const reply = await postJson(crm.url, NOTIFY, EVENT, { headers: { authorization: 'nope' } });
      assert.equal(reply.status, 401);
      assert.equal((await postJson(crm.url, NOTIFY, EVENT, { headers: { accept: undefined } })).status, 406);
      assert.equal((await postJson(crm.url, '/api/v1/ivr-call-notify', EVENT)).status, 400);
      assert.equal(crm.notifies.length, 0);
    });
  });

  describe('notify', () => {
    it('stores a valid event and answers {"message": "success"}', async () => {
      const reply = await postJson(crm.url, NOTIFY, EVENT);
      assert.equal(reply.status, 200);
      assert.deepEqual(JSON.parse(reply.body), { message: 'success' });
      assert.equal(crm.notifies.length, 1);
      assert.equal(crm.notifies[0]!.ivrName, 'main-ivr');
      assert.deepEqual(crm.notifies[0]!.event, EVENT);
      assert.equal(crm.stats.notifyRequests, 1);
      const { nm: _nm, ...withoutNm } = EVENT;
      assert.equal((await postJson(crm.url, NOTIFY, withoutNm)).status, 200, 'nm is optional');
    });

    it('refuses bad events naming the field', async () => {
      const cases: Array<[unknown, RegExp]> = [
        [[EVENT], /must be a JSON object/],
        [{ ...EVENT, cli: '' }, /field "cli": must be a non-empty string/],
        [{ ...EVENT, event: undefined }, /field "event": required but missing/],
        [{ ...EVENT, uniqueid: 12398778.1234 }, /field "uniqueid"/],
        [{ ...EVENT, to: undefined }, /field "to": required but missing/],
        [{ ...EVENT, time: '2020-11-10T10:55:47.000Z' }, /field "time": must be a real date/],
        [{ ...EVENT, time: undefined }, /field "time": required/],
        [{ ...EVENT, nm: 5 }, /field "nm": must be a string/],
        [{ ...EVENT, extra: { nested: true } }, /field "extra": must be a scalar/],
      ];
      for (const [body, expected] of cases) {
        const reply = await postJson(crm.url, NOTIFY, body);
        assert.equal(reply.status, 400, JSON.stringify(body));
        assert.match(messageOf(reply), expected);
      }
      assert.equal(crm.notifies.length, 0);
    });
  });

  describe('faults', () => {
    it('answers the next N requests with a status fault, then normally again', async () => {
      crm.failNext(2, { kind: 'status', status: 429, retryAfter: '1' });
      for (let attempt = 0; attempt < 2; attempt++) {
        const reply = await postJson(crm.url, CALL_LOG, [inbound()]);
        assert.equal(reply.status, 429);
        assert.equal(reply.headers['retry-after'], '1');
        assert.equal(JSON.parse(reply.body).status, 429);
      }
      assert.equal(crm.callLogs.length, 0, 'a faulted request stores nothing');
      assert.equal((await postJson(crm.url, CALL_LOG, [inbound()])).status, 200);
      assert.equal(crm.callLogs.length, 1);
      assert.equal(crm.stats.faulted, 2);

      crm.failNext(1, { kind: 'status', status: 503, body: 'Service Unavailable' });
      const unavailable = await postJson(crm.url, CALL_LOG, [inbound()]);
      assert.equal(unavailable.status, 503);
      assert.equal(unavailable.body, 'Service Unavailable');
    });

    it('applies faults before validation', async () => {
      crm.failNext(1, { kind: 'status', status: 500 });
      assert.equal((await send(crm.url, CALL_LOG, { headers: { authorization: 'wrong' }, body: '[]' })).status, 500);
    });

    it('limits a fault to one API when told', async () => {
      crm.failNext(1, { kind: 'status', status: 500 }, 'notify');
      assert.equal((await postJson(crm.url, CALL_LOG, [inbound()])).status, 200);
      assert.equal((await postJson(crm.url, NOTIFY, EVENT)).status, 500);
      assert.equal((await postJson(crm.url, NOTIFY, EVENT)).status, 200);
      assert.throws(() => crm.failNext(1, { kind: 'wrongLength' }, 'notify'), /call-log API only/);
      assert.throws(() => crm.failNext(1, { kind: 'status', status: 42 }), /HTTP status code/);
    });

    it('delays an answer but still answers and stores correctly', async () => {
      crm.failNext(1, { kind: 'delay', ms: 300 });
      const started = Date.now();
      const reply = await postJson(crm.url, CALL_LOG, [inbound()]);
      // Only a lower bound: a timer never fires early, whereas an upper bound could flake on a busy machine.
      assert.ok(Date.now() - started >= 290, `answered after ${Date.now() - started} ms`);
      assert.equal(reply.status, 200);
      assert.equal(crm.callLogs.length, 1);
    });

    it('drops the connection without an answer', async () => {
      crm.failNext(1, { kind: 'drop' });
      await assert.rejects(postJson(crm.url, CALL_LOG, [inbound()]), (error: unknown) => {
        assert.equal(errnoOf(error), 'ECONNRESET');
        return true;
      });
      assert.equal(crm.callLogs.length, 0);
      assert.equal(crm.requests[0]!.status, 0);
      assert.equal((await postJson(crm.url, CALL_LOG, [inbound()])).status, 200);
    });

    it('answers 502 with an HTML page like a proxy', async () => {
      crm.failNext(1, { kind: 'html' });
      const reply = await postJson(crm.url, CALL_LOG, [inbound()]);
      assert.equal(reply.status, 502);
      assert.match(String(reply.headers['content-type']), /^text\/html/);
      assert.match(reply.body, /<html>/);
      assert.throws(() => JSON.parse(reply.body));
    });

    it('answers 200 with truncated JSON on both APIs', async () => {
      crm.failNext(2, { kind: 'truncated' });
      for (const [target, body] of [[CALL_LOG, [inbound()]], [NOTIFY, EVENT]] as const) {
        const reply = await postJson(crm.url, target, body);
        assert.equal(reply.status, 200);
        assert.equal(Number(reply.headers['content-length']), Buffer.byteLength(reply.body));
        assert.throws(() => JSON.parse(reply.body), SyntaxError);
      }
      assert.equal(crm.callLogs.length + crm.notifies.length, 0);
    });

    it('answers HTTP 200 with an inner error status', async () => {
      crm.failNext(1, { kind: 'innerStatus', status: 500 });
      const reply = await postJson(crm.url, CALL_LOG, [inbound()]);
      assert.equal(reply.status, 200);
      const body = JSON.parse(reply.body) as { status: number; message: string };
      assert.equal(body.status, 500);
      assert.equal(typeof body.message, 'string');
      assert.equal(crm.callLogs.length, 0);
    });

    it('answers a call log with one result fewer than the records, and leaves notify alone', async () => {
      crm.failNext(1, { kind: 'wrongLength' });
      assert.equal((await postJson(crm.url, NOTIFY, EVENT)).status, 200);
      const reply = await postJson(crm.url, CALL_LOG, [inbound(), outbound(), inbound()]);
      assert.equal(reply.status, 200);
      assert.equal((JSON.parse(reply.body) as { result: unknown[] }).result.length, 2);
      assert.equal(crm.callLogs.length, 0);
    });

    it('fails requests at a rate drawn from the given random source', async () => {
      const draws = [0.1, 0.9, 0.2, 0.8];
      crm.failRate(0.5, { kind: 'status', status: 503 }, () => draws.shift() ?? 1);
      const statuses: number[] = [];
      for (let index = 0; index < 5; index++) statuses.push((await postJson(crm.url, CALL_LOG, [inbound()])).status);
      assert.deepEqual(statuses, [503, 200, 503, 200, 200]);
      crm.failRate(0, { kind: 'status', status: 503 }, () => 0);
      assert.equal((await postJson(crm.url, CALL_LOG, [inbound()])).status, 200);
      assert.equal(crm.callLogs.length, 4);
    });

    it('applies several fault rates at once, one draw per request, and failRate replaces them', async () => {
      const draws = [0.1, 0.4, 0.6, 0.25];
      crm.failRates(
        [
          { probability: 0.3, fault: { kind: 'status', status: 503 } },
          { probability: 0.2, fault: { kind: 'drop' } },
        ],
        () => draws.shift() ?? 1,
      );
      assert.equal((await postJson(crm.url, CALL_LOG, [inbound()])).status, 503);
      await assert.rejects(postJson(crm.url, CALL_LOG, [inbound()]), (error: unknown) => errnoOf(error) === 'ECONNRESET');
      assert.equal((await postJson(crm.url, CALL_LOG, [inbound()])).status, 200);
      assert.equal((await postJson(crm.url, CALL_LOG, [inbound()])).status, 503);
      assert.equal(crm.callLogs.length, 1);
      assert.throws(
        () => crm.failRates([{ probability: 0.7, fault: { kind: 'drop' } }, { probability: 0.4, fault: { kind: 'html' }, api: 'notify' }]),
        /notify API add up to 1.1/,
      );
      crm.failRate(1, { kind: 'status', status: 500 }, () => 0.5, 'notify');
      assert.equal((await postJson(crm.url, CALL_LOG, [inbound()])).status, 200, 'failRate replaced the rates set before');
      assert.equal((await postJson(crm.url, NOTIFY, EVENT)).status, 500);
      crm.failRates([]);
      assert.equal((await postJson(crm.url, NOTIFY, EVENT)).status, 200);
    });

    it('drops the connection after storing with afterStore, and marks what it stored as answer lost', async () => {
      crm.failNext(2, { kind: 'drop', afterStore: true });
      for (const [target, body] of [[CALL_LOG, [inbound(), outbound()]], [NOTIFY, EVENT]] as const) {
        await assert.rejects(postJson(crm.url, target, body), (error: unknown) => errnoOf(error) === 'ECONNRESET');
      }
      assert.deepEqual(crm.callLogs.map((stored) => stored.answerLost), [true, true]);
      assert.equal(crm.notifies[0]!.answerLost, true);
      assert.equal(crm.requests[0]!.status, 0);
      assert.equal((await postJson(crm.url, CALL_LOG, [inbound()])).status, 200);
      assert.equal(crm.callLogs[2]!.answerLost, undefined);
      assert.throws(() => crm.failNext(1, { kind: 'drop', afterStore: 'yes' } as unknown as CrmFault), /afterStore must be a boolean/);
    });

    it('adds latency to every answer', async () => {
      crm.setLatency(250);
      const started = Date.now();
      assert.equal((await postJson(crm.url, NOTIFY, EVENT)).status, 200);
      assert.ok(Date.now() - started >= 240);
      crm.setLatency(0);
    });
  });

  describe('outages', () => {
    it('refuses connections while down and listens again on the same port', async () => {
      const url = crm.url;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        assert.equal((await postJson(url, CALL_LOG, [inbound()], { agent })).status, 200);
        const openSocket = Object.values(agent.freeSockets).flat()[0];
        assert.ok(openSocket, 'the keep-alive socket is open');
        const socketClosed = once(openSocket, 'close');
        await crm.goDown();
        await socketClosed; // goDown destroyed the open socket as well
        await assert.rejects(postJson(url, CALL_LOG, [inbound()]), (error: unknown) => {
          assert.equal(errnoOf(error), 'ECONNREFUSED');
          return true;
        });
        await crm.comeBack();
        assert.equal(crm.url, url);
        assert.equal((await postJson(url, CALL_LOG, [inbound()], { agent })).status, 200);
        assert.equal(crm.callLogs.length, 2);
      } finally {
        agent.destroy();
      }
    });

    it('drops answers that were delayed across an outage', async () => {
      crm.failNext(1, { kind: 'delay', ms: 60_000 });
      const pending = postJson(crm.url, CALL_LOG, [inbound()]);
      await crm.waitForRequests(1);
      await crm.goDown();
      await assert.rejects(pending, (error: unknown) => errnoOf(error) === 'ECONNRESET');
      await crm.comeBack();
      assert.equal(crm.callLogs.length, 0);
    });
  });

  describe('connections', () => {
    it('counts TCP connections and tags each request with its connection', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let index = 0; index < 3; index++) {
          assert.equal((await postJson(crm.url, CALL_LOG, [inbound()], { agent })).status, 200);
        }
      } finally {
        agent.destroy();
      }
      assert.equal(crm.stats.connections, 1);
      const connections = new Set(crm.requests.map((request) => request.connection));
      assert.equal(connections.size, 1);
      await postJson(crm.url, NOTIFY, EVENT); // agent: false opens a new connection
      assert.equal(crm.stats.connections, 2);
      assert.notEqual(crm.requests[3]!.connection, crm.requests[0]!.connection);
    });
  });

  describe('waitForRecords', () => {
    it('resolves when enough records have arrived and rejects after its timeout', async () => {
      const waiting = crm.waitForRecords(3);
      await postJson(crm.url, CALL_LOG, [inbound()]);
      await postJson(crm.url, CALL_LOG, [inbound(), outbound()]);
      await waiting;
      await crm.waitForRecords(3, 1);
      await assert.rejects(crm.waitForRecords(4, 50), /waited 50 ms for 4 call records, have 3/);
    });
  });

  describe('reset', () => {
    it('forgets data, counters and faults', async () => {
      await postJson(crm.url, CALL_LOG, [inbound()]);
      await postJson(crm.url, NOTIFY, EVENT);
      crm.failNext(5, { kind: 'status', status: 500 });
      crm.reset();
      assert.equal(crm.callLogs.length + crm.notifies.length + crm.requests.length, 0);
      assert.equal(crm.stats.requests, 0);
      assert.equal((await postJson(crm.url, CALL_LOG, [inbound()])).status, 200);
    });
  });

  describe('control API', () => {
    async function control(method: string, route: string, body?: unknown): Promise<{ status: number; json: unknown }> {
      const response = await fetch(`${crm.url}/__control${route}`, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      return { status: response.status, json: await response.json() };
    }

    it('reports stats and stored data, and resets', async () => {
      await postJson(crm.url, CALL_LOG, [inbound(), outbound()]);
      await postJson(crm.url, NOTIFY, EVENT);
      const stats = (await control('GET', '/stats')).json as Record<string, number>;
      assert.equal(stats.requests, 2);
      assert.equal(stats.records, 2);
      assert.equal(stats.callLogs, 2);
      assert.equal(stats.notifies, 1);
      const callLogs = (await control('GET', '/call-logs')).json as Array<{ id: string; ivrName: string; record: unknown }>;
      assert.deepEqual(callLogs.map((stored) => stored.id), crm.callLogs.map((stored) => stored.id));
      assert.deepEqual(callLogs[1]!.record, outbound());
      assert.equal(((await control('GET', '/call-logs?from=1')).json as unknown[]).length, 1);
      assert.deepEqual(((await control('GET', '/notifies')).json as Array<{ event: unknown }>)[0]!.event, EVENT);
      assert.equal((await control('POST', '/reset')).status, 200);
      assert.equal(crm.callLogs.length, 0);
      assert.equal(crm.stats.requests, 0, 'control requests are not counted as API requests');
    });

    it('sets faults and latency', async () => {
      assert.equal((await control('POST', '/fault', { count: 1, fault: { kind: 'status', status: 503, retryAfter: '2' }, api: 'call-log' })).status, 200);
      assert.equal((await postJson(crm.url, NOTIFY, EVENT)).status, 200);
      const faulted = await postJson(crm.url, CALL_LOG, [inbound()]);
      assert.equal(faulted.status, 503);
      assert.equal(faulted.headers['retry-after'], '2');
      assert.equal((await control('POST', '/fault', { probability: 1, fault: { kind: 'innerStatus', status: 500 } })).status, 200);
      assert.equal(JSON.parse((await postJson(crm.url, NOTIFY, EVENT)).body).status, 500);
      assert.equal((await control('POST', '/fault', { probability: 0, fault: { kind: 'drop' } })).status, 200);
      assert.equal((await postJson(crm.url, NOTIFY, EVENT)).status, 200);

      const bad = await control('POST', '/fault', { count: 1, fault: { kind: 'explode' } });
      assert.equal(bad.status, 400);
      assert.match((bad.json as { message: string }).message, /fault.kind must be one of/);
      assert.equal((await control('POST', '/fault', { fault: { kind: 'drop' } })).status, 400);
      const rates = [
        { probability: 1, fault: { kind: 'drop', afterStore: true }, api: 'notify' },
        { probability: 1, fault: { kind: 'status', status: 503 }, api: 'call-log' },
      ];
      assert.equal((await control('POST', '/fault', { rates })).status, 200);
      assert.equal((await postJson(crm.url, CALL_LOG, [inbound()])).status, 503);
      await assert.rejects(postJson(crm.url, NOTIFY, EVENT), (error: unknown) => errnoOf(error) === 'ECONNRESET');
      assert.equal((await control('POST', '/fault', { rates: [] })).status, 200);
      assert.equal((await control('POST', '/fault', { rates: [{ fault: { kind: 'drop' } }] })).status, 400);

      assert.equal((await control('POST', '/latency', { ms: 200 })).status, 200);
      const started = Date.now();
      await postJson(crm.url, NOTIFY, EVENT);
      assert.ok(Date.now() - started >= 190);
      assert.equal(((await control('GET', '/stats')).json as { latencyMs: number }).latencyMs, 200);
      assert.equal((await control('POST', '/latency', { ms: -1 })).status, 400);
    });

    it('goes down for a while and comes back on the same port', async () => {
      assert.equal((await control('POST', '/down', { ms: 300 })).status, 200);
      await assert.rejects(postJson(crm.url, NOTIFY, EVENT), (error: unknown) => errnoOf(error) === 'ECONNREFUSED');
      // Wait for it to come back; the bound is generous so a loaded machine does not fail the test.
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          assert.equal((await postJson(crm.url, NOTIFY, EVENT)).status, 200);
          break;
        } catch (error) {
          if (errnoOf(error) !== 'ECONNREFUSED' || Date.now() > deadline) throw error;
          await sleep(50);
        }
      }
      assert.equal(crm.notifies.length, 1);
    });

    it('answers unknown control routes with 404 and wrong methods with 405', async () => {
      assert.equal((await control('GET', '/nothing')).status, 404);
      assert.equal((await control('GET', '/reset')).status, 405);
    });
  });

  describe('fast mode', () => {
    it('keeps only ids and custom fields, no request records, and still checks auth and shape', async () => {
      const fast = await SangamCrmStandIn.start({ token: TOKEN, fast: true });
      try {
        const reply = await postJson(fast.url, CALL_LOG, [inbound({ bench_seq: 1 }), outbound({ bench_seq: 2 })]);
        assert.equal(reply.status, 200);
        assert.equal((JSON.parse(reply.body) as { result: unknown[] }).result.length, 2);
        assert.deepEqual(fast.callLogs.map((stored) => stored.record), [{ bench_seq: 1 }, { bench_seq: 2 }]);
        assert.ok(fast.callLogs.every((stored) => UUID.test(stored.id)));
        assert.equal(fast.requests.length, 0);
        assert.equal((await postJson(fast.url, CALL_LOG, [inbound()], { headers: { authorization: 'x' } })).status, 401);
        assert.equal((await postJson(fast.url, CALL_LOG, inbound())).status, 400);
        assert.equal((await postJson(fast.url, CALL_LOG, [1])).status, 400);
        assert.equal((await send(fast.url, CALL_LOG, { body: '[' })).status, 400);
        assert.equal(fast.stats.requests, 5);
        assert.equal(fast.stats.records, 2);
      } finally {
        await fast.close();
      }
    });
  });

  describe('dates', () => {
    it('accepts only real dates and times', () => {
      assert.ok(isRealDateTime('2024-02-29 23:59:59'));
      assert.ok(!isRealDateTime('2023-02-29 10:00:00'));
      assert.ok(!isRealDateTime('2023-13-01 10:00:00'));
      assert.ok(!isRealDateTime('2023-04-31 10:00:00'));
      assert.ok(!isRealDateTime('2023-04-30 10:60:00'));
      assert.ok(!isRealDateTime('2023-04-30 10:00'));
    });
  });
});

describe('SangamCRM stand-in command line', () => {
  it('parses arguments and environment', () => {
    const settings = parseCliArgs(['--port', '8089', '--fast', '--latency', '50'], { SANGAM_STANDIN_TOKEN: 'env-token' });
    assert.deepEqual(settings, { options: { token: 'env-token', port: 8089, fast: true, latencyMs: 50 }, quiet: true });
    assert.equal(parseCliArgs(['--token', 't'], { SANGAM_STANDIN_PORT: '9000' }).options.port, 9000);
    assert.throws(() => parseCliArgs([], {}), /token is required/);
    assert.throws(() => parseCliArgs(['--token', 't', '--port', 'x'], {}), /port must be/);
    assert.throws(() => parseCliArgs(['--token', 't', '--bogus'], {}), /unknown argument --bogus/);
  });

  it('runs as a process, logs stored batches and exits cleanly on SIGTERM', async () => {
    const script = path.join(__dirname, '..', '..', 'dev', 'standins', 'sangam-crm-cli.js');
    const child = spawn(process.execPath, [script, '--port', '0', '--token', TOKEN], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    const exited = once(child, 'exit');
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const match = /sangam-crm stand-in listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(output);
          if (match) resolve(match[1]!);
        });
        child.once('exit', () => reject(new Error(`exited early: ${output} ${errors}`)));
      });
      assert.equal((await postJson(url, CALL_LOG, [inbound(), outbound()])).status, 200);
      const stats = (await (await fetch(`${url}/__control/stats`)).json()) as { records: number };
      assert.equal(stats.records, 2);
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0, errors);
      assert.match(output, /call-log ivr-name=main-ivr: stored 2 records/);
      assert.ok(!output.includes(TOKEN));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
