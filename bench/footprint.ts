/**
 * Footprint (issue 13, target 5): what installing the package costs a Node-RED that hardly uses it.
 * Real `node-red` processes, one at a time, alternating:
 *   without: Node-RED with a core-only flow (http in -> http response);
 *   with:    the package installed in the user dir (as `npm install` puts it) and the same flow plus
 *            one node of each type (sangam-config, sangam-call-log between the http nodes,
 *            sangam-notify, exotel-config, exotel-click2call) with the editor's defaults.
 * Each run: start-up time (spawn -> Node-RED's "Started flows" line), RSS when idle (the median of
 * samples taken after the process settled and V8's memory reducer ran; no forced GC), then RSS and
 * the JS heap in use right after full collections (bench/gc-probe.ts, preloaded into both
 * variants), then `callLogs` POSTs to the http in node (one record each; the SangamCRM stand-in
 * stores them) and RSS again once settled. The medians of the runs of each variant are compared.
 *
 *   node .build/bench/footprint.js [--repetitions 3] [--settle 80000] [--reducer-wait 90000] [--sample 5000] [--call-logs 2000]
 *     [--variants without,with,installed] [--trace] [--package <dir>]
 * (`installed`: the package installed, no node of it deployed: tells module loading from per-node cost;
 * --package: install another build, e.g. an older commit's, for a before/after comparison.)
 * `npm run bench` runs it as its last section (bench/run.ts); alone it prints and writes nothing else.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { installPackage, packageRoot, writeSettingsFile } from '../test/support/node-red-process';
import { round, sleep } from './measure';
import { type TargetCheck, targetLines } from './report';
import { editorDefaults } from './runtime';
import { StandInProcess } from './standin-process';

export const FOOTPRINT_VARIANTS = ['without', 'with', 'installed'] as const;
export type FootprintVariant = (typeof FOOTPRINT_VARIANTS)[number];

export interface FootprintOptions {
  /** Runs of each variant (alternating); medians are compared. */
  repetitions: number;
  /** How long a process settles after "Started flows" (and after the call logs) before RSS is sampled. */
  settleMs: number;
  /**
   * How much longer than settleMs the idle sample may wait for V8's memory reducer: a full
   * collection at least REDUCER_AFTER_MS after the process went idle, then GC_QUIET_MS without one.
   */
  reducerWaitMs: number;
  /** How long RSS is sampled (every 250 ms); the median sample counts. */
  sampleMs: number;
  /** Call logs POSTed after the idle sample (0: none). */
  callLogs: number;
  variants: FootprintVariant[];
  /** Prints every RSS sample. */
  trace: boolean;
  /** The package to install (a directory with package.json, nodes/ and node_modules/); default: this repository. */
  packageDir?: string;
}

/**
 * Settling: 20-65 s after start (on this 2-core machine) V8's memory reducer collects and RSS drops
 * by about 20 MB, in either variant; an idle Node-RED spends its life after that, so samples are
 * taken after it. Most processes had collected by 80 s, but now and then one had not (two of three
 * in one run: 107-109 MB idle, against 82-89 MB): so after 80 s the idle sample also waits, up to
 * `reducerWaitMs` more, until the process has run a full collection since it went idle.
 */
export const FOOTPRINT_DEFAULTS: FootprintOptions = {
  repetitions: 3,
  settleMs: 80_000,
  reducerWaitMs: 90_000,
  sampleMs: 5_000,
  callLogs: 2_000,
  variants: ['without', 'with'],
  trace: false,
};

/** The target: RSS growth of an idle Node-RED with one node of each type, over one without the package. */
export const IDLE_RSS_GROWTH_TARGET_MB = 3;

export interface FootprintRun {
  variant: FootprintVariant;
  /** Spawn -> "Started flows": wall time, and the CPU time (user + system) the process used for it. */
  startupMs: number;
  startupCpuMs: number;
  /** Median RSS sample while idle, and its anonymous (heap, malloc) part. */
  idleRssMb: number;
  idleRssAnonMb: number;
  /** Right after that, full collections forced (bench/gc-probe.ts): RSS and the JS heap in use. */
  idleRssAfterGcMb: number;
  idleHeapAfterGcMb: number;
  /** After the call logs were answered and the process settled again (null when none were sent). */
  afterCallLogsRssMb: number | null;
  callLogsOk: number;
  callLogsFailed: number;
  callLogsSeconds: number | null;
}

