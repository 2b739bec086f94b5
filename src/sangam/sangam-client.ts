import { ConfigError, RemoteError, ValidationError, excerpt, redact } from '../lib/errors';
import { KeepAliveAgents, RawResponse, Semaphore, postOnce } from '../lib/http';
import { RecoverySignal, parseRetryAfter } from '../lib/retry';
import { isObject } from '../lib/values';

/** One entry of the call-log API's `result` array (guide section 1, "Response Format"). */
export interface CallLogResult {
  id?: string;
  call_match?: number;
  decision_variable?: string;
  num?: string;
  deleted?: string;
  [field: string]: unknown;
}

/** The pop-up API's answer (guide section 2): `{"message": "success"}`. */
export interface NotifyAnswer {
  message?: string;
  [field: string]: unknown;
}

export interface SangamClientOptions {
  /** Base URL from parseServiceUrl, without a trailing slash. */
  baseUrl: string;
  /** Sent verbatim as the Authorization header value. */
  token: string;
  timeoutMs: number;
  agents: KeepAliveAgents;
  /**
   * Connections only pop-ups use (default: `agents`). Batches would take every free connection of
   * a shared pool as it frees, so a pop-up would open a new one behind them while a backlog drains.
   */
  popupAgents?: KeepAliveAgents;
  /** Bound on requests in flight across every node sharing this client. */
  maxInFlight: number;
}

/**
 * Requests in flight (of the config's maxSockets) that only pop-ups may use: however many batches
 * the call-log nodes and the outbox's replay want on the wire, a ringing phone never waits for one
 * of them to end.
 */
const POPUP_RESERVED_SLOTS = 2;

export const CALL_LOG_PATH = '/api/v1/ivr-call-log';
export const NOTIFY_PATH = '/api/v1/ivr-call-notify';

/** Rejects what cannot go into a query string or header safely (CR/LF injection, empty names). */
export function checkIvrName(ivrName: unknown): string {
  if (typeof ivrName !== 'string' || ivrName.trim() === '') {
    throw new ValidationError('ivr-name is not set: set it on the node, on the sangam-config node, or as msg.ivrName', 'ivrName');
  }
  if (/[\u0000-\u001f\u007f]/.test(ivrName)) {
    throw new ValidationError('ivrName contains a line break or control character', 'ivrName');
  }
  if (ivrName.length > 200) throw new ValidationError('ivrName is longer than 200 characters', 'ivrName');
  return ivrName;
}

/** Checks a token once, when the config node starts; never echoes it. */
export function checkToken(token: unknown): string {
  if (typeof token !== 'string' || token === '') {
    throw new ConfigError('the API token is not set in the sangam-config node');
  }
  if (/[\u0000-\u001f\u007f]/.test(token)) {
    throw new ConfigError('the API token contains a line break or control character: paste it again');
  }
  return token;
}

/**
 * The two SangamCRM APIs over one keep-alive agent. Every method makes exactly one HTTP attempt
 * and either resolves with the CRM's answer or rejects with a RemoteError that says whether a
 * retry is safe; retrying is the caller's decision.
 */
