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
  /**
   * Shared by the requests to one service, whose client calls recovered() when the service answers:
   * a retry waiting after a failure that got no answer at all (the service was unreachable) then
   * goes early.
   */
  recovery?: RecoverySignal;
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
      if (hooks.recovery && foundNoService(error)) {
        await hooks.recovery.wait(delayMs, Math.min(delayMs, policy.baseDelayMs), hooks.signal);
      } else {
        await sleep(delayMs, hooks.signal);
      }
    }
  }
}

/**
 * A failure that found no service to answer (refused, reset, unreachable): its retry may go as soon
 * as the service answers someone else. An answer (a 5xx, a 429, a Retry-After) says it is up and
 * wants the backoff kept, and so may a time-out (a service too busy to answer in time): the
 * successes of other requests must not cut those short.
 */
function foundNoService(error: RemoteError): boolean {
  return error.statusCode === undefined && error.retryAfterMs === undefined && error.code !== 'ETIMEDOUT';
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

interface RecoveryWaiter {
  timer: NodeJS.Timeout;
  /** When the wait may end early, at the soonest. */
  earliest: number;
  /** recovered() has moved its end to `earliest` already. */
  woken: boolean;
  end: () => void;
}

/**
 * What lets retries of one service go as soon as it is back: after an outage, requests that failed
 * at different times would each wait out their own backoff (up to seconds), while one that happens
 * to retry finds the service answering. recovered() ends the waits that were for a service that did
 * not answer, each no sooner than its minimum (the base delay), so a service that answers one
 * request in many is not hammered.
 */
export class RecoverySignal {
  private readonly waiters = new Set<RecoveryWaiter>();

  /** Waits `ms`, or less once recovered() is called (at least `minMs`); rejects with AbortedError on `signal`. */
  wait(ms: number, minMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError('stopped while waiting to retry'));
      const waiter: RecoveryWaiter = {
        timer: setTimeout(() => waiter.end(), ms),
        earliest: Date.now() + minMs,
        woken: false,
        end: () => {
          clearTimeout(waiter.timer);
          this.waiters.delete(waiter);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        clearTimeout(waiter.timer);
        this.waiters.delete(waiter);
        reject(new AbortedError('stopped while waiting to retry'));
      };
      this.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The service answered: every wait ends now, or at its minimum if that is still to come. */
  recovered(): void {
    if (this.waiters.size === 0) return;
    const now = Date.now();
    for (const waiter of this.waiters) {
      if (waiter.earliest <= now) {
        waiter.end();
      } else if (!waiter.woken) {
        waiter.woken = true;
        clearTimeout(waiter.timer);
        waiter.timer = setTimeout(() => waiter.end(), waiter.earliest - now);
      }
    }
  }

  /** Waits in progress (the tests read it to see that a wait is forgotten once it ends). */
  get waiting(): number {
    return this.waiters.size;
  }
}
