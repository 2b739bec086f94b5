import type { Node, NodeAPI, NodeDef } from 'node-red';
import { type ExotelAccount, type ExotelAccountSettings, openExotelAccount } from './exotel/account';

interface ExotelCredentials {
  apiKey?: string;
  apiToken?: string;
}

interface ExotelConfigDef extends NodeDef {
  accountSid?: string;
  subdomain?: string;
  allowInsecure?: boolean;
  callerId?: string;
  rateLimit?: number | string;
  timeout?: number | string;
}

/** What an exotel-config offers the exotel-click2call nodes that use it. */
interface ExotelConfigNode extends Node<ExotelCredentials> {
  /** Undefined when the settings are invalid; configError then says why. */
  exotelAccount?: ExotelAccount;
  configError?: string;
}

export = function register(RED: NodeAPI): void {
  function ExotelConfig(this: ExotelConfigNode, def: ExotelConfigDef): void {
    RED.nodes.createNode(this, def);
    const settings: ExotelAccountSettings = {
      accountSid: def.accountSid,
      subdomain: def.subdomain,
      allowInsecure: def.allowInsecure,
      callerId: def.callerId,
      rateLimit: def.rateLimit,
      timeout: def.timeout,
      apiKey: this.credentials?.apiKey,
      apiToken: this.credentials?.apiToken,
    };
    try {
      // One agent pair and one rate pacer for every click-to-call node of this account.
      this.exotelAccount = openExotelAccount(settings);
    } catch (error) {
      // Worker nodes show this in their status and send it to Catch with each msg.
      this.configError = (error as Error).message;
      this.error(`exotel-config: ${this.configError}`);
    }
    this.on('close', (_removed: boolean, done: () => void) => {
      // Worker nodes close first (they depend on this one); anything still waiting is rejected.
      this.exotelAccount?.close();
      done();
    });
  }
  RED.nodes.registerType<ExotelConfigNode, ExotelConfigDef, unknown, ExotelCredentials>('exotel-config', ExotelConfig, {
    credentials: { apiKey: { type: 'password' }, apiToken: { type: 'password' } },
  });
};
