/**
 * A strict local stand-in for SangamCRM's two telephony APIs (see the vendor's guide):
 *   POST /api/v1/ivr-call-log?ivr-name=...     body: array of call records
 *   POST /api/v1/ivr-call-notify?ivr-name=...  body: one pop-up event
 * It refuses anything the guide does not allow, so that tests of the nodes catch what the real CRM
 * might silently mis-file. Faults can be injected, and a control API under /__control lets another
 * process (benchmark, crash tests) drive it.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';

export interface SangamCrmOptions {
  /** Exact value the Authorization header must carry. */
  token: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Benchmark mode: cheap checks, store only counts, ids and custom fields, no per-request records or logging. */
  fast?: boolean;
  /** Added before every API answer: simulates a hosted CRM. */
  latencyMs?: number;
  /** Receives one short line per stored batch and per refused request (not in fast mode). */
  log?: (line: string) => void;
}

export type CrmFault =
  | { kind: 'status'; status: number; body?: string; retryAfter?: string }
  | { kind: 'delay'; ms: number }
  /** Resets the connection without an answer; `afterStore`: only after storing what the request carried (the answer is lost). */
  | { kind: 'drop'; afterStore?: boolean }
  | { kind: 'html' }
  | { kind: 'truncated' }
  | { kind: 'innerStatus'; status: number }
  | { kind: 'wrongLength' };

export type CrmApi = 'call-log' | 'notify';

export interface ReceivedCallLog {
  ivrName: string;
  /** The record as received; in fast mode only its custom (unlisted) fields. */
  record: Record<string, unknown>;
  id: string;
  receivedAt: number;
  /** Set when the request that stored it got no answer (a `drop` fault with afterStore): the client may send it again. */
  answerLost?: true;
}

export interface ReceivedNotify {
  ivrName: string;
  event: Record<string, unknown>;
  receivedAt: number;
  /** As for call logs: stored, but the answer was dropped. */
  answerLost?: true;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Status answered; 0 when the socket was dropped without an answer. */
  status: number;
  /** Id of the TCP connection the request came on. */
  connection: number;
}

export interface SangamCrmStats {
  /** API requests (everything except /__control). */
  requests: number;
  callLogRequests: number;
  notifyRequests: number;
  /** Call records stored. */
  records: number;
  /** TCP connections accepted. */
  connections: number;
  /** Requests refused by a check (4xx). */
  rejected: number;
  /** Requests that got an injected fault. */
  faulted: number;
}

export const CALL_LOG_PATH = '/api/v1/ivr-call-log';
export const NOTIFY_PATH = '/api/v1/ivr-call-notify';
export const CONTROL_PREFIX = '/__control';
export const MAX_BODY_BYTES = 5 * 1024 * 1024;
const MAX_CONTROL_BODY_BYTES = 64 * 1024;

const DURATION_PATTERN = /^\d{2,}:[0-5]\d:[0-5]\d$/;
const DATE_TIME_PATTERN = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/** Returns a description of what is wrong with the value, or undefined when it is fine. */
type FieldCheck = (value: unknown) => string | undefined;

const nonEmptyString: FieldCheck = (value) =>
  typeof value === 'string' && value.length > 0 ? undefined : 'must be a non-empty string';
const anyString: FieldCheck = (value) => (typeof value === 'string' ? undefined : 'must be a string');
const dateTime: FieldCheck = (value) =>
  typeof value === 'string' && isRealDateTime(value) ? undefined : 'must be a real date and time "YYYY-MM-DD HH:mm:ss"';
const oneOf =
  (...options: string[]): FieldCheck =>
  (value) =>
    typeof value === 'string' && options.includes(value)
      ? undefined
      : `must be one of ${options.map((option) => JSON.stringify(option)).join(', ')}`;

/** Every field of the guide's Parameter Details (plus synapse_recording_link from its sample). */
const CALL_LOG_FIELD_CHECKS: Readonly<Record<string, FieldCheck>> = {
  duration: (value) =>
    typeof value === 'string' && DURATION_PATTERN.test(value) ? undefined : 'must be a duration "HH:MM:SS"',
  enjay_lat_source_number: nonEmptyString,
  enjay_lat_destination_number: nonEmptyString,
  date_start: dateTime,
  date_end: dateTime,
  mobile_call_detect_c: (value) => (value === '0' ? undefined : 'must be exactly "0"'),
  name: nonEmptyString,
  assigned_user_id: anyString,
  decision_variable: oneOf('always', 'never', ''),
  direction: oneOf('Inbound', 'Outbound'),
  call_status: oneOf('Held', 'Not Held'),
  logged_via: oneOf('Calllog'),
  logged_by: oneOf('CRM App', 'Synapse', 'IVR'),
  synapse_recording_link: anyString,
};

