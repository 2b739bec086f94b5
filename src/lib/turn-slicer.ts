import { performance } from 'node:perf_hooks';

/**
 * Runs work items in the order offered, spending at most about `budgetMs` on them in one turn of
 * the event loop; what is left waits for the next turn (setImmediate). A burst of thousands of msgs
 * handed over at once then cannot hold the event loop for hundreds of ms: between slices, the I/O
 * of other work (a pop-up's request and answer) gets its turn. An item offered while nothing waits
 * and the turn's budget is not spent runs at once, so a steady flow pays nothing but a clock read.
 */
export class TurnSlicer<T> {
  private items: Array<T | undefined> = [];
  private head = 0;
  private spentMs = 0;
  private turn: NodeJS.Immediate | undefined;

  constructor(
    private readonly run: (item: T) => void,
    private readonly budgetMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(budgetMs >= 0)) throw new RangeError('budgetMs must be at least 0');
  }

  /** Items waiting for a later turn. */
  get waiting(): number {
    return this.items.length - this.head;
  }

  /** Runs `item` now if nothing waits and this turn has budget left, else after what waits. */
  offer(item: T): void {
    if (!this.turn) {
      // The first item since the last turn ended: a new turn, with its budget; its end (the
      // next check phase) runs what waits.
      this.spentMs = 0;
      this.turn = setImmediate(this.nextTurn);
    }
    if (this.head === this.items.length && this.spentMs < this.budgetMs) this.runTimed(item);
    else this.items.push(item);
  }

  /** Runs everything that waits, now (the owner is closing). */
  drain(): void {
    while (this.head < this.items.length) this.runNext();
    this.items = [];
    this.head = 0;
  }

  private runTimed(item: T): void {
    const start = this.now();
    try {
      this.run(item);
    } finally {
      this.spentMs += this.now() - start;
    }
  }

  private runNext(): void {
    const item = this.items[this.head] as T;
    this.items[this.head++] = undefined;
    // An item that throws must not keep the ones after it from running.
    try {
      this.runTimed(item);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  private readonly nextTurn = (): void => {
    this.turn = undefined;
    this.spentMs = 0;
    // At least one item per turn, however long it takes: the queue always moves.
    if (this.head < this.items.length) this.runNext();
    while (this.head < this.items.length && this.spentMs < this.budgetMs) this.runNext();
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
      return;
    }
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.turn = setImmediate(this.nextTurn);
  };
}