export interface FootprintSummary {
  variant: FootprintVariant;
  runs: number;
  startupMs: { median: number; min: number; max: number };
  startupCpuMs: { median: number; min: number; max: number };
  idleRssMb: { median: number; min: number; max: number };
  idleRssAnonMb: { median: number; min: number; max: number };
  idleRssAfterGcMb: { median: number; min: number; max: number };
  idleHeapAfterGcMb: { median: number; min: number; max: number };
  afterCallLogsRssMb: { median: number; min: number; max: number } | null;
}

export interface FootprintResult {
  options: FootprintOptions;
  runs: FootprintRun[];
  summaries: FootprintSummary[];
  /** with - without, medians (MB). */
  idleRssGrowthMb: number | null;
  /** with - without, medians (MB), after full collections: RSS and the JS heap in use (reported; the target is on idleRssGrowthMb). */
  idleAfterGcGrowthMb: { rss: number; heap: number } | null;
  /** with after the call logs - without after the same POSTs, and - without idle (MB). */
  afterCallLogsRssGrowthMb: number | null;
  afterCallLogsOverIdleBaselineMb: number | null;
  /** with - without, medians, with the noise: the larger of the two variants' run-to-run spread (max - min). */
  startup: { wallMs: number; wallNoiseMs: number; cpuMs: number; cpuNoiseMs: number } | null;
  checks: TargetCheck[];
}

const IVR_NAME = 'footprint-ivr';
const TAB = 'footprint-tab';

type FlowNode = Record<string, unknown> & { id: string };

/** One record as a PBX integration POSTs it (distinct numbers per seq). */
function callLogRecord(seq: number): Record<string, string> {
  const customer = `98${String(10_000_000 + seq).padStart(8, '0')}`;
  return {
    duration: '00:01:05',
    enjay_lat_source_number: customer,
    date_start: '2024-05-10 10:00:00',
    date_end: '2024-05-10 10:01:05',
    name: customer,
    enjay_lat_destination_number: '7890100001',
    direction: 'Inbound',
    call_status: 'Held',
    logged_via: 'Calllog',
    logged_by: 'IVR',
  };
}

/** The flow of each variant: the same core nodes; `with` adds one node of each of ours. */
function flowOf(variant: FootprintVariant, crmUrl: string): { flows: FlowNode[]; credentials: Record<string, Record<string, string>> } {
  const onTab = (node: FlowNode): FlowNode => ({ z: TAB, ...node });
  const ours = variant === 'with';
  const flows: FlowNode[] = [
    { id: TAB, type: 'tab', label: 'footprint' },
    onTab({ id: 'in', type: 'http in', name: '', url: '/calllog', method: 'post', upload: false, swaggerDoc: '', wires: [[ours ? 'call-log' : 'out']] }),
    onTab({ id: 'out', type: 'http response', name: '', statusCode: '', headers: {}, wires: [] }),
  ];
  if (!ours) return { flows, credentials: {} };
  flows.push(
    onTab({ ...editorDefaults('sangam-config'), id: 'crm', type: 'sangam-config', name: '', domain: crmUrl, allowInsecure: true, ivrName: IVR_NAME }),
    onTab({ ...editorDefaults('sangam-call-log'), id: 'call-log', type: 'sangam-call-log', server: 'crm', wires: [['out']] }),
    onTab({ ...editorDefaults('sangam-notify'), id: 'notify', type: 'sangam-notify', server: 'crm', wires: [[]] }),
    onTab({ ...editorDefaults('exotel-config'), id: 'exotel', type: 'exotel-config', name: '', accountSid: 'footprint', subdomain: '127.0.0.1:9', allowInsecure: true }),
    onTab({ ...editorDefaults('exotel-click2call'), id: 'click2call', type: 'exotel-click2call', account: 'exotel', wires: [[]] }),
  );
  return { flows, credentials: { crm: { token: 'footprint-token' }, exotel: { apiKey: 'footprint-key', apiToken: 'footprint-secret' } } };
}

