import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import helper = require('node-red-node-test-helper');
import type { NodeAPI } from 'node-red';

/** Node-RED's own catch node: errors from done(err) must reach it. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const catchNode = require('@node-red/nodes/core/common/25-catch.js') as (RED: NodeAPI) => void;
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const statusNode = require('@node-red/nodes/core/common/25-status.js') as (RED: NodeAPI) => void;

/** A throwaway user dir: the call-log outbox journals there, never in the real ~/.node-red. */
export const USER_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'sangam-test-userdir-'));
process.on('exit', () => fs.rmSync(USER_DIR, { recursive: true, force: true }));

helper.init(require.resolve('node-red'), { userDir: USER_DIR });

/** Forgets every outbox journal, so records one test left behind are not replayed into the next. */
export function clearOutboxes(): void {
  fs.rmSync(path.join(USER_DIR, 'sangam-outbox'), { recursive: true, force: true });
}

export { helper };

export const TAB = 'tab1';

/** A token distinctive enough to find anywhere it leaks to. */
export const SECRET_TOKEN = 'Tk-9f3a7c-SECRET-b21e';

/** Puts nodes on one tab, as Catch and Status nodes need a `z`. */
export function onTab(...nodes: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return [{ id: TAB, type: 'tab', label: 'test' }, ...nodes.map((node) => ({ z: TAB, ...node }))];
}

/** Everything the runtime logged so far, as text (for the "no secret anywhere" assertions). */
export function loggedText(): string {
  return helper
    .log()
    .args.map((args) => JSON.stringify(args, (_key, value: unknown) => (value instanceof Error ? value.message : value)))
    .join('\n');
}

/** Collects msgs arriving at a node (a helper node) until `count` have arrived. */
export function collect<T = Record<string, unknown>>(nodeId: string, count: number, timeoutMs = 15_000): Promise<T[]> {
  const node = helper.getNode(nodeId);
  const received: T[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`expected ${count} msg(s) at ${nodeId}, got ${received.length}`)),
      timeoutMs,
    );
    node.on('input', (msg: Record<string, unknown>) => {
      received.push(msg as T);
      if (received.length === count) {
        clearTimeout(timer);
        resolve(received);
      }
    });
  });
}

/** Resolves after ms: only to let something that must NOT happen have its chance to. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
