/**
 * Quiet stops: a redeploy while hundreds of call records wait for a slow CRM. With the outbox on,
 * nothing went wrong: the records are journalled and the new deployment's outbox sends them. So the
 * closing node says so once (not `error`), no msg goes to Catch, and every record is stored once.
 */
import * as assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { SangamCrmStandIn } from '../dev/standins/sangam-crm';
import sangamConfigNode = require('../src/sangam-config');
import sangamCallLogNode = require('../src/sangam-call-log');
import { SECRET_TOKEN, TAB, catchNode, clearOutboxes, helper, pause } from './support/node-red';
import { watchSends } from './support/runtime-watch';
import { RECORD } from './support/call-record';
import { withCatalog } from './support/catalog';

/** The helper's setFlows (not in our declaration of it): deploys a flow as the editor's Deploy button does. */
function deploy(flowConfig: Array<Record<string, unknown>>, type: 'full' | 'flows' | 'nodes'): Promise<void> {
  const withSetFlows = helper as unknown as { setFlows(flow: unknown, type: string, credentials: unknown): Promise<void> };
  return withSetFlows.setFlows(flowConfig, type, { crm: { token: SECRET_TOKEN } });
}

interface LogEntry {
  level?: number;
  id?: string;
  msg?: unknown;
}
/** Node-RED's levels: fatal 10, error 20, warn 30, info 40. */
const LEVEL_NAMES: Record<number, string> = { 10: 'fatal', 20: 'error', 30: 'warn', 40: 'info', 50: 'debug', 60: 'trace' };

/** Everything the runtime logs from now until stop(), as `[level] [id] text` lines. */
function recordLog(): { lines(): string[]; of(id: string): LogEntry[]; stop(): void } {
  const entries: LogEntry[] = [];
  const handler = new EventEmitter();
  handler.on('log', (entry: LogEntry) => entries.push(entry));
  const log = (helper._RED as unknown as { log: { addHandler(h: EventEmitter): void; removeHandler(h: EventEmitter): void } }).log;
  log.addHandler(handler);
  const text = (entry: LogEntry): string => (entry.msg instanceof Error ? `${entry.msg.name}: ${entry.msg.message}` : String(entry.msg));
  return {
    /** Info and above, from our nodes or at error level: what a user reads in the Node-RED log. */
    lines: () =>
      entries
        .filter((entry) => (entry.level ?? 99) <= 20 || ((entry.level ?? 99) <= 40 && (entry.id === 'crm' || entry.id === 'log')))
        .map((entry) => `[${LEVEL_NAMES[entry.level ?? 0] ?? entry.level}] [${entry.id ?? '-'}] ${text(entry)}`),
    of: (id) => entries.filter((entry) => entry.id === id),
    stop: () => log.removeHandler(handler),
  };
}

interface StatusCall {
  thisValue: { id: string };
  args: Array<{ fill?: string; text?: string }>;
}

