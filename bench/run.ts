/**
 * `npm run bench`: sangam-call-log and sangam-notify against what Node-RED users do today (a
 * function node + the core http request node), and against a plain keep-alive got client, with the
 * SangamCRM stand-in in its own process. Prints a table and PASS/FAIL per target, writes
 * bench/results/latest.json and latest.svg. Exit code 0 unless the benchmark itself broke.
 *
 *   node --expose-gc .build/bench/run.js [--only a,b,bnj,c,cb,floor,d,p,a50,b50,mem,burst,footprint] [--quick] [--n 20000] [--window 1000]
 *     [--set callLog.batchSize=1000 --set config.outbox=false ...]   (what-if runs; results not written)
 *
 * To profile the call-log path: node --cpu-prof --cpu-prof-dir=/tmp/prof --expose-gc .build/bench/run.js --only b
 * then node .build/bench/profile-summary.js /tmp/prof/<file>.cpuprofile
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { ResourceMonitor, ResourceUsage, round, summariseLatencies } from './measure';
import { CrmCounters, StandInProcess } from './standin-process';
import { BenchRuntime, DriveResult, FlowOverrides, IVR_NAME, NODE_IDS, editorDefaults, holdFloor, releaseFloor } from './runtime';
import { PopupProbe, ProbeResult } from './popup-probe';
import { GotTarget, PlainGotResult, callLogBatches, notifySteady } from './plain-got';
import { ChartBar, ScenarioFigures, TargetCheck, chartSvg, cpuPerMsgUs, figuresTable, targetLines } from './report';
import { FOOTPRINT_DEFAULTS, footprintTable, measureFootprint } from './footprint';

const SCENARIOS = ['a', 'b', 'bnj', 'c', 'cb', 'floor', 'd', 'p', 'a50', 'b50', 'mem', 'burst', 'footprint'] as const;
type ScenarioKey = (typeof SCENARIOS)[number];
/** sangam-call-log's batching as a user gets it from the palette, for the plain got row beside b (cb). */
const CALL_LOG_DEFAULTS = editorDefaults('sangam-call-log');
const B_BATCHING = { batchSize: Number(CALL_LOG_DEFAULTS.batchSize ?? 250), concurrency: Number(CALL_LOG_DEFAULTS.concurrency ?? 12) };
/** The memory rows, each measured in a Node-RED process of its own (see memoryInOwnProcess). */
const MEMORY_PARTS = ['mem', 'mem-batched', 'mem-floor'] as const;
type MemoryPart = (typeof MEMORY_PARTS)[number];

interface BenchOptions {
  only: Set<ScenarioKey>;
  /** Msgs (= records) for a, b and c. */
  n: number;
  /** Msgs outstanding at most for the windowed drivers (a, b and the notify throughput runs). */
  window: number;
  /** Repetitions of the short runs (b, c); the median is reported. */
  repetitions: number;
  /** The baseline (a) stops sending after this long; throughput is what completed. */
  baselineTimeLimitMs: number;
  notifyRate: number;
  notifySteadyMs: number;
  notifyThroughputN: number;
  rttMs: number;
  rttBaselineTimeLimitMs: number;
  burstRecords: number;
  /** Pop-ups per second while a call-log backlog drains (p), and how long each half (idle, backlog) lasts. */
  popupRate: number;
  popupMs: number;
  /** Msgs in the unbounded burst (burst), for b and for a. */
  burstMsgs: number;
  /** The baseline (a) gets this long to answer the burst; what is left is counted as outstanding. */
  burstBaselineLimitMs: number;
  /** Msgs in flight for the 50 ms target (b at 50 ms against b at 0 ms). */
  wideWindow: number;
  /** How long the CRM is down during the burst: shorter than the default retry budget (>= 1.9 s). */
  downMs: number;
  writeResults: boolean;
  /** What-if property overrides (--set); a run with any is never written to bench/results. */
  overrides: FlowOverrides;
  /** Set in a child process that measures one memory row and writes its figures to `childOut`. */
  memoryPart: MemoryPart | undefined;
  childOut: string | undefined;
}

function parseOptions(argv: ReadonlyArray<string>): BenchOptions {
  const options: BenchOptions = {
    only: new Set(SCENARIOS),
    n: 20_000,
    window: 1_000,
    repetitions: 5,
    baselineTimeLimitMs: 40_000,
    notifyRate: 500,
    notifySteadyMs: 4_000,
    notifyThroughputN: 10_000,
    rttMs: 50,
    rttBaselineTimeLimitMs: 15_000,
    burstRecords: 100_000,
    popupRate: 20,
    popupMs: 10_000,
    burstMsgs: 100_000,
    burstBaselineLimitMs: 30_000,
    wideWindow: 5_000,
    downMs: 1_500,
    writeResults: true,
    overrides: { config: {}, callLog: {}, notify: {} },
    memoryPart: undefined,
    childOut: undefined,
  };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    const value = (): string => {
      const next = argv[++index];
      if (next === undefined) throw new RangeError(`${arg} needs a value`);
      return next;
    };
    const positive = (text: string): number => {
      const number = Number(text);
      if (!Number.isInteger(number) || number < 1) throw new RangeError(`${arg} must be a whole number >= 1, got ${text}`);
      return number;
    };
    switch (arg) {
      case '--only': {
        const keys = value().split(',').map((key) => key.trim());
        for (const key of keys) {
          if (!(SCENARIOS as ReadonlyArray<string>).includes(key)) throw new RangeError(`--only: unknown scenario ${key} (${SCENARIOS.join(', ')})`);
        }
        options.only = new Set(keys as ScenarioKey[]);
        // A partial run must not overwrite the committed representative results.
        options.writeResults = false;
        break;
      }
      case '--n':
        options.n = positive(value());
        break;
      case '--window':
        options.window = positive(value());
        break;
      case '--set': {
        // --set callLog.batchSize=1000 | config.outbox=false | notify.retries=0 (value: JSON, else text)
        const match = /^(config|callLog|notify)\.(\w+)=(.*)$/.exec(value());
        if (!match) throw new RangeError('--set takes config.<property>=<value>, callLog.<property>=<value> or notify.<property>=<value>');
        const [, node, property, text] = match as unknown as [string, keyof FlowOverrides, string, string];
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // Not JSON: keep it as text.
        }
        options.overrides[node][property] = parsed;
        options.writeResults = false;
        break;
      }
      case '--memory-part': {
        const part = value();
        if (!(MEMORY_PARTS as ReadonlyArray<string>).includes(part)) throw new RangeError(`--memory-part: unknown part ${part} (${MEMORY_PARTS.join(', ')})`);
        options.memoryPart = part as MemoryPart;
        break;
      }
      case '--child-out':
        options.childOut = value();
        options.writeResults = false;
        break;
      case '--quick':
        Object.assign(options, {
          n: 3_000,
          repetitions: 1,
          baselineTimeLimitMs: 8_000,
          notifySteadyMs: 1_500,
          notifyThroughputN: 2_000,
          rttBaselineTimeLimitMs: 4_000,
          burstRecords: 20_000,
          popupMs: 4_000,
          burstMsgs: 20_000,
          burstBaselineLimitMs: 20_000,
          writeResults: false,
        });
        break;
      default:
        throw new RangeError(`unknown argument ${arg}`);
    }
  }
  return options;
}

/** Guide-form call records (as a PBX integration hands them over), distinct numbers per record. */
function makeRecords(count: number): Array<Record<string, string>> {
  const two = (value: number): string => (value < 10 ? `0${value}` : String(value));
  // Calls one second apart from 2024-05-10 00:00:00 on (made with arithmetic: Date formatting of
  // 100,000 records would cost the benchmark a second before it starts).
  const stamp = (secondOfRun: number): string => {
    const day = 10 + Math.floor(secondOfRun / 86_400);
    const second = secondOfRun % 86_400;
    return `2024-05-${two(day)} ${two(Math.floor(second / 3600))}:${two(Math.floor(second / 60) % 60)}:${two(second % 60)}`;
  };
  const records: Array<Record<string, string>> = new Array(count);
  for (let seq = 0; seq < count; seq++) {
    const inbound = seq % 2 === 0;
    const customer = `98${String(10_000_000 + seq).padStart(8, '0')}`;
    const agent = `7890${String(100_000 + (seq % 50)).padStart(6, '0')}`;
    records[seq] = {
      duration: '00:01:05',
      enjay_lat_source_number: inbound ? customer : agent,
      date_start: stamp(seq % 1_000_000),
      date_end: stamp((seq % 1_000_000) + 65),
      mobile_call_detect_c: '0',
      name: customer,
      enjay_lat_destination_number: inbound ? agent : customer,
      assigned_user_id: '1',
      decision_variable: '',
      direction: inbound ? 'Inbound' : 'Outbound',
      call_status: 'Held',
      logged_via: 'Calllog',
      logged_by: 'IVR',
      synapse_recording_link: '',
    };
  }
  return records;
}

