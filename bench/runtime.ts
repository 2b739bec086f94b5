/**
 * One Node-RED runtime (node-red-node-test-helper, in this process) holding every flow the
 * benchmark drives, and the drivers that push msgs into it:
 *   windowed: as fast as the runtime takes them, with at most `window` msgs between receive() and sink;
 *   steady:   a fixed rate (for latency at a realistic load);
 *   burst:    everything at once (for memory while the CRM is down).
 * Every msg carries `bench: {run, seq}`; the sinks and the Catch node report arrivals back here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import helper = require('node-red-node-test-helper');
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import sangamConfig = require('../src/sangam-config');
import sangamCallLog = require('../src/sangam-call-log');
import sangamNotify = require('../src/sangam-notify');
import { sleep } from './measure';

type NodeModule = (RED: NodeAPI) => void;
type TestNode = ReturnType<typeof helper.getNode>;
/* eslint-disable @typescript-eslint/no-require-imports */
const functionNode = require('@node-red/nodes/core/function/10-function.js') as NodeModule;
const httpRequestNode = require('@node-red/nodes/core/network/21-httprequest.js') as NodeModule;
/* eslint-enable @typescript-eslint/no-require-imports */

export const IVR_NAME = 'bench-ivr';
const TAB = 'bench-tab';

/** Ids of the nodes a driver sends into, and of the sinks. */
export const NODE_IDS = {
  baselineCallLog: 'a-build-body',
  callLog: 'b-call-log',
  /** (b) again, on a config with the outbox off: what the journal costs b. */
  callLogNoJournal: 'bnj-call-log',
  baselineNotify: 'n-build-body',
  notify: 'n-notify',
  floor: 'f-floor',
} as const;

/**
 * What Node-RED itself costs in these drives: a node that holds each msg with its record's JSON
 * text (as sangam-call-log does while the CRM answers), and answers them 250 at a time 2 ms later,
 * or whatever it holds after 10 ms. No validation, no journal, no HTTP: the floor under (b).
 * holdFloor() makes it hold everything until releaseFloor() (Node-RED's own memory for held msgs).
 */
let floorHolding = false;
const floorReleasers = new Set<() => void>();

/** From now on the floor node holds every msg it gets, unanswered, until releaseFloor(). */
export function holdFloor(): void {
  floorHolding = true;
}

/** Answers every msg the floor node holds (2 ms later, as always) and goes back to answering in batches. */
export function releaseFloor(): void {
  floorHolding = false;
  for (const release of floorReleasers) release();
}

function benchFloorNode(RED: NodeAPI): void {
  interface Held {
    msg: NodeMessageInFlow;
    send: (msg: NodeMessageInFlow) => void;
    done: () => void;
    json: string;
  }
  function BenchFloor(this: Node, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    let held: Held[] = [];
    let timer: NodeJS.Timeout | undefined;
    const answerHeld = (): void => {
      const batch = held;
      held = [];
      clearTimeout(timer);
      timer = undefined;
      setTimeout(() => {
        for (const { msg, send, done } of batch) {
          msg.payload = { id: 'floor' };
          send(msg);
          done();
        }
      }, 2);
    };
    floorReleasers.add(answerHeld);
    this.on('close', () => floorReleasers.delete(answerHeld));
    this.on('input', (msg: NodeMessageInFlow, send: Held['send'], done: Held['done']) => {
      held.push({ msg, send, done, json: JSON.stringify(msg.payload) });
      if (floorHolding) return;
      if (held.length >= 250) answerHeld();
      else timer ??= setTimeout(answerHeld, 10);
    });
  }
  RED.nodes.registerType('bench-floor', BenchFloor);
}

type FlowNode = Record<string, unknown>;

/** Where the repository's editor files are: <root>/nodes/<type>.html, whatever build folder we run from. */
function repositoryRoot(): string {
  let dir = __dirname;
  for (let depth = 0; depth < 5; depth++) {
    if (fs.existsSync(path.join(dir, 'nodes')) && fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`cannot find the repository root above ${__dirname}`);
}

/**
 * The literal `value`s of a node's editor `defaults` (what a node dropped from the palette gets).
 * Read from the editor file so the benchmark follows the defaults as they change; entries whose
 * default is an expression are left out (the runtime then applies its own fallback).
 */
export function editorDefaults(type: string): FlowNode {
  const file = path.join(repositoryRoot(), 'nodes', `${type}.html`);
  const html = fs.readFileSync(file, 'utf8');
  const start = html.indexOf('defaults:');
  if (start < 0) return {};
  const ends = ['credentials:', 'inputs:', 'category:']
    .map((marker) => html.indexOf(marker, start))
    .filter((index) => index > start);
  const block = html.slice(start, ends.length > 0 ? Math.min(...ends) : undefined);
  const defaults: FlowNode = {};
  const entry = /(\w+)\s*:\s*\{\s*value\s*:\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false)\s*[,}]/g;
  for (let match = entry.exec(block); match; match = entry.exec(block)) {
    const literal = match[2]!;
    defaults[match[1]!] = literal.startsWith("'")
      ? literal.slice(1, -1).replace(/\\(.)/g, '$1')
      : (JSON.parse(literal) as unknown);
  }
  return defaults;
}

