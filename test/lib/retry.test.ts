import assert from 'node:assert/strict';
import { AbortedError, RemoteError, ValidationError } from '../../src/lib/errors';
import { DEFAULT_RETRY_POLICY, RecoverySignal, RetryPolicy, backoffDelay, parseRetryAfter, sleep, withRetry } from '../../src/lib/retry';

const POLICY: RetryPolicy = { retries: 3, baseDelayMs: 1, maxDelayMs: 4, maxRetryAfterMs: 1_000 };

function retryable(message = 'HTTP 503', extra: Partial<ConstructorParameters<typeof RemoteError>[1]> = {}): RemoteError {
  return new RemoteError(message, { statusCode: 503, retryable: true, ...extra });
}

describe('lib/retry', () => {
  describe('backoffDelay', () => {
    const policy: RetryPolicy = { retries: 10, baseDelayMs: 100, maxDelayMs: 1_000, maxRetryAfterMs: 60_000 };

    it('doubles from the base delay, with jitter between half and all of the ceiling', () => {
      assert.deepEqual([0, 1, 2, 3].map((i) => backoffDelay(i, policy, () => 0.999_999)), [100, 200, 400, 800]);
      assert.deepEqual([0, 1, 2, 3].map((i) => backoffDelay(i, policy, () => 0)), [50, 100, 200, 400]);
      assert.equal(backoffDelay(1, policy, () => 0.5), 150);
    });

    it('never exceeds maxDelayMs, however many retries (no overflow to Infinity or NaN)', () => {
      for (const index of [4, 5, 20, 2000]) {
        assert.equal(backoffDelay(index, policy, () => 0.999_999), 1_000, String(index));
        assert.equal(backoffDelay(index, policy, () => 0), 500, String(index));
      }
    });

    it('is never 0, even with a zero base delay or a zero random draw', () => {
      assert.equal(backoffDelay(0, { ...policy, baseDelayMs: 0 }, () => 0), 1);
      assert.equal(backoffDelay(0, { ...policy, baseDelayMs: 1 }, () => 0), 1);
    });

    it('uses Math.random by default and stays within bounds', () => {
      for (let i = 0; i < 100; i++) {
        const delay = backoffDelay(2, policy);
        assert.ok(delay >= 200 && delay <= 400, String(delay));
      }
    });
  });

  describe('parseRetryAfter', () => {
    const now = Date.parse('2024-05-01T10:00:00Z');

    it('reads delta seconds, trimmed, and fractions', () => {
      assert.equal(parseRetryAfter('120', now), 120_000);
      assert.equal(parseRetryAfter(' 3 ', now), 3_000);
      assert.equal(parseRetryAfter('0', now), 0);
      assert.equal(parseRetryAfter('1.5', now), 1_500);
    });

    it('reads HTTP dates (IMF-fixdate, RFC 850, asctime) relative to now, past dates as 0', () => {
      assert.equal(parseRetryAfter('Wed, 01 May 2024 10:00:30 GMT', now), 30_000);
      assert.equal(parseRetryAfter('Wednesday, 01-May-24 10:01:00 GMT', now), 60_000);
      assert.equal(parseRetryAfter('Wed May  1 10:00:05 2024', now), 5_000);
      assert.equal(parseRetryAfter('Tue, 30 Apr 2024 10:00:00 GMT', now), 0);
    });

    it('reads an asctime date (which names no zone) as GMT, whatever the host time zone', () => {
      const savedZone = process.env.TZ;
      try {
        for (const zone of ['Asia/Kolkata', 'America/New_York', 'UTC']) {
          process.env.TZ = zone;
          assert.equal(parseRetryAfter('Wed May  1 10:00:05 2024', now), 5_000, zone);
        }
      } finally {
        if (savedZone === undefined) delete process.env.TZ;
        else process.env.TZ = savedZone;
      }
    });

    it('takes the first of repeated headers', () => {
      assert.equal(parseRetryAfter(['7', '99'], now), 7_000);
    });

    it('ignores missing, empty and garbage values', () => {
      for (const value of [undefined, '', '   ', 'soon', 'abc', '1e3', '0x10', '5 apples', []]) {
        assert.equal(parseRetryAfter(value as string | string[] | undefined, now), undefined, JSON.stringify(value));
      }
    });

    it('ignores negative numbers and bare number runs that a lenient date parser would take for a date', () => {
      // Date.parse('-1') and Date.parse('1 2') are dates in 2001 in V8: as "retry at once" they would
      // turn a malformed header into a hammering client.
      for (const value of ['-1', '-30', '1 2', '12 5']) {
        assert.equal(parseRetryAfter(value, now), undefined, value);
      }
    });
  });

  describe('withRetry', () => {
    it('returns the first success and passes the attempt number', async () => {
      const seen: number[] = [];
      const result = await withRetry(async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw retryable();
        return 'ok';
      }, POLICY);
      assert.equal(result, 'ok');
      assert.deepEqual(seen, [1, 2, 3]);
    });

    it('makes retries + 1 attempts at most, then rethrows the last error', async () => {
      let attempts = 0;
      const retries: Array<{ attempt: number; delayMs: number }> = [];
      await assert.rejects(
        withRetry(
          async () => {
            attempts++;
            throw retryable(`failure ${attempts}`);
          },
          POLICY,
          { onRetry: ({ attempt, delayMs }) => retries.push({ attempt, delayMs }), random: () => 0.999_999 },
        ),
        { message: 'failure 4' },
      );
      assert.equal(attempts, 4);
      // Backoff from the injected random: 1, 2, 4 (capped at maxDelayMs 4).
      assert.deepEqual(retries, [
        { attempt: 1, delayMs: 1 },
        { attempt: 2, delayMs: 2 },
        { attempt: 3, delayMs: 4 },
      ]);
    });

    it('makes one attempt with retries 0', async () => {
      let attempts = 0;
      await assert.rejects(
        withRetry(async () => {
          attempts++;
          throw retryable();
        }, { ...POLICY, retries: 0 }),
        RemoteError,
      );
      assert.equal(attempts, 1);
    });

    it('does not retry a RemoteError that is not retryable', async () => {
      let attempts = 0;
      const refused = new RemoteError('HTTP 400', { statusCode: 400, retryable: false });
      await assert.rejects(
        withRetry(async () => {
          attempts++;
          throw refused;
        }, POLICY),
        (error: unknown) => error === refused,
      );
      assert.equal(attempts, 1);
    });

    it('does not retry errors that are not RemoteErrors', async () => {
      for (const thrown of [new ValidationError('bad'), new TypeError('bug'), new AbortedError('stopped')]) {
        let attempts = 0;
        await assert.rejects(
          withRetry(async () => {
            attempts++;
            throw thrown;
          }, POLICY),
          (error: unknown) => error === thrown,
        );
        assert.equal(attempts, 1, thrown.name);
      }
    });

    it('lets isRetryable override the error in both directions', async () => {
      let attempts = 0;
      await assert.rejects(
        withRetry(async () => {
          attempts++;
          throw retryable();
        }, POLICY, { isRetryable: () => false }),
        RemoteError,
      );
      assert.equal(attempts, 1);

      attempts = 0;
      const result = await withRetry(async () => {
        attempts++;
        if (attempts === 1) throw new RemoteError('HTTP 409', { statusCode: 409, retryable: false });
        return attempts;
      }, POLICY, { isRetryable: (error) => error.statusCode === 409 });
      assert.equal(result, 2);
    });

    it("waits the server's Retry-After instead of the backoff, even above maxDelayMs", async () => {
      const delays: number[] = [];
      let attempts = 0;
      await withRetry(async () => {
        attempts++;
        if (attempts === 1) throw retryable('HTTP 429', { statusCode: 429, retryAfterMs: 30 });
        if (attempts === 2) throw retryable('HTTP 429', { statusCode: 429, retryAfterMs: 0 });
        return 'ok';
      }, POLICY, { onRetry: ({ delayMs }) => delays.push(delayMs) });
      assert.deepEqual(delays, [30, 1]);
    });

    it('gives up at once when Retry-After is longer than maxRetryAfterMs', async () => {
      let attempts = 0;
      let retried = false;
      const started = Date.now();
      await assert.rejects(
        withRetry(async () => {
          attempts++;
          throw retryable('HTTP 429', { statusCode: 429, retryAfterMs: 1_001 });
        }, POLICY, { onRetry: () => (retried = true) }),
        { message: 'HTTP 429' },
      );
      assert.equal(attempts, 1);
      assert.equal(retried, false);
      assert.ok(Date.now() - started < 1_000);
    });

    it('stops waiting when the signal aborts, with AbortedError and no further attempt', async () => {
      const controller = new AbortController();
      let attempts = 0;
      const running = withRetry(async () => {
        attempts++;
        throw retryable();
      }, { ...POLICY, baseDelayMs: 60_000, maxDelayMs: 60_000 }, {
        signal: controller.signal,
        onRetry: () => setImmediate(() => controller.abort()),
      });
      await assert.rejects(running, AbortedError);
      assert.equal(attempts, 1);
    });

    it('makes no attempt when the signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      let attempts = 0;
      await assert.rejects(
        withRetry(async () => {
          attempts++;
          return 1;
        }, POLICY, { signal: controller.signal }),
        AbortedError,
      );
      assert.equal(attempts, 0);
    });

    it('has a default policy that retries a few times within a minute', () => {
      assert.ok(DEFAULT_RETRY_POLICY.retries >= 1);
      assert.ok(DEFAULT_RETRY_POLICY.baseDelayMs <= DEFAULT_RETRY_POLICY.maxDelayMs);
      assert.ok(DEFAULT_RETRY_POLICY.maxRetryAfterMs <= 60_000);
    });
  });

  describe('RecoverySignal', () => {
    it('ends a wait after its delay when nothing recovers', async () => {
      const recovery = new RecoverySignal();
      const started = Date.now();
      await recovery.wait(40, 0);
      assert.ok(Date.now() - started >= 35);
      assert.equal(recovery.waiting, 0);
    });

    it('ends every wait at once on recovered(), once its minimum has passed', async () => {
      const recovery = new RecoverySignal();
      const started = Date.now();
      const waits = [recovery.wait(60_000, 0), recovery.wait(60_000, 0)];
      assert.equal(recovery.waiting, 2);
      recovery.recovered();
      await Promise.all(waits);
      assert.ok(Date.now() - started < 1_000);
      assert.equal(recovery.waiting, 0);
    });

    it('ends a wait woken before its minimum at the minimum, not sooner and not at its delay', async () => {
      const recovery = new RecoverySignal();
      const started = Date.now();
      const waiting = recovery.wait(60_000, 150);
      recovery.recovered();
      // A second success meanwhile does not move it again.
      setTimeout(() => recovery.recovered(), 50);
      await waiting;
      const waited = Date.now() - started;
      assert.ok(waited >= 145 && waited < 5_000, `waited ${waited} ms`);
    });

    it('rejects with AbortedError when aborted, and forgets the wait', async () => {
      const recovery = new RecoverySignal();
      const controller = new AbortController();
      const waiting = recovery.wait(60_000, 0, controller.signal);
      controller.abort();
      await assert.rejects(waiting, AbortedError);
      assert.equal(recovery.waiting, 0);
      await assert.rejects(recovery.wait(60_000, 0, controller.signal), AbortedError);
    });
  });

  describe('withRetry with a RecoverySignal', () => {
    // random ~1: each backoff is its ceiling, 200, 400, then 800 ms; a woken wait ends no sooner than 200 ms.
    const policy: RetryPolicy = { retries: 3, baseDelayMs: 200, maxDelayMs: 60_000, maxRetryAfterMs: 60_000 };
    const unreachable = (): RemoteError => new RemoteError('connect ECONNREFUSED', { code: 'ECONNREFUSED', retryable: true });
    const answered503 = (): RemoteError => new RemoteError('HTTP 503', { statusCode: 503, retryable: true });

    /**
     * Fails three times, the third with `third`; 50 ms after that failure the service answers
     * another request (its client tells the signal). Resolves with the third wait's planned delay and
     * how long it really took from the third failure to the fourth attempt.
     */
    async function thirdWait(third: RemoteError): Promise<{ planned: number; took: number }> {
      const recovery = new RecoverySignal();
      const planned: number[] = [];
      let failedAt = 0;
      let took = -1;
      let attempts = 0;
      const result = await withRetry(
        async () => {
          attempts++;
          if (attempts === 4) {
            took = Date.now() - failedAt;
            return 'ok';
          }
          failedAt = Date.now();
          if (attempts < 3) throw unreachable();
          setTimeout(() => recovery.recovered(), 50);
          throw third;
        },
        policy,
        { recovery, random: () => 0.999_999, onRetry: ({ delayMs }) => planned.push(delayMs) },
      );
      assert.equal(result, 'ok');
      assert.deepEqual(planned, [200, 400, 800]);
      return { planned: planned[2]!, took };
    }

    it('retries a request whose connection was refused once another request to the service succeeds, not after its backoff', async () => {
      const { planned, took } = await thirdWait(unreachable());
      // Woken 50 ms in, it goes at its minimum, the base delay (200 ms).
      assert.ok(took >= 195 && took < planned - 200, `the retry came ${took} ms after the failure (backoff ${planned} ms)`);
    });

    it('keeps the backoff of a request the service answered (a 5xx) or did not answer in time: it may be too busy', async () => {
      const timedOut = new RemoteError('no answer within 10000 ms', { code: 'ETIMEDOUT', retryable: true, mayHaveReachedServer: true });
      for (const error of [answered503(), timedOut]) {
        const { planned, took } = await thirdWait(error);
        assert.ok(took >= planned - 5, `${error.message}: the retry came ${took} ms after the failure (backoff ${planned} ms)`);
      }
    });
  });

  describe('sleep', () => {
    it('resolves after the delay', async () => {
      const started = Date.now();
      await sleep(20);
      assert.ok(Date.now() - started >= 15);
    });

    it('rejects at once with AbortedError when aborted during the wait, and when already aborted', async () => {
      const controller = new AbortController();
      const waiting = sleep(60_000, controller.signal);
      controller.abort();
      await assert.rejects(waiting, AbortedError);
      await assert.rejects(sleep(60_000, controller.signal), AbortedError);
    });

    it('removes its abort listener once it resolved', async () => {
      const controller = new AbortController();
      let listeners = 0;
      const signal = controller.signal;
      const add = signal.addEventListener.bind(signal);
      const remove = signal.removeEventListener.bind(signal);
      signal.addEventListener = ((...args: Parameters<typeof add>) => {
        listeners++;
        add(...args);
      }) as typeof signal.addEventListener;
      signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
        listeners--;
        remove(...args);
      }) as typeof signal.removeEventListener;
      await sleep(1, signal);
      assert.equal(listeners, 0);
    });
  });
});
