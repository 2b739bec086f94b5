import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { OUTBOX_PROBLEM_EVENT, OUTBOX_WAITING_EVENT, SangamConfigNode } from './red/sangam-types';
import { StatusReporter } from './red/status';
import { pickIvrName, typedProperty } from './red/typed-property';
import { type Done, type Send, closeGraceMs, notConfiguredError, onClose, whyUnusable } from './red/worker';
import { ConfigError, statusReason } from './lib/errors';
import { madeAtFirstCall } from './lib/values';
import type { CallLogDispatcher, CallLogDispatcherOptions } from './sangam/call-log-dispatcher';
import { dispatcherModule } from './sangam/call-log-modules';
import { CallLogProperties, readCallLogSettings } from './sangam/call-log-settings';
import { normaliseCallLogPayload } from './sangam/call-record';
import { CallLogResult, checkIvrName } from './sangam/sangam-client';
import { CallMerger, HOLD_MS_BY_FORMAT, MergedCall, callLogMapper } from './sources';
import { readCallLogSource, SourceProperties } from './sources/node-settings';
import { checkTwilioRequest, requestUrl } from './sources/twilio-request';

interface CallLogDef extends NodeDef, CallLogProperties, SourceProperties {
  server: string;
  ivrName?: string;
  ivrNameType?: string;
}

interface CallLogCredentials {
  twilioAuthToken?: string;
}

/** A msg whose records wait for the CRM: what finishing it needs. */
interface WaitingMsg {
  msg: NodeMessageInFlow;
  done: Done;
  /** The payload was one record (not an array): the msg gets the one result. */
  single: boolean;
}

/** A leg of a call held by the merger: what finishing its msg needs. */
interface HeldLeg {
  msg: NodeMessageInFlow;
  send: Send;
  done: Done;
  ivrName: string;
}

