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
 * urgent ones (a pop-up while the phone rings) before the rest (call-log batches).
 */
export class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly urgentWaiters: Array<() => void> = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a whole number of at least 1');
  }

  get inFlight(): number {
    return this.active;
  }

  get waiting(): number {
    return this.waiters.length + this.urgentWaiters.length;
  }

  async run<T>(task: () => Promise<T>, urgent = false): Promise<T> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve) => (urgent ? this.urgentWaiters : this.waiters).push(resolve));
    } else {
      this.active++;
    }
    try {
      return await task();
    } finally {
      const next = this.urgentWaiters.shift() ?? this.waiters.shift();
      // Hand the slot straight to the next waiter so `active` never dips and overshoots.
      if (next) next();
      else this.active--;
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
    return { statusCode: response.statusCode, headers: response.headers, body: response.body };
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