export class SangamClient {
  /**
   * Told of every answer with a 2xx status; the retries of every node of this CRM (call logs and
   * pop-ups) wait on it: once one request gets through after an outage, the others stop waiting
   * out their backoff.
   */
  readonly recovery = new RecoverySignal();
  private readonly limiter: Semaphore;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: SangamClientOptions) {
    this.limiter = new Semaphore(options.maxInFlight, POPUP_RESERVED_SLOTS);
    this.headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      authorization: options.token,
    };
  }

  /** POSTs records (already normalised) and returns one result per record, in order. */
  async postCallLogs(body: string | Buffer, recordCount: number, ivrName: string, signal?: AbortSignal): Promise<CallLogResult[]> {
    const response = await this.post(CALL_LOG_PATH, body, ivrName, signal);
    const answer = this.parseAnswer(response, 'call-log');
    if (!isObject(answer)) throw this.garbage(response, 'an answer that is not a JSON object');
    this.checkInnerStatus(answer, response);
    const result = answer.result;
    if (!Array.isArray(result)) throw this.garbage(response, 'an answer without a result array');
    if (result.length !== recordCount) {
      // The CRM took the request but its answer cannot be matched to our records: resending
      // could duplicate, and accepting could hide a loss. Report it; do not retry. Callers neither
      // retry nor replay it: they acknowledge the records as probably stored (see isUnverified).
      throw new RemoteError(
        `SangamCRM answered ${result.length} result(s) for ${recordCount} record(s); cannot tell which records were stored`,
        { statusCode: response.statusCode, code: 'ERESULTLENGTH', retryable: false, mayHaveReachedServer: true },
      );
    }
    return result as CallLogResult[];
  }

  /** POSTs one pop-up event. */
  async postNotify(body: string, ivrName: string, signal?: AbortSignal): Promise<NotifyAnswer> {
    // Urgent: a pop-up must not queue behind call-log batches for the same connections.
    const response = await this.post(NOTIFY_PATH, body, ivrName, signal, true);
    const answer = this.parseAnswer(response, 'call-notify');
    if (!isObject(answer)) throw this.garbage(response, 'an answer that is not a JSON object');
    this.checkInnerStatus(answer, response);
    return answer as NotifyAnswer;
  }

  private post(path: string, body: string | Buffer, ivrName: string, signal?: AbortSignal, urgent = false): Promise<RawResponse> {
    const url = `${this.options.baseUrl}${path}?ivr-name=${encodeURIComponent(checkIvrName(ivrName))}`;
    return this.limiter.run(() =>
      postOnce({
        url,
        headers: this.headers,
        body,
        timeoutMs: this.options.timeoutMs,
        agents: urgent ? (this.options.popupAgents ?? this.options.agents) : this.options.agents,
        secrets: [this.options.token],
        signal,
      }),
      urgent,
    );
  }

  /** Turns an HTTP answer into parsed JSON, or a RemoteError that says what came back. */
  private parseAnswer(response: RawResponse, api: string): unknown {
    const { statusCode } = response;
    if (statusCode < 200 || statusCode >= 300) {
      const retryable = statusCode === 408 || statusCode === 429 || statusCode >= 500;
      throw new RemoteError(`SangamCRM ${api} API answered HTTP ${statusCode}: ${this.serverMessage(response)}`, {
        statusCode,
        retryable,
        retryAfterMs: retryable ? parseRetryAfter(response.headers['retry-after']) : undefined,
        mayHaveReachedServer: true,
      });
    }
    this.recovery.recovered();
    try {
      return JSON.parse(response.body) as unknown;
    } catch {
      throw this.garbage(response, 'an answer that is not valid JSON');
    }
  }

  /** The CRM reports failures inside a 200 answer as `{"status": 500, "message": ...}`. */
  private checkInnerStatus(answer: Record<string, unknown>, response: RawResponse): void {
    if (!('status' in answer)) return;
    const inner = Number(answer.status);
    if (inner === 200) return;
    throw new RemoteError(
      `SangamCRM answered status ${String(answer.status)} inside HTTP ${response.statusCode}: ${this.serverMessage(response)}`,
      {
        statusCode: Number.isFinite(inner) ? inner : response.statusCode,
        code: 'ECRMSTATUS',
        retryable: !Number.isFinite(inner) || inner >= 500 || inner === 429 || inner === 408,
        mayHaveReachedServer: true,
      },
    );
  }

  /** An answer we cannot read (HTML error page, truncated JSON): likely a proxy or a crash; retry. */
  private garbage(response: RawResponse, what: string): RemoteError {
    return new RemoteError(
      `SangamCRM sent ${what} (HTTP ${response.statusCode}): ${this.serverMessage(response)}`,
      { statusCode: response.statusCode, code: 'EBADANSWER', retryable: true, mayHaveReachedServer: true },
    );
  }

  /** The CRM's own message if it sent JSON with one, else the start of the body; never the token. */
  private serverMessage(response: RawResponse): string {
    let text = response.body;
    try {
      const parsed = JSON.parse(response.body) as unknown;
      if (isObject(parsed)) {
        const message = parsed.message ?? parsed.error ?? parsed.msg;
        if (typeof message === 'string') text = message;
      }
    } catch {
      // Not JSON: an HTML page or a truncated body; show its start.
      text = response.body.replace(/<[^>]*>/g, ' ');
    }
    return excerpt(redact(text, [this.options.token]) || '(empty body)');
  }
}
