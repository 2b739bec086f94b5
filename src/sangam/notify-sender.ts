import { RemoteError } from '../lib/errors';
import { RetryPolicy, withRetry } from '../lib/retry';
import { createStopController } from '../lib/http';
import { NotifyAnswer, SangamClient } from './sangam-client';

export interface NotifySenderOptions {
  client: SangamClient;
  retry: RetryPolicy;
  /** Events older than this are not worth showing (0 = no limit). */
  maxAgeSeconds: number;
  now?: () => number;
  onRetry?: (info: { attempt: number; error: RemoteError }) => void;
}

/**
 * Sends pop-up events at once (never batched, never journalled: a pop-up after the phone stopped
 * ringing is worse than none). Retries only while the event is still younger than the maximum age.
 */
export class NotifySender {
  private readonly abort = createStopController();
  private readonly now: () => number;

  constructor(private readonly options: NotifySenderOptions) {
    this.now = options.now ?? Date.now;
  }

  send(body: string, ivrName: string, eventTimeMs: number): Promise<NotifyAnswer> {
    const { client, retry, maxAgeSeconds, onRetry } = this.options;
    return withRetry(() => client.postNotify(body, ivrName, this.abort.signal), retry, {
      signal: this.abort.signal,
      recovery: client.recovery,
      // Count the coming wait, and a second for the request itself: a retry that would land
      // after the maximum age is a late pop-up.
      isRetryable: (error, delayMs) =>
        error.retryable && (maxAgeSeconds === 0 || this.now() + delayMs + 1000 - eventTimeMs < maxAgeSeconds * 1000),
      onRetry: ({ attempt, error }) => onRetry?.({ attempt, error }),
    });
  }

  /** Abandons retries and requests in flight (the node is closing). */
  close(): void {
    this.abort.abort();
  }
}
