import type { NodeAPI, NodeDef } from 'node-red';
import type { SangamConfigNode, SangamCredentials } from './red/sangam-types';
import { SangamConfigProperties, openSangamConnection } from './sangam/sangam-connection';

type SangamConfigDef = NodeDef & SangamConfigProperties;

export = function register(RED: NodeAPI): void {
  function SangamConfig(this: SangamConfigNode, def: SangamConfigDef): void {
    RED.nodes.createNode(this, def);
    try {
      this.connection = openSangamConnection(def, this.credentials?.token);
    } catch (error) {
      // Worker nodes show this in their status and send it to Catch with each msg.
      this.configError = (error as Error).message;
      this.error(RED._('sangam-config.errors.invalid', { reason: this.configError }));
    }
    this.on('close', (_removed: boolean, done: () => void) => {
      // Worker nodes close first (they depend on this one), so nothing is in flight here.
      this.connection?.close();
      done();
    });
  }
  RED.nodes.registerType<SangamConfigNode, SangamConfigDef, unknown, SangamCredentials>('sangam-config', SangamConfig, {
    credentials: { token: { type: 'password' } },
  });
};