/** VmRSS, RssAnon and RssFile of a process, in MB, from /proc. */
function readRss(pid: number): { rss: number; anon: number; file: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    const anon = /RssAnon:\s+(\d+) kB/.exec(status);
    const file = /RssFile:\s+(\d+) kB/.exec(status);
    return rss ? { rss: Number(rss[1]) / 1024, anon: anon ? Number(anon[1]) / 1024 : NaN, file: file ? Number(file[1]) / 1024 : NaN } : undefined;
  } catch {
    return undefined;
  }
}

/** Linux reports process times in clock ticks; USER_HZ is 100 on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time (user + system, ms) a process has used so far, from /proc. */
function cpuMs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

function median(values: ReadonlyArray<number>): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function spread(values: ReadonlyArray<number>, digits: number): { median: number; min: number; max: number } {
  return { median: round(median(values), digits), min: round(Math.min(...values), digits), max: round(Math.max(...values), digits) };
}

/** A full collection this long after the process went idle is the memory reducer's, not start-up's. */
const REDUCER_AFTER_MS = 10_000;
/** And this long without another: the reducer's rounds are over. */
const GC_QUIET_MS = 10_000;

/** Sends the process's gc-probe `request` and resolves with the `field` of its answer. */
function askProbe<T>(proc: ChildProcess, request: 'gc-probe' | 'gc-last', field: 'gcProbe' | 'gcLast', output: () => string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.off('message', onMessage);
      reject(new Error(`node-red (pid ${String(proc.pid)}) gave no ${request} answer within 10 s:\n${output().slice(-2000)}`));
    }, 10_000);
    const onMessage = (message: unknown): void => {
      const figures = (message as Record<string, T | undefined> | null)?.[field];
      if (figures === undefined) return;
      clearTimeout(timer);
      proc.off('message', onMessage);
      resolve(figures);
    };
    proc.on('message', onMessage);
    proc.send(request);
  });
}

/** Has the process's gc-probe collect, and returns what it answers. */
function collectGarbage(proc: ChildProcess, output: () => string): Promise<{ rssMb: number; heapUsedMb: number }> {
  return askProbe(proc, 'gc-probe', 'gcProbe', output);
}

/**
 * Waits until the process ran a full collection at least REDUCER_AFTER_MS after `idleSince` (this
 * process's performance.now()) and none for GC_QUIET_MS since, or until `deadline`; says which.
 */
async function memoryReducerRan(proc: ChildProcess, idleSince: number, deadline: number, output: () => string): Promise<string> {
  for (;;) {
    const last = await askProbe<{ majorGcs: number; msAgo: number | null }>(proc, 'gc-last', 'gcLast', output);
    const now = performance.now();
    const at = last.msAgo === null ? Number.NEGATIVE_INFINITY : now - last.msAgo;
    const seconds = (ms: number): string => `${round(ms / 1000, 1)} s`;
    if (at >= idleSince + REDUCER_AFTER_MS && now - at >= GC_QUIET_MS) {
      return `last full collection ${seconds(at - idleSince)} after going idle (${last.majorGcs} in all)`;
    }
    if (now >= deadline) {
      return `no full collection once idle within ${seconds(deadline - idleSince)} (last ${last.msAgo === null ? 'never' : `${seconds(at - idleSince)} after going idle`}): sampled anyway`;
    }
    await sleep(1_000);
  }
}

