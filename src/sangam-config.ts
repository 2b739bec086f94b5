import * as os from 'node:os';
import * as path from 'node:path';
import type { NodeAPI, NodeDef } from 'node-red';
import type { Request, Response } from 'express';
import { OUTBOX_PROBLEM_EVENT, OUTBOX_WAITING_EVENT, SangamConfigNode, SangamCredentials } from './red/sangam-types';
import { ClosingGate } from './lib/closing-gate';
import { closeGraceMs } from './red/worker';
import { excerpt } from './lib/errors';
import { AgentDirectory } from './sangam/agent-directory';
import { readBoolean, readInteger } from './lib/settings';
import { CallLogOutbox, OutboxEvent } from './sangam/call-log-outbox';
import { SangamConfigProperties, openSangamConnection } from './sangam/sangam-connection';

interface SangamConfigDef extends NodeDef, SangamConfigProperties {
  outbox?: unknown;
  outboxMaxRecords?: unknown;
  agents?: unknown;
}

export = function register(RED: NodeAPI): void {
  /** The outbox's last background failure per config node, for its dialog; a delivery clears it. */
  const lastOutboxErrors = new WeakMap<SangamConfigNode, { message: string; at: string }>();

  function SangamConfig(this: SangamConfigNode, def: SangamConfigDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    node.closingGate = new ClosingGate();
    try {
      // Checked first: a directory with a duplicate extension is a config error like a bad domain,
      // and click-to-call resolves agents even when the CRM connection is unusable.
      node.agents = new AgentDirectory(def.agents);
      node.connection = openSangamConnection(def, node.credentials?.token);
      if (readBoolean(def.outbox, true)) {
        const userDir = (RED.settings as { userDir?: string }).userDir ?? path.join(os.homedir(), '.node-red');
        node.outbox = new CallLogOutbox({
          dir: path.join(userDir, 'sangam-outbox'),
          name: node.id,
          maxEntries: readInteger(def.outboxMaxRecords, { name: 'outbox size', min: 100, max: 10_000_000, fallback: 250_000 }),
          client: node.connection.client,
          onWaiting: (waiting) => node.emit(OUTBOX_WAITING_EVENT, waiting),
          onEvent: (event) => logOutboxEvent(event),
        });
      }
    } catch (error) {
      // Worker nodes show this in their status and send it to Catch with each msg.
      node.configError = (error as Error).message;
      node.error(RED._('sangam-config.errors.invalid', { reason: node.configError }));
    }

    /**
     * What is wrong with the outbox now, by where it comes from: the call-log nodes show the first
     * in their status (OUTBOX_PROBLEM_EVENT), and go back to normal once none is left.
     */
    const problems = new Map<'open' | 'write' | 'compaction', string>();
    function setProblem(source: 'open' | 'write' | 'compaction', reason: string | undefined): void {
      if (reason === undefined) problems.delete(source);
      else problems.set(source, reason);
      node.emit(OUTBOX_PROBLEM_EVENT, problems.values().next().value);
    }

    function logOutboxEvent(event: OutboxEvent): void {
      // The dialog's Outbox tab shows the last problem until a delivery succeeds.
      if (event.kind === 'replayed') lastOutboxErrors.delete(node);
      else if (event.kind === 'journal-problem') {
        const { problem } = event;
        if (problem.kind === 'compaction-failed' || problem.kind === 'write-failed') {
          lastOutboxErrors.set(node, { message: problem.error.message, at: new Date().toISOString() });
        }
      } else if (event.kind !== 'reopened') lastOutboxErrors.set(node, { message: event.reason, at: new Date().toISOString() });
      if (event.kind === 'replayed') node.log(RED._('sangam-config.outbox.replayed', { count: event.count }));
      else if (event.kind === 'replay-failed') {
        node.warn(RED._('sangam-config.outbox.replayFailed', {
          waiting: event.waiting,
          seconds: Math.round(event.retryInMs / 1000),
          reason: event.reason,
        }));
      } else if (event.kind === 'refused') {
        node.error(RED._('sangam-config.outbox.refused', { count: event.count, reason: event.reason, file: event.keptIn }));
      } else if (event.kind === 'unverified') node.error(RED._('sangam-config.outbox.unverified', { count: event.count, reason: event.reason }));
      else if (event.kind === 'unavailable') {
        // Said once per spell: the outbox tries again by itself, and says so when it opens.
        node.error(RED._('sangam-config.outbox.unavailable', { dir: event.dir, reason: event.reason }));
        setProblem('open', `journal unusable (${excerpt(event.reason, 60)})`);
      } else if (event.kind === 'reopened') {
        node.log(RED._('sangam-config.outbox.reopened', { dir: event.dir }));
        setProblem('open', undefined);
      } else if (event.problem.kind === 'compaction-failed') {
        // Said once per spell of failures: the journal keeps growing until a compaction succeeds.
        node.error(RED._('sangam-config.outbox.compactionFailed', { file: event.problem.journal, reason: event.problem.error.message }));
        setProblem('compaction', event.problem.error.message);
      } else if (event.problem.kind === 'compaction-recovered') {
        node.log(RED._('sangam-config.outbox.compactionRecovered', { file: event.problem.journal }));
        setProblem('compaction', undefined);
      } else if (event.problem.kind === 'write-failed') {
        // Once per spell of failed writes; each refused msg goes to Catch with the full error.
        const cause = event.problem.error.code ?? excerpt(event.problem.error.reason, 60);
        node.error(RED._('sangam-config.outbox.writeFailed', { file: event.problem.journal, reason: event.problem.error.reason }));
        setProblem('write', `journal not written (${cause}), call logs refused`);
      } else {
        node.log(RED._('sangam-config.outbox.writeRecovered', { file: event.problem.journal }));
        setProblem('write', undefined);
      }
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      // Node-RED closes the worker nodes together with this one, not before it: their batches and
      // pop-ups in flight need the connections, and their records the outbox, until they closed.
      // Replays on the wire get the same time as the workers' batches, counted from now: they run meanwhile.
      const deadline = Date.now() + closeGraceMs(RED.settings, node.connection?.timeoutMs ?? 0);
      const closing = node.closingGate
        .whenClear()
        .then((clear) => {
          if (!clear) node.warn(`sangam-config: ${node.closingGate.size} node(s) still closing; closing the outbox and connections anyway`);
          return node.outbox?.close(Math.max(0, deadline - Date.now()));
        });
      closing
        .catch((error: Error) => node.warn(error.message))
        .finally(() => {
          node.connection?.close();
          done();
        });
    });
  }

  RED.nodes.registerType<SangamConfigNode, SangamConfigDef, unknown, SangamCredentials>('sangam-config', SangamConfig, {
    credentials: { token: { type: 'password' } },
  });

  // The config dialog shows the outbox and can flush or discard it; admin auth guards all three.
  // Each answer carries the summary and lastError ({message, at} or null).
  const outboxOf = (req: Request, res: Response): [CallLogOutbox, () => { message: string; at: string } | null] | undefined => {
    const config = RED.nodes.getNode(String(req.params.id)) as SangamConfigNode | null;
    if (config?.type !== 'sangam-config' || !config.outbox) {
      res.status(404).json({ error: 'no deployed sangam-config node with an outbox has that id' });
      return undefined;
    }
    return [config.outbox, () => lastOutboxErrors.get(config) ?? null];
  };
  RED.httpAdmin.get('/sangam-config/:id/outbox', RED.auth.needsPermission('sangam-config.read'), (req, res) => {
    const found = outboxOf(req, res);
    if (found) res.json({ ...found[0].summary(), lastError: found[1]() });
  });
  RED.httpAdmin.post('/sangam-config/:id/outbox/flush', RED.auth.needsPermission('sangam-config.write'), (req, res) => {
    const found = outboxOf(req, res);
    if (found) {
      found[0].flush().then(
        (summary) => res.json({ ...summary, lastError: found[1]() }),
        (error: Error) => res.status(500).json({ error: error.message }),
      );
    }
  });
  RED.httpAdmin.post('/sangam-config/:id/outbox/discard', RED.auth.needsPermission('sangam-config.write'), (req, res) => {
    const found = outboxOf(req, res);
    if (found) {
      found[0].discard().then(
        (discarded) => res.json({ discarded, ...found[0].summary(), lastError: found[1]() }),
        (error: Error) => res.status(500).json({ error: error.message }),
      );
    }
  });
};
