import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { type ClickToCallDefaults, type ConnectParams, resolveConnectParams } from './exotel/connect-request';
import { AgentCallCap, CallRefusedError, DialPolicy, resolveAgentFrom } from './exotel/dial-policy';
import { AbortedError, RemoteError, excerpt } from './lib/errors';
import { createStopController } from './lib/http';
import type { ExotelConfigNode } from './red/exotel-types';
import type { SangamConfigNode } from './red/sangam-types';
import { StatusReporter } from './red/status';
import { type Done, type Send, closeGraceMs, notConfiguredError, onClose, whyUnusable } from './red/worker';

interface Click2CallDef extends NodeDef, ClickToCallDefaults {
  /** Id of an exotel-config. */
  account: string;
  /** Optional id of a sangam-config whose agent directory resolves `from`. */
  server?: string;
  allowedPrefixes?: unknown;
  maxCallsPerAgentPerMinute?: unknown;
}

/** Statuses the catalog has a short meaning for (`exotel-click2call.status.http<code>`). */
const TRANSLATED_STATUSES = new Set([401, 402, 403, 429]);

export = function register(RED: NodeAPI): void {
  function ExotelClick2Call(this: Node, def: Click2CallDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new StatusReporter(node, RED._, 'exotel-click2call');
    const config = RED.nodes.getNode(def.account) as ExotelConfigNode | null;
    const account = config?.exotelAccount;
    // What it may dial, and how often per agent: refused before the rate pacer and any request.
    let policy: DialPolicy | undefined;
    let cap: AgentCallCap | undefined;
    let settingsError: string | undefined;
    try {
      policy = DialPolicy.parse(def.allowedPrefixes);
      cap = AgentCallCap.parse(def.maxCallsPerAgentPerMinute);
    } catch (error) {
      settingsError = (error as Error).message;
    }
    // `from` may name an agent of this sangam-config's directory (a redeployed config restarts this node).
    const server = def.server ? (RED.nodes.getNode(def.server) as SangamConfigNode | null) : undefined;
    const serverError = server === null ? 'the selected sangam-config (server) does not exist' : undefined;
    const setupError = account ? (settingsError ?? serverError) : whyUnusable(config, 'exotel-config');
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
      if (error instanceof CallRefusedError) {
        const { refusal } = error;
        return { reason: refusal.kind === 'prefix' ? RED._('exotel-click2call.status.refusedPrefix', { prefix: refusal.prefix }) : RED._('exotel-click2call.status.refusedCap', { max: refusal.max }) };
      }
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
      if (!account || !policy || !cap || setupError) {
        status.now({ kind: 'config', reason: excerpt(setupError ?? '', 60) });
        done(notConfiguredError('exotel-click2call', setupError));
        return;
      }
      let params: ConnectParams;
      try {
        // Checked before anything is sent: a bad number, a forbidden destination or an agent over
        // the cap must not cost a call (nor a turn of the account's rate pacer).
        const payload = server ? resolveAgentFrom(msg.payload, server.agents, server.configError) : msg.payload;
        params = resolveConnectParams(payload, def, account.callerId);
        policy.check(params.to);
        cap.take(params.from);
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
            const reported = stopRequests.signal.aborted && error instanceof AbortedError ? abandonedError() : error;
            status.now({ kind: 'error', ...reasonFor(reported) });
            done(reported);
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

    // A request on the wire may have placed a call: it must not fail because this node closes.
    // Its own time-out ends it first (unless that is longer than Node-RED lets a node close).
    const graceMs = closeGraceMs(RED.settings, account?.timeoutMs ?? 0);
    const abandonedError = (): RemoteError =>
      new RemoteError(`Node-RED stopped the node while the request was on the wire, and Exotel had not answered ${graceMs} ms later: the call may have been placed (not retried)`, {
        retryable: false,
        mayHaveReachedServer: true,
      });

    // Joins the account's closing gate: the account keeps its connections until this close is done.
    onClose(node, config, graceMs, () => {
      // What waits for the rate pacer or for a retry has not reached Exotel: it stops at once.
      stopWaiting.abort();
      status.cancel();
      if (inFlight === 0) return undefined;
      return new Promise<void>((resolve) => {
        const graceTimer = setTimeout(() => stopRequests.abort(), graceMs);
        whenIdle.push(() => {
          clearTimeout(graceTimer);
          status.cancel();
          resolve();
        });
      });
    });
  }
  RED.nodes.registerType('exotel-click2call', ExotelClick2Call);
};