/** The fields our nodes always send (they derive the ones a user leaves out). */
const CALL_LOG_REQUIRED_FIELDS = [
  'duration',
  'enjay_lat_source_number',
  'enjay_lat_destination_number',
  'date_start',
  'name',
  'direction',
  'mobile_call_detect_c',
  'logged_via',
] as const;

const NOTIFY_FIELD_CHECKS: Readonly<Record<string, FieldCheck>> = {
  cli: nonEmptyString,
  event: nonEmptyString,
  uniqueid: nonEmptyString,
  to: nonEmptyString,
  time: dateTime,
  nm: anyString,
};
const NOTIFY_REQUIRED_FIELDS = ['cli', 'event', 'uniqueid', 'to', 'time'] as const;

const BAD_GATEWAY_PAGE =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n' +
  '<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

export function isRealDateTime(text: string): boolean {
  const match = DATE_TIME_PATTERN.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  // Date.UTC maps years 0-99 to 19xx, so such years could never be checked correctly.
  if (year < 1000 || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return day >= 1 && day <= daysInMonth;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): boolean {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

/** A short description of a received value for error messages (values can be long). */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (isPlainObject(value)) return 'an object';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function mediaTypeOf(headerValue: string | undefined): string {
  return (headerValue ?? '').split(';')[0]!.trim().toLowerCase();
}

/** True when the Accept header names application/json with a non-zero quality. */
function acceptsJson(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const [type, ...params] = part.split(';').map((piece) => piece.trim().toLowerCase());
    if (type !== 'application/json') return false;
    const quality = params.find((param) => param.startsWith('q='));
    return quality === undefined || Number(quality.slice(2)) > 0;
  });
}

/** Checks a control-API or caller-supplied fault and returns it typed; throws a RangeError naming the problem. */
export function parseFault(value: unknown): CrmFault {
  if (!isPlainObject(value)) throw new RangeError('fault must be an object with a "kind"');
  const isStatusCode = (status: unknown): status is number =>
    typeof status === 'number' && Number.isInteger(status) && status >= 100 && status <= 599;
  switch (value.kind) {
    case 'status': {
      if (!isStatusCode(value.status)) throw new RangeError('fault.status must be an HTTP status code (100-599)');
      if (value.body !== undefined && typeof value.body !== 'string') throw new RangeError('fault.body must be a string');
      if (value.retryAfter !== undefined && typeof value.retryAfter !== 'string') {
        throw new RangeError('fault.retryAfter must be a string');
      }
      const fault: CrmFault = { kind: 'status', status: value.status };
      if (value.body !== undefined) fault.body = value.body;
      if (value.retryAfter !== undefined) fault.retryAfter = value.retryAfter;
      return fault;
    }
    case 'delay':
      if (typeof value.ms !== 'number' || !(value.ms >= 0) || !Number.isFinite(value.ms)) {
        throw new RangeError('fault.ms must be a number of milliseconds >= 0');
      }
      return { kind: 'delay', ms: value.ms };
    case 'innerStatus':
      if (!isStatusCode(value.status)) throw new RangeError('fault.status must be an HTTP status code (100-599)');
      return { kind: 'innerStatus', status: value.status };
    case 'drop':
      if (value.afterStore !== undefined && typeof value.afterStore !== 'boolean') throw new RangeError('fault.afterStore must be a boolean');
      return value.afterStore ? { kind: 'drop', afterStore: true } : { kind: 'drop' };
    case 'html':
    case 'truncated':
    case 'wrongLength':
      return { kind: value.kind };
    default:
      throw new RangeError(
        'fault.kind must be one of "status", "delay", "drop", "html", "truncated", "innerStatus", "wrongLength"',
      );
  }
}

function parseApi(value: unknown): CrmApi | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === 'call-log' || value === 'notify') return value;
  throw new RangeError('api must be "call-log" or "notify"');
}

