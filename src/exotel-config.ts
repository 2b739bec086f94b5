import type { NodeAPI, NodeDef } from 'node-red';
import { type ExotelAccountSettings, openExotelAccount } from './exotel/account';
import { ClosingGate } from './lib/closing-gate';
import type { ExotelConfigNode, ExotelCredentials } from './red/exotel-types';

interface ExotelConfigDef extends NodeDef {
  accountSid?: string;
  subdomain?: string;
  allowInsecure?: boolean;
  callerId?: string;
  rateLimit?: number | string;
  timeout?: number | string;
}

export = function register(RED: NodeAPI): void {
  function ExotelConfig(this: ExotelConfigNode, def: ExotelConfigDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    node.closingGate = new ClosingGate();
    const settings: ExotelAccountSettings = {
      accountSid: def.accountSid,
      subdomain: def.subdomain,
      allowInsecure: def.allowInsecure,
      callerId: def.callerId,
      rateLimit: def.rateLimit,
      timeout: def.timeout,
      apiKey: node.credentials?.apiKey,
      apiToken: node.credentials?.apiToken,
    };
    try {
      // One agent pair and one rate pacer for every click-to-call node of this account.
      node.exotelAccount = openExotelAccount(settings);
    } catch (error) {
      // Worker nodes show this in their status and send it to Catch with each msg.
      node.configError = (error as Error).message;
      node.error(`exotel-config: ${node.configError}`);
    }
    node.on('close', (_removed: boolean, done: () => void) => {
      // Node-RED closes the click-to-call nodes together with this one, not before it: their
      // requests on the wire may have placed a call, so the connections stay until they answered.
      void node.closingGate.whenClear().then((clear) => {
        if (!clear) node.warn(`exotel-config: ${node.closingGate.size} click-to-call node(s) still closing; closing the account's connections anyway`);
        node.exotelAccount?.close();
        done();
      });
    });
  }
  RED.nodes.registerType<ExotelConfigNode, ExotelConfigDef, unknown, ExotelCredentials>('exotel-config', ExotelConfig, {
    credentials: { apiKey: { type: 'password' }, apiToken: { type: 'password' } },
  });
};
