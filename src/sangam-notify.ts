import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { SangamConfigNode } from './red/sangam-types';
import { StatusReporter } from './red/status';
import { pickIvrName, typedProperty } from './red/typed-property';
import { ConfigError, statusReason } from './lib/errors';
import { DEFAULT_RETRY_POLICY } from './lib/retry';
import { readInteger } from './lib/settings';
import { isTooOld, normaliseNotifyEvent } from './sangam/notify-event';
import { NotifySender } from './sangam/notify-sender';
import { checkIvrName } from './sangam/sangam-client';

interface NotifyDef extends NodeDef {
  server: string;
  ivrName?: string;
  ivrNameType?: string;
  maxAge?: unknown;
  retries?: unknown;
}

type Done = (err?: Error) => void;
type Send = (msg: NodeMessageInFlow) => void;

export = function register(RED: NodeAPI): void {
  function SangamNotify(this: Node, def: NotifyDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new StatusReporter(node, RED._, 'sangam-notify');
    const config = RED.nodes.getNode(def.server) as SangamConfigNode | null;

    let setupError: string | undefined;
    let sender: NotifySender | undefined;
    let maxAgeSeconds = 30;
    try {
      maxAgeSeconds = readInteger(def.maxAge, { name: 'maximum age', min: 0, max: 86_400, fallback: 30 });
      const retries = readInteger(def.retries, { name: 'retries', min: 0, max: 5, fallback: 2 });
      if (!config) throw new ConfigError('no sangam-config node is selected');
      if (!config.connection) throw new ConfigError(config.configError ?? 'the sangam-config node is not valid');
      sender = new NotifySender({
        client: config.connection.client,
        // Short waits: a pop-up is only useful while the phone rings.
        retry: { ...DEFAULT_RETRY_POLICY, retries, baseDelayMs: 100, maxDelayMs: 1_000, maxRetryAfterMs: 5_000 },
        maxAgeSeconds,
        onRetry: ({ attempt, error }) => status.set({ kind: 'retrying', attempt, reason: statusReason(error) }),
      });
      status.now({ kind: 'idle' });
    } catch (error) {
      setupError = (error as Error).message;
      status.now({ kind: 'config', reason: setupError });
    }

    const nodeIvrName = typedProperty(RED, node, def.ivrName, def.ivrNameType);
    let inFlight = 0;

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      if (!sender || !config?.connection) {
        done(new ConfigError(`sangam-notify is not configured: ${setupError ?? 'unknown problem'}`));
        return;
      }
      let ivrName: string;
      let body: string;
      let eventTimeMs: number;
      try {
        ivrName = checkIvrName(pickIvrName(msg.ivrName, nodeIvrName(msg), config.connection.ivrName));
        const normalised = normaliseNotifyEvent(msg.payload, { timeZone: config.connection.timeZone });
        eventTimeMs = normalised.eventTimeMs;
        body = JSON.stringify(normalised.event);
      } catch (error) {
        done(error as Error);
        return;
      }
      if (isTooOld(eventTimeMs, maxAgeSeconds, Date.now())) {
        // A late pop-up is worse than none: warn (with the msg, for a Status/Catch-free trace) and move on.
        const ageSeconds = Math.round((Date.now() - eventTimeMs) / 1000);
        node.warn(RED._('sangam-notify.warn.tooOld', { age: ageSeconds, maxAge: maxAgeSeconds }));
        status.set({ kind: 'skipped', reason: RED._('sangam-notify.status.tooOld', { maxAge: maxAgeSeconds }) });
        done();
        return;
      }
      inFlight++;
      status.set({ kind: 'sending', count: inFlight });
      sender.send(body, ivrName, eventTimeMs).then(
        (answer) => {
          inFlight--;
          status.set(inFlight > 0 ? { kind: 'sending', count: inFlight } : { kind: 'idle' });
          msg.payload = answer;
          send(msg);
          done();
        },
        (error: Error) => {
          inFlight--;
          status.now({ kind: 'error', reason: statusReason(error) });
          done(error);
        },
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      status.cancel();
      sender?.close();
      done();
    });
  }

  RED.nodes.registerType('sangam-notify', SangamNotify);
};