/** A ringing pop-up; `time` is left out so the node stamps it (the function-node baseline does the same). */
function makeEvent(seq: number): Record<string, string> {
  return {
    cli: `98${String(20_000_000 + seq).padStart(8, '0')}`,
    event: 'ringing',
    uniqueid: `1715318400.${seq}`,
    nm: 'agent@example.com',
    to: '7890100001',
  };
}

function crmTime(): string {
  const shifted = new Date(Date.now() + 330 * 60_000).toISOString();
  return `${shifted.slice(0, 10)} ${shifted.slice(11, 19)}`;
}

interface Measured<T> {
  value: T;
  loadAverage: number;
  usage: ResourceUsage;
  crm: CrmCounters;
  crmCpuSeconds: number | null;
}

class Bench {
  readonly figures: ScenarioFigures[] = [];
  readonly extra: Record<string, unknown> = {};

  constructor(
    readonly crm: StandInProcess,
    readonly runtime: BenchRuntime,
    readonly options: BenchOptions,
    readonly records: ReadonlyArray<Record<string, string>>,
    readonly target: GotTarget,
  ) {}

  /** Resets the stand-in, measures `body`, and reads the stand-in's counters afterwards. */
  async measure<T>(body: () => Promise<T>): Promise<Measured<T>> {
    await this.crm.reset();
    const crmCpuBefore = this.crm.cpuSeconds();
    const monitor = new ResourceMonitor(50);
    const value = await body();
    const usage = monitor.stop();
    const crmCpuAfter = this.crm.cpuSeconds();
    const crm = await this.crm.stats();
    const loadAverage = round(os.loadavg()[0]!, 2);
    const crmCpuSeconds = crmCpuBefore !== undefined && crmCpuAfter !== undefined ? round(crmCpuAfter - crmCpuBefore, 2) : null;
    return { value, loadAverage, usage, crm, crmCpuSeconds };
  }

  recordMsg = (seq: number): { payload: Record<string, string> } => ({ payload: this.records[seq % this.records.length]! });

  /** Windowed drive of a call-log flow (a or b) and its figures. */
  async callLogFlow(key: string, label: string, nodeId: string, timeLimitMs: number): Promise<ScenarioFigures> {
    const { n, window } = this.options;
    const measured = await this.measure(() =>
      this.runtime.windowed({ nodeId, n, window, make: this.recordMsg, timeLimitMs, drainLimitMs: 20_000 }),
    );
    const drive = `windowed: ${window} msgs outstanding at most, ${n} msgs of 1 record` +
      (measured.value.stoppedAtTimeLimit ? `, stopped sending after ${timeLimitMs / 1000} s (throughput from what completed)` : '');
    return this.flowFigures(key, label, drive, measured);
  }

  flowFigures(key: string, label: string, drive: string, measured: Measured<DriveResult>): ScenarioFigures {
    const { value: result, usage, crm } = measured;
    const seconds = result.elapsedMs / 1000;
    const latency = summariseLatencies(result.latencies);
    return {
      key,
      label,
      drive,
      msgsSent: result.sent,
      msgsOk: result.ok,
      msgsFailed: result.failed,
      recordsStored: crm.records,
      seconds: round(seconds, 2),
      msgsPerSecond: round(result.ok / seconds, 0),
      recordsPerSecond: crm.records > 0 ? round(crm.records / seconds, 0) : null,
      latency: { what: 'node.receive() to the sink', ...latency },
      httpRequests: crm.requests,
      tcpConnections: crm.connections,
      peakRssMb: usage.peakRssMb,
      rssGrowthMb: usage.rssGrowthMb,
      cpuSeconds: usage.cpuSeconds,
      crmCpuSeconds: measured.crmCpuSeconds,
      loadAverage: measured.loadAverage,
      errorSamples: result.errorSamples,
      notes: [],
    };
  }

  gotFigures(key: string, label: string, drive: string, measured: Measured<PlainGotResult>, what: string): ScenarioFigures {
    const { value: result, usage, crm } = measured;
    const seconds = result.elapsedMs / 1000;
    const latency = summariseLatencies(result.latencies);
    const perSecond = round((result.records > 0 ? result.records : result.requests - result.failedRequests) / seconds, 0);
    return {
      key,
      label,
      drive,
      msgsSent: result.requests,
      msgsOk: result.requests - result.failedRequests,
      msgsFailed: result.failedRequests,
      recordsStored: crm.records,
      seconds: round(seconds, 2),
      msgsPerSecond: null,
      recordsPerSecond: result.records > 0 ? perSecond : null,
      eventsPerSecond: result.records > 0 ? null : perSecond,
      latency: { what, ...latency },
      httpRequests: crm.requests,
      tcpConnections: crm.connections,
      peakRssMb: usage.peakRssMb,
      rssGrowthMb: usage.rssGrowthMb,
      cpuSeconds: usage.cpuSeconds,
      crmCpuSeconds: measured.crmCpuSeconds,
      loadAverage: measured.loadAverage,
      errorSamples: [],
      notes: [],
    };
  }

  /** Runs a scenario `repetitions` times and keeps the median (by throughput), with every repetition noted. */
  async repeated(run: () => Promise<ScenarioFigures>): Promise<ScenarioFigures> {
    const [median] = await this.repeatedInTurn([run]);
    return median!;
  }

  /**
   * Runs several scenarios in turn, `repetitions` rounds (b, c, b, c, ...), and keeps each one's
   * median: a ratio between them then compares runs made under the same conditions of the machine.
   */
  async repeatedInTurn(scenarios: ReadonlyArray<() => Promise<ScenarioFigures>>): Promise<ScenarioFigures[]> {
    const runs: ScenarioFigures[][] = scenarios.map(() => []);
    for (let index = 0; index < this.options.repetitions; index++) {
      for (let which = 0; which < scenarios.length; which++) runs[which]!.push(await scenarios[which]!());
    }
    return runs.map((ofOne) => {
      const speed = (figures: ScenarioFigures): number => figures.recordsPerSecond ?? figures.msgsPerSecond ?? 0;
      const sorted = [...ofOne].sort((left, right) => speed(left) - speed(right));
      const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
      if (ofOne.length > 1) {
        median.repetitions = ofOne.map((figures) => ({ msgsPerSecond: figures.msgsPerSecond, recordsPerSecond: figures.recordsPerSecond }));
        median.notes.push(`median of ${ofOne.length} runs${scenarios.length > 1 ? ', taken in turn with the other throughput runs' : ''}`);
      }
      return median;
    });
  }

  add(figures: ScenarioFigures): ScenarioFigures {
    this.figures.push(figures);
    const throughput = figures.msgsPerSecond ?? figures.recordsPerSecond ?? figures.eventsPerSecond;
    process.stdout.write(
      `  ${figures.label}: ${throughput === null || throughput === undefined ? '-' : throughput.toLocaleString('en-US')}/s, ` +
        `${figures.msgsOk} ok, ${figures.msgsFailed} failed, ${figures.httpRequests} requests, ${figures.tcpConnections} connections, ${figures.seconds} s\n`,
    );
    for (const sample of figures.errorSamples) process.stdout.write(`    error: ${sample}\n`);
    return figures;
  }

  // ---------------------------------------------------------------------------------------------