interface PendingFault {
  remaining: number;
  fault: CrmFault;
  api: CrmApi | undefined;
}

/** One of several fault rates in effect at once (see failRates). */
export interface CrmFaultRate {
  probability: number;
  fault: CrmFault;
  /** Only requests to this API (default: either). */
  api?: CrmApi;
}

interface FaultRates {
  rates: Array<{ probability: number; fault: CrmFault; api: CrmApi | undefined }>;
  random: () => number;
}

interface PendingWait {
  timer: NodeJS.Timeout | undefined;
  resolve: (completed: boolean) => void;
}

interface ReceivedBody {
  bytes: Buffer;
  tooLarge: boolean;
}

interface Answer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

/** Reads the whole body, keeping at most `limit` bytes; the rest is drained so the client sees a clean answer. */
function readBody(req: http.IncomingMessage, limit: number): Promise<ReceivedBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
    });
    req.on('end', () => resolve({ bytes: tooLarge ? Buffer.alloc(0) : Buffer.concat(chunks), tooLarge }));
    req.on('error', reject);
  });
}

function jsonAnswer(status: number, value: unknown, headers?: Record<string, string>): Answer {
  return headers ? { status, body: JSON.stringify(value), headers } : { status, body: JSON.stringify(value) };
}

function errorAnswer(status: number, message: string): Answer {
  return jsonAnswer(status, { status, message });
}

export class SangamCrmStandIn {
  readonly url: string;
  readonly port: number;
  readonly callLogs: ReceivedCallLog[] = [];
  readonly notifies: ReceivedNotify[] = [];
  readonly requests: RequestRecord[] = [];
  readonly stats: SangamCrmStats = emptyStats();

  private readonly server: http.Server;
  private readonly host: string;
  private readonly token: string;
  private readonly fast: boolean;
  private readonly log: ((line: string) => void) | undefined;
  private readonly defaultLatencyMs: number;
  private latencyMs: number;
  private pendingFaults: PendingFault[] = [];
  /** CRM user ids that exist, when set: a record owned by another user is refused. */
  private users: ReadonlySet<string> | undefined;
  private faultRates: FaultRates | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly connectionIds = new WeakMap<Socket, number>();
  private nextConnectionId = 1;
  private readonly pendingWaits = new Set<PendingWait>();
  private readonly events = new EventEmitter();
  /** Bumped by goDown so that answers delayed across an outage are never sent or stored. */
  private generation = 0;
  private listening = true;
  private closed = false;
  private comeBackTimer: NodeJS.Timeout | undefined;

  private constructor(server: http.Server, host: string, port: number, options: SangamCrmOptions) {
    this.server = server;
    this.host = host;
    this.port = port;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.token = options.token;
    this.fast = options.fast ?? false;
    this.log = this.fast ? undefined : options.log;
    this.defaultLatencyMs = options.latencyMs ?? 0;
    this.latencyMs = this.defaultLatencyMs;
    this.events.setMaxListeners(0);
    server.on('connection', (socket: Socket) => {
      this.stats.connections++;
      this.connectionIds.set(socket, this.nextConnectionId++);
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res));
  }

  static async start(options: SangamCrmOptions): Promise<SangamCrmStandIn> {
    if (typeof options.token !== 'string' || options.token.length === 0) {
      throw new RangeError('token must be a non-empty string');
    }
    if (options.latencyMs !== undefined && !(options.latencyMs >= 0)) throw new RangeError('latencyMs must be >= 0');
    const host = options.host ?? '127.0.0.1';
    const server = http.createServer();
    await listen(server, options.port ?? 0, host);
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('stand-in did not get a TCP address');
    return new SangamCrmStandIn(server, host, address.port, options);
  }

  /** The next `count` requests (to `api`, or to either API) get `fault`. Calls queue up in order. */
  failNext(count: number, fault: CrmFault, api?: CrmApi): void {
    if (!Number.isInteger(count) || count < 0) throw new RangeError('count must be a whole number >= 0');
    const checked = parseFault(fault);
    if (checked.kind === 'wrongLength' && api === 'notify') throw new RangeError('wrongLength applies to the call-log API only');
    if (count > 0) this.pendingFaults.push({ remaining: count, fault: checked, api });
  }

