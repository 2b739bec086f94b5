import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { OUTBOX_PROBLEM_EVENT, OUTBOX_WAITING_EVENT, SangamConfigNode } from './red/sangam-types';
import { StatusReporter } from './red/status';
import { pickIvrName, typedProperty } from './red/typed-property';
import { type Done, type Send, notConfiguredError, onClose, whyUnusable } from './red/worker';
import { ConfigError, statusReason } from './lib/errors';
import { CallLogDeliveryError, CallLogDispatcher, CallLogKeptOnStop } from './sangam/call-log-dispatcher';
import { CallLogProperties, readCallLogSettings } from './sangam/call-log-settings';
import { normaliseCallLogPayload } from './sangam/call-record';
import { CallLogResult, checkIvrName } from './sangam/sangam-client';
import { CallbackDecision, ExotelCallbackIntake } from './sangam/exotel-callback';

interface CallLogDef extends NodeDef, CallLogProperties {
  server: string;
  ivrName?: string;
  ivrNameType?: string;
  inputFormat?: string;
}

/** How long close waits for answers before handing records to the outbox (or giving up). */
const CLOSE_GRACE_WITH_OUTBOX_MS = 2_000;
const CLOSE_GRACE_WITHOUT_OUTBOX_MS = 10_000;

export = function register(RED: NodeAPI): void {
  function SangamCallLog(this: Node, def: CallLogDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new StatusReporter(node, RED._, 'sangam-call-log');
    const config = RED.nodes.getNode(def.server) as SangamConfigNode | null;

    let setupError: string | undefined;
    let dispatcher: CallLogDispatcher | undefined;
    let settings: ReturnType<typeof readCallLogSettings> | undefined;
    try {
      settings = readCallLogSettings(def);
      if (!config?.connection) throw new ConfigError(whyUnusable(config, 'sangam-config'));
      dispatcher = new CallLogDispatcher({
        client: config.connection.client,
        maxBatchSize: settings.maxBatchSize,
        windowMs: settings.windowMs,
        maxBatchBytes: settings.maxBatchBytes,
        concurrency: settings.concurrency,
        retry: settings.retry,
        journal: config.outbox,
        onActivity: (activity) => status.set(activity),
      });
      status.now({ kind: 'idle' });
    } catch (error) {
      setupError = (error as Error).message;
      status.now({ kind: 'config', reason: setupError });
    }

    // Records whose delivery failed wait in the config's outbox: show how many, as the contract asks.
    const showWaiting = (waiting: number): void =>
      status.set(waiting > 0 ? { kind: 'outbox', count: waiting } : { kind: 'idle' });
    (config as NodeJS.EventEmitter | null)?.on(OUTBOX_WAITING_EVENT, showWaiting);
    // A journal that stopped compacting grows until the outbox is full: say so before that happens.
    const showProblem = (reason: string | undefined): void =>
      status.now(reason === undefined ? { kind: 'idle' } : { kind: 'error', reason: `outbox: ${reason}` });
    (config as NodeJS.EventEmitter | null)?.on(OUTBOX_PROBLEM_EVENT, showProblem);
    // A journal that cannot be opened refuses every msg: show it now, not only when msgs come.
    config?.outbox?.whenUnavailable((error) => status.now({ kind: 'error', reason: statusReason(error) }));

    const nodeIvrName = typedProperty(RED, node, def.ivrName, def.ivrNameType);
    const callbacks = def.inputFormat === 'exotel' ? new ExotelCallbackIntake() : undefined;

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      if (!dispatcher || !config?.connection || !settings) {
        done(notConfiguredError('sangam-call-log', setupError));
        return;
      }
      const connection = config.connection;
      let ivrName: string;
      let payload: unknown = msg.payload;
      let callback: CallbackDecision | undefined;
      let records;
      try {
        ivrName = checkIvrName(pickIvrName(msg.ivrName, nodeIvrName(msg), connection.ivrName));
        if (callbacks) {
          callback = callbacks.decide(payload);
          if (callback.kind === 'skip') {
            // Answered at once, so that an http response after this node always answers Exotel.
            msg.payload = callback.answer;
            status.set({ kind: 'skipped', reason: callback.answer.reason });
            send(msg);
            done();
            return;
          }
          payload = callback.record;
        }
        records = normaliseCallLogPayload(payload, {
          timeZone: connection.timeZone,
          maxRecords: settings.maxRecordsPerMsg,
        });
      } catch (error) {
        if (callback) callbacks?.notKept(callback);
        done(error as Error);
        return;
      }
      const { single } = records;
      // One closure per msg (no separate error handler): a thousand msgs wait at once.
      const delivered = (error: Error | undefined, results: CallLogResult[] | undefined): void => {
        if (error || !results) {
          // Handed to the outbox by a stop (redeploy, shutdown): handled, not a failure; close() says it once.
          if (error instanceof CallLogKeptOnStop) return done();
          const failure = error ?? new Error('no results');
          // A callback whose record is not kept must not be dropped as a repeat when Exotel retries it.
          const kept = failure instanceof CallLogDeliveryError && failure.kept > 0;
          if (callback && !kept) callbacks?.notKept(callback);
          status.now({ kind: 'error', reason: statusReason(failure) });
          done(failure);
          return;
        }
        msg.payload = single ? results[0] : results;
        send(msg);
        done();
      };
      try {
        dispatcher.submit(ivrName, records.records, delivered);
      } catch (error) {
        delivered(error as Error, undefined);
      }
    });

    // Joins the config's closing gate: its connections and outbox stay open until this close is done.
    const grace = config?.outbox ? CLOSE_GRACE_WITH_OUTBOX_MS : CLOSE_GRACE_WITHOUT_OUTBOX_MS;
    onClose(node, config, grace, () => {
      (config as NodeJS.EventEmitter | null)?.removeListener(OUTBOX_WAITING_EVENT, showWaiting);
      (config as NodeJS.EventEmitter | null)?.removeListener(OUTBOX_PROBLEM_EVENT, showProblem);
      status.cancel();
      if (!dispatcher) return undefined;
      return dispatcher.close(grace).then(({ kept, lost }) => {
        // Once per node, not per msg: a redeploy is everyday work and must not read as a wall of errors.
        // Info, not warn: the records are safe and go out without anyone acting.
        if (kept.records > 0) node.log(RED._('sangam-call-log.log.keptOnStop', { count: kept.records, msgs: kept.msgs }));
        // Each of these msgs went to Catch with its error; this line sums them up.
        if (lost.records > 0) {
          node.warn(RED._('sangam-call-log.log.lostOnStop', { count: lost.records, msgs: lost.msgs, seconds: Math.round(grace / 1000) }));
        }
      });
    });
  }

  RED.nodes.registerType('sangam-call-log', SangamCallLog);
};