/** One node-red process of one variant, from spawn to stop. */
async function runOnce(variant: FootprintVariant, crm: StandInProcess, token: string, options: FootprintOptions, log: (line: string) => void): Promise<FootprintRun> {
  const root = packageRoot();
  const packageDir = options.packageDir ?? root;
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), `footprint-${variant}-`));
  let child: ChildProcess | undefined;
  try {
    if (variant !== 'without') installPackage(userDir, 'copy', packageDir);
    // Credentials in plain text (credentialSecret false): written here as the runtime would read them.
    writeSettingsFile(userDir, { credentialSecret: false, logging: { console: { level: 'info', metrics: false, audit: false } } });
    const { flows, credentials } = flowOf(variant, crm.url);
    fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows));
    const cred: Record<string, Record<string, string>> = {};
    for (const [id, values] of Object.entries(credentials)) cred[id] = { ...values, ...(id === 'crm' ? { token } : {}) };
    fs.writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify(cred));

    const redJs = require.resolve('node-red/red.js', { paths: [root] });
    const spawnedAt = performance.now();
    const proc = spawn(process.execPath, ['--require', path.join(__dirname, 'gc-probe.js'), redJs, '--userDir', userDir, '--settings', path.join(userDir, 'settings.js'), '--port', '0'], {
      cwd: userDir,
      // FOOTPRINT_NODE_OPTIONS: e.g. a --require hook when looking for what costs memory.
      env: { ...process.env, NODE_OPTIONS: process.env.FOOTPRINT_NODE_OPTIONS ?? '' },
      // The IPC channel is bench/gc-probe.ts's way in.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child = proc;
    let output = '';
    let url = '';
    let startedAt: number | undefined;
    let startupCpuMs = NaN;
    let exited: string | undefined;
    const onText = (text: string): void => {
      output += text;
      if (!url) url = /Server now running at (http:\/\/[^\s/]+)/.exec(output)?.[1] ?? '';
      if (startedAt === undefined && /\] Started flows/.test(output)) {
        startedAt = performance.now();
        startupCpuMs = cpuMs(proc.pid!);
      }
    };
    proc.stdout?.setEncoding('utf8').on('data', onText);
    proc.stderr?.setEncoding('utf8').on('data', onText);
    proc.once('exit', (code, signal) => (exited = `node-red exited (${code ?? signal})`));
    const deadline = Date.now() + 120_000;
    while (startedAt === undefined || !url) {
      if (exited || Date.now() > deadline) throw new Error(`${exited ?? 'node-red did not start within 120 s'}:\n${output.slice(-3000)}`);
      await sleep(5);
    }
    const startupMs = startedAt - spawnedAt;
    if (variant === 'with' && /\[(error|warn)\] \[(sangam|exotel)-/.test(output)) {
      throw new Error(`node-red reported a problem with the footprint flow:\n${output.slice(-3000)}`);
    }
    const pid = proc.pid!;

    const sampleRss = async (what: string, waitForReducer: boolean): Promise<{ rss: number; anon: number }> => {
      const idleSince = performance.now();
      await sleep(options.settleMs);
      if (waitForReducer) {
        const settled = await memoryReducerRan(proc, idleSince, idleSince + options.settleMs + options.reducerWaitMs, () => output);
        if (options.trace || settled.includes('sampled anyway')) log(`    ${variant} ${what}: ${settled}`);
      }
      const rss: number[] = [];
      const anon: number[] = [];
      for (let elapsed = 0; elapsed < options.sampleMs; elapsed += 250) {
        const sample = readRss(pid);
        if (!sample) throw new Error(`node-red (pid ${pid}) is gone: ${output.slice(-2000)}`);
        rss.push(sample.rss);
        anon.push(sample.anon);
        await sleep(250);
      }
      if (options.trace) log(`    ${variant} ${what}: RSS samples ${rss.map((value) => value.toFixed(1)).join(' ')} (file-backed ${readRss(pid)?.file.toFixed(1)})`);
      return { rss: median(rss), anon: median(anon) };
    };
    const idle = await sampleRss('idle', true);
    const afterGc = await collectGarbage(proc, () => output);

    let afterCallLogsRssMb: number | null = null;
    let ok = 0;
    let failed = 0;
    let callLogsSeconds: number | null = null;
    if (options.callLogs > 0) {
      const began = performance.now();
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < options.callLogs) {
          const seq = next++;
          try {
            const response = await fetch(`${url}/calllog`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(callLogRecord(seq)),
            });
            await response.arrayBuffer();
            if (response.ok) ok++;
            else failed++;
          } catch {
            failed++;
          }
        }
      };
      // As a PBX's CDR posts come: a few at a time.
      await Promise.all(Array.from({ length: 8 }, () => worker()));
      callLogsSeconds = round((performance.now() - began) / 1000, 2);
      // Not a target, and the reducer need not run again after them (seen: none within 170 s).
      afterCallLogsRssMb = round((await sampleRss(`after ${options.callLogs} call logs`, false)).rss, 1);
    }
    return {
      variant,
      startupMs: round(startupMs, 0),
      startupCpuMs: round(startupCpuMs, 0),
      idleRssMb: round(idle.rss, 1),
      idleRssAnonMb: round(idle.anon, 1),
      idleRssAfterGcMb: round(afterGc.rssMb, 1),
      idleHeapAfterGcMb: round(afterGc.heapUsedMb, 2),
      afterCallLogsRssMb,
      callLogsOk: ok,
      callLogsFailed: failed,
      callLogsSeconds,
    };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const proc = child;
      const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGINT');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    }
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}