export = function register(RED: NodeAPI): void {
  function SangamCallLog(this: Node<CallLogCredentials>, def: CallLogDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new StatusReporter(node, RED._, 'sangam-call-log');
    const config = RED.nodes.getNode(def.server) as SangamConfigNode | null;

    let setupError: string | undefined;
    /** Made at the first call log (see sangam/call-log-modules.ts); undefined until then and when the set-up failed. */
    let dispatcher: CallLogDispatcher | undefined;
    let dispatcherOptions: CallLogDispatcherOptions | undefined;
    let settings: ReturnType<typeof readCallLogSettings> | undefined;
    let source: ReturnType<typeof readCallLogSource> = { format: undefined };
    try {
      settings = readCallLogSettings(def);
      source = readCallLogSource(def);
      if (!config?.connection) throw new ConfigError(whyUnusable(config, 'sangam-config'));
      dispatcherOptions = {
        client: config.connection.client,
        maxBatchSize: settings.maxBatchSize,
        windowMs: settings.windowMs,
        maxBatchBytes: settings.maxBatchBytes,
        concurrency: settings.concurrency,
        retry: settings.retry,
        journal: config.outbox,
        onActivity: (activity) => status.set(activity),
      };
      status.now({ kind: 'idle' });
    } catch (error) {
      setupError = (error as Error).message;
      status.now({ kind: 'config', reason: setupError });
    }

    /** The node's dispatcher, made at its first call log; undefined when the set-up failed. */
    function openDispatcher(): CallLogDispatcher | undefined {
      if (!dispatcher && dispatcherOptions) dispatcher = new (dispatcherModule().CallLogDispatcher)(dispatcherOptions);
      return dispatcher;
    }

    // Records whose delivery failed wait in the config's outbox: show how many, as the contract asks.
    const showWaiting = (waiting: number): void =>
      status.set(waiting > 0 ? { kind: 'outbox', count: waiting } : { kind: 'idle' });
    (config as NodeJS.EventEmitter | null)?.on(OUTBOX_WAITING_EVENT, showWaiting);
    // A journal that cannot be opened or written refuses msgs, one that stopped compacting grows
    // until the outbox is full: say so, and go back to normal once it is mended.
    const showProblem = (reason: string | undefined): void =>
      status.now(reason === undefined ? { kind: 'idle' } : { kind: 'error', reason: `outbox: ${reason}` });
    (config as NodeJS.EventEmitter | null)?.on(OUTBOX_PROBLEM_EVENT, showProblem);
    // A journal that could not be opened (before this node was made) refuses msgs: show it now.
    // Later failures, and the recovery, come as OUTBOX_PROBLEM_EVENT.
    const unavailable = config?.outbox?.unavailable;
    if (unavailable) status.now({ kind: 'error', reason: statusReason(unavailable) });

    const nodeIvrName = typedProperty(RED, node, def.ivrName, def.ivrNameType);

    // A telephony system's own payloads (inputFormat other than record): each msg is mapped to
    // one leg of a call, and the merger makes one record per call. Nothing of this runs per msg
    // for the record format. The mapper (its format's module, the zone) is made at the first msg.
    const sourceFormat = source.format;
    const sourceConnection = config?.connection;
    const mapLeg = sourceFormat && sourceConnection
      ? madeAtFirstCall(() =>
        callLogMapper(sourceFormat, {
          timeZone: sourceConnection.timeZone,
          agents: config?.agents,
          pbxTimeZone: source.pbxTimeZone,
          exotelTimeZone: source.pbxTimeZone,
          recordingUrlPrefix: source.recordingUrlPrefix,
        }))
      : undefined;
    // Exotel's repeats have been answered with these words since before the other formats: kept for flows that test them.
    const repeatReason = sourceFormat === 'exotel' ? 'repeated status callback' : undefined;
    const twilioAuthToken = sourceFormat === 'twilio' ? node.credentials?.twilioAuthToken ?? '' : '';
    const merger = sourceFormat
      ? new CallMerger<HeldLeg>({ holdMs: HOLD_MS_BY_FORMAT[sourceFormat], emit: (call) => deliverCall(call) })
      : undefined;

    /** Answers a msg that logs nothing (a progress event, a repeat): at once, so an http response answers the caller. */
    const answerSkipped = (msg: NodeMessageInFlow, send: Send, done: Done, answer: { reason: string } & Record<string, unknown>): void => {
      msg.payload = { skipped: true, ...answer };
      status.set({ kind: 'skipped', reason: answer.reason });
      send(msg);
      done();
    };

    /**
     * The merged call's record goes the way of a record msg; the winning leg's msg gets the CRM's
     * result, the other legs' msgs a skipped answer, once the CRM took it. A failure reaches every
     * leg's msg (each system may retry its own), and the call is forgotten so that a retry is logged.
     */
    function deliverCall({ callKey, record, winner, legs }: MergedCall<HeldLeg>): void {
      const fail = (error: Error): void => {
        const kept = error instanceof dispatcherModule().CallLogDeliveryError && error.kept > 0;
        if (!kept) merger?.forget(callKey);
        status.now({ kind: 'error', reason: statusReason(error) });
        for (const leg of legs) leg.context.done(error);
      };
      const delivery = openDispatcher();
      if (!delivery || !config?.connection || !settings) {
        fail(notConfiguredError('sangam-call-log', setupError));
        return;
      }
      let records;
      try {
        records = normaliseCallLogPayload(record, { timeZone: config.connection.timeZone, maxRecords: 1 });
      } catch (error) {
        fail(error as Error);
        return;
      }
      const delivered = (error: Error | undefined, results: CallLogResult[] | undefined): void => {
        if (error || !results) {
          fail(error ?? new Error('no results'));
          return;
        }
        for (const leg of legs) {
          const { msg, send, done } = leg.context;
          msg.payload = leg === winner ? results[0] : { skipped: true, reason: 'merged: another leg of this call was logged', callKey };
          send(msg);
          done();
        }
      };
      try {
        delivery.submit(winner.context.ivrName, records.records, delivered);
      } catch (error) {
        delivered(error as Error, undefined);
      }
    }

    /** A msg of a telephony system: checked (Twilio's signature), mapped, and offered to the merger. */
    function takeLeg(msg: NodeMessageInFlow, send: Send, done: Done, ivrName: string): void {
      if (!mapLeg || !merger) return;
      let leg;
      try {
        if (twilioAuthToken !== '') {
          const req = (msg as { req?: unknown }).req;
          checkTwilioRequest(twilioAuthToken, source.webhookUrl ?? requestUrl(req) ?? '', req, msg.payload);
        }
        leg = mapLeg(msg.payload);
      } catch (error) {
        done(error as Error);
        return;
      }
      if (leg.skipped) {
        const { skipped: _skipped, ...answer } = leg;
        answerSkipped(msg, send, done, answer);
        return;
      }
      const offered = merger.offer(leg, { msg, send, done, ivrName });
      if (!offered.held) answerSkipped(msg, send, done, { reason: repeatReason ?? offered.reason, ...(leg.ids ?? { callKey: leg.callKey }) });
      else if (merger.pendingCalls > 0) status.set({ kind: 'queued', count: merger.pendingCalls });
    }

    node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
      const delivery = openDispatcher();
      if (!delivery || !config?.connection || !settings) {
        done(notConfiguredError('sangam-call-log', setupError));
        return;
      }
      const connection = config.connection;
      let ivrName: string;
      let records;
      try {
        ivrName = checkIvrName(pickIvrName(msg.ivrName, nodeIvrName(msg), connection.ivrName));
        if (merger) {
          takeLeg(msg, send, done, ivrName);
          return;
        }
        records = normaliseCallLogPayload(msg.payload, {
          timeZone: connection.timeZone,
          maxRecords: settings.maxRecordsPerMsg,
        });
      } catch (error) {
        done(error as Error);
        return;
      }
      // No closure per msg: while the CRM is down 100,000 msgs may wait, each keeping only this.
      const waiting: WaitingMsg = { msg, done, single: records.single };
      try {
        delivery.submit(ivrName, records.records, delivered, waiting);
      } catch (error) {
        delivered(error as Error, undefined, waiting);
      }
    });

    /** The CRM's answer for a msg of records: sent on with its results, or its error to Catch. */
    function delivered(error: Error | undefined, results: CallLogResult[] | undefined, { msg, done, single }: WaitingMsg): void {
      if (error || !results) {
        // Handed to the outbox by a stop (redeploy, shutdown): handled, not a failure; close() says it once.
        if (error instanceof dispatcherModule().CallLogKeptOnStop) return done();
        const failure = error ?? new Error('no results');
        status.now({ kind: 'error', reason: statusReason(failure) });
        done(failure);
        return;
      }
      msg.payload = single ? results[0] : results;
      // node.send is what the input handler's send calls: keeping that closure too would cost each waiting msg 64 bytes.
      node.send(msg);
      done();
    }

    // Held calls go to the dispatcher before it closes (this listener runs before onClose's).
    if (merger) node.on('close', () => merger.flush());

    // Joins the config's closing gate: its connections and outbox stay open until this close is done.
    // How long close waits for answers before handing records to the outbox (or giving up): a batch
    // on the wire is not cut while the CRM may still answer, or it would be stored twice.
    const grace = closeGraceMs(RED.settings, config?.connection?.timeoutMs ?? 0);
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

  RED.nodes.registerType<Node<CallLogCredentials>, CallLogDef, unknown, CallLogCredentials>('sangam-call-log', SangamCallLog, {
    credentials: { twilioAuthToken: { type: 'password' } },
  });
};
