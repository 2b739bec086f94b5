import type { Node } from 'node-red';
import type { SangamConnection } from '../sangam/sangam-connection';
import type { CallLogJournal } from '../sangam/call-log-dispatcher';

/** What a sangam-config node offers the worker nodes that use it. */
export interface SangamCredentials {
  token?: string;
}

export interface SangamConfigNode extends Node<SangamCredentials> {
  /** Undefined when the settings are invalid; configError then says why. */
  connection?: SangamConnection;
  configError?: string;
  /** The config's durable outbox for call logs, when enabled. */
  journal?: CallLogJournal;
}
