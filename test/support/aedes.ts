/**
 * A real MQTT 3.1.1 broker for tests that `npm ci` brings: aedes (a devDependency), in this
 * process, on a free 127.0.0.1 port. The Node-RED processes and MQTT clients of a test reach it
 * over TCP exactly as they would reach mosquitto.
 *
 * aedes speaks MQTT 3.1 and 3.1.1 only, and has no `$share/` shared subscriptions: a test that
 * needs MQTT 5 (example 06) uses mosquitto (./mosquitto.ts) instead.
 */
import type { Aedes } from 'aedes' with { 'resolution-mode': 'import' };
import * as net from 'node:net';

export class AedesBroker {
  private constructor(
    private readonly broker: Aedes,
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<AedesBroker> {
    const { Aedes: AedesClass } = await import('aedes');
    const broker = await AedesClass.createBroker();
    const server = net.createServer(broker.handle);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
    } catch (error) {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      throw error;
    }
    return new AedesBroker(broker, server, (server.address() as net.AddressInfo).port);
  }

  /** Closes the broker (and so every client connection), then the listening socket. */
  stop(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.broker.close(() => this.server.close(() => resolve()));
    });
  }
}
