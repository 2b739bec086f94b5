import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { SangamConfigNode } from './red/sangam-types';
import { StatusReporter } from './red/status';
import { pickIvrName, typedProperty } from './red/typed-property';
import { type Done, type Send, notConfiguredError, onClose, whyUnusable } from './red/worker';
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

/** A pop-up on the wire when the node closes gets this long to answer before it is abandoned. */
const CLOSE_GRACE_MS = 1_000;

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
      if (!config?.connection) throw new ConfigError(whyUnusable(config, 'sangam-config'));
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
    let whenIdle: Array<() => void> = [];
    const finished = (): void => {
      inFlight--;
      if (inFlight > 0) return;
      const waiters = whenIdle;
      whenIdle = [];
      waiters.forEach((resolve) => resolve());
    };

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      if (!sender || !config?.connection) {
        done(notConfiguredError('sangam-notify', setupError));
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
          finished();
          status.set(inFlight > 0 ? { kind: 'sending', count: inFlight } : { kind: 'idle' });
          msg.payload = answer;
          send(msg);
          done();
        },
        (error: Error) => {
          finished();
          status.now({ kind: 'error', reason: statusReason(error) });
          done(error);
        },
      );
    });

    // Joins the config's closing gate: its connections stay open until this close is done.
    onClose(node, config, CLOSE_GRACE_MS, async () => {
      status.cancel();
      // A pop-up on the wire is still useful if it lands now; one that hangs is abandoned.
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, CLOSE_GRACE_MS);
          whenIdle.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      sender?.close();
    });
  }

  RED.nodes.registerType('sangam-notify', SangamNotify);
};
