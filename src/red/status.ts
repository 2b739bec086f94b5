import type { Node, NodeStatusFill } from 'node-red';

/** What a worker node is doing, shown under it in the editor. */
export type NodeActivity =
  | { kind: 'idle' }
  | { kind: 'sending'; count: number }
  | { kind: 'retrying'; attempt: number; reason: string }
  | { kind: 'queued'; count: number }
  | { kind: 'skipped'; reason: string }
  | { kind: 'outbox'; count: number }
  | { kind: 'error'; reason: string; statusCode?: number }
  | { kind: 'config'; reason: string };

export type Translate = (key: string, params?: Record<string, string | number>) => string;

const FILL: Record<NodeActivity['kind'], NodeStatusFill> = {
  idle: 'grey',
  sending: 'blue',
  retrying: 'yellow',
  queued: 'yellow',
  skipped: 'yellow',
  outbox: 'yellow',
  error: 'red',
  config: 'red',
};

/**
 * Shows a node's activity through its message catalog (`<type>.status.<kind>`), at most every
 * `intervalMs`: at thousands of msgs/s a status per msg would flood the editor's comms.
 * The latest state always lands (trailing update).
 */
export class StatusReporter {
  private last = '';
  private pending: NodeActivity | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastShownAt = 0;

  constructor(
    private readonly node: Node,
    private readonly translate: Translate,
    private readonly catalogPrefix: string,
    private readonly intervalMs = 200,
  ) {}

  set(activity: NodeActivity): void {
    const now = Date.now();
    if (now - this.lastShownAt >= this.intervalMs && !this.timer) {
      this.show(activity, now);
      return;
    }
    this.pending = activity;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      const next = this.pending;
      this.pending = undefined;
      if (next) this.show(next, Date.now());
    }, this.intervalMs);
  }

  /** Shows a state now, skipping the throttle (errors, close). */
  now(activity: NodeActivity): void {
    this.cancel();
    this.show(activity, Date.now());
  }


  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private show(activity: NodeActivity, now: number): void {
    this.lastShownAt = now;
    const { kind, ...params } = activity;
    const text = this.translate(`${this.catalogPrefix}.status.${kind}`, params as Record<string, string | number>);
    const key = `${kind}|${text}`;
    if (key === this.last) return;
    this.last = key;
    const shape = kind === 'idle' ? 'ring' : 'dot';
    this.node.status({ fill: FILL[kind], shape, text });
  }
}