/** Node-RED 4.1's editor defaults for the core nodes of the baseline flow (as a user leaves them). */
const FUNCTION_DEFAULTS: FlowNode = { outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [] };
const HTTP_REQUEST_DEFAULTS: FlowNode = {
  method: 'GET',
  ret: 'txt',
  paytoqs: 'ignore',
  url: '',
  tls: '',
  persist: false,
  proxy: '',
  insecureHTTPParser: false,
  authType: '',
  senderr: false,
  headers: [],
};

/** The function node a user writes today for the call-log API: one record per POST. */
function callLogFunctionBody(crmUrl: string, token: string): string {
  return [
    `msg.url = ${JSON.stringify(`${crmUrl}/api/v1/ivr-call-log?ivr-name=`)} + encodeURIComponent(${JSON.stringify(IVR_NAME)});`,
    `msg.headers = { Authorization: ${JSON.stringify(token)}, 'Content-Type': 'application/json', Accept: 'application/json' };`,
    'msg.payload = [msg.payload];',
    'return msg;',
  ].join('\n');
}

/** The same for the pop-up API: the event needs a time in the CRM's format. */
function notifyFunctionBody(crmUrl: string, token: string): string {
  return [
    `msg.url = ${JSON.stringify(`${crmUrl}/api/v1/ivr-call-notify?ivr-name=`)} + encodeURIComponent(${JSON.stringify(IVR_NAME)});`,
    `msg.headers = { Authorization: ${JSON.stringify(token)}, 'Content-Type': 'application/json', Accept: 'application/json' };`,
    "const t = new Date(Date.now() + 330 * 60000).toISOString(); // Asia/Kolkata, as the CRM shows it",
    "msg.payload = Object.assign({}, msg.payload, { time: t.slice(0, 10) + ' ' + t.slice(11, 19) });",
    'return msg;',
  ].join('\n');
}

/** Property overrides for what-if runs (`--set callLog.batchSize=1000`); empty for the real benchmark. */
export interface FlowOverrides {
  config: FlowNode;
  callLog: FlowNode;
  notify: FlowNode;
}

export const NO_OVERRIDES: FlowOverrides = { config: {}, callLog: {}, notify: {} };

export function benchFlow(crmUrl: string, token: string, overrides: FlowOverrides = NO_OVERRIDES): FlowNode[] {
  const onTab = (node: FlowNode): FlowNode => ({ z: TAB, ...node });
  return [
    { id: TAB, type: 'tab', label: 'benchmark' },
    onTab({
      ...editorDefaults('sangam-config'),
      id: 'crm',
      type: 'sangam-config',
      name: 'bench CRM',
      domain: crmUrl,
      ivrName: IVR_NAME,
      timezone: 'Asia/Kolkata',
      ...overrides.config,
    }),
    // (a) what users do today: function node + core http request node, one record per msg.
    onTab({ ...FUNCTION_DEFAULTS, id: NODE_IDS.baselineCallLog, type: 'function', name: 'build call-log body', func: callLogFunctionBody(crmUrl, token), wires: [['a-http']] }),
    onTab({ ...HTTP_REQUEST_DEFAULTS, id: 'a-http', type: 'http request', name: '', method: 'POST', wires: [['sink-a']] }),
    onTab({ id: 'sink-a', type: 'helper' }),
    // (b) sangam-call-log as a user gets it from the palette.
    onTab({ ...editorDefaults('sangam-call-log'), id: NODE_IDS.callLog, type: 'sangam-call-log', server: 'crm', wires: [['sink-b']], ...overrides.callLog }),
    onTab({ id: 'sink-b', type: 'helper' }),
    // (bnj) the same node on a config of the same CRM with the outbox off: b without its journal.
    onTab({ ...editorDefaults('sangam-config'), id: 'crm-nj', type: 'sangam-config', name: 'bench CRM, no outbox', domain: crmUrl, ivrName: IVR_NAME, timezone: 'Asia/Kolkata', ...overrides.config, outbox: false }),
    onTab({ ...editorDefaults('sangam-call-log'), id: NODE_IDS.callLogNoJournal, type: 'sangam-call-log', server: 'crm-nj', wires: [['sink-b']], ...overrides.callLog }),
    // (d) pop-ups: today's function + http request, and sangam-notify.
    onTab({ ...FUNCTION_DEFAULTS, id: NODE_IDS.baselineNotify, type: 'function', name: 'build notify body', func: notifyFunctionBody(crmUrl, token), wires: [['n-http']] }),
    onTab({ ...HTTP_REQUEST_DEFAULTS, id: 'n-http', type: 'http request', name: '', method: 'POST', wires: [['sink-n']] }),
    onTab({ id: 'sink-n', type: 'helper' }),
    onTab({ ...editorDefaults('sangam-notify'), id: NODE_IDS.notify, type: 'sangam-notify', server: 'crm', wires: [['sink-notify']], ...overrides.notify }),
    onTab({ id: 'sink-notify', type: 'helper' }),
    // The floor: Node-RED's own cost of holding and answering msgs, without our work.
    onTab({ id: NODE_IDS.floor, type: 'bench-floor', wires: [['sink-f']] }),
    onTab({ id: 'sink-f', type: 'helper' }),
    // Errors from any node end a msg too (counted as failed).
    onTab({ id: 'catch-all', type: 'catch', name: '', scope: null, uncaught: false, wires: [['caught']] }),
    onTab({ id: 'caught', type: 'helper' }),
  ];
}