describe('quiet stops: a redeploy with call records waiting for a slow CRM', function () {
  this.timeout(60_000);
  let crm: SangamCrmStandIn;
  let sends: ReturnType<typeof watchSends>;
  let log: ReturnType<typeof recordLog>;

  before(async () => {
    crm = await SangamCrmStandIn.start({ token: SECRET_TOKEN });
  });
  after(() => crm.close());
  beforeEach(async () => {
    await helper.startServer();
    sends = watchSends();
    log = recordLog();
  });
  afterEach(async () => {
    sends.stop();
    log.stop();
    crm.reset();
    await helper.unload();
    await helper.stopServer();
    clearOutboxes();
  });

  const flow = (outbox: boolean): Array<Record<string, unknown>> => [
    { id: TAB, type: 'tab', label: 'test' },
    { id: 'crm', type: 'sangam-config', domain: crm.url, ivrName: 'ivr', timezone: 'UTC', timeout: 20_000, outbox },
    // Two batches of 50 on the wire at a time: most of the 600 records wait in the node's queue.
    { id: 'log', z: TAB, type: 'sangam-call-log', server: 'crm', batchSize: 50, concurrency: 2, batchWindow: 10, retries: 0, wires: [['out']] },
    { id: 'out', z: TAB, type: 'helper' },
    { id: 'catcher', z: TAB, type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', z: TAB, type: 'helper' },
  ];

  function sendRecords(count: number): void {
    const node = helper.getNode('log');
    for (let i = 0; i < count; i++) node.receive({ payload: { ...RECORD, call_ref: `r-${i}` } });
  }

  /** call_ref -> how many times the CRM stored it. */
  function stored(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const entry of crm.callLogs) {
      const ref = String(entry.record.call_ref);
      counts.set(ref, (counts.get(ref) ?? 0) + 1);
    }
    return counts;
  }

  it('outbox on: one info line with the count, nothing to Catch or the error log, every record stored once by the new deployment, whose status shows the waiting count then idle', async () => {
    const MSGS = 600;
    await helper.load([withCatalog, sangamConfigNode, sangamCallLogNode, catchNode], flow(true), { crm: { token: SECRET_TOKEN } });
    // Slow, but each request answers within the closing node's 2 s: no batch is cut on the wire, so
    // no record can be stored twice (a cut batch the CRM stored anyway is the one allowed duplicate).
    crm.setLatency(1_200);
    sendRecords(MSGS);
    await crm.waitForRequests(2);
    await deploy(flow(true), 'full');
    const oldDelivered = sends.sentBy('log').length;
    const kept = MSGS - oldDelivered;
    assert.ok(kept >= 400, `most records were still waiting at the redeploy (${oldDelivered} delivered before)`);

    // The new deployment: its outbox replays what the old node left.
    const node = helper.getNode('log');
    const statusSpy = node.status as unknown as { getCalls(): StatusCall[] };
    const shown = (): string[] => statusSpy.getCalls().filter((call) => call.thisValue.id === 'log').map((call) => `${call.args[0].fill}:${call.args[0].text}`);
    for (const deadline = Date.now() + 30_000; stored().size < MSGS; await pause(50)) {
      if (Date.now() > deadline) assert.fail(`${stored().size} of ${MSGS} records stored; log: ${log.lines().join('\n')}`);
    }
    for (const deadline = Date.now() + 5_000; !shown().includes('grey:idle') || shown().indexOf('grey:idle') < shown().findIndex((s) => s.startsWith('yellow:')); await pause(50)) {
      if (Date.now() > deadline) break;
    }
    // Time for a second copy of any record to arrive, if one were coming.
    await pause(1_500);

    const lines = log.lines();
    console.log(`      redeploy log:\n${lines.map((line) => `        ${line}`).join('\n')}`);
    const caught = sends.caughtBy('catcher');
    assert.equal(caught.length, 0, `no msg sent to Catch for a redeploy; got ${caught.length}, the first: ${caught[0]}`);
    assert.equal(lines.filter((line) => line.startsWith('[error]')).length, 0, lines.join('\n'));
    const counts = stored();
    const duplicates = [...counts].filter(([, n]) => n > 1);
    assert.equal(counts.size, MSGS, 'no record lost');
    assert.equal(duplicates.length, 0, `no record stored twice; ${duplicates.length} were`);
    const fromLog = log.of('log');
    assert.deepEqual(fromLog.filter((entry) => (entry.level ?? 0) <= 30).map((entry) => String(entry.msg)), [], 'no error or warning from the call-log node');
    assert.equal(fromLog.length, 1, `one line from the closing node: ${JSON.stringify(fromLog.map((entry) => String(entry.msg)))}`);
    assert.equal(fromLog[0]!.level, 40, 'at info level');
    assert.match(String(fromLog[0]!.msg), new RegExp(`^stopped with ${kept} call record\\(s\\) not yet delivered \\(\\d+ msg\\(s\\)\\): they are kept in the outbox`));

    // The new node showed the records waiting in the outbox, then idle once they were sent.
    const statuses = shown();
    const waiting = statuses.findIndex((status) => /^yellow:\d+ in outbox, retrying$/.test(status));
    assert.ok(waiting >= 0, `the new node showed the outbox count: ${JSON.stringify(statuses)}`);
    assert.equal(statuses[waiting], `yellow:${kept} in outbox, retrying`, JSON.stringify(statuses));
    assert.equal(statuses.at(-1), 'grey:idle', JSON.stringify(statuses));
    const summary = (await helper.request().get('/sangam-config/crm/outbox')).body as { entries: number };
    assert.equal(summary.entries, 0);
  });

  it('a call-log node removed while its config stays: the running outbox sends the records it left, each once', async () => {
    const MSGS = 600;
    await helper.load([withCatalog, sangamConfigNode, sangamCallLogNode, catchNode], flow(true), { crm: { token: SECRET_TOKEN } });
    crm.setLatency(1_200);
    sendRecords(MSGS);
    await crm.waitForRequests(2);
    // A modified-nodes deploy: the config is unchanged and keeps running, with its outbox.
    await deploy(flow(true).filter((node) => node.id !== 'log'), 'nodes');
    for (const deadline = Date.now() + 30_000; stored().size < MSGS; await pause(50)) {
      if (Date.now() > deadline) assert.fail(`${stored().size} of ${MSGS} records stored: the records the node left are stuck; log: ${log.lines().join('\n')}`);
    }
    await pause(1_500);
    console.log(`      log:\n${log.lines().map((line) => `        ${line}`).join('\n')}`);
    assert.deepEqual(sends.caughtBy('catcher'), []);
    assert.equal([...stored()].filter(([, n]) => n > 1).length, 0, 'no record stored twice');
    const fromLog = log.of('log');
    assert.equal(fromLog.length, 1);
    assert.equal(fromLog[0]!.level, 40);
    const summary = (await helper.request().get('/sangam-config/crm/outbox')).body as { entries: number };
    assert.equal(summary.entries, 0);
  });

  it('outbox off: what could not be delivered within the grace goes to Catch, one error per msg, and one warning sums it up', async () => {
    const MSGS = 40;
    await helper.load([withCatalog, sangamConfigNode, sangamCallLogNode, catchNode], flow(false), { crm: { token: SECRET_TOKEN } });
    // Batches of 50: one request holds all 40; it takes longer than the node's grace (the config's
    // 20 s request time-out and a second, capped at Node-RED's 15 s close time-out less 3 s: 12 s).
    crm.setLatency(15_000);
    sendRecords(MSGS);
    await crm.waitForRequests(1);
    await deploy(flow(false), 'full');
    const caught = sends.caughtBy('catcher');
    assert.equal(caught.length, MSGS, 'each msg whose records are lost goes to Catch');
    assert.match(caught[0]!, /request abandoned: the node was stopped/);
    const warnings = log.of('log').filter((entry) => entry.level === 30).map((entry) => String(entry.msg));
    assert.deepEqual(warnings, [`stopped with ${MSGS} call record(s) of ${MSGS} msg(s) not delivered within 12 s, and no outbox to keep them: each msg went to Catch`]);
  });
});