  async warmUp(): Promise<void> {
    const { only, window, memoryPart } = this.options;
    // A memory row's own process warms up both nodes, whichever it measures: each row then starts from the same state.
    const memoryHere = memoryPart !== undefined;
    // JIT and connection set-up out of the way; nothing here is reported.
    if (only.has('b') || only.has('b50') || memoryHere) {
      // Long enough for the optimising compiler to have taken the node's hot path (3,000 was not:
      // the first measured run came out 10-20% slower than the next ones).
      await this.runtime.windowed({ nodeId: NODE_IDS.callLog, n: 20_000, window, make: this.recordMsg, timeLimitMs: 30_000, drainLimitMs: 10_000 });
    }
    if (only.has('bnj')) {
      await this.runtime.windowed({ nodeId: NODE_IDS.callLogNoJournal, n: 5_000, window, make: this.recordMsg, timeLimitMs: 30_000, drainLimitMs: 10_000 });
    }
    if (only.has('floor') || memoryHere) {
      await this.runtime.windowed({ nodeId: NODE_IDS.floor, n: 20_000, window, make: this.recordMsg, timeLimitMs: 30_000, drainLimitMs: 10_000 });
    }
    if (only.has('a') || only.has('a50')) {
      await this.runtime.windowed({ nodeId: NODE_IDS.baselineCallLog, n: 300, window: 100, make: this.recordMsg, timeLimitMs: 10_000, drainLimitMs: 10_000 });
    }
    if (only.has('c')) await callLogBatches({ target: this.target, records: this.records.slice(0, 3_000), batchSize: 100, concurrency: 4 });
    if (only.has('cb')) await callLogBatches({ target: this.target, records: this.records.slice(0, 6_000), ...B_BATCHING });
    if (only.has('d')) {
      await this.runtime.windowed({ nodeId: NODE_IDS.notify, n: 500, window: 50, make: (seq) => ({ payload: makeEvent(seq) }), timeLimitMs: 10_000, drainLimitMs: 10_000 });
      await this.runtime.windowed({ nodeId: NODE_IDS.baselineNotify, n: 200, window: 50, make: (seq) => ({ payload: makeEvent(seq) }), timeLimitMs: 10_000, drainLimitMs: 10_000 });
    }
  }

  async scenarioA(): Promise<void> {
    process.stdout.write('(a) baseline: function node + core http request node, one record per msg\n');
    this.add(await this.callLogFlow('a', 'a  http request node', NODE_IDS.baselineCallLog, this.options.baselineTimeLimitMs));
  }

  private runB = (): Promise<ScenarioFigures> => this.callLogFlow('b', 'b  sangam-call-log', NODE_IDS.callLog, 60_000);

  private runC = async (): Promise<ScenarioFigures> => {
    const records = this.records.slice(0, this.options.n);
    const measured = await this.measure(() => callLogBatches({ target: this.target, records, batchSize: 100, concurrency: 4 }));
    return this.gotFigures('c', 'c  plain got, batches of 100', `${records.length} records, batches of 100, 4 requests in flight, keep-alive agent (maxSockets 4)`, measured, 'one POST of 100 records');
  };

  private runBnj = (): Promise<ScenarioFigures> => this.callLogFlow('bnj', 'bnj  sangam-call-log, outbox off', NODE_IDS.callLogNoJournal, 60_000);

  /** c with b's batch size and requests in flight: the HTTP and JSON under b, without Node-RED. */
  private runCb = async (): Promise<ScenarioFigures> => {
    const records = this.records.slice(0, this.options.n);
    const { batchSize, concurrency } = B_BATCHING;
    const measured = await this.measure(() => callLogBatches({ target: this.target, records, ...B_BATCHING }));
    return this.gotFigures(
      'cb',
      `cb  plain got, b's batches (${batchSize})`,
      `${records.length} records, batches of ${batchSize}, ${concurrency} requests in flight (sangam-call-log's defaults), keep-alive agent`,
      measured,
      `one POST of ${batchSize} records`,
    );
  };

  private runFloor = (): Promise<ScenarioFigures> => this.callLogFlow('floor', 'floor  Node-RED only (hold + answer)', NODE_IDS.floor, 60_000);

  /**
   * b, c and the floor (those selected) in turn, so that b/c and b/floor compare runs made while
   * the machine was in the same state.
   */
  async scenariosInTurn(): Promise<void> {
    const { only } = this.options;
    const runs: Array<() => Promise<ScenarioFigures>> = [];
    const names: string[] = [];
    if (only.has('b')) {
      runs.push(this.runB);
      names.push('(b) sangam-call-log, defaults, one record per msg');
    }
    if (only.has('bnj')) {
      runs.push(this.runBnj);
      names.push('(bnj) the same, on a config with the outbox off');
    }
    if (only.has('c')) {
      runs.push(this.runC);
      names.push('(c) plain got, batches of 100, 4 in flight');
    }
    if (only.has('cb')) {
      runs.push(this.runCb);
      names.push(`(cb) plain got, batches of ${B_BATCHING.batchSize}, ${B_BATCHING.concurrency} in flight`);
    }
    if (only.has('floor')) {
      runs.push(this.runFloor);
      names.push("(floor) a node that only holds msgs and answers them in batches, no HTTP: Node-RED's own cost");
    }
    process.stdout.write(`${names.join('; ')}${runs.length > 1 ? ': in turn' : ''}\n`);
    for (const figures of await this.repeatedInTurn(runs)) this.add(figures);
  }