/** The tag every driven msg carries. */
interface BenchTag {
  run: number;
  seq: number;
}

interface BenchMsg {
  payload?: unknown;
  statusCode?: unknown;
  error?: { message?: unknown };
  bench?: BenchTag;
  [key: string]: unknown;
}

export interface DriveResult {
  sent: number;
  ok: number;
  failed: number;
  /** First receive() to last arrival (or to the deadline for what did not arrive). */
  elapsedMs: number;
  /** receive() -> sink, ms, for msgs that arrived OK. */
  latencies: Float64Array;
  /** First few error texts (from Catch or an HTTP status), for the report. */
  errorSamples: string[];
  /** True when the driver stopped sending at its time limit. */
  stoppedAtTimeLimit: boolean;
}

/** Book-keeping of the one run in progress. */
class Run {
  readonly sentAt: Float64Array;
  readonly latency: Float64Array;
  readonly finished: Uint8Array;
  sent = 0;
  ok = 0;
  failed = 0;
  firstSentAt = 0;
  lastArrivalAt = 0;
  readonly errorSamples: string[] = [];
  onArrival: (() => void) | undefined;

  constructor(
    readonly id: number,
    capacity: number,
  ) {
    this.sentAt = new Float64Array(capacity);
    this.latency = new Float64Array(capacity);
    this.finished = new Uint8Array(capacity);
  }

  get outstanding(): number {
    return this.sent - this.ok - this.failed;
  }

  result(stoppedAtTimeLimit: boolean, endAt: number): DriveResult {
    const latencies: number[] = [];
    for (let seq = 0; seq < this.sent; seq++) if (this.finished[seq] === 1) latencies.push(this.latency[seq]!);
    return {
      sent: this.sent,
      ok: this.ok,
      failed: this.failed,
      elapsedMs: Math.max(0, endAt - this.firstSentAt),
      latencies: Float64Array.from(latencies),
      errorSamples: this.errorSamples,
      stoppedAtTimeLimit,
    };
  }
}

type MessageFactory = (seq: number) => BenchMsg;

/** Internal parts of the helper we undo; see captureNodeMethods. */
interface HelperInternals {
  _NodePrototype?: Record<string, unknown>;
  /** Holds the spy on RED.log.log (every log call, metrics included, recorded). */
  _sandbox?: { restore(): void };
}

/** The Node.prototype methods node-red-node-test-helper 0.3 replaces with spies in load(). */
const SPIED_METHODS = ['log', 'status', 'warn', 'error', 'debug', 'trace', 'send'] as const;

export class BenchRuntime {
  /** Runs in progress (a pop-up run can go on while a call-log backlog drains). */
  private readonly runs = new Map<number, Run>();
  private nextRunId = 1;

  private constructor(readonly userDir: string) {}

