/**
 * `npm run bench`: sangam-call-log and sangam-notify against what Node-RED users do today (a
 * function node + the core http request node), and against a plain keep-alive got client, with the
 * SangamCRM stand-in in its own process. Prints a table and PASS/FAIL per target, writes
 * bench/results/latest.json and latest.svg. Exit code 0 unless the benchmark itself broke.
 *
 *   node --expose-gc .build/bench/run.js [--only a,b,c,floor,d,a50,b50,mem,footprint] [--quick] [--n 20000] [--window 1000]
 *     [--set callLog.batchSize=1000 --set config.outbox=false ...]   (what-if runs; results not written)
 *
 * To profile the call-log path: node --cpu-prof --cpu-prof-dir=/tmp/prof --expose-gc .build/bench/run.js --only b
 * then node .build/bench/profile-summary.js /tmp/prof/<file>.cpuprofile
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ResourceMonitor, ResourceUsage, round, summariseLatencies } from './measure';
import { CrmCounters, StandInProcess } from './standin-process';
import { BenchRuntime, DriveResult, FlowOverrides, IVR_NAME, NODE_IDS, editorDefaults } from './runtime';
import { GotTarget, PlainGotResult, callLogBatches, notifySteady } from './plain-got';
import { ChartBar, ScenarioFigures, TargetCheck, chartSvg, figuresTable, targetLines } from './report';
import { FOOTPRINT_DEFAULTS, footprintTable, measureFootprint } from './footprint';

const SCENARIOS = ['a', 'b', 'c', 'floor', 'd', 'a50', 'b50', 'mem', 'footprint'] as const;
type ScenarioKey = (typeof SCENARIOS)[number];

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
  /** How long the CRM is down during the burst: shorter than the default retry budget (>= 1.9 s). */
  downMs: number;
  writeResults: boolean;
  /** What-if property overrides (--set); a run with any is never written to bench/results. */
  overrides: FlowOverrides;
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
    downMs: 1_500,
    writeResults: true,
    overrides: { config: {}, callLog: {}, notify: {} },
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
      case '--quick':
        Object.assign(options, {
          n: 3_000,
          repetitions: 1,
          baselineTimeLimitMs: 8_000,
          notifySteadyMs: 1_500,
          notifyThroughputN: 2_000,
          rttBaselineTimeLimitMs: 4_000,
          burstRecords: 20_000,
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
    const { only, window } = this.options;
    // JIT and connection set-up out of the way; nothing here is reported.
    if (only.has('b') || only.has('b50') || only.has('mem')) {
      // Long enough for the optimising compiler to have taken the node's hot path (3,000 was not:
      // the first measured run came out 10-20% slower than the next ones).
      await this.runtime.windowed({ nodeId: NODE_IDS.callLog, n: 20_000, window, make: this.recordMsg, timeLimitMs: 30_000, drainLimitMs: 10_000 });
    }
    if (only.has('floor')) {
      await this.runtime.windowed({ nodeId: NODE_IDS.floor, n: 20_000, window, make: this.recordMsg, timeLimitMs: 30_000, drainLimitMs: 10_000 });
    }
    if (only.has('a') || only.has('a50')) {
      await this.runtime.windowed({ nodeId: NODE_IDS.baselineCallLog, n: 300, window: 100, make: this.recordMsg, timeLimitMs: 10_000, drainLimitMs: 10_000 });
    }
    if (only.has('c')) await callLogBatches({ target: this.target, records: this.records.slice(0, 3_000), batchSize: 100, concurrency: 4 });
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

  async scenarioB(): Promise<void> {
    process.stdout.write('(b) sangam-call-log, defaults, one record per msg\n');
    this.add(await this.repeated(this.runB));
  }

  async scenarioC(): Promise<void> {
    process.stdout.write('(c) plain got, keep-alive agent, batches of 100, 4 in flight\n');
    this.add(await this.repeated(this.runC));
  }

  /** Not a target: Node-RED's own cost in the drive of (b), for reading b's figures. */
  async scenarioFloor(): Promise<void> {
    process.stdout.write('(floor) a node that only holds msgs and answers them in batches, no HTTP: Node-RED\'s own cost\n');
    this.add(await this.repeated(() => this.callLogFlow('floor', 'floor  Node-RED only (hold + answer)', NODE_IDS.floor, 60_000)));
  }

  /** b and c in turn, so that b/c compares runs made while the machine was in the same state. */
  async scenariosBAndC(): Promise<void> {
    process.stdout.write('(b) sangam-call-log, defaults, one record per msg, and (c) plain got, batches of 100, 4 in flight: in turn\n');
    const [b, c] = await this.repeatedInTurn([this.runB, this.runC]);
    this.add(b!);
    this.add(c!);
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
    const run = async (label: string, nodeId: string, timeLimitMs: number, window = this.options.window, rowKey: string = key): Promise<ScenarioFigures> => {
      const { n } = this.options;
      const measured = await this.measure(async () => {
        await this.crm.setLatency(rttMs);
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
      // Not a target row: with at most `window` msgs in flight, any node is held to window / RTT
      // msgs/s (Little's law). More msgs in flight show what the node itself sustains that far away.
      const wide = this.options.window * 5;
      this.add(await run(`b  sangam-call-log, ${rttMs} ms RTT, ${wide} in flight`, NODE_IDS.callLog, 60_000, wide, 'b50-wide'));
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

function evaluate(figures: ReadonlyArray<ScenarioFigures>, extra: Record<string, unknown>): { ratios: Record<string, number | null>; checks: TargetCheck[] } {
  const find = (key: string): ScenarioFigures | undefined => figures.find((row) => row.key === key);
  const a = find('a');
  const b = find('b');
  const c = find('c');
  const a50 = find('a50');
  const b50 = find('b50');
  const notifySteady = find('d-notify-steady');
  const gotSteady = find('d-got-steady');
  const notifyMax = find('d-notify-max');
  const httpMax = find('d-http-max');
  const ratios = {
    bOverA: ratio(b?.msgsPerSecond, a?.msgsPerSecond),
    bOverC: ratio(b?.recordsPerSecond, c?.recordsPerSecond),
    bOverA50ms: ratio(b50?.msgsPerSecond, a50?.msgsPerSecond),
    notifyP99MinusGotP99Ms: notifySteady?.latency && gotSteady?.latency ? round(notifySteady.latency.p99Ms - gotSteady.latency.p99Ms, 2) : null,
    notifyOverHttpRequest: ratio(notifyMax?.eventsPerSecond, httpMax?.eventsPerSecond),
  };
  const checks: TargetCheck[] = [];
  const times = (value: number | null): string => (value === null ? 'n/a' : `${value}x`);
  if (a && b) checks.push({ name: 'call-log throughput vs the baseline (b/a)', target: '>= 30x', measured: times(ratios.bOverA), pass: (ratios.bOverA ?? 0) >= 30 });
  if (b && c) checks.push({ name: 'call-log records/s vs plain got (b/c)', target: '>= 0.5', measured: ratios.bOverC === null ? 'n/a' : String(ratios.bOverC), pass: (ratios.bOverC ?? 0) >= 0.5 });
  if (a50 && b50) checks.push({ name: 'call-log throughput vs the baseline with a 50 ms round trip (b/a)', target: '>= 50x', measured: times(ratios.bOverA50ms), pass: (ratios.bOverA50ms ?? 0) >= 50 });
  if (notifySteady?.latency && gotSteady?.latency) {
    checks.push({
      name: 'notify p99 vs plain keep-alive got p99',
      target: 'within 2 ms',
      measured: `${notifySteady.latency.p99Ms} ms vs ${gotSteady.latency.p99Ms} ms (${signed(ratios.notifyP99MinusGotP99Ms)} ms)`,
      pass: ratios.notifyP99MinusGotP99Ms !== null && ratios.notifyP99MinusGotP99Ms <= 2 && notifySteady.msgsFailed === 0,
    });
  }
  if (notifyMax && httpMax) checks.push({ name: 'notify throughput vs the core http request node', target: '>= 2x', measured: times(ratios.notifyOverHttpRequest), pass: (ratios.notifyOverHttpRequest ?? 0) >= 2 });
  type MemoryFigures = { recordsPerMsg: number; recordsSent: number; recordsStored: number; rssGrowthMb: number; drainSeconds: number | null };
  for (const memory of [extra.memory, extra.memoryBatched] as Array<MemoryFigures | undefined>) {
    if (!memory) continue;
    const shape = memory.recordsPerMsg === 1 ? `${memory.recordsSent} msgs of 1 record` : `${Math.ceil(memory.recordsSent / memory.recordsPerMsg)} msgs of ${memory.recordsPerMsg} records`;
    checks.push({ name: `memory (${shape}): peak RSS growth for the burst while the CRM is down`, target: '<= 150 MB', measured: `${memory.rssGrowthMb} MB`, pass: memory.rssGrowthMb <= 150 });
    checks.push({
      name: `memory (${shape}): every record delivered once the CRM is back`,
      target: `${memory.recordsSent} stored`,
      measured: `${memory.recordsStored} stored${memory.drainSeconds === null ? '' : `, drained in ${memory.drainSeconds} s`}`,
      pass: memory.recordsStored >= memory.recordsSent,
    });
  }
  return { ratios, checks };
}

function chartBars(figures: ReadonlyArray<ScenarioFigures>, rttMs: number): ChartBar[] {
  const find = (key: string): ScenarioFigures | undefined => figures.find((row) => row.key === key);
  const a = find('a');
  const a50 = find('a50');
  const bars: ChartBar[] = [];
  if (a) bars.push({ label: 'a  http request node', value: a.msgsPerSecond, group: 'loopback' });
  const b = find('b');
  if (b) bars.push({ label: 'b  sangam-call-log', value: b.msgsPerSecond, target: a?.msgsPerSecond ? a.msgsPerSecond * 30 : undefined, group: 'loopback' });
  const c = find('c');
  if (c) bars.push({ label: 'c  plain got, batches of 100', value: c.recordsPerSecond, group: 'loopback' });
  if (a50) bars.push({ label: `a  http request node, ${rttMs} ms`, value: a50.msgsPerSecond, group: 'rtt50' });
  const b50 = find('b50');
  if (b50) bars.push({ label: `b  sangam-call-log, ${rttMs} ms`, value: b50.msgsPerSecond, target: a50?.msgsPerSecond ? a50.msgsPerSecond * 50 : undefined, group: 'rtt50' });
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
    if (only.has('b') && only.has('c')) await bench.scenariosBAndC();
    else if (only.has('b')) await bench.scenarioB();
    else if (only.has('c')) await bench.scenarioC();
    if (only.has('floor')) await bench.scenarioFloor();
    if (only.has('d')) await bench.scenarioD();
    if (only.has('a50')) await bench.scenarioRtt('a50');
    if (only.has('b50')) await bench.scenarioRtt('b50');
    if (only.has('mem')) await bench.scenarioMemory(1);
    if (only.has('mem')) await bench.scenarioMemory(1000);
    // Footprint (bench/footprint.ts): real node-red processes with and without the package, idle.
    const footprint = only.has('footprint') ? await measureFootprint({ ...FOOTPRINT_DEFAULTS, repetitions: Math.min(FOOTPRINT_DEFAULTS.repetitions, options.repetitions) }, undefined, { crm, token }) : null;

    const { ratios, checks } = evaluate(bench.figures, bench.extra);
    if (footprint) checks.push(...footprint.checks);
    process.stdout.write(`\n${figuresTable(bench.figures)}\n\n`);
    if (footprint) process.stdout.write(`${footprintTable(footprint)}\n\n`);
    process.stdout.write('Drive per scenario:\n');
    for (const row of bench.figures) process.stdout.write(`  ${row.label.padEnd(38)} ${row.drive}${row.notes.length ? `; ${row.notes.join('; ')}` : ''}\n`);
    process.stdout.write(
      `\nRatios: b/a ${ratios.bOverA ?? 'n/a'}, b/c ${ratios.bOverC ?? 'n/a'}, b/a at ${options.rttMs} ms ${ratios.bOverA50ms ?? 'n/a'}, ` +
        `notify p99 - got p99 ${ratios.notifyP99MinusGotP99Ms ?? 'n/a'} ms, notify/http request throughput ${ratios.notifyOverHttpRequest ?? 'n/a'}\n\n`,
    );
    process.stdout.write(`${targetLines(checks)}\n`);

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
      footprint,
      ratios,
      targets: checks,
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