  /**
   * Target 1: pop-ups at a phone's pace on an idle connection, and while the same sangam-config
   * drains a call-log backlog of `burstRecords` one-record msgs sent at once (a broker's backlog:
   * slices of 100 msgs, what one 64 KB read of MQTT brings), in turn: `rounds` times an idle spell
   * of `popupMs / rounds`, then one backlog with pop-ups until it is drained. Latencies of each
   * kind are pooled; taking them in turn keeps the machine's changing load out of the comparison.
   */
  async scenarioPopups(): Promise<void> {
    const { popupRate, popupMs, burstRecords } = this.options;
    // Six backlogs give about 350 pop-ups while draining: a p99 of fewer (3 rounds gave about 170,
    // the second-highest value) swung by 50 ms from one run to the next.
    const rounds = this.options.repetitions >= 3 ? 6 : 1;
    const slice = 100;
    const event = (seq: number): { payload: Record<string, string> } => ({ payload: makeEvent(seq) });
    process.stdout.write(
      `(p) pop-ups at ${popupRate}/s, idle and while the same config drains a ${burstRecords.toLocaleString('en-US')}-msg call-log backlog: ${rounds} round(s) in turn\n`,
    );
    const idleRuns: Array<Measured<DriveResult>> = [];
    const busyRuns: Array<Measured<DriveResult>> = [];
    const floorRuns: Array<Measured<DriveResult>> = [];
    const idleDelays: LoopDelay[] = [];
    const busyDelays: LoopDelay[] = [];
    const floorDelays: LoopDelay[] = [];
    let backlogOk = 0;
    let backlogFailed = 0;
    let drainMs = 0;
    // The same pop-ups sent from a process of their own: what the CRM stand-in and the loopback add.
    const probeIdle: number[] = [];
    const probeBusy: number[] = [];
    const probed = async <T>(into: number[], body: () => Promise<T>): Promise<T> => {
      const probe = PopupProbe.start({ crmUrl: this.crm.url, token: this.target.token, ivrName: IVR_NAME, ratePerSecond: popupRate });
      let result: ProbeResult | undefined;
      try {
        return await body();
      } finally {
        result = await probe.stop();
        into.push(...result.latencies);
      }
    };
    /** Pop-ups until a backlog of one-record msgs sent into `nodeId` is answered. */
    const popupsWhileDraining = (nodeId: string, delays: LoopDelay[], backlogDone?: (backlog: DriveResult) => void): Promise<Measured<DriveResult>> =>
      this.measure(() =>
        withLoopDelay(delays, async () => {
          let drained = false;
          // The backlog's first slice goes in before the first pop-up (the steady driver's first tick is 2 ms away).
          const popups = this.runtime.steady({ nodeId: NODE_IDS.notify, ratePerSecond: popupRate, durationMs: 300_000, make: event, drainLimitMs: 10_000, until: () => drained });
          const backlog = await this.runtime.burst({ nodeId, n: burstRecords, make: this.recordMsg, waitLimitMs: 120_000, slice });
          drained = true;
          backlogDone?.(backlog);
          return popups;
        }),
      );
    // Two pop-ups not counted before each spell: the stand-in closes a connection idle for 5 s, and
    // a spell that began with a connect would pad its p99 with what a ringing phone never waits for.
    const warm = (): Promise<DriveResult> =>
      this.runtime.windowed({ nodeId: NODE_IDS.notify, n: 2, window: 1, make: event, timeLimitMs: 5_000, drainLimitMs: 5_000 });
    for (let round = 0; round < rounds; round++) {
      await warm();
      idleRuns.push(
        await this.measure(() =>
          probed(probeIdle, () =>
            withLoopDelay(idleDelays, () =>
              this.runtime.steady({ nodeId: NODE_IDS.notify, ratePerSecond: popupRate, durationMs: popupMs / rounds, make: event, drainLimitMs: 10_000 }),
            ),
          ),
        ),
      );
      await warm();
      busyRuns.push(
        await probed(probeBusy, () =>
          popupsWhileDraining(NODE_IDS.callLog, busyDelays, (backlog) => {
            backlogOk += backlog.ok;
            backlogFailed += backlog.failed;
            drainMs += backlog.elapsedMs;
          }),
        ),
      );
      // Not a target: the same backlog into the floor node, Node-RED's own share of the pop-ups' wait.
      floorRuns.push(await popupsWhileDraining(NODE_IDS.floor, floorDelays));
    }
    const drive = `steady ${popupRate} events/s`;
    const idle = asEvents(this.flowFigures('p-idle', `p  sangam-notify @${popupRate}/s, idle`, `${drive}, ${rounds} spell(s) of ${round(popupMs / rounds / 1000, 2)} s, in turn with the backlogs`, pooled(idleRuns)));
    const probeText = (values: number[]): string => {
      const summary = summariseLatencies(Float64Array.from(values));
      return `pop-ups sent meanwhile from a process of their own (plain got): p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms (${summary.count})`;
    };
    idle.notes.push(probeText(probeIdle));
    idle.notes.push(`event-loop delay p99 ${Math.max(...idleDelays.map((d) => d.p99Ms))} ms, max ${Math.max(...idleDelays.map((d) => d.maxMs))} ms`);
    this.add(idle);
    const busy = asEvents(
      this.flowFigures(
        'p-backlog',
        `p  sangam-notify @${popupRate}/s, ${Math.round(burstRecords / 1000)}k-msg backlog draining`,
        `${drive} while ${burstRecords} one-record msgs sent at once (slices of ${slice} msgs) drain, ${rounds} time(s)`,
        pooled(busyRuns),
      ),
    );
    busy.recordsPerSecond = drainMs > 0 ? round(backlogOk / (drainMs / 1000), 0) : null;
    busy.notes.push(
      `${rounds} backlog(s) of ${burstRecords} msgs drained (${backlogOk} msgs answered, ${backlogFailed} to Catch, ${busy.recordsStored} records stored at the CRM, ` +
        `${busy.recordsPerSecond ?? '-'} msgs/s while draining); HTTP requests and CPU count the backlogs too`,
      `event-loop delay p99 ${Math.max(...busyDelays.map((d) => d.p99Ms))} ms, max ${Math.max(...busyDelays.map((d) => d.maxMs))} ms`,
      probeText(probeBusy),
    );
    this.extra.popupProbe = { idle: summariseLatencies(Float64Array.from(probeIdle)), backlog: summariseLatencies(Float64Array.from(probeBusy)) };
    this.add(busy);
    const floor = asEvents(
      this.flowFigures(
        'p-floor',
        `p  sangam-notify @${popupRate}/s, same backlog into the floor node`,
        `${drive} while the same backlog drains through the floor node (no HTTP, no journal), ${rounds} time(s)`,
        pooled(floorRuns),
      ),
    );
    floor.notes.push(`event-loop delay p99 ${Math.max(...floorDelays.map((d) => d.p99Ms))} ms, max ${Math.max(...floorDelays.map((d) => d.maxMs))} ms`);
    this.add(floor);
    for (const note of [...idle.notes, ...busy.notes, ...floor.notes]) process.stdout.write(`    ${note}\n`);
  }

  /**
   * Target 2: a broker that reconnects hands over its backlog at once. `burstMsgs` one-record msgs
   * with no bound on outstanding msgs, to b, then to a (function + http request) with a time limit.
   */
  async scenarioBurst(): Promise<void> {
    const { burstMsgs, burstBaselineLimitMs } = this.options;
    const k = `${Math.round(burstMsgs / 1000)}k`;
    const drive = `burst: ${burstMsgs} msgs of 1 record sent at once (slices of 1000 msgs, a turn of the event loop between), no bound on outstanding msgs`;
    process.stdout.write(`(burst) ${burstMsgs.toLocaleString('en-US')} one-record msgs at once to b, then to a\n`);
    const b = await this.measure(() => this.runtime.burst({ nodeId: NODE_IDS.callLog, n: burstMsgs, make: this.recordMsg, waitLimitMs: 120_000 }));
    const bFigures = this.flowFigures('burst-b', `burst  b  sangam-call-log, ${k} msgs at once`, drive, b);
    bFigures.notes.push(`CPU ${cpuPerMsgUs(bFigures) ?? '-'} µs per msg; injecting took ${round(b.value.injectMs / 1000, 2)} s`);
    this.add(bFigures);
    for (const note of bFigures.notes) process.stdout.write(`    ${note}\n`);

    const a = await this.measure(() => this.runtime.burst({ nodeId: NODE_IDS.baselineCallLog, n: burstMsgs, make: this.recordMsg, waitLimitMs: burstBaselineLimitMs }));
    const outstanding = a.value.sent - a.value.ok - a.value.failed;
    const notSent = burstMsgs - a.value.sent;
    const aFigures = this.flowFigures('burst-a', `burst  a  http request node, ${k} msgs at once`, `${drive}; ${burstBaselineLimitMs / 1000} s to answer`, a);
    aFigures.notes.push(
      `${a.value.ok} answered OK, ${a.value.failed} failed, ${outstanding} still unanswered after ${burstBaselineLimitMs / 1000} s` +
        `${notSent > 0 ? `, ${notSent} not even taken in by then (the flow took msgs in that slowly)` : ''}; ` +
        `${a.crm.connections} TCP connections opened at the CRM; CPU ${cpuPerMsgUs(aFigures) ?? '-'} µs per msg that finished`,
    );
    this.extra.burstBaseline = { msgs: burstMsgs, ok: a.value.ok, failed: a.value.failed, unanswered: outstanding, notSent, connections: a.crm.connections, limitSeconds: burstBaselineLimitMs / 1000 };
    this.add(aFigures);
    for (const note of aFigures.notes) process.stdout.write(`    ${note}\n`);
  }

  async scenarioD(): Promise<void> {
    const { notifyRate, notifySteadyMs, notifyThroughputN, window } = this.options;
    const event = (seq: number): { payload: Record<string, string> } => ({ payload: makeEvent(seq) });
    const steadyDrive = `steady ${notifyRate} events/s for ${notifySteadyMs / 1000} s`;
    process.stdout.write(`(d) pop-ups: latency at ${notifyRate}/s, then throughput\n`);

    const notifySteadyRun = await this.measure(() =>
      this.runtime.steady({ nodeId: NODE_IDS.notify, ratePerSecond: notifyRate, durationMs: notifySteadyMs, make: event, drainLimitMs: 10_000 }),
    );
    const notifySteadyFigures = this.flowFigures('d-notify-steady', `d  sangam-notify @${notifyRate}/s`, steadyDrive, notifySteadyRun);
    this.add(asEvents(notifySteadyFigures));

    const gotSteadyRun = await this.measure(() =>
      notifySteady({
        target: this.target,
        ratePerSecond: notifyRate,
        durationMs: notifySteadyMs,
        makeEvent: (seq) => ({ ...makeEvent(seq), time: crmTime() }),
      }),
    );
    this.add(this.gotFigures('d-got-steady', `d  plain got @${notifyRate}/s`, `${steadyDrive}, keep-alive agent`, gotSteadyRun, 'one POST'));

    const httpSteadyRun = await this.measure(() =>
      this.runtime.steady({ nodeId: NODE_IDS.baselineNotify, ratePerSecond: notifyRate, durationMs: notifySteadyMs, make: event, drainLimitMs: 10_000 }),
    );
    this.add(asEvents(this.flowFigures('d-http-steady', `d  http request node @${notifyRate}/s`, steadyDrive, httpSteadyRun)));

    const notifyMax = await this.measure(() =>
      this.runtime.windowed({ nodeId: NODE_IDS.notify, n: notifyThroughputN, window, make: event, timeLimitMs: 30_000, drainLimitMs: 10_000 }),
    );
    this.add(asEvents(this.flowFigures('d-notify-max', 'd  sangam-notify, max rate', `windowed: ${window} outstanding, ${notifyThroughputN} events`, notifyMax)));

    const httpMax = await this.measure(() =>
      this.runtime.windowed({ nodeId: NODE_IDS.baselineNotify, n: notifyThroughputN, window, make: event, timeLimitMs: 12_000, drainLimitMs: 10_000 }),
    );
    const stopped = httpMax.value.stoppedAtTimeLimit ? ', stopped sending after 12 s' : '';
    this.add(asEvents(this.flowFigures('d-http-max', 'd  http request node, max rate', `windowed: ${window} outstanding, ${notifyThroughputN} events${stopped}`, httpMax)));
  }

