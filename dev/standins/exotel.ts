/**
 * A strict local stand-in for Exotel's click-to-call API (see exotel-connect-api.md):
 *   POST /v1/Accounts/{sid}/Calls/connect.json   form-encoded, HTTP Basic (API key : API token)
 * It checks what the real API checks (auth, account, parameters, content type, rate limit) and
 * answers in Exotel's shapes ({"Call": ...} or {"RestException": ...}). It can end a call by POSTing
 * a status callback to the call's StatusCallback URL, as Exotel does, optionally twice (Exotel
 * retries when the answer is slow). Faults can be injected; a control API under /__control lets
 * another process (`npm start`, a benchmark) drive it. It never echoes credentials.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface ExotelStandInOptions {
  accountSid: string;
  apiKey: string;
  apiToken: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Connect requests allowed per rate window before 429 (default 200, Exotel's limit). */
  rateLimit?: number;
  /** Default 60 000 ms (a minute, as Exotel counts). */
  rateWindowMs?: number;
  /** End every placed call after this many ms (status completed), for `npm start`. */
  autoEndMs?: number;
  /** Deliver every status callback twice, as Exotel does when the first answer is slow. */
  deliverCallbacksTwice?: boolean;
  /** Receives one short line per request and callback. */
  log?: (line: string) => void;
}

export type ExotelFault =
  | { status: 400 | 401 | 402 | 403 | 404 | 409 | 429 | 500 | 503; retryAfter?: number; message?: string }
  /** Answer (normally, call placed) only after `delay` ms: a client time-out. */
  | { delay: number }
  /** Close the connection without an answer, placing no call. */
  | { drop: true };

export interface ExotelRequestRecord {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The form body parsed (last value wins for a repeated name). */
  form: Record<string, string>;
  /** Status answered; 0 when dropped. */
  status: number;
  at: number;
}

export interface CallbackDelivery {
  url: string;
  contentType: string;
  fields: Record<string, unknown>;
  /** HTTP status of the receiver's answer, or 0 when it could not be reached. */
  statusCode: number;
  error?: string;
}

export interface StandInCall {
  sid: string;
  /** The connect request's form fields. */
  form: Record<string, string>;
  /** The Call object answered. */
  call: Record<string, unknown>;
  createdAt: number;
  ended: boolean;
  callbacks: CallbackDelivery[];
}

export interface ExotelStandInStats {
  /** API requests (connect.json and anything else outside /__control). */
  requests: number;
  /** Calls placed (200 answers). */
  placed: number;
  /** Refused requests by status. */
  refused: Record<string, number>;
  dropped: number;
  callbacksDelivered: number;
  callbacksFailed: number;
}

export interface EndCallOptions {
  /** Default completed. */
  status?: 'completed' | 'failed' | 'busy' | 'no-answer' | 'canceled';
  /** Talk time in seconds (default 42 for completed, 0 otherwise). */
  conversationDuration?: number;
  recordingUrl?: string;
  /** Deliver the callback twice (default: the stand-in's deliverCallbacksTwice). */
  twice?: boolean;
  /** Default terminal. */
  eventType?: 'terminal' | 'answered';
  /** Extra or replaced callback fields. */
  fields?: Record<string, string>;
}

const CONNECT_PATH = /^\/v1\/Accounts\/([^/]+)\/Calls\/connect\.json$/;
const PHONE = /^\+?\d{6,16}$/;
const KNOWN_PARAMETERS = new Set([
  'From', 'To', 'CallerId', 'CallType', 'TimeLimit', 'TimeOut', 'WaitUrl', 'Record', 'RecordingChannels',
  'RecordingFormat', 'CustomField', 'StatusCallback', 'StatusCallbackContentType',
]);
const ENUMERATIONS: Record<string, readonly string[]> = {
  CallType: ['trans'],
  Record: ['true', 'false'],
  RecordingChannels: ['single', 'dual'],
  RecordingFormat: ['mp3', 'mp3-hq'],
  StatusCallbackContentType: ['multipart/form-data', 'application/json'],
};
const MAX_BODY_BYTES = 64 * 1024;

class RestFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: number | string = status,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class ExotelStandIn {
  readonly requests: ExotelRequestRecord[] = [];
  readonly calls: StandInCall[] = [];
  readonly stats: ExotelStandInStats = emptyStats();
  private readonly faults: ExotelFault[] = [];
  /** Times of connect requests counted against the rate limit (sliding window). */
  private readonly rateWindow: number[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sockets = new Set<Socket>();
  private readonly expectedAuthorization: string;
  private readonly rateLimit: number;
  private readonly rateWindowMs: number;
  private baseUrl = '';

  private constructor(
    private readonly options: ExotelStandInOptions,
    private readonly server: http.Server,
  ) {
    this.expectedAuthorization = `Basic ${Buffer.from(`${options.apiKey}:${options.apiToken}`).toString('base64')}`;
    this.rateLimit = options.rateLimit ?? 200;
    this.rateWindowMs = options.rateWindowMs ?? 60_000;
  }

  static async start(options: ExotelStandInOptions): Promise<ExotelStandIn> {
    const server = http.createServer();
    const standIn = new ExotelStandIn(options, server);
    server.on('request', (req, res) => standIn.handle(req, res));
    server.on('connection', (socket) => {
      standIn.sockets.add(socket);
      socket.on('close', () => standIn.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('the stand-in has no TCP address');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    standIn.baseUrl = `http://${host}:${address.port}`;
    return standIn;
  }

  /** Base URL, e.g. http://127.0.0.1:39211 (what exotel-config's subdomain takes). */
  get url(): string {
    return this.baseUrl;
  }

  /** The next `count` connect requests meet `fault` instead of the normal answer. */
  failNext(count: number, fault: ExotelFault): void {
    for (let i = 0; i < count; i++) this.faults.push(fault);
  }

  /** Forgets requests, calls, faults, the rate window and the counters. */
  reset(): void {
    this.requests.length = 0;
    this.calls.length = 0;
    this.faults.length = 0;
    this.rateWindow.length = 0;
    Object.assign(this.stats, emptyStats());
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  /**
   * Ends a call: POSTs a status callback to its StatusCallback URL (multipart/form-data, or JSON
   * when the call asked for it) with the fields Exotel sends, once or twice.
   */
  async endCall(sid: string, options: EndCallOptions = {}): Promise<CallbackDelivery[]> {
    const placed = this.calls.find((call) => call.sid === sid);
    if (!placed) throw new Error(`no call ${sid}`);
    const url = placed.form.StatusCallback;
    const eventType = options.eventType ?? 'terminal';
    const status = eventType === 'answered' ? 'in-progress' : options.status ?? 'completed';
    if (eventType === 'terminal') {
      placed.ended = true;
      placed.call.Status = status;
    }
    if (!url) return [];
    const now = Date.now();
    const talked = options.conversationDuration ?? (status === 'completed' ? 42 : 0);
    const endTime = eventType === 'terminal' ? exotelTime(now) : '';
    const recordingUrl =
      options.recordingUrl ??
      (placed.form.Record === 'true' && status === 'completed' ? `${this.baseUrl}/recordings/${sid}.mp3` : '');
    const legs = [
      { OnCallDuration: talked + 5, Status: status, AnsweredBy: status === 'completed' ? 'human' : null },
      { OnCallDuration: talked, Status: status, AnsweredBy: status === 'completed' ? 'human' : null },
    ];
    const fields: Record<string, unknown> = {
      CallSid: sid,
      Status: status,
      DateUpdated: exotelTime(now),
      RecordingUrl: recordingUrl,
      EventType: eventType,
      DateCreated: placed.call.DateCreated,
      To: placed.form.To,
      From: placed.form.From,
      PhoneNumberSid: placed.form.CallerId,
      StartTime: placed.call.StartTime,
      EndTime: endTime,
      ConversationDuration: talked,
      Direction: 'outbound-api',
      CustomField: placed.form.CustomField ?? '',
      Legs: legs,
      ...options.fields,
    };
    const asJson = placed.form.StatusCallbackContentType === 'application/json';
    const twice = options.twice ?? this.options.deliverCallbacksTwice ?? false;
    const deliveries: CallbackDelivery[] = [];
    for (let round = 0; round < (twice ? 2 : 1); round++) {
      const delivery = await deliverCallback(url, fields, asJson);
      if (delivery.statusCode >= 200 && delivery.statusCode < 300) this.stats.callbacksDelivered++;
      else this.stats.callbacksFailed++;
      this.options.log?.(`callback ${eventType} ${sid} -> ${delivery.statusCode || delivery.error}`);
      placed.callbacks.push(delivery);
      deliveries.push(delivery);
    }
    return deliveries;
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = (req.url ?? '/').split('?')[0] as string;
      if (path.startsWith('/__control/')) {
        this.control(req.method ?? 'GET', path, body, res).catch((error: Error) =>
          sendJson(res, 500, { error: error.message }),
        );
        return;
      }
      this.api(req, res, path, body, size > MAX_BODY_BYTES).catch((error: Error) =>
        sendJson(res, 500, restException(500, `stand-in failure: ${error.message}`, 500)),
      );
    });
  }

  private async api(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
    body: string,
    tooLarge: boolean,
  ): Promise<void> {
    const form = Object.fromEntries(new URLSearchParams(body));
    const record: ExotelRequestRecord = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body,
      form,
      status: 0,
      at: Date.now(),
    };
    this.requests.push(record);
    this.stats.requests++;
    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      if (status !== 200) this.stats.refused[status] = (this.stats.refused[status] ?? 0) + 1;
      this.options.log?.(`${record.method} ${path} -> ${status}`);
      sendJson(res, status, payload, headers);
    };
    try {
      const match = CONNECT_PATH.exec(path);
      if (!match) throw new RestFailure(404, 'The requested resource was not found');
      if (req.method !== 'POST') throw new RestFailure(405, `Method ${req.method ?? ''} not allowed`, 405, { allow: 'POST' });

      const fault = this.faults.shift();
      if (fault && 'drop' in fault) {
        record.status = 0;
        this.stats.dropped++;
        req.socket.destroy();
        return;
      }
      if (fault && 'status' in fault) {
        const headers: Record<string, string> = {};
        if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
        const message = fault.message ?? FAULT_MESSAGES[fault.status] ?? 'Error';
        throw new RestFailure(fault.status, message, fault.status === 429 ? 'RATE_LIMIT_EXCEEDED' : fault.status, headers);
      }

      if (req.headers.authorization !== this.expectedAuthorization) {
        throw new RestFailure(401, 'Authentication failed: invalid API key or token', 20003, {
          'www-authenticate': 'Basic realm="Exotel"',
        });
      }
      const sid = safeDecode(match[1] as string);
      if (sid !== this.options.accountSid) throw new RestFailure(404, 'Account not found', 20404);
      this.checkRateLimit();
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (contentType !== 'application/x-www-form-urlencoded') {
        throw new RestFailure(400, 'Content-Type must be application/x-www-form-urlencoded', 21601);
      }
      if (tooLarge) throw new RestFailure(413, 'Request body too large', 413);
      checkForm(body, form);

      const placed = this.place(sid, form);
      if (fault && 'delay' in fault) await this.wait(fault.delay);
      if (res.destroyed) return;
      answer(200, { Call: placed.call });
    } catch (error) {
      if (!(error instanceof RestFailure)) throw error;
      answer(error.status, restException(error.status, error.message, error.code), error.headers);
    }
  }

  private checkRateLimit(): void {
    const now = Date.now();
    while (this.rateWindow.length > 0 && now - (this.rateWindow[0] as number) >= this.rateWindowMs) this.rateWindow.shift();
    if (this.rateWindow.length >= this.rateLimit) {
      const waitMs = this.rateWindowMs - (now - (this.rateWindow[0] as number));
      const resetSeconds = Math.max(1, Math.ceil(waitMs / 1000));
      throw new RestFailure(429, 'Too many requests: rate limit exceeded', 'RATE_LIMIT_EXCEEDED', {
        'retry-after': String(resetSeconds),
        'x-ratelimit-limit': String(this.rateLimit),
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(resetSeconds),
      });
    }
    this.rateWindow.push(now);
  }

  private place(accountSid: string, form: Record<string, string>): StandInCall {
    const sid = randomBytes(16).toString('hex');
    const now = Date.now();
    const created = exotelTime(now);
    const uri = `/v1/Accounts/${accountSid}/Calls/${sid}.json`;
    const call: Record<string, unknown> = {
      Sid: sid,
      ParentCallSid: null,
      DateCreated: created,
      DateUpdated: created,
      AccountSid: accountSid,
      To: form.To,
      From: form.From,
      PhoneNumberSid: form.CallerId,
      Status: 'in-progress',
      StartTime: created,
      EndTime: null,
      Duration: null,
      Price: null,
      Direction: 'outbound-api',
      AnsweredBy: null,
      ForwardedFrom: null,
      CallerName: null,
      Uri: uri,
      RecordingUrl: null,
      SubResourceUris: { Notifications: `/v1/Accounts/${accountSid}/Calls/${sid}/Notifications.json` },
    };
    const placed: StandInCall = { sid, form, call: { ...call }, createdAt: now, ended: false, callbacks: [] };
    this.calls.push(placed);
    this.stats.placed++;
    if (this.options.autoEndMs !== undefined) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.endCall(sid).catch((error: Error) => this.options.log?.(`auto-end ${sid} failed: ${error.message}`));
      }, this.options.autoEndMs);
      this.timers.add(timer);
    }
    return { ...placed, call };
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private async control(method: string, path: string, body: string, res: http.ServerResponse): Promise<void> {
    const input = body.trim() === '' ? {} : (JSON.parse(body) as Record<string, unknown>);
    if (method === 'GET' && path === '/__control/stats') return sendJson(res, 200, this.stats);
    if (method === 'GET' && path === '/__control/calls') {
      return sendJson(
        res,
        200,
        this.calls.map(({ sid, form, call, ended, callbacks }) => ({ sid, form, call, ended, callbacks })),
      );
    }
    if (method === 'POST' && path === '/__control/reset') {
      this.reset();
      return sendJson(res, 200, { reset: true });
    }
    if (method === 'POST' && path === '/__control/fault') {
      const count = typeof input.count === 'number' ? input.count : 1;
      this.failNext(count, input.fault as ExotelFault);
      return sendJson(res, 200, { queued: count });
    }
    const end = /^\/__control\/end\/([^/]+)$/.exec(path);
    if (method === 'POST' && end) {
      const sid = safeDecode(end[1] as string);
      if (!this.calls.some((call) => call.sid === sid)) return sendJson(res, 404, { error: `no call ${sid}` });
      const deliveries = await this.endCall(sid, input as EndCallOptions);
      return sendJson(res, 200, { deliveries });
    }
    return sendJson(res, 404, { error: `no control endpoint ${method} ${path}` });
  }
}

