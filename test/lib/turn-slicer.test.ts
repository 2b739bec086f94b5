import assert from 'node:assert/strict';
import { TurnSlicer } from '../../src/lib/turn-slicer';

/** A clock the test moves: each item "takes" `costMs`. */
function slicer(log: string[], budgetMs: number, costMs: number): TurnSlicer<string> {
  let clock = 0;
  return new TurnSlicer<string>(
    (item) => {
      log.push(item);
      clock += costMs;
    },
    budgetMs,
    () => clock,
  );
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('lib/turn-slicer', () => {
  it('refuses a negative budget', () => {
    assert.throws(() => new TurnSlicer(() => undefined, -1), RangeError);
  });

  it('runs an item at once while nothing waits and the turn has budget left', async () => {
    const log: string[] = [];
    const subject = slicer(log, 10, 1);
    subject.offer('a');
    subject.offer('b');
    assert.deepEqual(log, ['a', 'b']);
    assert.equal(subject.waiting, 0);
    await nextTurn();
  });

  it('leaves what is over the turn budget for later turns, in order, with other callbacks running between', async () => {
    const log: string[] = [];
    const subject = slicer(log, 10, 5);
    for (const item of ['1', '2', '3', '4', '5']) subject.offer(item);
    // Two fit in this turn's budget; the rest wait, in order.
    assert.deepEqual(log, ['1', '2']);
    assert.equal(subject.waiting, 3);
    setImmediate(() => log.push('other'));
    await nextTurn();
    await nextTurn();
    await nextTurn();
    assert.deepEqual(log, ['1', '2', '3', '4', 'other', '5']);
    assert.equal(subject.waiting, 0);
  });

  it('keeps a newcomer behind the items that wait, and gives each turn its own budget', async () => {
    const log: string[] = [];
    const subject = slicer(log, 10, 10);
    subject.offer('1');
    subject.offer('2');
    subject.offer('3');
    await nextTurn();
    assert.deepEqual(log, ['1', '2']);
    // '3' still waits: '4' goes behind it.
    subject.offer('4');
    assert.deepEqual(log, ['1', '2']);
    await nextTurn();
    await nextTurn();
    assert.deepEqual(log, ['1', '2', '3', '4']);
    // Nothing waits and a new turn began: an item runs at once again.
    subject.offer('5');
    assert.deepEqual(log, ['1', '2', '3', '4', '5']);
    await nextTurn();
  });

  it('runs at least one item per turn however long it takes, and drain() runs the rest at once', async () => {
    const log: string[] = [];
    const subject = slicer(log, 0, 100);
    for (const item of ['1', '2', '3', '4']) subject.offer(item);
    assert.deepEqual(log, []);
    await nextTurn();
    assert.deepEqual(log, ['1']);
    subject.drain();
    assert.deepEqual(log, ['1', '2', '3', '4']);
    assert.equal(subject.waiting, 0);
    await nextTurn();
    assert.deepEqual(log, ['1', '2', '3', '4']);
  });
});