  async scenarioRtt(key: 'a50' | 'b50'): Promise<void> {
    const { rttMs, rttBaselineTimeLimitMs } = this.options;
    // latency is a stand-in setting that reset() returns to its start value (0): set it inside measure().
    const run = async (label: string, nodeId: string, timeLimitMs: number, window = this.options.window, rowKey: string = key, latencyMs = rttMs): Promise<ScenarioFigures> => {
      const { n } = this.options;
      const measured = await this.measure(async () => {
        await this.crm.setLatency(latencyMs);
        return this.runtime.windowed({ nodeId, n, window, make: this.recordMsg, timeLimitMs, drainLimitMs: 20_000 });
      });
      const stopped = measured.value.stoppedAtTimeLimit ? `, stopped sending after ${timeLimitMs / 1000} s (throughput from what completed)` : '';
      return this.flowFigures(rowKey, label, `windowed: ${window} outstanding, ${n} msgs of 1 record${stopped}`, measured);
    };
    if (key === 'a50') {
      process.stdout.write(`(a) baseline with a ${rttMs} ms round trip\n`);
      this.add(await run(`a  http request node, ${rttMs} ms RTT`, NODE_IDS.baselineCallLog, rttBaselineTimeLimitMs));
    } else {
      process.stdout.write(`(b) sangam-call-log with a ${rttMs} ms round trip\n`);
      this.add(await run(`b  sangam-call-log, ${rttMs} ms RTT`, NODE_IDS.callLog, 60_000));
      // Target 4: with at most `window` msgs in flight, any node is held to window / RTT msgs/s
      // (Little's law). With `wideWindow` in flight, b that far away against b at 0 ms, in turn.
      const wide = this.options.wideWindow;
      process.stdout.write(`(b) sangam-call-log with ${wide} msgs in flight, 0 ms and ${rttMs} ms round trip: in turn\n`);
      const [near, far] = await this.repeatedInTurn([
        () => run(`b  sangam-call-log, 0 ms RTT, ${wide} in flight`, NODE_IDS.callLog, 60_000, wide, 'b0-wide', 0),
        () => run(`b  sangam-call-log, ${rttMs} ms RTT, ${wide} in flight`, NODE_IDS.callLog, 60_000, wide, 'b50-wide'),
      ]);
      this.add(near!);
      this.add(far!);
    }
  }

  /**
   * A burst of records while the CRM is down, then back. Counts records stored at the CRM (not msgs
   * out), so it measures the node as it is today (retries in memory) and the outbox once it exists.
   */
  async scenarioMemory(recordsPerMsg: number): Promise<void> {
    const { burstRecords, downMs } = this.options;
    const msgs = Math.ceil(burstRecords / recordsPerMsg);
    const key = recordsPerMsg === 1 ? 'mem' : 'mem-batched';
    const shape = recordsPerMsg === 1 ? 'msgs of 1 record' : `msgs of ${recordsPerMsg} records`;
    process.stdout.write(`(${key}) ${burstRecords.toLocaleString('en-US')} records as ${msgs.toLocaleString('en-US')} ${shape} while the CRM is down for ${downMs} ms\n`);
    const make = recordsPerMsg === 1
      ? this.recordMsg
      : (seq: number): { payload: Array<Record<string, string>> } => ({ payload: this.records.slice(seq * recordsPerMsg, Math.min(burstRecords, (seq + 1) * recordsPerMsg)) });
    let downAt = 0;
    let storedAllAt: number | undefined;
    let lastStored = 0;
    const measured = await this.measure(async () => {
      await this.crm.goDown(downMs);
      downAt = Date.now();
      return this.runtime.burst({
        nodeId: NODE_IDS.callLog,
        n: msgs,
        make,
        waitLimitMs: 120_000,
        whileWaiting: async () => {
          const counters = await this.crm.statsIfUp();
          if (counters) lastStored = counters.records;
          if (counters && counters.records >= burstRecords) {
            storedAllAt = Date.now();
            return true;
          }
          return false;
        },
      });
    });
    const backAt = downAt + downMs;
    const label = `${key} ${Math.round(burstRecords / 1000)}k records${recordsPerMsg === 1 ? '' : ` in ${msgs} msgs`}, CRM down ${downMs / 1000} s`;
    const figures = this.flowFigures(key, label, `burst: ${msgs} ${shape} sent at once (slices of 1000 msgs), CRM down for ${downMs} ms from the start`, measured);
    if (recordsPerMsg !== 1) figures.recordsPerSecond = figures.msgsPerSecond === null ? null : figures.msgsPerSecond * recordsPerMsg;
    const stored = Math.max(measured.crm.records, lastStored);
    const drainSeconds = storedAllAt !== undefined ? round((storedAllAt - backAt) / 1000, 2) : null;
    figures.notes.push(
      `records stored at the CRM: ${stored} of ${burstRecords}${stored > burstRecords ? ` (${stored - burstRecords} duplicates)` : ''}`,
      drainSeconds === null ? 'not all records were stored within the time limit' : `time to drain after the CRM came back: ${drainSeconds} s`,
      `msgs: ${measured.value.ok} out, ${measured.value.failed} to Catch; injecting took ${round(measured.value.injectMs / 1000, 2)} s`,
      `peak JS heap in use ${measured.usage.peakHeapUsedMb} MB, peak ArrayBuffers ${measured.usage.peakArrayBuffersMb} MB (sampled every 50 ms)`,
    );
    this.extra[recordsPerMsg === 1 ? 'memory' : 'memoryBatched'] = {
      recordsPerMsg,
      recordsSent: burstRecords,
      recordsStored: stored,
      duplicates: Math.max(0, stored - burstRecords),
      downMs,
      drainSeconds,
      injectSeconds: round(measured.value.injectMs / 1000, 2),
      rssGrowthMb: measured.usage.rssGrowthMb,
      msgsOut: measured.value.ok,
      msgsToCatch: measured.value.failed,
    };
    this.add(figures);
    for (const note of figures.notes) process.stdout.write(`    ${note}\n`);
  }

  /**
   * Target 3's yardstick: the same burst as `mem` (100,000 one-record msgs at once) into the floor
   * node, which holds every msg unanswered until all are in (and at least as long as the CRM is
   * down in `mem`), then answers them: what Node-RED itself needs to hold that many msgs.
   */
  async scenarioMemoryFloor(): Promise<void> {
    const { burstRecords, downMs } = this.options;
    process.stdout.write(`(mem-floor) ${burstRecords.toLocaleString('en-US')} one-record msgs at once into the floor node, all held unanswered, then answered\n`);
    const measured = await this.measure(async () => {
      holdFloor();
      const startedAt = Date.now();
      try {
        return await this.runtime.burst({
          nodeId: NODE_IDS.floor,
          n: burstRecords,
          make: this.recordMsg,
          waitLimitMs: 120_000,
          // Polled once every msg is in.
          whileWaiting: async () => {
            if (Date.now() - startedAt < downMs) return false;
            releaseFloor();
            return true;
          },
        });
      } finally {
        releaseFloor();
      }
    });
    const figures = this.flowFigures(
      'mem-floor',
      `mem-floor ${Math.round(burstRecords / 1000)}k msgs held by the floor`,
      `burst: ${burstRecords} msgs of 1 record sent at once (slices of 1000 msgs); the floor node answers none until all are in and ${downMs} ms have passed`,
      measured,
    );
    this.extra.memoryFloor = { rssGrowthMb: measured.usage.rssGrowthMb, msgs: burstRecords, holdMs: downMs };
    figures.notes.push(`peak JS heap in use ${measured.usage.peakHeapUsedMb} MB, peak ArrayBuffers ${measured.usage.peakArrayBuffersMb} MB (sampled every 50 ms)`);
    this.add(figures);
  }
}

