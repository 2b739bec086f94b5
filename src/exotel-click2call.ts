import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import type { ExotelAccount } from './exotel/account';
import { type ClickToCallDefaults, type ConnectParams, resolveConnectParams } from './exotel/connect-request';
import { ConfigError, RemoteError, excerpt } from './lib/errors';
import { createStopController } from './lib/http';
import { StatusReporter } from './red/status';

interface Click2CallDef extends NodeDef, ClickToCallDefaults {
  /** Id of an exotel-config. */
  account: string;
}

/** The part of an exotel-config node this node uses. */
interface ExotelConfigNode extends Node {
  exotelAccount?: ExotelAccount;
  configError?: string;
}

type Done = (err?: Error) => void;
type Send = (msg: NodeMessageInFlow) => void;

/** Statuses the catalog has a short meaning for (`exotel-click2call.status.http<code>`). */
const TRANSLATED_STATUSES = new Set([401, 402, 403, 429]);
/** Node-RED's close timeout is 15 s: abandon requests still on the wire a little before. */
const MAX_CLOSE_GRACE_MS = 12_000;

export = function register(RED: NodeAPI): void {
  function ExotelClick2Call(this: Node, def: Click2CallDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new StatusReporter(node, RED._, 'exotel-click2call');
    const config = RED.nodes.getNode(def.account) as ExotelConfigNode | null;
    const account = config?.exotelAccount;
    const setupError = account
      ? undefined
      : config
        ? (config.configError ?? 'the exotel-config node is not valid')
        : 'no exotel-config node is selected';
    if (setupError) status.now({ kind: 'config', reason: excerpt(setupError, 60) });
    else status.now({ kind: 'idle' });

    // Closing stops what has not been sent yet at once; requests on the wire get a grace period.
    const stopWaiting = createStopController();
    const stopRequests = createStopController();
    /** Msgs accepted and not yet answered, and how many of them wait for the account's rate pacer. */
    let inFlight = 0;
    let queued = 0;
    let whenIdle: Array<() => void> = [];

    const reasonFor = (error: Error): { reason: string; statusCode?: number } => {
      const statusCode = error instanceof RemoteError ? error.statusCode : undefined;
      if (statusCode !== undefined && TRANSLATED_STATUSES.has(statusCode)) {
        return { reason: RED._(`exotel-click2call.status.http${statusCode}`), statusCode };
      }
      return statusCode === undefined ? { reason: excerpt(error.message, 60) } : { reason: excerpt(error.message, 60), statusCode };
    };

    const showActivity = (): void => {
      if (queued > 0) status.set({ kind: 'queued', count: queued });
      else if (inFlight > 0) status.set({ kind: 'sending', count: inFlight });
      else status.set({ kind: 'idle' });
    };

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      if (!account) {
        status.now({ kind: 'config', reason: excerpt(setupError ?? '', 60) });
        done(new ConfigError(`exotel-click2call is not configured: ${setupError ?? 'unknown problem'}`));
        return;
      }
      let params: ConnectParams;
      try {
        // Checked before anything is sent: a bad number must not cost a call.
        params = resolveConnectParams(msg.payload, def, account.callerId);
      } catch (error) {
        status.now({ kind: 'error', ...reasonFor(error as Error) });
        done(error as Error);
        return;
      }
      inFlight++;
      let waitingForPacer = false;
      let failed = false;
      showActivity();
      account.client
        .connect(params, {
          signal: stopWaiting.signal,
          requestSignal: stopRequests.signal,
          onQueued: () => {
            if (!waitingForPacer) queued++;
            waitingForPacer = true;
            showActivity();
          },
          onSending: () => {
            if (waitingForPacer) queued--;
            waitingForPacer = false;
            showActivity();
          },
          onRetry: ({ attempt, error }) => status.set({ kind: 'retrying', attempt, reason: reasonFor(error).reason }),
        })
        .then(
          (call) => {
            msg.payload = call;
            send(msg);
            done();
          },
          (error: Error) => {
            failed = true;
            status.now({ kind: 'error', ...reasonFor(error) });
            done(error);
          },
        )
        .finally(() => {
          inFlight--;
          if (waitingForPacer) queued--;
          // An error stays shown until the next activity; closing leaves the status alone.
          if (!stopWaiting.signal.aborted && (inFlight > 0 || !failed)) showActivity();
          if (inFlight === 0) {
            const waiters = whenIdle;
            whenIdle = [];
            waiters.forEach((resolve) => resolve());
          }
        });
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      stopWaiting.abort();
      const finish = () => {
        clearTimeout(graceTimer);
        status.cancel();
        done();
      };
      // A sent request cannot be unsent: let it answer (its result still reaches the flow) unless it hangs.
      const graceMs = Math.min(MAX_CLOSE_GRACE_MS, (account?.timeoutMs ?? 0) + 1_000);
      const graceTimer = setTimeout(() => stopRequests.abort(), graceMs);
      if (inFlight === 0) finish();
      else whenIdle.push(finish);
    });
  }
  RED.nodes.registerType('exotel-click2call', ExotelClick2Call);
};
