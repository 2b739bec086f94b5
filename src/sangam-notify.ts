import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { SangamConfigNode } from './red/sangam-types';
import { StatusReporter } from './red/status';
import { pickIvrName, typedProperty } from './red/typed-property';
import { type Done, type Send, notConfiguredError, onClose, whyUnusable } from './red/worker';
import { ConfigError, statusReason } from './lib/errors';
import { DEFAULT_RETRY_POLICY } from './lib/retry';
import { readInteger } from './lib/settings';
import { madeAtFirstCall } from './lib/values';
import { isTooOld, normaliseNotifyEvent } from './sangam/notify-event';
import { NotifySender } from './sangam/notify-sender';
import { checkIvrName } from './sangam/sangam-client';
import { popupMapper } from './sources';
import { readPopupSource, SourceProperties } from './sources/node-settings';
import { checkTwilioRequest, requestUrl } from './sources/twilio-request';

interface NotifyDef extends NodeDef, SourceProperties {
  server: string;
  eventCode?: unknown;
  ivrName?: string;
  ivrNameType?: string;
  maxAge?: unknown;
  retries?: unknown;
}

interface NotifyCredentials {
  twilioAuthToken?: string;
}

/** The `event` written when the source has none: the guide's sample value. */
const DEFAULT_EVENT_CODE = 'TC';

/** A pop-up on the wire when the node closes gets this long to answer before it is abandoned. */
const CLOSE_GRACE_MS = 1_000;

export = function register(RED: NodeAPI): void {
  function SangamNotify(this: Node<NotifyCredentials>, def: NotifyDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new StatusReporter(node, RED._, 'sangam-notify');
    const config = RED.nodes.getNode(def.server) as SangamConfigNode | null;

    let setupError: string | undefined;
    let sender: NotifySender | undefined;
    let maxAgeSeconds = 30;
    let source: ReturnType<typeof readPopupSource> = { format: undefined };
    try {
      maxAgeSeconds = readInteger(def.maxAge, { name: 'maximum age', min: 0, max: 86_400, fallback: 30 });
      source = readPopupSource(def);
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
    // A telephony system's own events (inputFormat other than event) are mapped to the guide's.
    const eventCode = typeof def.eventCode === 'string' && def.eventCode.trim() !== '' ? def.eventCode.trim() : DEFAULT_EVENT_CODE;
    // The mapper (with its format's module and the zone) is made at the first msg, not at deploy.
    const sourceFormat = source.format;
    const sourceConnection = config?.connection;
    const mapEvent = sourceFormat && sourceConnection
      ? madeAtFirstCall(() => popupMapper(sourceFormat, { timeZone: sourceConnection.timeZone, agents: config?.agents, eventCode }))
      : undefined;
    const twilioAuthToken = source.format === 'twilio' ? node.credentials?.twilioAuthToken ?? '' : '';
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
        let event: unknown = msg.payload;
        if (mapEvent) {
          if (twilioAuthToken !== '') {
            const req = (msg as { req?: unknown }).req;
            checkTwilioRequest(twilioAuthToken, source.webhookUrl ?? requestUrl(req) ?? '', req, msg.payload);
          }
          const mapped = mapEvent(msg.payload);
          if (mapped.skipped) {
            // Answered at once: an http response after this node answers the caller's system.
            msg.payload = mapped;
            status.set({ kind: 'skipped', reason: mapped.reason });
            send(msg);
            done();
            return;
          }
          event = mapped.event;
        }
        const normalised = normaliseNotifyEvent(event, { timeZone: config.connection.timeZone });
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

  RED.nodes.registerType<Node<NotifyCredentials>, NotifyDef, unknown, NotifyCredentials>('sangam-notify', SangamNotify, {
    credentials: { twilioAuthToken: { type: 'password' } },
  });
};