const FAULT_MESSAGES: Record<number, string> = {
  400: 'Invalid parameter',
  401: 'Authentication failed',
  402: 'Insufficient balance in your account',
  403: 'Your account is not permitted to make this call',
  404: 'The requested resource was not found',
  409: 'Conflict',
  429: 'Too many requests: rate limit exceeded',
  500: 'Internal server error',
  503: 'Service temporarily unavailable',
};

/** Checks the connect form like Exotel: 400 naming the parameter. */
function checkForm(body: string, form: Record<string, string>): void {
  const events = new URLSearchParams(body);
  for (const name of events.keys()) {
    if (KNOWN_PARAMETERS.has(name)) continue;
    const event = /^StatusCallbackEvents\[(\d+)\]$/.exec(name);
    if (event) {
      const value = events.get(name) ?? '';
      if (value !== 'terminal' && value !== 'answered') {
        throw new RestFailure(400, `Invalid value for ${name}: must be terminal or answered`, 400);
      }
      continue;
    }
    throw new RestFailure(400, `Unknown parameter ${name}`, 400);
  }
  for (const name of ['From', 'To', 'CallerId']) {
    const value = form[name];
    if (value === undefined || value === '') throw new RestFailure(400, `Missing parameter ${name}`, 400);
    if (!PHONE.test(value)) throw new RestFailure(400, `Invalid phone number in ${name}`, 400);
  }
  for (const [name, allowed] of Object.entries(ENUMERATIONS)) {
    const value = form[name];
    if (value !== undefined && !allowed.includes(value)) {
      throw new RestFailure(400, `Invalid value for ${name}: must be one of ${allowed.join(', ')}`, 400);
    }
  }
  if (form.TimeLimit !== undefined) {
    const limit = Number(form.TimeLimit);
    if (!/^\d+$/.test(form.TimeLimit) || limit < 1 || limit > 14_400) {
      throw new RestFailure(400, 'TimeLimit must be a whole number of seconds up to 14400', 400);
    }
  }
  if (form.TimeOut !== undefined && (!/^\d+$/.test(form.TimeOut) || Number(form.TimeOut) < 1)) {
    throw new RestFailure(400, 'TimeOut must be a positive whole number of seconds', 400);
  }
  if (form.CustomField !== undefined && form.CustomField.length > 128) {
    throw new RestFailure(400, 'CustomField must be at most 128 characters', 400);
  }
  for (const name of ['WaitUrl', 'StatusCallback']) {
    const value = form[name];
    if (value !== undefined && !/^https?:\/\/[^\s]+$/i.test(value)) {
      throw new RestFailure(400, `${name} must be an http or https URL`, 400);
    }
  }
}

