import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ExotelStandIn } from '../../dev/standins/exotel';
import { AbortedError, RemoteError } from '../../src/lib/errors';
import { type KeepAliveAgents, createKeepAliveAgents } from '../../src/lib/http';
import type { ConnectParams } from '../../src/exotel/connect-request';
import { ExotelClient, type ExotelClientOptions } from '../../src/exotel/exotel-client';
import { RatePacer } from '../../src/exotel/rate-pacer';
import { ACCOUNT_SID, API_KEY, API_TOKEN, BASIC_AUTH, assertNoSecret } from './support';

const CALL: ConnectParams = { from: '+919812345678', to: '09876543210', callerId: '08047112233' };

function remote(check: (error: RemoteError) => void) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof RemoteError, `expected a RemoteError, got ${String(error)}`);
    assertNoSecret(error.message, 'an error message');
    check(error);
    return true;
  };
}

async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('ExotelClient against the stand-in', () => {
  let standIn: ExotelStandIn;
  let agents: KeepAliveAgents;
  const clients: Array<{ pacer?: RatePacer }> = [];

  function client(overrides: Partial<ExotelClientOptions> = {}): ExotelClient {
    const options: ExotelClientOptions = {
      baseUrl: standIn.url,
      accountSid: ACCOUNT_SID,
      apiKey: API_KEY,
      apiToken: API_TOKEN,
      timeoutMs: 2_000,
      agents,
      retryPolicy: { baseDelayMs: 10, maxDelayMs: 50 },
      ...overrides,
    };
    clients.push({ pacer: options.pacer });
    return new ExotelClient(options);
  }

  beforeEach(async () => {
    standIn = await ExotelStandIn.start({ accountSid: ACCOUNT_SID, apiKey: API_KEY, apiToken: API_TOKEN });
    agents = createKeepAliveAgents(8);
  });
  afterEach(async () => {
    for (const { pacer } of clients.splice(0)) pacer?.close();
    agents.destroy();
    await standIn.close();
  });

  it('sends one form-encoded POST with Basic auth to connect.json and returns the Call', async () => {
    const call = await client().connect({ ...CALL, record: true, customField: 'lead-42', statusCallbackEvents: ['terminal'] });
    assert.equal(call.Sid, standIn.calls[0]?.sid);
    assert.equal(call.Status, 'in-progress');
    assert.equal(standIn.requests.length, 1);
    const request = standIn.requests[0]!;
    assert.equal(request.method, 'POST');
    assert.equal(request.path, `/v1/Accounts/${ACCOUNT_SID}/Calls/connect.json`);
    assert.equal(request.headers.authorization, BASIC_AUTH);
    assert.equal(request.headers.accept, 'application/json');
    assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.deepEqual(request.form, {
      From: '+919812345678',
      To: '09876543210',
      CallerId: '08047112233',
      Record: 'true',
      CustomField: 'lead-42',
      'StatusCallbackEvents[0]': 'terminal',
    });
  });

  it('turns a RestException into "Exotel answered <status>: <Message> (code <Code>; meaning)"', async () => {
    const cases: Array<[401 | 402 | 403, RegExp]> = [
      [401, /^Exotel answered 401: Authentication failed \(code 401; bad credentials\)$/],
      [402, /^Exotel answered 402: Insufficient balance in your account \(code 402; out of balance\)$/],
      [403, /^Exotel answered 403: .+ \(code 403; not permitted\)$/],
    ];
    for (const [status, message] of cases) {
      standIn.failNext(1, { status });
      await assert.rejects(client().connect(CALL), remote((error) => {
        assert.match(error.message, message);
        assert.equal(error.statusCode, status);
        assert.equal(error.code, String(status));
        assert.equal(error.retryable, false);
      }));
    }
    assert.equal(standIn.requests.length, 3, 'none retried');
  });

  it('reports real refusals from the stand-in: wrong token (401), unknown account (404), bad field (400)', async () => {
    await assert.rejects(client({ apiToken: 'Tok-wrong-0000' }).connect(CALL), remote((error) => {
      assert.match(error.message, /^Exotel answered 401: Authentication failed: invalid API key or token \(code 20003; bad credentials\)$/);
      assert.ok(!error.message.includes('Tok-wrong-0000'));
    }));
    await assert.rejects(client({ accountSid: 'other_account' }).connect(CALL), remote((error) => {
      assert.equal(error.statusCode, 404);
      assert.match(error.message, /Account not found \(code 20404; unknown account SID\)/);
    }));
    // TimeLimit beyond Exotel's maximum slipped past our own checks: the server's 400 names it.
    await assert.rejects(client().connect({ ...CALL, timeLimit: 20_000 }), remote((error) => {
      assert.equal(error.statusCode, 400);
      assert.match(error.message, /^Exotel answered 400: TimeLimit must be/);
    }));
    assert.equal(standIn.requests.length, 3);
    assert.equal(standIn.calls.length, 0);
  });

  it('retries a 429 after its Retry-After, and without one after a backoff', async () => {
    standIn.failNext(1, { status: 429, retryAfter: 1 });
    const retries: number[] = [];
    const started = Date.now();
    const call = await client().connect(CALL, { onRetry: ({ delayMs }) => retries.push(delayMs) });
    assert.ok(Date.now() - started >= 990, 'waited for Retry-After');
    assert.deepEqual(retries, [1000]);
    assert.equal(call.Sid, standIn.calls[0]?.sid);
    assert.equal(standIn.requests.length, 2);

    standIn.failNext(2, { status: 429 });
    await client().connect(CALL);
    assert.equal(standIn.requests.length, 5);
    assert.equal(standIn.calls.length, 2);
  });

  it('gives up on 429 after the policy\'s retries, naming the status', async () => {
    standIn.failNext(10, { status: 429 });
    await assert.rejects(client({ retryPolicy: { retries: 2, baseDelayMs: 5, maxDelayMs: 10 } }).connect(CALL), remote((error) => {
      assert.equal(error.statusCode, 429);
      assert.match(error.message, /^Exotel answered 429: .*rate limited/);
    }));
    assert.equal(standIn.requests.length, 3);
  });

  it('never retries a 5xx, a time-out or a reset: the call may have been placed', async () => {
    standIn.failNext(1, { status: 500 });
    await assert.rejects(client().connect(CALL), remote((error) => {
      assert.equal(error.statusCode, 500);
      assert.equal(error.options.mayHaveReachedServer, true);
      assert.match(error.message, /^Exotel answered 500: Internal server error \(code 500\); not retried: the call may have been placed$/);
    }));
    assert.equal(standIn.requests.length, 1);

    standIn.failNext(1, { status: 503 });
    await assert.rejects(client().connect(CALL), remote((error) => assert.equal(error.statusCode, 503)));
    assert.equal(standIn.requests.length, 2);

    standIn.failNext(1, { delay: 1_500 });
    await assert.rejects(client({ timeoutMs: 200 }).connect(CALL), remote((error) => {
      assert.equal(error.code, 'ETIMEDOUT');
      assert.match(error.message, /no answer from 127\.0\.0\.1:\d+ within 200 ms/);
    }));
    assert.equal(standIn.requests.length, 3);

    standIn.failNext(1, { drop: true });
    await assert.rejects(client().connect(CALL), remote((error) => assert.equal(error.options.mayHaveReachedServer, true)));
    assert.equal(standIn.requests.length, 4, 'one request per failure, none repeated');
  });

  it('retries a refused connection (nothing was sent) a few times, then gives up', async () => {
    const port = await freePort();
    const refused: string[] = [];
    await assert.rejects(
      client({ baseUrl: `http://127.0.0.1:${port}`, retryPolicy: { retries: 3, baseDelayMs: 5, maxDelayMs: 10 } }).connect(CALL, {
        onRetry: ({ error }) => refused.push(error.code ?? ''),
      }),
      remote((error) => {
        assert.equal(error.code, 'ECONNREFUSED');
        assert.match(error.message, /^could not reach 127\.0\.0\.1:\d+/);
      }),
    );
    assert.deepEqual(refused, ['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
  });

  it('succeeds when Exotel listens again between a refused attempt and the retry', async () => {
    const port = await freePort();
    let late: Promise<ExotelStandIn> | undefined;
    try {
      const call = await client({ baseUrl: `http://127.0.0.1:${port}` }).connect(CALL, {
        // listen() on an IP address binds at once, so the retry finds the port open.
        onRetry: () => {
          late ??= ExotelStandIn.start({ accountSid: ACCOUNT_SID, apiKey: API_KEY, apiToken: API_TOKEN, port });
        },
      });
      const standInThatAnswered = await (late as Promise<ExotelStandIn>);
      assert.equal(standInThatAnswered.requests.length, 1);
      assert.equal(call.Sid, standInThatAnswered.calls[0]?.sid);
    } finally {
      await (await late)?.close();
    }
  });

  it('says when an answer is not JSON or has no Call object', async () => {
    let answer = { status: 502, body: '<html>Bad gateway</html>' };
    const server = http.createServer((_req, res) => res.writeHead(answer.status, { 'content-type': 'text/html' }).end(answer.body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await assert.rejects(client({ baseUrl }).connect(CALL), remote((error) => {
        assert.match(error.message, /^Exotel answered 502 with a body that is not JSON: <html>Bad gateway<\/html>; not retried/);
      }));
      answer = { status: 200, body: `{"Something": "else", "echo": "${API_TOKEN}"}` };
      await assert.rejects(client({ baseUrl }).connect(CALL), remote((error) => {
        assert.match(error.message, /^Exotel answered 200 with no Call object \(the call may have been placed\)/);
        assert.match(error.message, /\*\*\*/, 'the echoed token is redacted');
      }));
      answer = { status: 200, body: 'OK' };
      await assert.rejects(client({ baseUrl }).connect(CALL), /with a body that is not JSON/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('takes its turn from a shared rate pacer before every attempt', async () => {
    const pacer = new RatePacer({ perMinute: 600, burst: 2 });
    const shared = client({ pacer });
    const queued: number[] = [];
    const started = Date.now();
    const calls = await Promise.all([0, 1, 2, 3].map(() => shared.connect(CALL, { onQueued: (n) => queued.push(n) })));
    assert.equal(new Set(calls.map((c) => c.Sid)).size, 4);
    assert.deepEqual(queued, [1, 2]);
    const times = standIn.requests.map((r) => r.at - started);
    assert.ok(times[3]! >= 190, `4th request after ${times[3]} ms`);
  });

  it('abandons a request still waiting for the pacer when its signal aborts: nothing is sent', async () => {
    const pacer = new RatePacer({ perMinute: 1, burst: 1 });
    const shared = client({ pacer });
    await shared.connect(CALL);
    const controller = new AbortController();
    const waiting = shared.connect(CALL, { signal: controller.signal });
    controller.abort();
    await assert.rejects(waiting, AbortedError);
    assert.equal(standIn.requests.length, 1);
  });
});