  /** Each request (to `api`, or either API) gets `fault` with `probability`; 0 turns it off. */
  failRate(probability: number, fault: CrmFault, random: () => number = Math.random, api?: CrmApi): void {
    if (!(probability >= 0 && probability <= 1)) throw new RangeError('probability must be between 0 and 1');
    const checked = parseFault(fault);
    if (checked.kind === 'wrongLength' && api === 'notify') throw new RangeError('wrongLength applies to the call-log API only');
    this.faultRates = probability === 0 ? undefined : { rates: [{ probability, fault: checked, api }], random };
  }

  /**
   * Several fault rates at once, replacing those set before (by failRate too): each request draws
   * one number from `random` and gets at most one of the faults that apply to its API, each with
   * its own probability (e.g. 3% 503 and 1% dropped connections). The probabilities that apply to
   * one API must add up to at most 1. An empty list turns them off.
   */
  failRates(rates: ReadonlyArray<CrmFaultRate>, random: () => number = Math.random): void {
    const checked = rates.map(({ probability, fault, api }) => {
      if (!(probability >= 0 && probability <= 1)) throw new RangeError('probability must be between 0 and 1');
      const parsed = parseFault(fault);
      if (parsed.kind === 'wrongLength' && api === 'notify') throw new RangeError('wrongLength applies to the call-log API only');
      return { probability, fault: parsed, api: parseApi(api) };
    });
    for (const target of ['call-log', 'notify'] as const) {
      const sum = checked.filter((rate) => rate.api === undefined || rate.api === target).reduce((total, rate) => total + rate.probability, 0);
      if (sum > 1 + 1e-9) throw new RangeError(`the probabilities for the ${target} API add up to ${sum}, more than 1`);
    }
    const active = checked.filter((rate) => rate.probability > 0);
    this.faultRates = active.length === 0 ? undefined : { rates: active, random };
  }

  /**
   * The CRM's users, by id (undefined: any id is taken). A record whose assigned_user_id names
   * no user is refused with 400 naming the record, and nothing of its request is stored, as the
   * CRM does with an owner it does not know. Not checked in fast mode.
   */
  setUsers(ids: readonly string[] | undefined): void {
    this.users = ids === undefined ? undefined : new Set(ids);
  }

  setLatency(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError('latency must be a number of milliseconds >= 0');
    this.latencyMs = ms;
  }

  /** Stops listening and destroys every open socket: new connections are refused until comeBack(). */
  async goDown(): Promise<void> {
    if (!this.listening) return;
    const stopped = this.stopListening();
    this.destroySockets();
    await stopped;
  }

  /** Listens again on the same port. */
  async comeBack(): Promise<void> {
    if (this.closed) throw new Error('stand-in is closed');
    if (this.listening) return;
    clearTimeout(this.comeBackTimer);
    this.comeBackTimer = undefined;
    await listen(this.server, this.port, this.host);
    this.listening = true;
  }

  /** Forgets stored data, requests, counters, faults and users; latency returns to the start option. */
  reset(): void {
    this.callLogs.length = 0;
    this.notifies.length = 0;
    this.requests.length = 0;
    Object.assign(this.stats, emptyStats());
    this.pendingFaults = [];
    this.faultRates = undefined;
    this.users = undefined;
    this.latencyMs = this.defaultLatencyMs;
  }

  /** Resolves once at least `n` call records are stored. */
  waitForRecords(n: number, timeoutMs = 10_000): Promise<void> {
    return this.waitFor('records', () => this.callLogs.length, n, timeoutMs, 'call records');
  }

  /** Resolves once at least `n` API requests have arrived (whole body read), answered or not. */
  waitForRequests(n: number, timeoutMs = 10_000): Promise<void> {
    return this.waitFor('request', () => this.stats.requests, n, timeoutMs, 'API requests');
  }