interface LoopDelay {
  p99Ms: number;
  maxMs: number;
}

/** Runs `body` and adds how long the event loop was held up meanwhile (what a pop-up waits for before its turn). */
async function withLoopDelay<T>(delays: LoopDelay[], body: () => Promise<T>): Promise<T> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  try {
    return await body();
  } finally {
    histogram.disable();
    delays.push({ p99Ms: round(histogram.percentile(99) / 1e6, 1), maxMs: round(histogram.max / 1e6, 1) });
  }
}

/** Several measured drives as one: msgs and latencies pooled, time and CPU summed, the highest peak. */
function pooled(runs: ReadonlyArray<Measured<DriveResult>>): Measured<DriveResult> {
  const sum = (pick: (run: Measured<DriveResult>) => number): number => runs.reduce((total, run) => total + pick(run), 0);
  const latencies = new Float64Array(sum((run) => run.value.latencies.length));
  let offset = 0;
  for (const run of runs) {
    latencies.set(run.value.latencies, offset);
    offset += run.value.latencies.length;
  }
  const last = runs[runs.length - 1]!;
  return {
    value: {
      sent: sum((run) => run.value.sent),
      ok: sum((run) => run.value.ok),
      failed: sum((run) => run.value.failed),
      elapsedMs: sum((run) => run.value.elapsedMs),
      latencies,
      errorSamples: runs.flatMap((run) => run.value.errorSamples).slice(0, 5),
      stoppedAtTimeLimit: runs.some((run) => run.value.stoppedAtTimeLimit),
    },
    loadAverage: last.loadAverage,
    usage: {
      startRssMb: runs[0]!.usage.startRssMb,
      peakRssMb: Math.max(...runs.map((run) => run.usage.peakRssMb)),
      rssGrowthMb: Math.max(...runs.map((run) => run.usage.rssGrowthMb)),
      cpuSeconds: round(sum((run) => run.usage.cpuSeconds), 2),
      wallSeconds: round(sum((run) => run.usage.wallSeconds), 2),
      peakHeapUsedMb: Math.max(...runs.map((run) => run.usage.peakHeapUsedMb)),
      peakArrayBuffersMb: Math.max(...runs.map((run) => run.usage.peakArrayBuffersMb)),
    },
    crm: {
      ...last.crm,
      requests: sum((run) => run.crm.requests),
      records: sum((run) => run.crm.records),
      connections: sum((run) => run.crm.connections),
    },
    crmCpuSeconds: runs.every((run) => run.crmCpuSeconds !== null) ? round(sum((run) => run.crmCpuSeconds ?? 0), 2) : null,
  };
}

/** Pop-up rows report events/s, not msgs of call records. */
function asEvents(figures: ScenarioFigures): ScenarioFigures {
  return { ...figures, eventsPerSecond: figures.msgsPerSecond, msgsPerSecond: null, recordsPerSecond: null };
}

function signed(value: number | null): string {
  if (value === null) return 'n/a';
  return value < 0 ? String(value) : `+${value}`;
}

function ratio(numerator: number | null | undefined, denominator: number | null | undefined): number | null {
  if (!numerator || !denominator) return null;
  return round(numerator / denominator, 2);
}

/** Target 3's budget: what b may spend a msg over Node-RED's floor and plain got at b's batching (all µs of wall time a msg). */
interface FloorBudget {
  floorUs: number;
  plainGotUs: number;
  /** The rate of Node-RED's floor and plain got's work alone, over the floor's: b's ceiling if the package did nothing else. */
  ceilingOverFloor: number;
  /** The most b may take a msg for b/floor >= 0.35. */
  targetUs: number;
  /** What that leaves the package: validation, normalisation, the journal, batching, results. */
  packageBudgetUs: number;
  bUs: number;
  /** What b takes over Node-RED's floor and plain got. */
  packageUs: number;
  /** b over b with the outbox off. */
  journalUs: number | null;
}

function floorBudget(b: ScenarioFigures | undefined, bnj: ScenarioFigures | undefined, cb: ScenarioFigures | undefined, floor: ScenarioFigures | undefined): FloorBudget | null {
  const us = (perSecond: number | null | undefined): number | null => (perSecond ? 1e6 / perSecond : null);
  const floorUs = us(floor?.msgsPerSecond);
  const plainGotUs = us(cb?.recordsPerSecond);
  const bUs = us(b?.msgsPerSecond);
  if (floorUs === null || plainGotUs === null || bUs === null) return null;
  const bnjUs = us(bnj?.msgsPerSecond);
  const targetUs = floorUs / 0.35;
  return {
    floorUs: round(floorUs, 2),
    plainGotUs: round(plainGotUs, 2),
    ceilingOverFloor: round(floorUs / (floorUs + plainGotUs), 2),
    targetUs: round(targetUs, 2),
    packageBudgetUs: round(targetUs - floorUs - plainGotUs, 2),
    bUs: round(bUs, 2),
    packageUs: round(bUs - floorUs - plainGotUs, 2),
    journalUs: bnjUs === null ? null : round(bUs - bnjUs, 2),
  };
}

function budgetLine(budget: FloorBudget): string {
  return (
    `Target 3's budget (µs of wall time a msg): Node-RED's floor ${budget.floorUs} + plain got at b's batching ${budget.plainGotUs} ` +
    `= ${round(budget.floorUs + budget.plainGotUs, 2)}, a ceiling of ${budget.ceilingOverFloor} x the floor before the package does anything; ` +
    `b/floor >= 0.35 needs b <= ${budget.targetUs}, which leaves the package ${budget.packageBudgetUs}. ` +
    `b takes ${budget.bUs}: ${budget.packageUs} over the two` +
    (budget.journalUs === null ? '' : `, of which the outbox's journal ${budget.journalUs} (b against bnj)`)
  );
}