function restException(status: number, message: string, code: number | string): unknown {
  return { RestException: { Status: status, Message: message, Code: code } };
}

function sendJson(res: http.ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function emptyStats(): ExotelStandInStats {
  return { requests: 0, placed: 0, refused: {}, dropped: 0, callbacksDelivered: 0, callbacksFailed: 0 };
}

/** 'YYYY-MM-DD HH:mm:ss' in India time, the zone Exotel's Indian accounts see. */
export function exotelTime(ms: number): string {
  return new Date(ms + 5.5 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
}

/** POSTs one status callback; never rejects (a failure is recorded in the delivery). */
function deliverCallback(url: string, fields: Record<string, unknown>, asJson: boolean): Promise<CallbackDelivery> {
  let body: Buffer;
  let contentType: string;
  if (asJson) {
    body = Buffer.from(JSON.stringify(fields));
    contentType = 'application/json';
  } else {
    const boundary = `----ExotelStandIn${randomBytes(8).toString('hex')}`;
    const parts = Object.entries(fields).map(([name, value]) => {
      const text = typeof value === 'string' ? value : value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
      return `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${text}\r\n`;
    });
    body = Buffer.from(`${parts.join('')}--${boundary}--\r\n`);
    contentType = `multipart/form-data; boundary=${boundary}`;
  }
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const request = transport.request(
      target,
      { method: 'POST', headers: { 'content-type': contentType, 'content-length': body.length }, timeout: 15_000 },
      (response) => {
        response.resume();
        response.on('end', () => resolve({ url, contentType, fields, statusCode: response.statusCode ?? 0 }));
      },
    );
    request.on('timeout', () => request.destroy(new Error('no answer within 15 s')));
    request.on('error', (error) => resolve({ url, contentType, fields, statusCode: 0, error: error.message }));
    request.end(body);
  });
}