/**
 * Runs the variants alternately, `repetitions` times each, and compares medians. Uses `crm` if
 * given (the benchmark's stand-in), else starts its own.
 */
export async function measureFootprint(
  options: FootprintOptions = FOOTPRINT_DEFAULTS,
  log: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  shared?: { crm: StandInProcess; token: string },
): Promise<FootprintResult> {
  const token = shared?.token ?? `footprint-${randomBytes(8).toString('hex')}`;
  const crm = shared?.crm ?? (await StandInProcess.start({ token }));
  const runs: FootprintRun[] = [];
  try {
    for (let repetition = 0; repetition < options.repetitions; repetition++) {
      // Alternating, so that a change in the machine's load touches every variant alike.
      const order = repetition % 2 === 0 ? options.variants : [...options.variants].reverse();
      for (const variant of order) {
        const run = await runOnce(variant, crm, token, options, log);
        runs.push(run);
        log(
          `  footprint ${repetition + 1}/${options.repetitions} ${variant.padEnd(9)} start-up ${run.startupMs} ms (CPU ${run.startupCpuMs} ms), idle RSS ${run.idleRssMb} MB (anon ${run.idleRssAnonMb}), after GC ${run.idleRssAfterGcMb} MB (heap ${run.idleHeapAfterGcMb})` +
            (run.afterCallLogsRssMb === null ? '' : `, after ${options.callLogs} call logs ${run.afterCallLogsRssMb} MB (${run.callLogsOk} ok, ${run.callLogsFailed} failed, ${run.callLogsSeconds} s)`),
        );
      }
    }
  } finally {
    if (!shared) await crm.stop();
  }
  return summarise(options, runs);
}

