import type { Node, NodeMessageInFlow } from 'node-red';
import { ConfigError } from '../lib/errors';
import type { ClosingGate } from '../lib/closing-gate';

/** The callbacks of a worker node's input handler. */
export type Done = (err?: Error) => void;
export type Send = (msg: NodeMessageInFlow) => void;

/** What every config node of this package offers the worker nodes that use it. */
export interface PackageConfigNode extends Node {
  /** Set when the config's settings are invalid: why. */
  configError?: string;
  /** Workers join it, so that the config closes its connections only after they closed. */
  closingGate?: ClosingGate;
}

/**
 * Why a worker cannot use the config node it names (none selected, or its settings are invalid),
 * for a config that did not open what the worker needs. Shown in the status and sent to Catch.
 */
export function whyUnusable(config: PackageConfigNode | null, configType: string): string {
  if (!config) return `no ${configType} node is selected`;
  return config.configError ?? `the ${configType} node is not valid`;
}

/** The error each msg of a worker without a usable config reaches Catch with. */
export function notConfiguredError(nodeType: string, problem: string | undefined): ConfigError {
  return new ConfigError(`${nodeType} is not configured: ${problem ?? 'unknown problem'}`);
}

/** Node-RED's default for how long a node may take to close (settings.nodeCloseTimeout). */
const NODE_RED_CLOSE_TIMEOUT_MS = 15_000;
/** Kept free of the close time: the config's gate margin and closing the journal and sockets. */
const CLOSE_RESERVE_MS = 3_000;

/**
 * How long a close lets a request already on the wire finish: its own time-out and a second, or
 * less when Node-RED allows a close less time. Cutting such a request leaves its outcome unknown (a
 * call placed, a batch stored that the outbox then sends again), so it is not cut sooner.
 */
export function closeGraceMs(settings: unknown, requestTimeoutMs: number): number {
  const configured = Number((settings as { nodeCloseTimeout?: unknown } | undefined)?.nodeCloseTimeout);
  const closeTimeoutMs = configured > 0 ? configured : NODE_RED_CLOSE_TIMEOUT_MS;
  return Math.max(0, Math.min(closeTimeoutMs - CLOSE_RESERVE_MS, requestTimeoutMs + 1_000));
}

/**
 * Registers a worker's close: joins its config's closing gate (the config then keeps its
 * connections open until this close is done, for at most `graceMs` plus the gate's margin), runs
 * `close`, then leaves the gate and tells Node-RED.
 */
export function onClose(node: Node, config: PackageConfigNode | null, graceMs: number, close: () => Promise<void> | void): void {
  const leave = config?.closingGate?.join(graceMs);
  node.on('close', (_removed: boolean, done: () => void) => {
    Promise.resolve()
      .then(close)
      .catch((error: Error) => node.warn(error.message))
      .finally(() => {
        leave?.();
        done();
      });
  });
}