function evaluate(
  figures: ReadonlyArray<ScenarioFigures>,
  extra: Record<string, unknown>,
): { ratios: Record<string, number | null>; checks: TargetCheck[]; budget: FloorBudget | null } {
  const find = (key: string): ScenarioFigures | undefined => figures.find((row) => row.key === key);
  const a = find('a');
  const b = find('b');
  const c = find('c');
  const floor = find('floor');
  const bnj = find('bnj');
  const cb = find('cb');
  const a50 = find('a50');
  const b50 = find('b50');
  const b0Wide = find('b0-wide');
  const b50Wide = find('b50-wide');
  const notifySteady = find('d-notify-steady');
  const gotSteady = find('d-got-steady');
  const notifyMax = find('d-notify-max');
  const httpMax = find('d-http-max');
  const popupIdle = find('p-idle');
  const popupBusy = find('p-backlog');
  const burstB = find('burst-b');
  const baseline = extra.burstBaseline as { msgs: number; ok: number; failed: number; connections: number; limitSeconds: number } | undefined;
  type MemoryFigures = { recordsPerMsg: number; recordsSent: number; recordsStored: number; rssGrowthMb: number; drainSeconds: number | null };
  const memory = extra.memory as MemoryFigures | undefined;
  const memoryFloor = extra.memoryFloor as { rssGrowthMb: number } | undefined;
  const bCpuPerMsg = b ? cpuPerMsgUs(b) : null;
  const probe = extra.popupProbe as { idle: { p99Ms: number }; backlog: { p99Ms: number } } | undefined;
  const burstCpuPerMsg = burstB ? cpuPerMsgUs(burstB) : null;
  const ratios = {
    bOverA: ratio(b?.msgsPerSecond, a?.msgsPerSecond),
    bOverC: ratio(b?.recordsPerSecond, c?.recordsPerSecond),
    bOverFloor: ratio(b?.msgsPerSecond, floor?.msgsPerSecond),
    // Not targets: b with the outbox off, and plain got at b's batching, over the floor.
    bnjOverFloor: ratio(bnj?.msgsPerSecond, floor?.msgsPerSecond),
    cbOverFloor: ratio(cb?.recordsPerSecond, floor?.msgsPerSecond),
    bOverA50ms: ratio(b50?.msgsPerSecond, a50?.msgsPerSecond),
    b50msOverB0msWide: ratio(b50Wide?.msgsPerSecond, b0Wide?.msgsPerSecond),
    notifyP99MinusGotP99Ms: notifySteady?.latency && gotSteady?.latency ? round(notifySteady.latency.p99Ms - gotSteady.latency.p99Ms, 2) : null,
    notifyOverHttpRequest: ratio(notifyMax?.eventsPerSecond, httpMax?.eventsPerSecond),
    popupP99BacklogMinusIdleMs: popupIdle?.latency && popupBusy?.latency ? round(popupBusy.latency.p99Ms - popupIdle.latency.p99Ms, 2) : null,
    // Not a target: what the Node-RED process adds over pop-ups sent by a process of their own during the same backlogs.
    popupP99BacklogMinusOtherProcessMs: popupBusy?.latency && probe ? round(popupBusy.latency.p99Ms - probe.backlog.p99Ms, 2) : null,
    burstCpuPerMsgOverBounded: ratio(burstCpuPerMsg, bCpuPerMsg),
    memoryOverFloor: ratio(memory?.rssGrowthMb, memoryFloor?.rssGrowthMb),
  };
  const checks: TargetCheck[] = [];
  const times = (value: number | null): string => (value === null ? 'n/a' : `${value}x`);
  if (a && b) checks.push({ name: 'call-log throughput vs the baseline (b/a)', target: '>= 20x', measured: times(ratios.bOverA), pass: (ratios.bOverA ?? 0) >= 20 });
  if (b && c) checks.push({ name: 'call-log records/s vs plain got (b/c)', target: '>= 0.5', measured: ratios.bOverC === null ? 'n/a' : String(ratios.bOverC), pass: (ratios.bOverC ?? 0) >= 0.5 });
  if (b && floor) {
    checks.push({
      name: "call-log msgs/s vs Node-RED's floor (b/floor)",
      target: '>= 0.35',
      measured: `${ratios.bOverFloor ?? 'n/a'} (${b.msgsPerSecond ?? '-'} vs ${floor.msgsPerSecond ?? '-'} msgs/s)`,
      pass: (ratios.bOverFloor ?? 0) >= 0.35,
    });
  }
  if (b0Wide && b50Wide) {
    checks.push({
      name: 'call-log msgs/s with a 50 ms CRM vs a 0 ms one, the same msgs in flight (b50/b0)',
      target: '>= 0.8',
      measured: `${ratios.b50msOverB0msWide ?? 'n/a'} (${b50Wide.msgsPerSecond ?? '-'} vs ${b0Wide.msgsPerSecond ?? '-'} msgs/s)`,
      pass: (ratios.b50msOverB0msWide ?? 0) >= 0.8 && b50Wide.msgsFailed === 0,
    });
  }
  if (popupIdle?.latency && popupBusy?.latency) {
    checks.push({
      name: 'pop-up p99 while a 100k-record call-log backlog drains vs idle',
      target: 'within 20 ms',
      measured:
        `${popupBusy.latency.p99Ms} ms vs ${popupIdle.latency.p99Ms} ms (${signed(ratios.popupP99BacklogMinusIdleMs)} ms)` +
        (probe ? `; pop-ups from a process of their own meanwhile: ${probe.backlog.p99Ms} ms vs ${probe.idle.p99Ms} ms idle` : ''),
      pass: ratios.popupP99BacklogMinusIdleMs !== null && ratios.popupP99BacklogMinusIdleMs <= 20 && popupBusy.msgsFailed === 0 && popupIdle.msgsFailed === 0,
    });
  }
  if (burstB && b) {
    checks.push({
      name: 'call-log CPU per msg in a burst vs the bounded drive',
      target: '<= 1.5x',
      measured: `${times(ratios.burstCpuPerMsgOverBounded)} (${burstCpuPerMsg ?? '-'} µs vs ${bCpuPerMsg ?? '-'} µs; burst ${burstB.msgsPerSecond ?? '-'} msgs/s, peak RSS ${burstB.peakRssMb} MB${baseline ? `; a: ${baseline.ok} of ${baseline.msgs} answered OK within ${baseline.limitSeconds} s, ${baseline.failed} failed, ${baseline.connections} TCP connections` : ''})`,
      pass: (ratios.burstCpuPerMsgOverBounded ?? Infinity) <= 1.5 && burstB.msgsFailed === 0 && burstB.msgsOk === burstB.msgsSent,
    });
  }
  if (notifySteady?.latency && gotSteady?.latency) {
    checks.push({
      name: 'notify p99 vs plain keep-alive got p99',
      target: 'within 2 ms',
      measured: `${notifySteady.latency.p99Ms} ms vs ${gotSteady.latency.p99Ms} ms (${signed(ratios.notifyP99MinusGotP99Ms)} ms)`,
      pass: ratios.notifyP99MinusGotP99Ms !== null && ratios.notifyP99MinusGotP99Ms <= 2 && notifySteady.msgsFailed === 0,
    });
  }
  if (memory && memoryFloor) {
    checks.push({
      name: `memory (${memory.recordsSent} msgs of 1 record): RSS growth vs the floor node holding the same msgs`,
      target: '<= 1.5x',
      measured: `${times(ratios.memoryOverFloor)} (${memory.rssGrowthMb} MB vs ${memoryFloor.rssGrowthMb} MB)`,
      pass: (ratios.memoryOverFloor ?? Infinity) <= 1.5,
    });
  }
  for (const shape of [memory, extra.memoryBatched as MemoryFigures | undefined]) {
    if (!shape) continue;
    const text = shape.recordsPerMsg === 1 ? `${shape.recordsSent} msgs of 1 record` : `${Math.ceil(shape.recordsSent / shape.recordsPerMsg)} msgs of ${shape.recordsPerMsg} records`;
    if (shape.recordsPerMsg !== 1) {
      checks.push({ name: `memory (${text}): peak RSS growth for the burst while the CRM is down`, target: '<= 150 MB', measured: `${shape.rssGrowthMb} MB`, pass: shape.rssGrowthMb <= 150 });
    }
    checks.push({
      name: `memory (${text}): every record delivered once the CRM is back`,
      target: `${shape.recordsSent} stored`,
      measured: `${shape.recordsStored} stored${shape.drainSeconds === null ? '' : `, drained in ${shape.drainSeconds} s`}`,
      pass: shape.recordsStored >= shape.recordsSent,
    });
  }
  return { ratios, checks, budget: floorBudget(b, bnj, cb, floor) };
}