export function summarise(options: FootprintOptions, runs: ReadonlyArray<FootprintRun>): FootprintResult {
  const summaries: FootprintSummary[] = options.variants.map((variant) => {
    const own = runs.filter((run) => run.variant === variant);
    const after = own.map((run) => run.afterCallLogsRssMb).filter((value): value is number => value !== null);
    return {
      variant,
      runs: own.length,
      startupMs: spread(own.map((run) => run.startupMs), 0),
      startupCpuMs: spread(own.map((run) => run.startupCpuMs), 0),
      idleRssMb: spread(own.map((run) => run.idleRssMb), 1),
      idleRssAnonMb: spread(own.map((run) => run.idleRssAnonMb), 1),
      idleRssAfterGcMb: spread(own.map((run) => run.idleRssAfterGcMb), 1),
      idleHeapAfterGcMb: spread(own.map((run) => run.idleHeapAfterGcMb), 2),
      afterCallLogsRssMb: after.length > 0 ? spread(after, 1) : null,
    };
  });
  const without = summaries.find((summary) => summary.variant === 'without');
  const withPackage = summaries.find((summary) => summary.variant === 'with');
  const both = without && withPackage ? { without, withPackage } : undefined;
  const idleRssGrowthMb = both ? round(both.withPackage.idleRssMb.median - both.without.idleRssMb.median, 1) : null;
  const idleAfterGcGrowthMb = both
    ? {
      rss: round(both.withPackage.idleRssAfterGcMb.median - both.without.idleRssAfterGcMb.median, 1),
      heap: round(both.withPackage.idleHeapAfterGcMb.median - both.without.idleHeapAfterGcMb.median, 2),
    }
    : null;
  const afterWith = withPackage?.afterCallLogsRssMb;
  const afterCallLogsRssGrowthMb = afterWith && without?.afterCallLogsRssMb ? round(afterWith.median - without.afterCallLogsRssMb.median, 1) : null;
  const afterCallLogsOverIdleBaselineMb = afterWith && without ? round(afterWith.median - without.idleRssMb.median, 1) : null;
  const noise = (pick: (summary: FootprintSummary) => { min: number; max: number }): number =>
    both ? Math.max(pick(both.without).max - pick(both.without).min, pick(both.withPackage).max - pick(both.withPackage).min) : NaN;
  const startup = both
    ? {
      wallMs: round(both.withPackage.startupMs.median - both.without.startupMs.median, 0),
      wallNoiseMs: noise((summary) => summary.startupMs),
      cpuMs: round(both.withPackage.startupCpuMs.median - both.without.startupCpuMs.median, 0),
      cpuNoiseMs: noise((summary) => summary.startupCpuMs),
    }
    : null;
  const checks: TargetCheck[] = [];
  if (both && idleRssGrowthMb !== null) {
    checks.push({
      name: 'footprint: idle RSS growth, one node of each type deployed, over Node-RED without the package',
      target: `<= ${IDLE_RSS_GROWTH_TARGET_MB} MB`,
      measured: `${signed(idleRssGrowthMb)} MB (medians of ${both.withPackage.runs} runs: ${both.withPackage.idleRssMb.median} vs ${both.without.idleRssMb.median} MB)`,
      pass: idleRssGrowthMb <= IDLE_RSS_GROWTH_TARGET_MB,
    });
  }
  if (both && startup) {
    // Wall time on a shared machine mostly measures the others' load; the CPU time the process spent is steadier.
    checks.push({
      name: 'footprint: start-up (spawn -> flows started) over Node-RED without the package',
      target: 'CPU time within the run-to-run noise',
      measured: `CPU ${signed(startup.cpuMs)} ms (medians ${both.withPackage.startupCpuMs.median} vs ${both.without.startupCpuMs.median} ms, noise ${startup.cpuNoiseMs} ms); ` +
        `wall ${signed(startup.wallMs)} ms (medians ${both.withPackage.startupMs.median} vs ${both.without.startupMs.median} ms, noise ${startup.wallNoiseMs} ms)`,
      pass: startup.cpuMs <= startup.cpuNoiseMs,
    });
  }
  if (afterCallLogsRssGrowthMb !== null && afterCallLogsOverIdleBaselineMb !== null) {
    checks.push({
      name: `footprint: RSS after ${options.callLogs} call logs (one per POST to http in -> sangam-call-log -> http response)`,
      target: 'reported; every POST answered',
      measured: `${signed(afterCallLogsRssGrowthMb)} MB over Node-RED without the package after the same POSTs (http in -> http response), ` +
        `${signed(afterCallLogsOverIdleBaselineMb)} MB over it idle; ${runs.reduce((sum, run) => sum + run.callLogsFailed, 0)} POST(s) failed`,
      pass: runs.every((run) => run.callLogsFailed === 0),
    });
  }
  return { options, runs: [...runs], summaries, idleRssGrowthMb, idleAfterGcGrowthMb, afterCallLogsRssGrowthMb, afterCallLogsOverIdleBaselineMb, startup, checks };
}

function signed(value: number): string {
  return value < 0 ? String(value) : `+${value}`;
}

