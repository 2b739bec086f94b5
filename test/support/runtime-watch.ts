/**
 * Watching a runtime while its nodes close. During a full redeploy Node-RED removes every node
 * from its flow before any close is done, and a closed node drops its input: a msg a closing node
 * sends reaches no node, and its done(err) goes to a closed Catch node (and so to no log either).
 * Node-RED's own messaging hooks still see both: onSend the msg, onReceive the error at the Catch.
 */
import { EventEmitter } from 'node:events';
import { helper } from './node-red';

export interface SendEvent {
  source: { id: string };
  msg: Record<string, unknown>;
}
interface ReceiveEvent {
  destination: { id: string };
  msg: Record<string, unknown>;
}
interface Hooks {
  add(name: 'onSend', hook: (events: SendEvent[]) => void): void;
  add(name: 'onReceive', hook: (event: ReceiveEvent) => void): void;
  add(name: string, hook: (events: never) => void): void;
  remove(name: string): void;
}

let watchers = 0;

/** Every msg any node sends or receives from now until stop(), seen through the messaging hooks. */
export function watchSends(): {
  sentBy(id: string): Array<Record<string, unknown>>;
  /** The errors handed to the Catch node `catchId`, closed or not (`<ErrorClass>: <message>`). */
  caughtBy(catchId: string): string[];
  stop(): void;
} {
  const sent: SendEvent[] = [];
  const received: ReceiveEvent[] = [];
  const hooks = (helper._RED as unknown as { hooks: Hooks }).hooks;
  const label = `runtimeWatch${++watchers}`;
  hooks.add(`onSend.${label}` as 'onSend', (events: SendEvent[]) => {
    sent.push(...events);
  });
  hooks.add(`onReceive.${label}` as 'onReceive', (event: ReceiveEvent) => {
    received.push(event);
  });
  return {
    sentBy: (id) => sent.filter((event) => event.source.id === id).map((event) => event.msg),
    caughtBy: (catchId) =>
      received
        .filter((event) => event.destination.id === catchId)
        .map((event) => String((event.msg.error as { message?: unknown } | undefined)?.message)),
    stop: () => hooks.remove(`*.${label}`),
  };
}

interface LogEntry {
  level?: number;
  id?: string;
  msg?: unknown;
}
interface RuntimeLog {
  addHandler(handler: EventEmitter): void;
  removeHandler(handler: EventEmitter): void;
}

/** Node-RED's log levels: error and warn are 20 and 30. */
const WARN = 30;

/** Records what the runtime logs from now until stop() (call it after helper.startServer()). */
export function recordRuntimeLog(): { warningsOf(id: string): string[]; stop(): void } {
  const entries: LogEntry[] = [];
  const handler = new EventEmitter();
  handler.on('log', (entry: LogEntry) => entries.push(entry));
  const log = (helper._RED as unknown as { log: RuntimeLog }).log;
  log.addHandler(handler);
  return {
    /** The errors and warnings a node logged. */
    warningsOf: (id) =>
      entries
        .filter((entry) => entry.id === id && entry.level !== undefined && entry.level <= WARN)
        .map((entry) => (entry.msg instanceof Error ? `${entry.msg.name}: ${entry.msg.message}` : String(entry.msg))),
    stop: () => log.removeHandler(handler),
  };
}