function chartBars(figures: ReadonlyArray<ScenarioFigures>, rttMs: number): ChartBar[] {
  const find = (key: string): ScenarioFigures | undefined => figures.find((row) => row.key === key);
  const a = find('a');
  const a50 = find('a50');
  const bars: ChartBar[] = [];
  if (a) bars.push({ label: 'a  http request node', value: a.msgsPerSecond, group: 'loopback' });
  const b = find('b');
  if (b) bars.push({ label: 'b  sangam-call-log', value: b.msgsPerSecond, target: a?.msgsPerSecond ? a.msgsPerSecond * 20 : undefined, group: 'loopback' });
  const c = find('c');
  if (c) bars.push({ label: 'c  plain got, batches of 100', value: c.recordsPerSecond, group: 'loopback' });
  const floor = find('floor');
  if (floor) bars.push({ label: 'floor  Node-RED only', value: floor.msgsPerSecond, group: 'loopback' });
  if (a50) bars.push({ label: `a  http request node, ${rttMs} ms`, value: a50.msgsPerSecond, group: 'rtt50' });
  const b50 = find('b50');
  if (b50) bars.push({ label: `b  sangam-call-log, ${rttMs} ms`, value: b50.msgsPerSecond, group: 'rtt50' });
  const b0Wide = find('b0-wide');
  const b50Wide = find('b50-wide');
  if (b0Wide) bars.push({ label: 'b  5,000 in flight, 0 ms', value: b0Wide.msgsPerSecond, group: 'rtt50' });
  if (b50Wide) bars.push({ label: `b  5,000 in flight, ${rttMs} ms`, value: b50Wide.msgsPerSecond, target: b0Wide?.msgsPerSecond ? b0Wide.msgsPerSecond * 0.8 : undefined, group: 'rtt50' });
  return bars;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const token = `bench-${randomBytes(8).toString('hex')}`;
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sangam-bench-'));
  const records = makeRecords(Math.max(options.n, options.burstRecords));
  const startedAt = Date.now();
  if (!(globalThis as { gc?: unknown }).gc) process.stdout.write('note: run with --expose-gc for level memory figures\n');
  const loadAtStart = os.loadavg();
  if (loadAtStart[0]! > os.cpus().length / 2) {
    process.stdout.write(`note: load average ${loadAtStart.map((load) => load.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs: other work competes with the benchmark; figures will be low and noisy\n`);
  }

  const crm = await StandInProcess.start({ token });
  let runtime: BenchRuntime | undefined;
  try {
    runtime = await BenchRuntime.start(crm.url, token, userDir, options.overrides);
    const target: GotTarget = { crmUrl: crm.url, token, ivrName: IVR_NAME };
    const bench = new Bench(crm, runtime, options, records, target);
    process.stdout.write(
      `SangamCRM stand-in (own process, --fast) at ${crm.url}; Node-RED runtime in this process (pid ${process.pid})\n` +
        `drive: windowed = node.receive() as fast as the runtime takes msgs with at most ${options.window} outstanding; ` +
        `latency = node.receive() to the msg arriving at the sink\n`,
    );
    await bench.warmUp();
    const { only } = options;
    if (only.has('a')) await bench.scenarioA();
    if (['b', 'bnj', 'c', 'cb', 'floor'].some((key) => only.has(key as ScenarioKey))) await bench.scenariosInTurn();
    if (only.has('d')) await bench.scenarioD();
    if (only.has('a50')) await bench.scenarioRtt('a50');
    if (only.has('b50')) await bench.scenarioRtt('b50');
    if (options.memoryPart) {
      // A child of memoryInOwnProcess: this one row, its figures to the parent, nothing printed here.
      if (options.memoryPart === 'mem') await bench.scenarioMemory(1);
      if (options.memoryPart === 'mem-batched') await bench.scenarioMemory(1000);
      if (options.memoryPart === 'mem-floor') await bench.scenarioMemoryFloor();
      const figures = JSON.stringify({ figures: bench.figures, extra: bench.extra });
      if (options.childOut) fs.writeFileSync(options.childOut, figures);
      else process.stdout.write(`${figures}\n`);
      return;
    }
    if (only.has('mem')) {
      for (const part of MEMORY_PARTS) {
        const measured = await memoryInOwnProcess(part, process.argv.slice(2));
        bench.figures.push(...measured.figures);
        Object.assign(bench.extra, measured.extra);
      }
    }
    if (only.has('p')) await bench.scenarioPopups();
    // Last of the in-process runs: the baseline's burst leaves requests running past its time limit.
    if (only.has('burst')) await bench.scenarioBurst();
    // Footprint (bench/footprint.ts): real node-red processes with and without the package, idle.
    const footprint = only.has('footprint') ? await measureFootprint({ ...FOOTPRINT_DEFAULTS, repetitions: Math.min(FOOTPRINT_DEFAULTS.repetitions, options.repetitions) }, undefined, { crm, token }) : null;

    const { ratios, checks, budget } = evaluate(bench.figures, bench.extra);
    if (footprint) checks.push(...footprint.checks);
    process.stdout.write(`\n${figuresTable(bench.figures)}\n\n`);
    if (footprint) process.stdout.write(`${footprintTable(footprint)}\n\n`);
    process.stdout.write('Drive per scenario:\n');
    for (const row of bench.figures) process.stdout.write(`  ${row.label.padEnd(38)} ${row.drive}${row.notes.length ? `; ${row.notes.join('; ')}` : ''}\n`);
    process.stdout.write(
      `\nRatios: ${Object.entries(ratios).map(([name, value]) => `${name} ${value ?? 'n/a'}`).join(', ')}\n\n`,
    );
    process.stdout.write(`${targetLines(checks)}\n`);
    if (budget) process.stdout.write(`\n${budgetLine(budget)}\n`);

    const machine = {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      totalMemoryMb: Math.round(os.totalmem() / 1024 / 1024),
      platform: `${os.platform()} ${os.release()}`,
      node: process.version,
      nodeRed: (require('node-red/package.json') as { version: string }).version,
      date: new Date().toISOString(),
      // Other work on the machine (load > CPUs) lowers every figure; the column 'load' shows it per scenario.
      loadAverageAtStart: loadAtStart.map((load) => round(load, 2)),
      loadAverageAtEnd: os.loadavg().map((load) => round(load, 2)),
    };
    const results = {
      machine,
      settings: {
        ...options,
        only: [...options.only],
        callLogDefaults: editorDefaults('sangam-call-log'),
        configDefaults: editorDefaults('sangam-config'),
        notifyDefaults: editorDefaults('sangam-notify'),
      },
      scenarios: bench.figures,
      memory: bench.extra.memory ?? null,
      memoryBatched: bench.extra.memoryBatched ?? null,
      memoryFloor: bench.extra.memoryFloor ?? null,
      footprint,
      ratios,
      targets: checks,
      floorBudget: budget,
      durationSeconds: round((Date.now() - startedAt) / 1000, 1),
    };
    if (options.writeResults) {
      // Results live in the source tree (bench/results), not in the build folder this runs from.
      const resultsDir = path.join(sourceRoot(), 'bench', 'results');
      fs.mkdirSync(resultsDir, { recursive: true });
      const jsonFile = path.join(resultsDir, 'latest.json');
      const svgFile = path.join(resultsDir, 'latest.svg');
      fs.writeFileSync(jsonFile, `${JSON.stringify(results, null, 2)}\n`);
      const subtitle = `${machine.cpus} CPUs, Node ${machine.node}, Node-RED ${machine.nodeRed}, ${machine.date.slice(0, 10)}; ` +
        `${options.n.toLocaleString('en-US')} msgs, ${options.window} outstanding at most; load average ${machine.loadAverageAtStart[0]}`;
      fs.writeFileSync(svgFile, chartSvg(chartBars(bench.figures, options.rttMs), subtitle));
      process.stdout.write(`\nResults: ${jsonFile}\nChart:   ${svgFile}\n`);
    } else {
      process.stdout.write('\n(partial or quick run: bench/results not written)\n');
    }
    process.stdout.write(`Benchmark took ${round((Date.now() - startedAt) / 1000, 1)} s\n`);
  } finally {
    if (runtime) await runtime.stop().catch(() => undefined);
    await crm.stop();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}

/**
 * One memory row in a fresh Node-RED process (this script again, with the same arguments): RSS
 * growth depends on what ran before in a process (V8 keeps a heap it grew; 100,000 held msgs of one
 * row moved the next row's figure by 40-80 MB), so each row, the floor's included, starts alike:
 * same warm-up, nothing else run.
 */
async function memoryInOwnProcess(part: MemoryPart, argv: ReadonlyArray<string>): Promise<{ figures: ScenarioFigures[]; extra: Record<string, unknown> }> {
  const args: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    if (argv[index] === '--only') index++;
    else args.push(argv[index]!);
  }
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sangam-bench-mem-')), 'figures.json');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [...process.execArgv, __filename, ...args, '--only', 'mem', '--memory-part', part, '--child-out', out], {
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0 || !fs.existsSync(out)) throw new Error(`the ${part} row's process exited with code ${String(code)}`);
    return JSON.parse(fs.readFileSync(out, 'utf8')) as { figures: ScenarioFigures[]; extra: Record<string, unknown> };
  } finally {
    fs.rmSync(path.dirname(out), { recursive: true, force: true });
  }
}

/** The repository (where bench/run.ts lives), from the build folder this file was compiled into. */
function sourceRoot(): string {
  let dir = __dirname;
  for (let depth = 0; depth < 5; depth++) {
    if (fs.existsSync(path.join(dir, 'bench', 'run.ts'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`cannot find the repository (bench/run.ts) above ${__dirname}`);
}

main().then(
  // Node-RED's runtime may keep timers alive; the benchmark is done, so do not wait for them.
  () => setTimeout(() => process.exit(0), 100),
  (error: Error) => {
    process.stderr.write(`benchmark broke: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);

