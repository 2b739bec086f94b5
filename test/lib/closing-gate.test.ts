import * as assert from 'node:assert/strict';
import { ClosingGate } from '../../src/lib/closing-gate';

/** True if the promise has settled once already-queued callbacks ran (no timer involved). */
async function settledAtOnce(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => (settled = true), () => (settled = true));
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

describe('lib/closing-gate', () => {
  it('is clear at once when nobody joined, or everybody left', async () => {
    const gate = new ClosingGate();
    assert.equal(await gate.whenClear(), true);
    const leave = gate.join(5_000);
    leave();
    assert.equal(gate.size, 0);
    assert.equal(await settledAtOnce(gate.whenClear()), true);
  });

  it('waits until the last user has left, however long that takes within the grace', async () => {
    const gate = new ClosingGate(0);
    const first = gate.join(60_000);
    const second = gate.join(60_000);
    const clear = gate.whenClear();
    first();
    first(); // a second call does not count as the other user leaving
    assert.equal(await settledAtOnce(clear), false, 'one user is still closing');
    assert.equal(gate.size, 1);
    second();
    assert.equal(await clear, true);
  });

  it('gives up after the longest grace plus the margin when a user never leaves', async () => {
    const gate = new ClosingGate(30);
    gate.join(10);
    gate.join(60);
    const started = Date.now();
    assert.equal(await gate.whenClear(), false);
    const waited = Date.now() - started;
    // Timers are late on a loaded machine, never early (a few ms for rounding).
    assert.ok(waited >= 85, `gave up after ${waited} ms, before 60 + 30`);
    assert.equal(gate.size, 2, 'the users are still in: the gate only stopped waiting for them');
  });

  it('refuses a grace that is not a number of milliseconds', () => {
    const gate = new ClosingGate();
    assert.throws(() => gate.join(-1), RangeError);
    assert.throws(() => gate.join(Number.NaN), RangeError);
    assert.throws(() => gate.join(Number.POSITIVE_INFINITY), RangeError);
  });
});