  private waitFor(event: string, current: () => number, n: number, timeoutMs: number, what: string): Promise<void> {
    if (current() >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onEvent = (): void => {
        if (current() < n) return;
        cleanUp();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanUp();
        reject(new Error(`waited ${timeoutMs} ms for ${n} ${what}, have ${current()}`));
      }, timeoutMs);
      const cleanUp = (): void => {
        clearTimeout(timer);
        this.events.off(event, onEvent);
      };
      this.events.on(event, onEvent);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.comeBackTimer);
    this.comeBackTimer = undefined;
    await this.goDown();
  }

  /** Synchronous part of going down: no new connections from here on; resolves when the listener closed. */
  private stopListening(): Promise<void> {
    this.listening = false;
    this.generation++;
    for (const wait of this.pendingWaits) {
      clearTimeout(wait.timer);
      wait.resolve(false);
    }
    this.pendingWaits.clear();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private destroySockets(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** Resolves true after `ms`, or false at once if the stand-in goes down meanwhile. */
  private wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const pending: PendingWait = { timer: undefined, resolve };
      pending.timer = setTimeout(() => {
        this.pendingWaits.delete(pending);
        resolve(true);
      }, ms);
      this.pendingWaits.add(pending);
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const rawUrl = req.url ?? '/';
    const queryStart = rawUrl.indexOf('?');
    const path = queryStart < 0 ? rawUrl : rawUrl.slice(0, queryStart);
    const query = queryStart < 0 ? '' : rawUrl.slice(queryStart + 1);
    const isControl = path === CONTROL_PREFIX || path.startsWith(`${CONTROL_PREFIX}/`);
    readBody(req, isControl ? MAX_CONTROL_BODY_BYTES : MAX_BODY_BYTES).then(
      (body) => (isControl ? this.handleControl(req, res, path, query, body) : this.handleApi(req, res, path, query, body)),
      () => {
        // The client went away while sending: nothing to answer.
      },
    );
  }

  private async handleApi(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
    query: string,
    body: ReceivedBody,
  ): Promise<void> {
    const api: CrmApi | undefined = path === CALL_LOG_PATH ? 'call-log' : path === NOTIFY_PATH ? 'notify' : undefined;
    this.stats.requests++;
    if (api === 'call-log') this.stats.callLogRequests++;
    if (api === 'notify') this.stats.notifyRequests++;
    this.events.emit('request');
    const connection = this.connectionIds.get(req.socket) ?? 0;
    const fault = api ? this.takeFault(api) : undefined;
    const waitMs = this.latencyMs + (fault?.kind === 'delay' ? fault.ms : 0);
    if (waitMs > 0) {
      const generation = this.generation;
      const completed = await this.wait(waitMs);
      if (!completed || generation !== this.generation) return;
    }

    let answer: Answer;
    if (fault && fault.kind !== 'delay') {
      this.stats.faulted++;
      if (fault.kind === 'drop') {
        if (fault.afterStore) {
          // Stored (if valid) as usual, but the answer never leaves: the client cannot know.
          const before = { callLogs: this.callLogs.length, notifies: this.notifies.length };
          const answer = this.check(req, api, query, body);
          if (answer.status >= 400) this.stats.rejected++;
          for (const stored of this.callLogs.slice(before.callLogs)) stored.answerLost = true;
          for (const stored of this.notifies.slice(before.notifies)) stored.answerLost = true;
        }
        this.remember(req, path, query, body, 0, connection);
        req.socket.resetAndDestroy();
        return;
      }
      answer = this.faultAnswer(fault, api, body);
    } else {
      answer = this.check(req, api, query, body);
      if (answer.status >= 400) {
        this.stats.rejected++;
        this.log?.(`refused ${answer.status} ${req.method ?? ''} ${path}: ${JSON.parse(answer.body).message}`);
      }
    }
    this.remember(req, path, query, body, answer.status, connection);
    this.send(res, answer);
  }

  /** Every check of the guide, in the order a real server would apply them; stores on success. */
  private check(req: http.IncomingMessage, api: CrmApi | undefined, query: string, body: ReceivedBody): Answer {
    if (api === undefined) return errorAnswer(404, `no such API: ${req.method ?? ''} ${(req.url ?? '').split('?')[0]}`);
    if (req.method !== 'POST') {
      const answer = errorAnswer(405, `method ${req.method ?? ''} not allowed: the ${api} API takes POST only`);
      answer.headers = { allow: 'POST' };
      return answer;
    }
    const authorization = req.headers.authorization;
    if (authorization === undefined) return errorAnswer(401, 'Authorization header missing');
    if (authorization !== this.token) {
      // Never echo the received header or the expected token.
      return errorAnswer(401, 'Authorization header does not match the API token');
    }
    const ivrNames = new URLSearchParams(query).getAll('ivr-name');
    if (ivrNames.length === 0) return errorAnswer(400, 'query parameter ivr-name missing');
    if (ivrNames.length > 1) return errorAnswer(400, 'query parameter ivr-name given more than once');
    const ivrName = ivrNames[0]!;
    if (ivrName.trim() === '') return errorAnswer(400, 'query parameter ivr-name is empty');
    const contentType = req.headers['content-type'];
    if (mediaTypeOf(contentType) !== 'application/json') {
      return errorAnswer(415, `Content-Type must be application/json, got ${contentType === undefined ? 'none' : describe(contentType)}`);
    }
    if (!acceptsJson(req.headers.accept)) {
      const accept = req.headers.accept;
      return errorAnswer(406, `Accept must include application/json, got ${accept === undefined ? 'none' : describe(accept)}`);
    }
    if (body.tooLarge) return errorAnswer(413, `body larger than ${MAX_BODY_BYTES} bytes`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.bytes.toString('utf8'));
    } catch (error) {
      // JSON.parse quotes a bit of the body; a body could hold anything, so keep the message generic.
      return errorAnswer(400, `body is not valid JSON (${body.bytes.length} bytes)`);
    }
    return api === 'call-log' ? this.acceptCallLog(parsed, ivrName) : this.acceptNotify(parsed, ivrName);
  }

  private acceptCallLog(parsed: unknown, ivrName: string): Answer {
    if (!Array.isArray(parsed)) return errorAnswer(400, `body must be a JSON array of call records, got ${describe(parsed)}`);
    if (parsed.length === 0) return errorAnswer(400, 'body must hold at least one call record, got an empty array');
    for (let index = 0; index < parsed.length; index++) {
      const problem = this.fast ? shapeProblem(parsed[index]) : callRecordProblem(parsed[index]) ?? this.ownerProblem(parsed[index]);
      if (problem) return errorAnswer(400, `record [${index}]${problem}`);
    }
    const records = parsed as Array<Record<string, unknown>>;
    const receivedAt = Date.now();
    const result = records.map((record) => {
      const id = randomUUID();
      this.callLogs.push({ ivrName, record: this.fast ? customFieldsOf(record) : record, id, receivedAt });
      return {
        id,
        call_match: 0,
        decision_variable: typeof record.decision_variable === 'string' && record.decision_variable !== '' ? record.decision_variable : 'always',
        num: record.direction === 'Outbound' ? record.enjay_lat_destination_number : record.enjay_lat_source_number,
        deleted: '0',
      };
    });
    this.stats.records += records.length;
    this.log?.(`call-log ivr-name=${ivrName}: stored ${records.length} record${records.length === 1 ? '' : 's'}`);
    this.events.emit('records');
    return jsonAnswer(200, { status: 200, result });
  }

  /** With setUsers: " field "assigned_user_id": ..." when the record's owner is not a user. */
  private ownerProblem(record: unknown): string | undefined {
    if (!this.users || !isPlainObject(record)) return undefined;
    const owner = record.assigned_user_id;
    if (typeof owner !== 'string' || owner === '' || this.users.has(owner)) return undefined;
    return ` field "assigned_user_id": assigned user ${describe(owner)} does not exist`;
  }

  private acceptNotify(parsed: unknown, ivrName: string): Answer {
    if (!isPlainObject(parsed)) return errorAnswer(400, `body must be a JSON object (one pop-up event), got ${describe(parsed)}`);
    const problem = fieldsProblem(parsed, NOTIFY_FIELD_CHECKS, NOTIFY_REQUIRED_FIELDS);
    if (problem) return errorAnswer(400, `event${problem}`);
    this.notifies.push({ ivrName, event: parsed, receivedAt: Date.now() });
    this.log?.(`notify ivr-name=${ivrName}: event ${String(parsed.event)} cli ${String(parsed.cli)} to ${String(parsed.to)}`);
    return jsonAnswer(200, { message: 'success' });
  }

  private takeFault(api: CrmApi): CrmFault | undefined {
    const applies = (fault: CrmFault, target: CrmApi | undefined): boolean =>
      (target === undefined || target === api) && !(fault.kind === 'wrongLength' && api !== 'call-log');
    const pending = this.pendingFaults.find((entry) => applies(entry.fault, entry.api));
    if (pending) {
      pending.remaining--;
      if (pending.remaining === 0) this.pendingFaults.splice(this.pendingFaults.indexOf(pending), 1);
      return pending.fault;
    }
    const rates = this.faultRates?.rates.filter((rate) => applies(rate.fault, rate.api)) ?? [];
    if (rates.length === 0) return undefined;
    // One draw per request: the faults share the unit interval, so at most one applies.
    const draw = this.faultRates!.random();
    let upTo = 0;
    for (const rate of rates) {
      upTo += rate.probability;
      if (draw < upTo) return rate.fault;
    }
    return undefined;
  }

  private faultAnswer(fault: Exclude<CrmFault, { kind: 'delay' } | { kind: 'drop' }>, api: CrmApi | undefined, body: ReceivedBody): Answer {
    switch (fault.kind) {
      case 'status': {
        const answer: Answer = fault.body !== undefined
          ? { status: fault.status, body: fault.body }
          : errorAnswer(fault.status, `stand-in fault: HTTP ${fault.status}`);
        if (fault.retryAfter !== undefined) answer.headers = { 'retry-after': fault.retryAfter };
        return answer;
      }
      case 'html':
        return { status: 502, body: BAD_GATEWAY_PAGE, headers: { 'content-type': 'text/html' } };
      case 'truncated':
        return { status: 200, body: api === 'notify' ? '{"message": "succ' : '{"status": 200, "result": [{"id": "b80a3578-' };
      case 'innerStatus':
        return jsonAnswer(200, { status: fault.status, message: `stand-in fault: internal error ${fault.status}` });
      case 'wrongLength': {
        let count = 0;
        try {
          const parsed: unknown = JSON.parse(body.bytes.toString('utf8'));
          if (Array.isArray(parsed)) count = parsed.length;
        } catch {
          // An unparsable body gets an empty result: still one shorter than anything the client sent.
        }
        const result = Array.from({ length: Math.max(0, count - 1) }, () => ({
          id: randomUUID(),
          call_match: 0,
          decision_variable: 'always',
          num: '',
          deleted: '0',
        }));
        return jsonAnswer(200, { status: 200, result });
      }
    }
  }

  private send(res: http.ServerResponse, answer: Answer): void {
    if (res.destroyed) return;
    const body = answer.body.split(this.token).join('***');
    res.writeHead(answer.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      ...answer.headers,
    });
    res.end(body);
  }

  private remember(req: http.IncomingMessage, path: string, query: string, body: ReceivedBody, status: number, connection: number): void {
    if (this.fast) return;
    this.requests.push({
      method: req.method ?? '',
      path,
      query,
      headers: { ...req.headers },
      body: body.tooLarge ? '' : body.bytes.toString('utf8'),
      status,
      connection,
    });
  }

  private handleControl(req: http.IncomingMessage, res: http.ServerResponse, path: string, query: string, body: ReceivedBody): void {
    const route = `${req.method ?? ''} ${path.slice(CONTROL_PREFIX.length)}`;
    const readJson = (): Record<string, unknown> => {
      const text = body.bytes.toString('utf8');
      if (body.tooLarge) throw new RangeError('control body too large');
      if (text.trim() === '') return {};
      const parsed: unknown = JSON.parse(text);
      if (!isPlainObject(parsed)) throw new RangeError('control body must be a JSON object');
      return parsed;
    };
    try {
      switch (route) {
        case 'GET /stats':
          return this.send(res, jsonAnswer(200, this.controlStats()));
        case 'GET /call-logs': {
          // `from` lets a benchmark page through a large store.
          const from = Number(new URLSearchParams(query).get('from') ?? '0');
          return this.send(res, jsonAnswer(200, this.callLogs.slice(Number.isInteger(from) && from > 0 ? from : 0)));
        }
        case 'GET /notifies':
          return this.send(res, jsonAnswer(200, this.notifies));
        case 'POST /reset':
          this.reset();
          return this.send(res, jsonAnswer(200, { ok: true }));
        case 'POST /fault': {
          const request = readJson();
          if (request.rates !== undefined) {
            if (!Array.isArray(request.rates)) throw new RangeError('rates must be an array of {probability, fault, api}');
            this.failRates(
              request.rates.map((rate: unknown) => {
                if (!isPlainObject(rate) || typeof rate.probability !== 'number') throw new RangeError('each rate needs a number probability');
                const api = parseApi(rate.api);
                return api === undefined
                  ? { probability: rate.probability, fault: parseFault(rate.fault) }
                  : { probability: rate.probability, fault: parseFault(rate.fault), api };
              }),
            );
            return this.send(res, jsonAnswer(200, { ok: true }));
          }
          const fault = parseFault(request.fault);
          const api = parseApi(request.api);
          if (request.count !== undefined) {
            if (typeof request.count !== 'number') throw new RangeError('count must be a number');
            this.failNext(request.count, fault, api);
          } else if (request.probability !== undefined) {
            if (typeof request.probability !== 'number') throw new RangeError('probability must be a number');
            this.failRate(request.probability, fault, Math.random, api);
          } else {
            throw new RangeError('give count (next N requests), probability (each request) or rates (several at once)');
          }
          return this.send(res, jsonAnswer(200, { ok: true }));
        }
        case 'POST /latency': {
          const ms = readJson().ms;
          if (typeof ms !== 'number') throw new RangeError('ms must be a number');
          this.setLatency(ms);
          return this.send(res, jsonAnswer(200, { ok: true }));
        }
        case 'POST /down': {
          const ms = readJson().ms;
          if (typeof ms !== 'number' || !(ms >= 0) || ms > 600_000) throw new RangeError('ms must be a number between 0 and 600000');
          if (!this.listening) throw new RangeError('already down');
          // Stop listening before answering, so that once the caller has the answer new connections are refused.
          const stopped = this.stopListening();
          res.on('finish', () => {
            this.destroySockets();
            void stopped.then(() => {
              if (this.closed) return;
              this.comeBackTimer = setTimeout(() => {
                this.comeBack().catch((error: Error) => this.log?.(`could not listen again: ${error.message}`));
              }, ms);
            });
          });
          return this.send(res, jsonAnswer(200, { ok: true, downForMs: ms }, { connection: 'close' }));
        }
        default: {
          const known = ['/stats', '/call-logs', '/notifies', '/reset', '/fault', '/latency', '/down'];
          const sub = path.slice(CONTROL_PREFIX.length);
          if (known.includes(sub)) return this.send(res, errorAnswer(405, `method ${req.method ?? ''} not allowed on ${path}`));
          return this.send(res, errorAnswer(404, `no such control route: ${path}`));
        }
      }
    } catch (error) {
      return this.send(res, errorAnswer(400, error instanceof Error ? error.message : String(error)));
    }
  }

  private controlStats(): SangamCrmStats & { callLogs: number; notifies: number; pendingFaults: number; latencyMs: number } {
    return {
      ...this.stats,
      callLogs: this.callLogs.length,
      notifies: this.notifies.length,
      pendingFaults: this.pendingFaults.reduce((sum, entry) => sum + entry.remaining, 0),
      latencyMs: this.latencyMs,
    };
  }
}