/** The footprint table, printed like the benchmark's. */
export function footprintTable(result: FootprintResult): string {
  const range = (figure: { min: number; max: number }, digits: number): string => `${figure.min.toFixed(digits)}-${figure.max.toFixed(digits)}`;
  const header = ['footprint (node-red processes, medians)', 'runs', 'start-up ms', 'min-max', 'CPU ms', 'min-max', 'idle RSS MB', 'min-max', 'anon MB', 'after GC: RSS MB', 'min-max', 'heap MB', `after ${result.options.callLogs} call logs MB`, 'min-max'];
  const labels: Record<FootprintVariant, string> = {
    without: 'Node-RED without the package',
    with: 'with the package, 5 nodes idle',
    installed: 'package installed, no node deployed',
  };
  const lines = result.summaries.map((summary) => [
    labels[summary.variant],
    String(summary.runs),
    String(summary.startupMs.median),
    range(summary.startupMs, 0),
    String(summary.startupCpuMs.median),
    range(summary.startupCpuMs, 0),
    summary.idleRssMb.median.toFixed(1),
    range(summary.idleRssMb, 1),
    summary.idleRssAnonMb.median.toFixed(1),
    summary.idleRssAfterGcMb.median.toFixed(1),
    range(summary.idleRssAfterGcMb, 1),
    summary.idleHeapAfterGcMb.median.toFixed(2),
    summary.afterCallLogsRssMb ? summary.afterCallLogsRssMb.median.toFixed(1) : '-',
    summary.afterCallLogsRssMb ? range(summary.afterCallLogsRssMb, 1) : '-',
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const format = (line: string[]): string => line.map((text, column) => (column === 0 ? text.padEnd(widths[column]!) : text.padStart(widths[column]!))).join('  ');
  const { startup } = result;
  const afterGc = result.idleAfterGcGrowthMb;
  const growth = `with - without: idle RSS ${result.idleRssGrowthMb === null ? 'n/a' : `${signed(result.idleRssGrowthMb)} MB`}, ` +
    `after full collections ${afterGc === null ? 'n/a' : `RSS ${signed(afterGc.rss)} MB, heap ${signed(afterGc.heap)} MB`}, ` +
    `after the call logs ${result.afterCallLogsRssGrowthMb === null ? 'n/a' : `${signed(result.afterCallLogsRssGrowthMb)} MB`}, ` +
    `start-up ${startup === null ? 'n/a' : `${signed(startup.wallMs)} ms (noise ${startup.wallNoiseMs} ms), CPU ${signed(startup.cpuMs)} ms (noise ${startup.cpuNoiseMs} ms)`}`;
  return [format(header), widths.map((width) => '-'.repeat(width)).join('  '), ...lines.map(format), growth].join('\n');
}

export function parseFootprintOptions(argv: ReadonlyArray<string>): FootprintOptions {
  const options: FootprintOptions = { ...FOOTPRINT_DEFAULTS, variants: [...FOOTPRINT_DEFAULTS.variants] };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    const value = (): string => {
      const next = argv[++index];
      if (next === undefined) throw new RangeError(`${arg} needs a value`);
      return next;
    };
    const whole = (text: string, min: number): number => {
      const number = Number(text);
      if (!Number.isInteger(number) || number < min) throw new RangeError(`${arg} must be a whole number >= ${min}, got ${text}`);
      return number;
    };
    switch (arg) {
      case '--repetitions':
        options.repetitions = whole(value(), 1);
        break;
      case '--settle':
        options.settleMs = whole(value(), 0);
        break;
      case '--sample':
        options.sampleMs = whole(value(), 250);
        break;
      case '--reducer-wait':
        options.reducerWaitMs = whole(value(), 0);
        break;
      case '--call-logs':
        options.callLogs = whole(value(), 0);
        break;
      case '--variants': {
        const variants = value().split(',').map((variant) => variant.trim());
        for (const variant of variants) {
          if (!(FOOTPRINT_VARIANTS as ReadonlyArray<string>).includes(variant)) throw new RangeError(`--variants: unknown ${variant} (${FOOTPRINT_VARIANTS.join(', ')})`);
        }
        options.variants = variants as FootprintVariant[];
        break;
      }
      case '--trace':
        options.trace = true;
        break;
      case '--package':
        options.packageDir = path.resolve(value());
        break;
      default:
        throw new RangeError(`unknown option ${arg}`);
    }
  }
  return options;
}

if (require.main === module) {
  const options = parseFootprintOptions(process.argv.slice(2));
  process.stdout.write(`footprint: ${options.variants.join(' / ')}, ${options.repetitions} run(s) each, settle ${options.settleMs} ms (+ up to ${options.reducerWaitMs} ms for the memory reducer), sample ${options.sampleMs} ms; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs\n`);
  measureFootprint(options).then(
    (result) => {
      process.stdout.write(`\n${footprintTable(result)}\n\n`);
      process.stdout.write(`${targetLines(result.checks)}\n`);
      process.exit(0);
    },
    (error: Error) => {
      process.stderr.write(`footprint broke: ${error.stack ?? error.message}\n`);
      process.exit(1);
    },
  );
}
