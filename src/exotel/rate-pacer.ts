import { AbortedError } from '../lib/errors';

export interface RatePacerOptions {
  /** Requests allowed per minute on average. */
  perMinute: number;
  /** Requests that may go at once after a quiet spell (default: perMinute). */
  burst?: number;
  now?: () => number;
}

export interface AcquireOptions {
  /** Gives up waiting (the node that asked was closed). */
  signal?: AbortSignal;
  /** Called when the request has to wait, with the number now waiting. */
  onQueued?: (waiting: number) => void;
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
  detach: () => void;
}

/** Tolerance for floating-point refill: 0.9999999 tokens is a token. */
const EPSILON = 1e-9;

/**
 * Paces requests to an account's rate limit (a token bucket: a burst, then one request every
 * 60 s / perMinute). Requests over the limit wait in arrival order instead of failing: Exotel
 * answers 429 past its limit, and every 429 is a round trip that places no call.
 */
export class RatePacer {
  private tokens: number;
  private updatedAt: number;
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closedReason: string | undefined;
  private readonly capacity: number;
  private readonly perMs: number;
  private readonly now: () => number;

  constructor(options: RatePacerOptions) {
    if (!(options.perMinute > 0) || !Number.isFinite(options.perMinute)) {
      throw new RangeError('perMinute must be a positive number');
    }
    this.capacity = Math.max(1, Math.floor(options.burst ?? options.perMinute));
    this.perMs = options.perMinute / 60_000;
    this.now = options.now ?? Date.now;
    this.tokens = this.capacity;
    this.updatedAt = this.now();
  }

  /** Requests waiting for their turn. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves when one request may be sent; rejects with AbortedError if closed or aborted. */
  acquire(options: AcquireOptions = {}): Promise<void> {
    if (this.closedReason !== undefined) return Promise.reject(new AbortedError(this.closedReason));
    if (options.signal?.aborted) return Promise.reject(new AbortedError('stopped before the request could be sent'));
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1 - EPSILON) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const signal = options.signal;
      const onAbort = () => {
        this.remove(waiter);
        reject(new AbortedError('stopped while waiting for the rate limit'));
      };
      const waiter: Waiter = {
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      options.onQueued?.(this.queue.length);
      this.schedule();
    });
  }

  /** Rejects every waiting request and stops the timer; later acquire() calls fail at once. */
  close(reason = 'the Exotel account connection was closed before the request could be sent'): void {
    this.closedReason = reason;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const waiter of this.queue.splice(0)) {
      waiter.detach();
      waiter.reject(new AbortedError(reason));
    }
  }

  private refill(): void {
    const now = this.now();
    const elapsed = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.perMs);
    this.updatedAt = now;
  }

  private remove(waiter: Waiter): void {
    const index = this.queue.indexOf(waiter);
    if (index >= 0) this.queue.splice(index, 1);
    waiter.detach();
    if (this.queue.length === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    this.refill();
    const waitMs = Math.max(1, Math.ceil((1 - this.tokens) / this.perMs));
    this.timer = setTimeout(() => this.drain(), waitMs);
  }

  private drain(): void {
    this.timer = undefined;
    this.refill();
    while (this.queue.length > 0 && this.tokens >= 1 - EPSILON) {
      this.tokens -= 1;
      const waiter = this.queue.shift() as Waiter;
      waiter.detach();
      waiter.resolve();
    }
    this.schedule();
  }
}