function emptyStats(): SangamCrmStats {
  return { requests: 0, callLogRequests: 0, notifyRequests: 0, records: 0, connections: 0, rejected: 0, faulted: 0 };
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Fast mode: just enough to refuse what is not a record (" must be an object..." or undefined). */
function shapeProblem(record: unknown): string | undefined {
  return isPlainObject(record) ? undefined : ` must be an object, got ${describe(record)}`;
}

function callRecordProblem(record: unknown): string | undefined {
  if (!isPlainObject(record)) return shapeProblem(record);
  return fieldsProblem(record, CALL_LOG_FIELD_CHECKS, CALL_LOG_REQUIRED_FIELDS);
}

/** The first problem of an object's fields as " field "x": ...", or undefined. Unlisted fields may be any scalar. */
function fieldsProblem(
  value: Record<string, unknown>,
  checks: Readonly<Record<string, FieldCheck>>,
  required: ReadonlyArray<string>,
): string | undefined {
  for (const field of required) {
    if (!(field in value)) return ` field "${field}": required but missing`;
  }
  for (const [field, fieldValue] of Object.entries(value)) {
    const check = Object.hasOwn(checks, field) ? checks[field] : undefined;
    const problem = check ? check(fieldValue) : isScalar(fieldValue) ? undefined : 'must be a scalar (custom fields cannot nest)';
    if (problem) return ` field "${field}": ${problem}, got ${describe(fieldValue)}`;
  }
  return undefined;
}

function customFieldsOf(record: Record<string, unknown>): Record<string, unknown> {
  const custom: Record<string, unknown> = {};
  for (const field of Object.keys(record)) {
    if (!Object.hasOwn(CALL_LOG_FIELD_CHECKS, field)) custom[field] = record[field];
  }
  return custom;
}
