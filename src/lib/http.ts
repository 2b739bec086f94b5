import { setMaxListeners } from 'node:events';
import * as http from 'node:http';
import { AbortedError, RemoteError, redact } from './errors';
import * as https from 'node:https';
import type { Got } from 'got' with { 'resolution-mode': 'import' };

let gotPromise: Promise<Got> | undefined;

/** got is ESM only; load it once with import() (kept as a real import() by module node16). */
export function loadGot(): Promise<Got> {
  gotPromise ??= import('got').then((mod) => mod.got);
  return gotPromise;
}

/**
 * The controller a node aborts when it closes. Every request in flight and every retry wait listens
 * on its signal: 16 requests at once are 16 listeners, not a leak, so Node's warning past 10 is off.
 */
export function createStopController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

export interface KeepAliveAgents {
  readonly http: http.Agent;
  readonly https: https.Agent;
  destroy(): void;
}

/**
 * One pair of keep-alive agents per config node, so every node that uses it shares connections.
 * Each agent is made at its first request: a config node that never sends costs no agent, and a
 * CRM on https never makes the http one.
 */
export function createKeepAliveAgents(maxSockets: number): KeepAliveAgents {
  const options = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };
  let httpAgent: http.Agent | undefined;
  let httpsAgent: https.Agent | undefined;
  return {
    get http() {
      httpAgent ??= new http.Agent(options);
      return httpAgent;
    },
    get https() {
      httpsAgent ??= new https.Agent(options);
      return httpsAgent;
    },
    destroy() {
      httpAgent?.destroy();
      httpsAgent?.destroy();
    },
  };
}

/**
 * Bounds how many requests are in flight at once. Waiters are served first come, first served,
 * urgent ones (a pop-up while the phone rings) before the rest (call-log batches), and the rest
 * never hold more than `limit - reservedForUrgent` slots: a pop-up never waits for a batch to end.
 */
export class Semaphore {
  private active = 0;
  /** Slots held by tasks that are not urgent. */
  private shared = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly urgentWaiters: Array<() => void> = [];
  private readonly sharedLimit: number;

  constructor(
    private readonly limit: number,
    reservedForUrgent = 0,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a whole number of at least 1');
    if (!Number.isInteger(reservedForUrgent) || reservedForUrgent < 0) {
      throw new RangeError('reservedForUrgent must be a whole number of at least 0');
    }
    // One slot at least stays open to every task, whatever the reserve.
    this.sharedLimit = Math.max(1, limit - reservedForUrgent);
  }

  get inFlight(): number {
    return this.active;
  }

  get waiting(): number {
    return this.waiters.length + this.urgentWaiters.length;
  }

  async run<T>(task: () => Promise<T>, urgent = false): Promise<T> {
    const queue = urgent ? this.urgentWaiters : this.waiters;
    // Nobody overtakes a waiter of its own kind.
    if (queue.length === 0 && this.mayStart(urgent)) this.take(urgent);
    // pump() takes the slot for a waiter before it wakes it, so the counts never overshoot.
    else await new Promise<void>((resolve) => queue.push(resolve));
    try {
      return await task();
    } finally {
      this.active--;
      if (!urgent) this.shared--;
      this.pump();
    }
  }

  private mayStart(urgent: boolean): boolean {
    return this.active < this.limit && (urgent || this.shared < this.sharedLimit);
  }

  private take(urgent: boolean): void {
    this.active++;
    if (!urgent) this.shared++;
  }

  private pump(): void {
    for (;;) {
      const urgent = this.urgentWaiters.length > 0;
      if (!(urgent || this.waiters.length > 0) || !this.mayStart(urgent)) return;
      this.take(urgent);
      (urgent ? this.urgentWaiters : this.waiters).shift()!();
    }
  }
}

export interface PostRequest {
  url: string;
  headers: Record<string, string>;
  /** Raw body (already serialised): text, or its UTF-8 bytes. */
  body: string | Buffer;
  timeoutMs: number;
  agents: KeepAliveAgents;
  /** Secrets that must not appear in any error message built here. */
  secrets: ReadonlyArray<string | undefined>;
  signal?: AbortSignal;
}

export interface RawResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Connection failures that happen before a request can have reached the server. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * One POST, no retries (callers decide). Resolves with any HTTP answer; rejects only with a
 * RemoteError (network failure or timeout) or AbortedError, with a message free of secrets.
 */
export async function postOnce(request: PostRequest): Promise<RawResponse> {
  const got = await loadGot();
  try {
    const response = await got.post(request.url, {
      headers: request.headers,
      body: request.body,
      timeout: { request: request.timeoutMs },
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      // Only the agent of the URL's scheme: the other one is never made.
      agent: request.url.startsWith('https:') ? { https: request.agents.https } : { http: request.agents.http },
      signal: request.signal,
    });
    const answer: RawResponse = { statusCode: response.statusCode, headers: response.headers, body: response.body };
    // got's objects for a request live as long as the request, so by now they have often been
    // moved to the old generation: the body text and raw bytes they were given at the end would
    // then stay in memory until a full collection, though nothing reads them after this. In a
    // drain of 100,000 call logs that was 14 MB of text and 14 MB of buffers.
    const read: { body?: string; rawBody?: Buffer } = response;
    read.body = undefined;
    read.rawBody = undefined;
    return answer;
  } catch (error) {
    throw toRemoteError(error, request);
  }
}

function toRemoteError(error: unknown, request: PostRequest): Error {
  const err = error as { code?: string; name?: string; message?: string };
  if (request.signal?.aborted || err.name === 'AbortError') {
    return new AbortedError('request abandoned: the node was stopped');
  }
  const code = err.code ?? 'ERR_NETWORK';
  const target = new URL(request.url).host;
  if (err.name === 'TimeoutError' || code === 'ETIMEDOUT') {
    return new RemoteError(`no answer from ${target} within ${request.timeoutMs} ms`, {
      code: 'ETIMEDOUT',
      retryable: true,
      mayHaveReachedServer: true,
    });
  }
  const notSent = NOT_SENT_CODES.has(code);
  // got's messages carry no headers, but redact anyway: a secret must never leak by accident.
  const detail = redact(err.message ?? code, request.secrets);
  return new RemoteError(`could not reach ${target}: ${detail}`, {
    code,
    retryable: true,
    mayHaveReachedServer: !notSent,
  });
}
