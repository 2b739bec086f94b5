import { RemoteError, excerpt, redact } from '../lib/errors';
import { type KeepAliveAgents, type RawResponse, postOnce } from '../lib/http';
import { type RetryPolicy, parseRetryAfter, withRetry } from '../lib/retry';
import { isObject } from '../lib/values';
import { type ConnectParams, basicAuthorization, buildConnectForm, connectUrl } from './connect-request';
import type { RatePacer } from './rate-pacer';

/** Exotel's `Call` object (Sid, Status, DateCreated, ...), passed on as it came. */
export interface ExotelCall {
  Sid: string;
  Status?: string;
  [field: string]: unknown;
}

export interface ExotelClientOptions {
  /** From parseServiceUrl: scheme and host, no trailing slash. */
  baseUrl: string;
  accountSid: string;
  apiKey: string;
  apiToken: string;
  timeoutMs: number;
  agents: KeepAliveAgents;
  /** Shared by every node of one account; each attempt (retries too) takes a turn. */
  pacer?: RatePacer;
  retryPolicy?: Partial<RetryPolicy>;
  random?: () => number;
}

export interface ConnectOptions {
  /** Stops waiting (rate pacer, pause before a retry) and any further attempt. */
  signal?: AbortSignal;
  /** Abandons a request already sent (the call may still ring: use only when closing). */
  requestSignal?: AbortSignal;
  onQueued?: (waiting: number) => void;
  /** Called as each attempt leaves the rate pacer and goes on the wire. */
  onSending?: () => void;
  onRetry?: (info: { attempt: number; delayMs: number; error: RemoteError }) => void;
}

/** Retries only what cannot have placed a call: 429s and refused connections. */
export const EXOTEL_RETRY_POLICY: RetryPolicy = {
  retries: 3,
  baseDelayMs: 250,
  maxDelayMs: 4_000,
  maxRetryAfterMs: 60_000,
};

/** Short meanings of the statuses a user can act on. */
export const STATUS_MEANINGS: Readonly<Record<number, string>> = {
  401: 'bad credentials',
  402: 'out of balance',
  403: 'not permitted',
  404: 'unknown account SID',
  429: 'rate limited',
};

/** Places click-to-call requests on one Exotel account. */
export class ExotelClient {
  private readonly url: string;
  private readonly authorization: string;
  private readonly secrets: string[];
  private readonly policy: RetryPolicy;

  constructor(private readonly options: ExotelClientOptions) {
    this.url = connectUrl(options.baseUrl, options.accountSid);
    this.authorization = basicAuthorization(options.apiKey, options.apiToken);
    // The header value is a secret too: base64 of key:token.
    this.secrets = [options.apiKey, options.apiToken, this.authorization.slice('Basic '.length)];
    this.policy = { ...EXOTEL_RETRY_POLICY, ...options.retryPolicy };
  }

  /**
   * Places one call. Never retried once the request may have reached Exotel (time-out, reset,
   * 5xx): placing a call is not idempotent, a retry could ring both phones twice.
   */
  connect(params: ConnectParams, options: ConnectOptions = {}): Promise<ExotelCall> {
    const body = buildConnectForm(params).toString();
    return withRetry(
      async () => {
        await this.options.pacer?.acquire({ signal: options.signal, onQueued: options.onQueued });
        options.onSending?.();
        return this.connectOnce(body, options.requestSignal);
      },
      this.policy,
      {
        signal: options.signal,
        random: this.options.random,
        onRetry: options.onRetry,
        isRetryable: (error) => error.retryable && error.options.mayHaveReachedServer !== true,
      },
    );
  }

  /** One attempt with a form body already built. */
  async connectOnce(body: string, requestSignal?: AbortSignal): Promise<ExotelCall> {
    const response = await postOnce({
      url: this.url,
      headers: {
        authorization: this.authorization,
        accept: 'application/json',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body,
      timeoutMs: this.options.timeoutMs,
      agents: this.options.agents,
      secrets: this.secrets,
      signal: requestSignal,
    });
    return this.parseAnswer(response);
  }

  private parseAnswer(response: RawResponse): ExotelCall {
    const { statusCode } = response;
    const parsed = parseJson(response.body);
    if (statusCode >= 200 && statusCode < 300) {
      const call = isObject(parsed) ? parsed.Call : undefined;
      if (isObject(call) && typeof call.Sid === 'string') return call as ExotelCall;
      // The call may well have been placed: say so, and never retry.
      const what = parsed === undefined ? 'a body that is not JSON' : 'no Call object';
      throw new RemoteError(
        `Exotel answered ${statusCode} with ${what} (the call may have been placed): ${this.clean(response.body)}`,
        { statusCode, retryable: false, mayHaveReachedServer: true },
      );
    }
    const rest = isObject(parsed) && isObject(parsed.RestException) ? parsed.RestException : undefined;
    const meaning = STATUS_MEANINGS[statusCode];
    const mayHaveReachedServer = statusCode >= 500 || statusCode === 408;
    const retryable = statusCode === 429;
    const retryAfterMs = retryable ? parseRetryAfter(response.headers['retry-after']) : undefined;
    let message: string;
    let code: string | undefined;
    if (rest) {
      code = rest.Code === undefined || rest.Code === null ? undefined : String(rest.Code);
      const text = typeof rest.Message === 'string' && rest.Message.trim() !== '' ? rest.Message : 'no message';
      const notes = [code === undefined ? undefined : `code ${code}`, meaning].filter(Boolean).join('; ');
      message = `Exotel answered ${statusCode}: ${this.clean(text)}${notes ? ` (${notes})` : ''}`;
    } else if (parsed === undefined && response.body.trim() !== '') {
      message = `Exotel answered ${statusCode}${meaning ? ` (${meaning})` : ''} with a body that is not JSON: ${this.clean(response.body)}`;
    } else {
      message = `Exotel answered ${statusCode}${meaning ? ` (${meaning})` : ''} without an error message`;
    }
    if (mayHaveReachedServer) message += '; not retried: the call may have been placed';
    return failWith(new RemoteError(message, { statusCode, code, retryable, retryAfterMs, mayHaveReachedServer }));
  }

  private clean(text: string): string {
    return excerpt(redact(text, this.secrets));
  }
}

function failWith(error: RemoteError): never {
  throw error;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
