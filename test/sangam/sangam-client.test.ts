import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { SangamCrmStandIn } from '../../dev/standins/sangam-crm';
import { ConfigError, RemoteError, ValidationError } from '../../src/lib/errors';
import { KeepAliveAgents, createKeepAliveAgents } from '../../src/lib/http';
import { CALL_LOG_PATH, NOTIFY_PATH, SangamClient, SangamClientOptions, checkIvrName, checkToken } from '../../src/sangam/sangam-client';

const TOKEN = 'crm-token-7d2e4b19c0a8f653';

function callRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
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

const NOTIFY_EVENT = { cli: '9876543210', event: 'TC', uniqueid: '12398778.1234', time: '2020-11-10 10:55:47', nm: 'abc@example.com', to: '7890123456' };

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail('expected a rejection');
}

async function remoteFailure(promise: Promise<unknown>): Promise<RemoteError> {
  const error = await failure(promise);
  assert.ok(error instanceof RemoteError, `expected a RemoteError, got ${error.name}: ${error.message}`);
  return error;
}

describe('sangam/sangam-client', () => {
  let crm: SangamCrmStandIn;
  let agents: KeepAliveAgents;
  let client: SangamClient;
  const extraServers: http.Server[] = [];

  function makeClient(overrides: Partial<SangamClientOptions> = {}): SangamClient {
    return new SangamClient({ baseUrl: crm.url, token: TOKEN, timeoutMs: 5_000, agents, maxInFlight: 4, ...overrides });
  }

  before(async () => {
    crm = await SangamCrmStandIn.start({ token: TOKEN });
  });
  after(async () => {
    await crm.close();
  });
  beforeEach(() => {
    crm.reset();
    agents = createKeepAliveAgents(8);
    client = makeClient();
  });
  afterEach(async () => {
    agents.destroy();
    await Promise.all(
      extraServers.splice(0).map(
        (server) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    );
  });

  /** A server answering every request with what `answer` says; for answers the stand-in never gives. */
  async function rawServer(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<string> {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => answer(req, res));
    });
    extraServers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    return `http://127.0.0.1:${address.port}`;
  }

  describe('checkIvrName', () => {
    it('returns a usable name unchanged', () => {
      assert.equal(checkIvrName('main-ivr'), 'main-ivr');
      assert.equal(checkIvrName('Sales & Support / हिंदी'), 'Sales & Support / हिंदी');
      assert.equal(checkIvrName('x'.repeat(200)), 'x'.repeat(200));
    });

    it('refuses missing, blank, control characters and over-long names with a ValidationError on ivrName', () => {
      for (const value of [undefined, null, 42, '', '   ', 'main\r\nX-Evil: 1', 'tab\there', 'nul\u0000', 'x'.repeat(201)]) {
        assert.throws(
          () => checkIvrName(value),
          (error: unknown) => error instanceof ValidationError && error.field === 'ivrName',
          JSON.stringify(value),
        );
      }
      assert.throws(() => checkIvrName(''), { message: /set it on the node, on the sangam-config node, or as msg\.ivrName/ });
    });
  });

  describe('checkToken', () => {
    it('returns a token unchanged and refuses missing ones and control characters without echoing the token', () => {
      assert.equal(checkToken(TOKEN), TOKEN);
      for (const value of [undefined, '', 17]) {
        assert.throws(() => checkToken(value), (error: unknown) => error instanceof ConfigError && /token/.test(error.message));
      }
      const pasted = `${TOKEN}\n`;
      assert.throws(
        () => checkToken(pasted),
        (error: unknown) => error instanceof ConfigError && /paste it again/.test(error.message) && !error.message.includes(TOKEN),
      );
    });
  });

  describe('postCallLogs', () => {
    it('POSTs the records with the guide\'s headers and returns one result per record, in order', async () => {
      const records = [callRecord(), callRecord({ direction: 'Outbound', name: '7890123456' })];
      const results = await client.postCallLogs(JSON.stringify(records), 2, 'main-ivr');
      assert.equal(results.length, 2);
      assert.equal(results[0].num, '9876543210');
      assert.equal(results[1].num, '7890123456');
      assert.deepEqual(results.map((result) => result.id), crm.callLogs.map((log) => log.id));
      assert.equal(crm.requests.length, 1);
      const [request] = crm.requests;
      assert.equal(request.method, 'POST');
      assert.equal(request.path, CALL_LOG_PATH);
      assert.equal(request.query, 'ivr-name=main-ivr');
      assert.equal(request.headers['content-type'], 'application/json');
      assert.equal(request.headers.accept, 'application/json');
      assert.equal(request.headers.authorization, TOKEN);
      assert.deepEqual(JSON.parse(request.body), records);
    });

    it('encodes the ivr-name so that it arrives exactly as given', async () => {
      const ivrName = 'Sales & Support/हिंदी?x=1#2 +';
      await client.postCallLogs(JSON.stringify([callRecord()]), 1, ivrName);
      assert.equal(crm.callLogs[0].ivrName, ivrName);
      assert.ok(!crm.requests[0].query.includes('&'), crm.requests[0].query);
    });

    it('refuses an unusable ivr-name before sending anything', async () => {
      const error = await failure(client.postCallLogs('[]', 0, 'bad\r\nname'));
      assert.ok(error instanceof ValidationError);
      assert.equal(crm.stats.requests, 0);
    });

    it('turns each HTTP failure into a RemoteError with the status, the retry decision and the server\'s message', async () => {
      const body = JSON.stringify([callRecord()]);
      const cases: Array<{ status: number; retryable: boolean }> = [
        { status: 400, retryable: false },
        { status: 403, retryable: false },
        { status: 404, retryable: false },
        { status: 408, retryable: true },
        { status: 413, retryable: false },
        { status: 422, retryable: false },
        { status: 500, retryable: true },
        { status: 502, retryable: true },
        { status: 503, retryable: true },
      ];
      for (const { status, retryable } of cases) {
        crm.failNext(1, { kind: 'status', status });
        const error = await remoteFailure(client.postCallLogs(body, 1, 'main-ivr'));
        assert.equal(error.statusCode, status);
        assert.equal(error.retryable, retryable, String(status));
        assert.equal(error.options.mayHaveReachedServer, true);
        assert.equal(error.message, `SangamCRM call-log API answered HTTP ${status}: stand-in fault: HTTP ${status}`);
      }
    });

    it('carries Retry-After of a 429 or 503 (seconds or date) and ignores it on a refusal', async () => {
      const body = JSON.stringify([callRecord()]);
      crm.failNext(1, { kind: 'status', status: 429, retryAfter: '3' });
      const limited = await remoteFailure(client.postCallLogs(body, 1, 'main-ivr'));
      assert.equal(limited.statusCode, 429);
      assert.equal(limited.retryable, true);
      assert.equal(limited.retryAfterMs, 3_000);

      crm.failNext(1, { kind: 'status', status: 503, retryAfter: new Date(Date.now() + 120_000).toUTCString() });
      const unavailable = await remoteFailure(client.postCallLogs(body, 1, 'main-ivr'));
      assert.ok(unavailable.retryAfterMs !== undefined && unavailable.retryAfterMs > 100_000 && unavailable.retryAfterMs <= 120_000);

      crm.failNext(1, { kind: 'status', status: 429 });
      assert.equal((await remoteFailure(client.postCallLogs(body, 1, 'main-ivr'))).retryAfterMs, undefined);

      crm.failNext(1, { kind: 'status', status: 400, retryAfter: '3' });
      assert.equal((await remoteFailure(client.postCallLogs(body, 1, 'main-ivr'))).retryAfterMs, undefined);
    });

    it('reports the stand-in\'s own refusal (wrong token, invalid record) without retry', async () => {
      const wrongToken = makeClient({ token: 'not-the-token-0000' });
      const unauthorised = await remoteFailure(wrongToken.postCallLogs(JSON.stringify([callRecord()]), 1, 'main-ivr'));
      assert.equal(unauthorised.statusCode, 401);
      assert.equal(unauthorised.retryable, false);
      assert.match(unauthorised.message, /Authorization header does not match/);

      const invalid = await remoteFailure(client.postCallLogs(JSON.stringify([callRecord(), callRecord({ direction: 'Sideways' })]), 2, 'main-ivr'));
      assert.equal(invalid.statusCode, 400);
      assert.equal(invalid.retryable, false);
      assert.match(invalid.message, /record \[1\] field "direction"/);
    });

    it('treats a status inside a 200 answer as the answer\'s status', async () => {
      const body = JSON.stringify([callRecord()]);
      crm.failNext(1, { kind: 'innerStatus', status: 500 });
      const serverError = await remoteFailure(client.postCallLogs(body, 1, 'main-ivr'));
      assert.equal(serverError.code, 'ECRMSTATUS');
      assert.equal(serverError.statusCode, 500);
      assert.equal(serverError.retryable, true);
      assert.equal(serverError.message, 'SangamCRM answered status 500 inside HTTP 200: stand-in fault: internal error 500');

      crm.failNext(1, { kind: 'innerStatus', status: 400 });
      const refused = await remoteFailure(client.postCallLogs(body, 1, 'main-ivr'));
      assert.equal(refused.statusCode, 400);
      assert.equal(refused.retryable, false);
    });

    it('refuses, without retry, a result array whose length does not match the records', async () => {
      crm.failNext(1, { kind: 'wrongLength' });
      const error = await remoteFailure(client.postCallLogs(JSON.stringify([callRecord(), callRecord()]), 2, 'main-ivr'));
      assert.equal(error.code, 'ERESULTLENGTH');
      assert.equal(error.retryable, false);
      assert.equal(error.message, 'SangamCRM answered 1 result(s) for 2 record(s); cannot tell which records were stored');
    });

    it('reports an HTML error page by its text, without the tags, as retryable', async () => {
      crm.failNext(1, { kind: 'html' });
      const error = await remoteFailure(client.postCallLogs(JSON.stringify([callRecord()]), 1, 'main-ivr'));
      assert.equal(error.statusCode, 502);
      assert.equal(error.retryable, true);
      assert.match(error.message, /^SangamCRM call-log API answered HTTP 502: 502 Bad Gateway 502 Bad Gateway nginx$/);
    });

    it('reports a truncated JSON answer as a bad answer', async () => {
      crm.failNext(1, { kind: 'truncated' });
      const error = await remoteFailure(client.postCallLogs(JSON.stringify([callRecord()]), 1, 'main-ivr'));
      assert.equal(error.code, 'EBADANSWER');
      assert.equal(error.statusCode, 200);
      assert.match(error.message, /not valid JSON \(HTTP 200\): \{"status": 200, "result": \[\{"id": "b80a3578-/);
    });

    it('reports a dropped connection and a stalled answer as retryable network failures', async () => {
      crm.failNext(1, { kind: 'drop' });
      const dropped = await remoteFailure(client.postCallLogs(JSON.stringify([callRecord()]), 1, 'main-ivr'));
      assert.equal(dropped.retryable, true);
      assert.equal(dropped.options.mayHaveReachedServer, true);
      assert.equal(dropped.statusCode, undefined);

      crm.failNext(1, { kind: 'delay', ms: 5_000 });
      const impatient = makeClient({ timeoutMs: 150 });
      const stalled = await remoteFailure(impatient.postCallLogs(JSON.stringify([callRecord()]), 1, 'main-ivr'));
      assert.equal(stalled.code, 'ETIMEDOUT');
      assert.equal(stalled.retryable, true);
    });

    it('reports answers that are JSON but not the expected shape', async () => {
      const url = await rawServer((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(req.url?.includes('ivr-name=array') ? '[1,2]' : '{"status":200,"data":[]}');
      });
      const odd = makeClient({ baseUrl: url });
      const array = await remoteFailure(odd.postCallLogs('[{}]', 1, 'array'));
      assert.equal(array.code, 'EBADANSWER');
      assert.match(array.message, /not a JSON object/);
      const noResult = await remoteFailure(odd.postCallLogs('[{}]', 1, 'object'));
      assert.equal(noResult.code, 'EBADANSWER');
      assert.match(noResult.message, /without a result array/);
    });
  });

  describe('postNotify', () => {
    it('POSTs one event to the notify API and returns the answer', async () => {
      const answer = await client.postNotify(JSON.stringify(NOTIFY_EVENT), 'main-ivr');
      assert.deepEqual(answer, { message: 'success' });
      assert.equal(crm.notifies.length, 1);
      assert.deepEqual(crm.notifies[0].event, NOTIFY_EVENT);
      assert.equal(crm.requests[0].path, NOTIFY_PATH);
      assert.equal(crm.requests[0].headers.authorization, TOKEN);
    });

    it('maps failures of the notify API the same way', async () => {
      crm.failNext(1, { kind: 'status', status: 429, retryAfter: '1' }, 'notify');
      const limited = await remoteFailure(client.postNotify(JSON.stringify(NOTIFY_EVENT), 'main-ivr'));
      assert.equal(limited.retryAfterMs, 1_000);
      assert.match(limited.message, /^SangamCRM call-notify API answered HTTP 429/);

      crm.failNext(1, { kind: 'truncated' }, 'notify');
      assert.equal((await remoteFailure(client.postNotify(JSON.stringify(NOTIFY_EVENT), 'main-ivr'))).code, 'EBADANSWER');

      crm.failNext(1, { kind: 'innerStatus', status: 503 }, 'notify');
      const inner = await remoteFailure(client.postNotify(JSON.stringify(NOTIFY_EVENT), 'main-ivr'));
      assert.equal(inner.statusCode, 503);
      assert.equal(inner.retryable, true);
    });
  });

  describe('secrets', () => {
    it('never puts the token in an error message, whatever the server echoes', async () => {
      const url = await rawServer((req, res) => {
        const echoed = String(req.headers.authorization);
        const kind = new URL(req.url ?? '/', 'http://x').searchParams.get('ivr-name');
        if (kind === 'json') {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ message: `token ${echoed} is not valid` }));
        } else if (kind === 'html') {
          res.writeHead(500, { 'content-type': 'text/html' });
          res.end(`<html><body><p>Request failed with key ${echoed}</p></body></html>`);
        } else if (kind === 'inner') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ status: 500, message: `cannot use ${echoed}` }));
        } else {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(`${'x'.repeat(150)} ok ${echoed}`);
        }
      });
      const echoing = makeClient({ baseUrl: url });
      for (const kind of ['json', 'html', 'inner', 'garbage']) {
        const error = await remoteFailure(echoing.postCallLogs('[{}]', 1, kind));
        assert.ok(!error.message.includes(TOKEN), `${kind}: ${error.message}`);
        // Not even a prefix of it left over by shortening.
        assert.ok(!error.message.includes(TOKEN.slice(0, 10)), `${kind}: ${error.message}`);
        assert.match(error.message, /\*\*\*/, kind);
      }
    });
  });

  describe('in-flight bound', () => {
    it('keeps at most maxInFlight requests open at once, across both APIs', async () => {
      let open = 0;
      let maxOpen = 0;
      const held: http.ServerResponse[] = [];
      let arrivals = 0;
      const arrived: Array<() => void> = [];
      const url = await rawServer((_req, res) => {
        open++;
        arrivals++;
        maxOpen = Math.max(maxOpen, open);
        res.on('finish', () => open--);
        held.push(res);
        for (const wake of arrived.splice(0)) wake();
      });
      const waitForArrivals = async (count: number) => {
        while (arrivals < count) await new Promise<void>((resolve) => arrived.push(resolve));
      };
      const answerOne = () => {
        const res = held.shift();
        assert.ok(res);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"message":"success"}');
      };
      const bounded = makeClient({ baseUrl: url, maxInFlight: 2 });
      const calls = Array.from({ length: 6 }, (_, i) =>
        i % 2 === 0 ? bounded.postNotify('{}', 'main-ivr') : bounded.postCallLogs('[]', 0, 'main-ivr').catch(() => undefined),
      );
      await waitForArrivals(2);
      // Give a third request every chance to arrive if the bound were broken.
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(arrivals, 2);
      for (let i = 0; i < 6; i++) {
        await waitForArrivals(i + 1);
        answerOne();
      }
      await Promise.all(calls);
      assert.equal(arrivals, 6);
      assert.equal(maxOpen, 2);
    });

    it('keeps two of its maxInFlight slots for pop-ups: with the others all taken by batches, a pop-up goes out at once', async () => {
      const heldBatches: http.ServerResponse[] = [];
      const arrivals: string[] = [];
      let wake: (() => void) | undefined;
      const url = await rawServer((req, res) => {
        const api = req.url?.startsWith('/api/v1/ivr-call-log') ? 'call-log' : 'notify';
        arrivals.push(api);
        wake?.();
        res.writeHead(200, { 'content-type': 'application/json' });
        if (api === 'call-log') heldBatches.push(res);
        else res.end('{"message":"success"}');
      });
      const until = async (check: () => boolean) => {
        while (!check()) await new Promise<void>((resolve) => (wake = resolve));
      };
      const bounded = makeClient({ baseUrl: url, maxInFlight: 4 });
      const batches = Array.from({ length: 5 }, () => bounded.postCallLogs('[]', 0, 'main-ivr'));
      await until(() => arrivals.length === 2);
      // A third batch would have every chance to arrive if the reserve were not kept.
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(arrivals, ['call-log', 'call-log']);
      // Two pop-ups at once, each on a reserved slot, answered while both batches still hang.
      assert.deepEqual(await Promise.all([bounded.postNotify('{}', 'main-ivr'), bounded.postNotify('{}', 'main-ivr')]), [
        { message: 'success' },
        { message: 'success' },
      ]);
      assert.deepEqual(arrivals, ['call-log', 'call-log', 'notify', 'notify']);
      // The batches go on two at a time as earlier ones end.
      for (let answered = 0; answered < 5; answered++) {
        await until(() => heldBatches.length > 0);
        heldBatches.shift()!.end('{"status":200,"result":[]}');
      }
      assert.equal((await Promise.all(batches)).length, 5);
      assert.equal(arrivals.filter((api) => api === 'call-log').length, 5);
    });
  });
});
