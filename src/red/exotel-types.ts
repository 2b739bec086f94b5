import type { Node } from 'node-red';
import type { ExotelAccount } from '../exotel/account';
import type { ClosingGate } from '../lib/closing-gate';

export interface ExotelCredentials {
  apiKey?: string;
  apiToken?: string;
}

/** What an exotel-config node offers the exotel-click2call nodes that use it. */
export interface ExotelConfigNode extends Node<ExotelCredentials> {
  /** Undefined when the settings are invalid; configError then says why. */
  exotelAccount?: ExotelAccount;
  configError?: string;
  /** Click-to-call nodes join it: the account's connections close only after they did. */
  closingGate: ClosingGate;
}
