import { AbortedError, RemoteError } from './errors';

export interface RetryPolicy {
  /** Retries after the first attempt (0 = one attempt only). */
  retries: number;
  /** Delay before the first retry; doubles each time. */
  baseDelayMs: number;
  /** Upper bound of one backoff delay (a Retry-After may ask for more, up to maxRetryAfterMs). */
  maxDelayMs: number;
  /** Longest Retry-After the caller is willing to wait for; longer ones fail at once. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retries: 4,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 60_000,
};

/** Exponential backoff with "equal jitter": a random delay in [ceiling / 2, ceiling], ceiling = min(max, base * 2^retryIndex). */
export function backoffDelay(retryIndex: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retryIndex);
  // Never zero: a little spacing keeps a fleet of nodes from retrying in lock step.
  return Math.max(1, Math.round(ceiling * (0.5 + random() / 2)));
}

/** Parses Retry-After (delta seconds or an HTTP date) into milliseconds from now. */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const header = Array.isArray(value) ? value[0] : value;
  if (header === undefined || header.trim() === '') return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  // Every HTTP-date form starts with a day name. Without this check Date.parse would take
  // garbage such as "-1" or "1 2" for a date in 2001, i.e. "retry at once".
  if (!/^(mon|tue|wed|thu|fri|sat|sun)/i.test(trimmed)) return undefined;
  // The asctime form names no zone; HTTP dates are GMT, but Date.parse would read it as local time.
  const zoned = /^[a-z]{3} [a-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/i.test(trimmed) ? `${trimmed} GMT` : trimmed;
  const date = Date.parse(zoned);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

export interface RetryHooks {
  /** Called before waiting for a retry: attempt is the number of the attempt that failed (1-based). */
  onRetry?: (info: { attempt: number; delayMs: number; error: RemoteError }) => void;
  /** Aborts the wait between attempts (node closed). */
  signal?: AbortSignal;
  /** Overrides the decision for an error, knowing how long the wait before the retry would be; defaults to error.retryable. */
  isRetryable?: (error: RemoteError, delayMs: number) => boolean;
  random?: () => number;
}

/**
 * Runs `attempt` until it succeeds, the error is not retryable, or the policy's retries run out.
 * Only RemoteErrors are retried; anything else (a bug, a ValidationError) fails at once.
 */
export async function withRetry<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
): Promise<T> {
  for (let attemptNumber = 1; ; attemptNumber++) {
    if (hooks.signal?.aborted) throw new AbortedError('stopped before the request could be sent');
    try {
      return await attempt(attemptNumber);
    } catch (error) {
      if (!(error instanceof RemoteError)) throw error;
      if (attemptNumber > policy.retries) throw error;
      let delayMs = backoffDelay(attemptNumber - 1, policy, hooks.random);
      if (error.retryAfterMs !== undefined) {
        if (error.retryAfterMs > policy.maxRetryAfterMs) throw error;
        delayMs = Math.max(error.retryAfterMs, 1);
      }
      const retryable = hooks.isRetryable ? hooks.isRetryable(error, delayMs) : error.retryable;
      if (!retryable) throw error;
      hooks.onRetry?.({ attempt: attemptNumber, delayMs, error });
      await sleep(delayMs, hooks.signal);
    }
  }
}

/** setTimeout as a promise that an AbortSignal can cut short (rejecting with AbortedError). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError('stopped while waiting to retry'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError('stopped while waiting to retry'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
