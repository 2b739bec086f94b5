import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { AbortedError, RemoteError } from '../../src/lib/errors';
import { KeepAliveAgents, PostRequest, Semaphore, createKeepAliveAgents, postOnce } from '../../src/lib/http';

const SECRET = 'tok-3b9f1c77e2d04a5d';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: Error) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface TestServer {
  url: string;
  port: number;
  /** Remote ports of the connections each request came on, in arrival order. */
  requestSockets: number[];
  requests: Array<{ headers: http.IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
}

/** A node:http server on 127.0.0.1 with a handler the test writes; it records what arrived. */
async function startServer(handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const requestSockets: number[] = [];
  const requests: TestServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requestSockets.push(req.socket.remotePort ?? -1);
      requests.push({ headers: req.headers, body });
      handler(req, res, body);
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    requestSockets,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nobody listens on: bound once, then released. */
async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail('expected a rejection');
}

describe('lib/http', () => {
  describe('Semaphore', () => {
    it('serves urgent waiters (pop-ups) before the others, each group in arrival order', async () => {
      const semaphore = new Semaphore(1);
      const order: string[] = [];
      let release!: () => void;
      const first = semaphore.run(() => new Promise<void>((resolve) => (release = resolve)));
      const tasks = [
        semaphore.run(async () => void order.push('batch-1')),
        semaphore.run(async () => void order.push('popup-1'), true),
        semaphore.run(async () => void order.push('batch-2')),
        semaphore.run(async () => void order.push('popup-2'), true),
      ];
      assert.equal(semaphore.waiting, 4);
      release();
      await Promise.all([first, ...tasks]);
      assert.deepEqual(order, ['popup-1', 'popup-2', 'batch-1', 'batch-2']);
      assert.equal(semaphore.inFlight, 0);
    });

    it('refuses a limit that is not a whole number of at least 1, and a reserve that is not a whole number', () => {
      for (const limit of [0, -1, 1.5, NaN]) assert.throws(() => new Semaphore(limit), RangeError, String(limit));
      for (const reserve of [-1, 0.5, NaN]) assert.throws(() => new Semaphore(4, reserve), /reservedForUrgent/, String(reserve));
    });

    it('never lets the others take the slots reserved for urgent tasks, and hands freed slots to urgent waiters first', async () => {
      const semaphore = new Semaphore(3, 2);
      const started: string[] = [];
      const gates = new Map<string, Deferred<void>>();
      const start = (name: string, urgent: boolean) =>
        semaphore.run(async () => {
          started.push(name);
          const gate = deferred();
          gates.set(name, gate);
          await gate.promise;
        }, urgent);
      const runs = [start('batch-1', false), start('batch-2', false), start('popup-1', true), start('popup-2', true), start('popup-3', true)];
      await new Promise((resolve) => setImmediate(resolve));
      // One shared slot: batch-2 waits although two slots are free, and they go to the pop-ups.
      assert.deepEqual(started, ['batch-1', 'popup-1', 'popup-2']);
      assert.equal(semaphore.inFlight, 3);
      gates.get('batch-1')!.resolve();
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(started, ['batch-1', 'popup-1', 'popup-2', 'popup-3']);
      gates.get('popup-1')!.resolve();
      gates.get('popup-2')!.resolve();
      await new Promise((resolve) => setImmediate(resolve));
      // Once the urgent ones are done, batch-2 takes the one slot that is not reserved.
      assert.deepEqual(started, ['batch-1', 'popup-1', 'popup-2', 'popup-3', 'batch-2']);
      assert.equal(semaphore.inFlight, 2);
      gates.get('popup-3')!.resolve();
      gates.get('batch-2')!.resolve();
      await Promise.all(runs);
      assert.equal(semaphore.inFlight, 0);
      assert.equal(semaphore.waiting, 0);
    });

    it('keeps one slot open to every task whatever the reserve', async () => {
      const semaphore = new Semaphore(2, 5);
      assert.equal(await semaphore.run(async () => 'batch'), 'batch');
    });

    it('keeps at most `limit` tasks running and starts waiters first come, first served', async () => {
      const semaphore = new Semaphore(2);
      const gates = Array.from({ length: 6 }, () => deferred());
      const started: number[] = [];
      let running = 0;
      let maxRunning = 0;
      const runs = gates.map((gate, i) =>
        semaphore.run(async () => {
          started.push(i);
          running++;
          maxRunning = Math.max(maxRunning, running);
          await gate.promise;
          running--;
          return i;
        }),
      );
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(started, [0, 1]);
      assert.equal(semaphore.inFlight, 2);
      assert.equal(semaphore.waiting, 4);

      // Finish out of order: the freed slot still goes to the oldest waiter.
      gates[1].resolve();
      await runs[1];
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(started, [0, 1, 2]);
      gates[0].resolve();
      gates[2].resolve();
      await Promise.all([runs[0], runs[2]]);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(started, [0, 1, 2, 3, 4]);
      gates[3].resolve();
      gates[4].resolve();
      gates[5].resolve();
      assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3, 4, 5]);
      assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
      assert.equal(maxRunning, 2);
      assert.equal(semaphore.inFlight, 0);
      assert.equal(semaphore.waiting, 0);
    });

    it('frees the slot when a task fails, synchronously or not', async () => {
      const semaphore = new Semaphore(1);
      await assert.rejects(semaphore.run(() => Promise.reject(new Error('async failure'))), { message: 'async failure' });
      await assert.rejects(
        semaphore.run(() => {
          throw new Error('sync failure');
        }),
        { message: 'sync failure' },
      );
      assert.equal(semaphore.inFlight, 0);
      assert.equal(await semaphore.run(async () => 'still usable'), 'still usable');
    });
  });

  describe('postOnce', () => {
    let agents: KeepAliveAgents;
    const servers: TestServer[] = [];

    beforeEach(() => {
      agents = createKeepAliveAgents(4);
    });
    afterEach(async () => {
      agents.destroy();
      await Promise.all(servers.splice(0).map((server) => server.close()));
    });

    async function serve(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
      const server = await startServer(handler);
      servers.push(server);
      return server;
    }

    function request(url: string, overrides: Partial<PostRequest> = {}): PostRequest {
      return {
        url,
        headers: { 'content-type': 'application/json', authorization: SECRET },
        body: '[{"a":1}]',
        timeoutMs: 5_000,
        agents,
        secrets: [SECRET],
        ...overrides,
      };
    }

    it('sends the body and headers and resolves with any HTTP status, body and headers', async () => {
      const server = await serve((req, res, body) => {
        const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status'));
        res.writeHead(status, { 'content-type': 'text/plain', 'x-echo-length': String(body.length) });
        res.end(`answer ${status}`);
      });
      for (const status of [200, 201, 301, 400, 401, 404, 429, 500, 503]) {
        const answer = await postOnce(request(`${server.url}/api?status=${status}`));
        assert.equal(answer.statusCode, status);
        assert.equal(answer.body, `answer ${status}`);
        assert.equal(answer.headers['x-echo-length'], '9');
      }
      assert.equal(server.requests[0].body, '[{"a":1}]');
      assert.equal(server.requests[0].headers.authorization, SECRET);
      assert.equal(server.requests[0].headers['content-type'], 'application/json');
    });

    it('does not follow redirects', async () => {
      const server = await serve((_req, res) => {
        res.writeHead(302, { location: '/elsewhere' });
        res.end();
      });
      const answer = await postOnce(request(`${server.url}/api`));
      assert.equal(answer.statusCode, 302);
      assert.equal(server.requests.length, 1);
    });

    it('reuses one keep-alive connection for sequential requests', async () => {
      const server = await serve((_req, res) => res.end('{}'));
      for (let i = 0; i < 5; i++) await postOnce(request(`${server.url}/api`));
      assert.equal(server.requestSockets.length, 5);
      assert.equal(new Set(server.requestSockets).size, 1, `ports: ${server.requestSockets.join(',')}`);
    });

    it('turns a refused connection into a retryable RemoteError that cannot have reached the server', async () => {
      const port = await freePort();
      const error = await failure(postOnce(request(`http://127.0.0.1:${port}/api`)));
      assert.ok(error instanceof RemoteError, String(error));
      assert.equal(error.code, 'ECONNREFUSED');
      assert.equal(error.retryable, true);
      assert.equal(error.options.mayHaveReachedServer, false);
      assert.match(error.message, new RegExp(`could not reach 127\\.0\\.0\\.1:${port}`));
      assert.ok(!error.message.includes(SECRET));
    });

    it('turns a server that never answers into an ETIMEDOUT RemoteError that may have reached it', async () => {
      const server = await serve(() => {
        // Never answer.
      });
      const error = await failure(postOnce(request(`${server.url}/api`, { timeoutMs: 200 })));
      assert.ok(error instanceof RemoteError, String(error));
      assert.equal(error.code, 'ETIMEDOUT');
      assert.equal(error.retryable, true);
      assert.equal(error.options.mayHaveReachedServer, true);
      assert.equal(error.message, `no answer from 127.0.0.1:${server.port} within 200 ms`);
      assert.equal(server.requests.length, 1);
    });

    it('turns a connection reset into a retryable RemoteError that may have reached the server', async () => {
      const server = await serve((req) => req.socket.resetAndDestroy());
      const error = await failure(postOnce(request(`${server.url}/api`)));
      assert.ok(error instanceof RemoteError, String(error));
      assert.equal(error.retryable, true);
      assert.equal(error.options.mayHaveReachedServer, true);
      assert.ok(error.code === 'ECONNRESET' || error.code === 'EPIPE', String(error.code));
      assert.ok(!error.message.includes(SECRET));
    });

    it('turns an abort into AbortedError, before or during the request', async () => {
      const arrived = deferred();
      const server = await serve(() => arrived.resolve());
      const controller = new AbortController();
      const pending = postOnce(request(`${server.url}/api`, { signal: controller.signal }));
      await arrived.promise;
      controller.abort();
      const error = await failure(pending);
      assert.ok(error instanceof AbortedError, String(error));

      const already = new AbortController();
      already.abort();
      const early = await failure(postOnce(request(`${server.url}/api`, { signal: already.signal })));
      assert.ok(early instanceof AbortedError, String(early));
    });

    it('redacts the secrets from the text of the network error', async () => {
      const port = await freePort();
      // got's own message names the error code; declaring it secret shows that the detail is redacted.
      const error = await failure(postOnce(request(`http://127.0.0.1:${port}/api`, { secrets: [SECRET, 'ECONNREFUSED'] })));
      assert.ok(error instanceof RemoteError);
      assert.equal(error.code, 'ECONNREFUSED');
      assert.ok(!error.message.includes('ECONNREFUSED'), error.message);
      assert.match(error.message, /\*\*\*/);
    });
  });
});