  static async start(crmUrl: string, token: string, userDir: string, overrides: FlowOverrides = NO_OVERRIDES): Promise<BenchRuntime> {
    // Errors of failed msgs reach the Catch node; the runtime's own log would only flood the console.
    helper.init(require.resolve('node-red'), { userDir, logging: { console: { level: 'off' } } });
    const runtime = new BenchRuntime(userDir);
    const removeHelperSpies = BenchRuntime.captureNodeMethods();
    const flow = benchFlow(crmUrl, token, overrides);
    await helper.load(
      [sangamConfig, sangamCallLog, sangamNotify, functionNode, httpRequestNode, benchFloorNode],
      flow,
      { crm: { token }, 'crm-nj': { token } },
    );
    removeHelperSpies(flow.map((node) => String(node.id)));
    for (const sink of ['sink-a', 'sink-b', 'sink-n', 'sink-notify', 'sink-f']) {
      helper.getNode(sink).on('input', (msg: Record<string, unknown>) => runtime.arrive(msg as BenchMsg, false));
    }
    helper.getNode('caught').on('input', (msg: Record<string, unknown>) => runtime.arrive(msg as BenchMsg, true));
    return runtime;
  }

  /**
   * The helper wraps Node.prototype.send/status/log/warn/error/... and RED.log.log in sinon spies
   * (on every load) that record each call, msg included, until unload: at 100,000 msgs that is a leak and a per-msg
   * cost no user's runtime has. Put the runtime's own methods back (captured before the load).
   */
  private static captureNodeMethods(): (nodeIds: ReadonlyArray<string>) => void {
    const internals = helper as unknown as HelperInternals;
    const prototype = internals._NodePrototype;
    if (!prototype) {
      return () => process.stderr.write('warning: could not remove the test helper spies; figures include their cost\n');
    }
    const originals = SPIED_METHODS.map((name) => [name, prototype[name]] as const);
    return (nodeIds) => {
      // The sandbox restores the log spy; the prototype holds Proxies around the spies, which it leaves.
      internals._sandbox?.restore();
      for (const [name, original] of originals) prototype[name] = original;
      // Node-RED copies Node.prototype.send onto each wired node when it is created (Node.updateWires).
      const originalSend = originals.find(([name]) => name === 'send')?.[1];
      for (const id of nodeIds) {
        const node = helper.getNode(id) as unknown as Record<string, unknown> | null;
        // Nodes without wires keep their no-op send.
        if (node && originalSend && Object.hasOwn(node, 'send') && Number(node._wireCount) > 0) node.send = originalSend;
      }
    };
  }

  async stop(): Promise<void> {
    await helper.unload();
  }

  private arrive(msg: BenchMsg, caught: boolean): void {
    const tag = msg.bench;
    const run = tag ? this.runs.get(tag.run) : undefined;
    if (!run || !tag || tag.seq >= run.sent || run.finished[tag.seq] !== 0) return;
    const now = performance.now();
    // The core http request node sends its answer on whatever status it got: only 200 counts.
    const httpFailure = !caught && msg.statusCode !== undefined && msg.statusCode !== 200;
    if (caught || httpFailure) {
      run.finished[tag.seq] = 2;
      run.failed++;
      if (run.errorSamples.length < 5) {
        run.errorSamples.push(caught ? String(msg.error?.message ?? 'error') : `HTTP ${String(msg.statusCode)}: ${String(msg.payload).slice(0, 120)}`);
      }
    } else {
      run.finished[tag.seq] = 1;
      run.ok++;
      run.latency[tag.seq] = now - run.sentAt[tag.seq]!;
    }
    run.lastArrivalAt = now;
    run.onArrival?.();
  }

  private begin(capacity: number): Run {
    const run = new Run(this.nextRunId++, capacity);
    this.runs.set(run.id, run);
    return run;
  }

  private inject(node: TestNode, run: Run, make: MessageFactory): void {
    const seq = run.sent;
    const msg = make(seq);
    msg.bench = { run: run.id, seq };
    const now = performance.now();
    if (seq === 0) run.firstSentAt = now;
    run.sentAt[seq] = now;
    run.sent++;
    node.receive(msg);
  }

