import * as assert from 'node:assert/strict';
import { AbortedError } from '../../src/lib/errors';
import { RatePacer } from '../../src/exotel/rate-pacer';

/** True if the promise has settled by the time already-queued callbacks ran (no timer involved). */
async function settledAtOnce(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => (settled = true), () => (settled = true));
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

describe('RatePacer', () => {
  it('lets a burst go at once, then one per interval, in arrival order', async () => {
    // 600 a minute: one every 100 ms after a burst of 3.
    const pacer = new RatePacer({ perMinute: 600, burst: 3 });
    const started = Date.now();
    const order: number[] = [];
    const times: number[] = [];
    const all = [0, 1, 2, 3, 4].map((i) =>
      pacer.acquire().then(() => {
        order.push(i);
        times.push(Date.now() - started);
      }),
    );
    await Promise.all(all);
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
    // Lower bounds only: a loaded machine makes timers late, never early (5 ms for timer rounding).
    assert.ok(times[3]! >= 95, `4th after ${times[3]} ms`);
    assert.ok(times[4]! >= 195, `5th after ${times[4]} ms`);
    assert.ok(times[4]! - times[3]! >= 0);
    pacer.close();
  });

  it('refills with time (an injected clock): no wait once the interval has passed', async () => {
    let now = 0;
    const pacer = new RatePacer({ perMinute: 60, burst: 2, now: () => now });
    assert.equal(await settledAtOnce(pacer.acquire()), true);
    assert.equal(await settledAtOnce(pacer.acquire()), true);
    assert.equal(await settledAtOnce(pacer.acquire()), false, 'the bucket is empty');
    pacer.close();
    const fresh = new RatePacer({ perMinute: 60, burst: 2, now: () => now });
    await fresh.acquire();
    await fresh.acquire();
    now += 1_000;
    assert.equal(await settledAtOnce(fresh.acquire()), true, 'one token back after a second');
    assert.equal(await settledAtOnce(fresh.acquire()), false);
    fresh.close();
  });

  it('lets a waiting request go when its clock says the interval has passed, not when a timer fires', async () => {
    // One every 10 ms: the pacer's timer fires every 10 ms of real time while one waits.
    let now = 0;
    const pacer = new RatePacer({ perMinute: 6_000, burst: 1, now: () => now });
    await pacer.acquire();
    let released = false;
    const waiting = pacer.acquire().then(() => (released = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(released, false, 'the clock stood still: several timer turns later it still waits');
    assert.equal(pacer.waiting, 1);
    now += 10;
    await waiting; // the next timer turn lets it go (mocha's timeout bounds the wait)
    assert.equal(pacer.waiting, 0);
    pacer.close();
  });

  it('reports how many wait, and an aborted waiter leaves the queue without blocking the rest', async () => {
    const pacer = new RatePacer({ perMinute: 1200, burst: 1 });
    await pacer.acquire();
    const counts: number[] = [];
    const controller = new AbortController();
    const first = pacer.acquire({ signal: controller.signal, onQueued: (n) => counts.push(n) });
    const second = pacer.acquire({ onQueued: (n) => counts.push(n) });
    assert.deepEqual(counts, [1, 2]);
    controller.abort();
    await assert.rejects(first, (error: unknown) => error instanceof AbortedError && /waiting for the rate limit/.test(error.message));
    assert.equal(pacer.waiting, 1);
    await second;
    assert.equal(pacer.waiting, 0);
    await assert.rejects(pacer.acquire({ signal: controller.signal }), AbortedError);
    pacer.close();
  });

  it('close rejects every waiter with a clear AbortedError and refuses later requests', async () => {
    const pacer = new RatePacer({ perMinute: 1, burst: 1 });
    await pacer.acquire();
    const waiting = [pacer.acquire(), pacer.acquire()];
    pacer.close();
    for (const promise of waiting) {
      await assert.rejects(promise, (error: unknown) => error instanceof AbortedError && /closed/.test(error.message));
    }
    await assert.rejects(pacer.acquire(), AbortedError);
    assert.equal(pacer.waiting, 0);
  });

  it('refuses a rate that is not positive', () => {
    assert.throws(() => new RatePacer({ perMinute: 0 }), RangeError);
    assert.throws(() => new RatePacer({ perMinute: Number.NaN }), RangeError);
  });
});
