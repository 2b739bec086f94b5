/**
 * Fault suite, part 4: everyday redeploys of a real node-red process while 3,000 call records wait
 * for a CRM that takes 3 s to answer (longer than a node's 2 s close grace, so batches are cut on
 * the wire unless the close waits for them). Default node settings: batching, retries and the outbox as a user gets them.
 *
 * What a redeploy must do (issue 15): no record lost, none stored twice by our doing, and a quiet
 * log: one info line per call-log node that left records in the outbox, no `[error]` line and
 * nothing sent to Catch nodes. The log of each redeploy is printed, so a run shows it.
 *
 * The modified-flows deploy that removes the node also prints a TypeError from Node-RED's own
 * Flow.start (rewiring the function node whose wire went): Node-RED 4.1 does that with core nodes
 * alone (an inject -> function -> debug tab, debug removed), so it is not checked here.
 */
import assert from 'node:assert/strict';
import { SangamCrmStandIn } from '../../dev/standins/sangam-crm';
import { type FlowNode, NodeRedProcess } from '../support/node-red-process';
import { countDelivery, faultRecord, printFigures, waitFor } from './delivery-figures';

const TOKEN = 'Tk-faults-redeploy-2b8c51';
/** More than the 12 batches of 250 a node has on the wire at once: the rest wait in its queue at the redeploy. */
const RECORDS = 4_000;
const CRM_LATENCY_MS = 3_000;

function flows(crmUrl: string, options: { configName?: string; withCallLog?: boolean } = {}): FlowNode[] {
  const z = 'redeploy-tab';
  const nodes: FlowNode[] = [
    { id: z, type: 'tab', label: 'redeploy' },
    { id: 'crm', type: 'sangam-config', name: options.configName ?? 'stand-in', domain: crmUrl, ivrName: 'redeploy', timezone: 'UTC' },
    { id: 'in', type: 'http in', z, url: '/burst', method: 'post', upload: false, swaggerDoc: '', wires: [['split']] },
    {
      id: 'split',
      type: 'function',
      z,
      // One msg per record, as a PBX sends them; the request is answered at once.
      func:
        'const { count, tag, record } = msg.payload;\n' +
        'for (let i = 0; i < count; i++) node.send([{ payload: { ...record, call_ref: tag + "-" + i } }, null]);\n' +
        'msg.payload = { queued: count };\n' +
        'return [null, msg];',
      outputs: 2,
      libs: [],
      wires: [options.withCallLog === false ? [] : ['log'], ['answer']],
    },
    { id: 'answer', type: 'http response', z, statusCode: '', headers: {}, wires: [] },
    { id: 'catcher', type: 'catch', z, scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'debug', z, active: true, tosidebar: true, console: false, complete: 'true', wires: [] },
  ];
  if (options.withCallLog !== false) nodes.push({ id: 'log', type: 'sangam-call-log', z, server: 'crm', wires: [[]] });
  return nodes;
}

describe('fault suite: redeploys with 3,000 records waiting for a slow CRM (real node-red, default settings)', function () {
  this.timeout(300_000);
  let crm: SangamCrmStandIn;
  let nodeRed: NodeRedProcess;

  before(async () => {
    crm = await SangamCrmStandIn.start({ token: TOKEN });
    nodeRed = await NodeRedProcess.start();
  });
  after(async () => {
    await nodeRed?.stop();
    await crm?.close();
  });

  async function outboxEntries(): Promise<number> {
    const response = await fetch(`${nodeRed.url}/sangam-config/crm/outbox`);
    return response.status === 200 ? ((await response.json()) as { entries: number }).entries : -1;
  }

  /**
   * Deploys `before`, sends RECORDS one-record msgs to a CRM that answers in 3 s, deploys `after`
   * (as `type`) once requests are on the wire, then lets the CRM answer at once and counts.
   */
  async function redeployWhileWaiting(scenario: string, tag: string, before: FlowNode[], after: FlowNode[], type: 'full' | 'flows' | 'nodes'): Promise<void> {
    crm.reset();
    await nodeRed.deploy(before, { crm: { token: TOKEN } }, 'full');
    crm.setLatency(CRM_LATENCY_MS);
    const caughtBefore = nodeRed.debugMessages('caught').length;
    const response = await fetch(`${nodeRed.url}/burst`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: RECORDS, tag, record: faultRecord('') }),
    });
    assert.equal(response.status, 200, await response.text());
    await crm.waitForRequests(1);

    const firstLine = nodeRed.lines.length;
    await nodeRed.deploy(after, { crm: { token: TOKEN } }, type);
    crm.setLatency(0);
    const sent = new Set(Array.from({ length: RECORDS }, (_, i) => `${tag}-${i}`));
    const storedRefs = (): string[] => crm.callLogs.map((entry) => String(entry.record.call_ref)).filter((ref) => ref.startsWith(`${tag}-`));
    await waitFor(
      async () => new Set(storedRefs()).size === RECORDS && (await outboxEntries()) === 0,
      120_000,
      () => `all ${RECORDS} stored (have ${new Set(storedRefs()).size}) and the outbox empty`,
      200,
    );
    const log = nodeRed.lines.slice(firstLine);
    console.log(`      [faults] ${scenario}: the Node-RED log from the redeploy until every record was stored:`);
    for (const line of log) console.log(`        | ${line}`);
    const figures = countDelivery(scenario, sent, sent, storedRefs());
    printFigures(figures);

    assert.equal(figures.lost, 0, 'records lost');
    assert.equal(figures.unknown, 0, 'records stored that nobody sent');
    assert.equal(figures.duplicates, 0, 'records stored twice');
    assert.deepEqual(log.filter((line) => /\[error\]/.test(line)), [], 'error lines in the log');
    const keptLines = log.filter((line) => /\[info\].*stopped with \d+ call record\(s\) not yet delivered/.test(line));
    assert.equal(keptLines.length, 1, `one info line for the one call-log node, got:\n${keptLines.join('\n')}`);
    assert.equal(nodeRed.debugMessages('caught').length - caughtBefore, 0, 'msgs sent to Catch');
  }

  it('a full redeploy: every record stored once, one info line, no error line, nothing to Catch', async () => {
    await redeployWhileWaiting('full redeploy, 3,000 waiting, CRM 3 s', 'full', flows(crm.url), flows(crm.url), 'full');
  });

  it('a redeploy of modified nodes with the config node changed: every record stored once, one info line, no error, nothing to Catch', async () => {
    await redeployWhileWaiting('config node changed, 3,000 waiting', 'config', flows(crm.url), flows(crm.url, { configName: 'renamed' }), 'nodes');
  });

  it('a redeploy of modified flows that removes the call-log node: its config sends what it left, once; one info line, no error', async () => {
    await redeployWhileWaiting('call-log node removed, 3,000 waiting', 'removed', flows(crm.url), flows(crm.url, { withCallLog: false }), 'flows');
  });
});