  /**
   * Sends `n` msgs as fast as the runtime takes them, keeping at most `window` outstanding.
   * Stops sending at `timeLimitMs` and waits up to `drainLimitMs` more for what is in flight.
   */
  async windowed(options: {
    nodeId: string;
    n: number;
    window: number;
    make: MessageFactory;
    timeLimitMs: number;
    drainLimitMs: number;
  }): Promise<DriveResult> {
    const { nodeId, n, window, make, timeLimitMs, drainLimitMs } = options;
    const run = this.begin(n);
    const target = helper.getNode(nodeId);
    const startedAt = performance.now();
    let stoppedAtTimeLimit = false;
    await new Promise<void>((resolve) => {
      let scheduled = false;
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        clearTimeout(sendDeadline);
        clearTimeout(drainDeadline);
        run.onArrival = undefined;
        resolve();
      };
      const pump = (): void => {
        scheduled = false;
        if (finished) return;
        // Inject in slices so the event loop can run I/O between them.
        let slice = 0;
        while (!stoppedAtTimeLimit && run.sent < n && run.outstanding < window && slice < 200) {
          this.inject(target, run, make);
          slice++;
        }
        if ((run.sent >= n || stoppedAtTimeLimit) && run.outstanding === 0) finish();
        else if (!stoppedAtTimeLimit && run.sent < n && run.outstanding < window) schedule();
      };
      const schedule = (): void => {
        if (scheduled) return;
        scheduled = true;
        setImmediate(pump);
      };
      run.onArrival = schedule;
      const sendDeadline = setTimeout(() => {
        stoppedAtTimeLimit = run.sent < n;
        if (run.outstanding === 0) finish();
      }, timeLimitMs);
      const drainDeadline = setTimeout(finish, timeLimitMs + drainLimitMs);
      schedule();
    });
    this.runs.delete(run.id);
    const endAt = run.outstanding === 0 ? run.lastArrivalAt : startedAt + timeLimitMs + drainLimitMs;
    return run.result(stoppedAtTimeLimit, endAt);
  }

  /**
   * Sends at `ratePerSecond` for `durationMs` (a tick every 2 ms sends what is due), then waits up
   * to `drainLimitMs` for the answers.
   */
  async steady(options: {
    nodeId: string;
    ratePerSecond: number;
    durationMs: number;
    make: MessageFactory;
    drainLimitMs: number;
    /** Stops sending early once this returns true (checked every tick). */
    until?: () => boolean;
  }): Promise<DriveResult> {
    const { nodeId, ratePerSecond, durationMs, make, drainLimitMs, until } = options;
    let total = Math.round((ratePerSecond * durationMs) / 1000);
    const run = this.begin(total);
    const target = helper.getNode(nodeId);
    const startedAt = performance.now();
    await new Promise<void>((resolve) => {
      let drainDeadline: NodeJS.Timeout | undefined;
      const finishIfDone = (): void => {
        if (run.sent >= total && run.outstanding === 0) {
          clearInterval(tick);
          clearTimeout(drainDeadline);
          resolve();
        }
      };
      const tick = setInterval(() => {
        if (until?.()) {
          total = run.sent;
          clearInterval(tick);
          drainDeadline ??= setTimeout(resolve, drainLimitMs);
          finishIfDone();
          return;
        }
        const due = Math.min(total, Math.floor(((performance.now() - startedAt) * ratePerSecond) / 1000) + 1);
        while (run.sent < due) this.inject(target, run, make);
        if (run.sent >= total) {
          clearInterval(tick);
          drainDeadline ??= setTimeout(resolve, drainLimitMs);
        }
      }, 2);
      run.onArrival = finishIfDone;
    });
    run.onArrival = undefined;
    this.runs.delete(run.id);
    return run.result(false, run.outstanding === 0 ? run.lastArrivalAt : performance.now());
  }

  /**
   * Sends `n` msgs at once (slices of 1000 with a turn of the event loop between), then waits for
   * every one to come out or fail; stops sending and waiting at `waitLimitMs` from the first msg.
   * `whileWaiting` is polled every 100 ms.
   */
  async burst(options: {
    nodeId: string;
    n: number;
    make: MessageFactory;
    waitLimitMs: number;
    whileWaiting?: () => Promise<boolean>;
    /** Msgs sent in one turn of the event loop (default 1000). */
    slice?: number;
  }): Promise<DriveResult & { injectMs: number }> {
    const { nodeId, n, make, waitLimitMs, whileWaiting, slice = 1000 } = options;
    const run = this.begin(n);
    const target = helper.getNode(nodeId);
    const startedAt = performance.now();
    // The time limit counts from the first msg: a flow that takes msgs in slowly is not waited for.
    while (run.sent < n && performance.now() - startedAt < waitLimitMs) {
      const end = Math.min(n, run.sent + slice);
      while (run.sent < end) this.inject(target, run, make);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const injectMs = performance.now() - startedAt;
    // Wait for the msgs to settle and for the caller's condition (records delivered at the CRM).
    let conditionMet = whileWaiting === undefined;
    while (performance.now() - startedAt < waitLimitMs) {
      if (!conditionMet && whileWaiting) conditionMet = await whileWaiting();
      if (conditionMet && run.outstanding === 0) break;
      await sleep(100);
    }
    this.runs.delete(run.id);
    return { ...run.result(false, run.outstanding === 0 ? run.lastArrivalAt : performance.now()), injectMs };
  }
}
