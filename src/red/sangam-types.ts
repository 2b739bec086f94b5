import type { Node } from 'node-red';
import type { SangamConnection } from '../sangam/sangam-connection';
import type { CallLogOutbox } from '../sangam/call-log-outbox';
import type { ClosingGate } from '../lib/closing-gate';
import type { AgentDirectory } from '../sangam/agent-directory';

/** What a sangam-config node offers the worker nodes that use it. */
export interface SangamCredentials {
  token?: string;
}

export interface SangamConfigNode extends Node<SangamCredentials> {
  /** Undefined when the settings are invalid; configError then says why. */
  connection?: SangamConnection;
  configError?: string;
  /** The config's durable outbox for call logs, when enabled. */
  outbox?: CallLogOutbox;
  /** The agent directory (property `agents`), built once per deploy; undefined when the settings are invalid. */
  agents?: AgentDirectory;
  /** Worker nodes join it: the outbox and connections close only after they did. */
  closingGate: ClosingGate;
}

/** Emitted by a sangam-config node when the number of call-log records waiting in its outbox changes. */
export const OUTBOX_WAITING_EVENT = 'sangam:outbox-waiting';

/**
 * Emitted by a sangam-config node when its outbox journal cannot be opened, written or compacted
 * (with the reason), and with undefined once nothing is wrong any more: call-log nodes show it.
 */
export const OUTBOX_PROBLEM_EVENT = 'sangam:outbox-problem';
