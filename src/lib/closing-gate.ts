/**
 * Lets a shared resource (a config node's connections, its outbox) close only after the nodes that
 * use it have finished closing.
 *
 * Node-RED starts the close of every node of a deploy at once and waits for none before the next,
 * so a config node that destroyed its connections in its own close would cut the requests its
 * users are still letting finish. Each user joins when it starts, saying how long its own close
 * may take, and leaves when that close is done; the resource's close waits until all have left,
 * but never longer than the longest of those graces plus a margin (a user whose close never ends
 * must not keep the resource open for ever).
 */
export class ClosingGate {
  /** The grace of each user still in, by its leave function. */
  private readonly users = new Map<() => void, number>();
  private waiters: Array<() => void> = [];

  constructor(private readonly marginMs = 1_000) {}

  /** Users in (joined and not yet left). */
  get size(): number {
    return this.users.size;
  }

  /**
   * Adds a user whose close takes at most `graceMs`. Returns `leave`, to be called once that close
   * is done (calling it again does nothing).
   */
  join(graceMs: number): () => void {
    if (!(graceMs >= 0) || !Number.isFinite(graceMs)) throw new RangeError('graceMs must be a number of milliseconds >= 0');
    const leave = (): void => {
      if (!this.users.delete(leave)) return;
      if (this.users.size === 0) {
        const waiters = this.waiters;
        this.waiters = [];
        for (const resolve of waiters) resolve();
      }
    };
    this.users.set(leave, graceMs);
    return leave;
  }

  /**
   * Resolves true once every user has left, or false when the longest grace plus the margin ran
   * out first (counted from this call: Node-RED starts the users' closes in the same turn).
   */
  whenClear(): Promise<boolean> {
    if (this.users.size === 0) return Promise.resolve(true);
    const boundMs = Math.max(...this.users.values()) + this.marginMs;
    return new Promise((resolve) => {
      const cleared = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== cleared);
        resolve(false);
      }, boundMs);
      this.waiters.push(cleared);
    });
  }
}
