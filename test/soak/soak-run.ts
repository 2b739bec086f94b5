/**
 * The soak: a real Node-RED process (this package installed, default node settings, outbox on)
 * fed as users feed it, through `http in` nodes: call logs into sangam-call-log and pop-ups into
 * sangam-notify, at a steady rate for a long time, against the SangamCRM stand-in that goes down
 * on a schedule and fails a share of requests (503s, dropped connections). Meanwhile it samples,
 * inside the Node-RED process (test/soak/probe.ts), memory, file descriptors and event-loop
 * delay, and outside it the outbox: the journal's size on disk and the records waiting.
 *
 * At the end it lets the outbox drain and checks: every accepted record stored (accepted: the
 * http answer was 200, stored by the CRM, or 202, the node said the records are kept in the
 * outbox), duplicates only of records whose answer the stand-in dropped after storing them,
 * no pop-up stored later than the node's maximum age after it was sent, memory and descriptors
 * flat after the warm-up (least-squares slope), the event-loop delay, the outbox bounded.
 *
 * Used by test/soak/soak.soak.ts (`npm run test:soak`, 30 minutes) and by the short variant in
 * test/faults/soak-short.faults.ts.
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CrmFaultRate, SangamCrmStandIn } from '../../dev/standins/sangam-crm';
import { callLogEndpoint } from '../support/call-log-endpoint';
import { type FlowNode, NodeRedProcess } from '../support/node-red-process';
import { faultRecord, seededRandom, sleep, waitFor } from '../faults/delivery-figures';
import type { ProbeSample } from './probe';
import { type Fit, linearFit, percentile, type SoakCheck, soakSvg } from './soak-report';

export interface SoakOptions {
  /** How long traffic runs. */
  minutes: number;
  callsPerSecond: number;
  popupsPerSecond: number;
  /** The CRM goes down every this many seconds (first time after one period)... */
  outageEverySeconds: number;
  /** ...for this long. */
  outageSeconds: number;
  /** Share of CRM requests answered 503. */
  http503Rate: number;
  /** Share of CRM requests whose connection is reset: half before the CRM stores anything, half after (the answer is lost). */
  dropRate: number;
  /** Samples before this are shown, not fitted. */
  warmUpSeconds: number;
  sampleSeconds: number;
  seed: number;
  /** Progress lines (one per minute and per outage). */
  log: (line: string) => void;
}

/** The settings of the README's soak: 30 minutes unless SOAK_MINUTES says otherwise. */
export function fullSoakOptions(env: NodeJS.ProcessEnv, log: (line: string) => void): SoakOptions {
  const minutes = Number(env.SOAK_MINUTES ?? 30);
  if (!(minutes > 0)) throw new RangeError(`SOAK_MINUTES must be a positive number, got ${env.SOAK_MINUTES}`);
  const seed = Number(env.SOAK_SEED);
  return {
    minutes,
    callsPerSecond: Number(env.SOAK_CALLS_PER_SECOND ?? 50),
    popupsPerSecond: Number(env.SOAK_POPUPS_PER_SECOND ?? 5),
    outageEverySeconds: Number(env.SOAK_OUTAGE_EVERY_SECONDS ?? 120),
    outageSeconds: Number(env.SOAK_OUTAGE_SECONDS ?? 20),
    http503Rate: 0.03,
    dropRate: 0.01,
    // A sixth of the run, at least a minute and at most five: the heap and the caches settle.
    warmUpSeconds: Math.min(300, Math.max(60, (minutes * 60) / 6)),
    sampleSeconds: Number(env.SOAK_SAMPLE_SECONDS ?? 5),
    seed: Number.isInteger(seed) && seed > 0 ? seed : Math.floor(Math.random() * 2 ** 31) + 1,
    log,
  };
}

export interface SoakSample {
  /** Seconds since traffic started. */
  tS: number;
  rssMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  fds: number;
  /** Event-loop delay p99 and max since the previous sample, ms. */
  loopP99Ms: number;
  loopMaxMs: number;
  /** CPU seconds Node-RED used since the previous sample. */
  cpuS: number;
  /** Bytes of the files in <userDir>/sangam-outbox (journal, compaction file; not the lock). */
  journalBytes: number;
  /** The outbox's own summary: entries in the journal, of which waiting (not being sent). */
  outboxEntries: number;
  waiting: number;
  crmDown: boolean;
  callsSent: number;
  popupsSent: number;
}

interface CallOutcome {
  sentAtMs: number;
  /** 200, 202, another status, or 0: no answer. */
  status: number;
  answerMs: number;
  body?: string;
}

interface PopupOutcome {
  sentAtMs: number;
  status: number;
  answerMs: number;
  error?: string;
}

export interface SoakFigures {
  calls: {
    sent: number;
    answered200: number;
    answered202: number;
    /** Other answers, and requests without one (status 0), with a few samples. */
    otherAnswers: number;
    unanswered: number;
    otherSamples: string[];
    accepted: number;
    storedDistinct: number;
    storedCopies: number;
    lost: number;
    unknown: number;
    duplicates: number;
    /** Stored copies whose answer the stand-in dropped after storing them: each may be sent again. */
    answersLostRecords: number;
    unexplainedDuplicates: number;
    /** Records not accepted (no answer, or an error answer) that the CRM stored anyway. */
    notAcceptedButStored: number;
    answerP50Ms: number;
    answerP99Ms: number;
    answerMaxMs: number;
  };
  popups: {
    sent: number;
    delivered: number;
    /** Stored later than the node's maximum age after they were sent. */
    late: number;
    /** Send to CRM-stored, ms. */
    deliveryP50Ms: number;
    deliveryP99Ms: number;
    deliveryMaxMs: number;
    failedInOutage: number;
    failedInOutageAnswerP99Ms: number;
    failedInOutageAnswerMaxMs: number;
    failedOutsideOutage: number;
    failedOutsideSamples: string[];
    unanswered: number;
    duplicates: number;
    maxAgeSeconds: number;
  };
  crm: { requests: number; callLogRequests: number; notifyRequests: number; faulted: number; rejected: number; connections: number };
  outages: Array<{ fromS: number; toS: number }>;
  /** Outage cycles after which the outbox was empty again before the next outage (or the end). */
  outboxDrainedCycles: { drained: number; cycles: number };
  drainSeconds: number;
  memory: {
    /** Least squares over every post-warm-up sample. */
    rssMb: Fit;
    heapUsedMb: Fit;
    fds: Fit;
    journalBytes: Fit;
    /**
     * Least squares over the lowest sample of each window of `floorWindowS` (one outage period):
     * the heap after garbage collection and the descriptors between bursts of connections. A leak
     * raises the floor; the saw-tooth of the collector and the connections of an outage do not.
     */
    heapUsedFloorMb: Fit;
    fdsFloor: Fit;
    floorWindowS: number;
    peakRssMb: number;
    peakHeapUsedMb: number;
    peakFds: number;
  };
  loop: { p99Ms: number; p50Ms: number; maxMs: number; worstSampleP99Ms: number };
  outbox: { peakJournalBytes: number; peakJournalBytesFirstThird: number; peakJournalBytesLastThird: number; endJournalBytes: number; peakWaiting: number };
  nodeRedCpuSeconds: number;
  nodeRedLog: { errorLines: number; warnLines: number; samples: string[] };
  machine: { cpus: number; loadAverageStart: number; loadAverageEnd: number; node: string };
}

export interface SoakResult {
  options: Omit<SoakOptions, 'log'>;
  startedAt: string;
  endedAt: string;
  samples: SoakSample[];
  figures: SoakFigures;
  checks: SoakCheck[];
}

const TOKEN = 'Tk-soak-3f9a1c';
const IVR_NAME = 'soak';
/** The notify node's default maximum age (seconds): the flow leaves it at its default. */
const NOTIFY_MAX_AGE_SECONDS = 30;

function flows(crmUrl: string): FlowNode[] {
  const z = 'soak-tab';
  return [
    { id: z, type: 'tab', label: 'soak' },
    { id: 'crm', type: 'sangam-config', name: 'stand-in', domain: crmUrl, ivrName: IVR_NAME, timezone: 'UTC' },
    // Call logs: one record per request, as a PBX posts a call when it ends. Default node settings.
    ...callLogEndpoint(z, { url: '/calls', server: 'crm', prefix: 'calls-', catchOnlyLog: true }),
    // Pop-ups: one event per request, as a PBX posts a ringing call. Default node settings (maximum age 30 s).
    { id: 'popups-in', type: 'http in', z, url: '/popups', method: 'post', upload: false, swaggerDoc: '', wires: [['notify']] },
    { id: 'notify', type: 'sangam-notify', z, server: 'crm', wires: [['popups-ok']] },
    { id: 'popups-ok', type: 'http response', z, statusCode: '', headers: {}, wires: [] },
    { id: 'popups-catch', type: 'catch', z, scope: ['notify'], uncaught: false, wires: [['popups-failed']] },
    {
      id: 'popups-failed',
      type: 'function',
      z,
      func: "msg.statusCode = 502;\nmsg.payload = { error: msg.error && msg.error.message || '' };\nreturn msg;",
      outputs: 1,
      libs: [],
      wires: [['popups-error']],
    },
    { id: 'popups-error', type: 'http response', z, statusCode: '', headers: {}, wires: [] },
  ];
}

function journalBytes(userDir: string): number {
  const dir = join(userDir, 'sangam-outbox');
  let total = 0;
  try {
    for (const name of readdirSync(dir)) {
      if (name.endsWith('.lock')) continue;
      try {
        total += statSync(join(dir, name)).size;
      } catch {
        // Renamed away by a compaction between readdir and stat.
      }
    }
  } catch {
    // Not created yet.
  }
  return total;
}

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${url} answered ${response.status}`);
  return (await response.json()) as T;
}

const MB = 1024 * 1024;
const round = (value: number, digits = 1): number => Number(value.toFixed(digits));

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const { log } = options;
  const os = await import('node:os');
  const loadAverageStart = os.loadavg()[0]!;
  const crm = await SangamCrmStandIn.start({ token: TOKEN });
  const rates: CrmFaultRate[] = [
    { probability: options.http503Rate, fault: { kind: 'status', status: 503 } },
    { probability: options.dropRate / 2, fault: { kind: 'drop' } },
    { probability: options.dropRate / 2, fault: { kind: 'drop', afterStore: true } },
  ];
  crm.failRates(rates, seededRandom(options.seed));
  const probePath = join(__dirname, 'probe.js');
  const nodeOptions = `${process.env.NODE_OPTIONS ?? ''} --require ${probePath}`.trim();
  let nodeRed: NodeRedProcess | undefined;
  try {
    nodeRed = await NodeRedProcess.start({ env: { NODE_OPTIONS: nodeOptions } });
    const runtime = nodeRed;
    await runtime.waitUntil(() => runtime.lines.some((line) => line.includes('soak-probe listening on')), 30_000, 'the soak probe');
    const probeUrl = /soak-probe listening on (http:\/\/\S+)/.exec(runtime.lines.find((line) => line.includes('soak-probe listening on'))!)![1]!;
    await runtime.deploy(flows(crm.url), { crm: { token: TOKEN } });
    log(`Node-RED ${runtime.url}, probe ${probeUrl}, CRM stand-in ${crm.url}, seed ${options.seed}`);
    return await drive(options, crm, runtime, probeUrl, loadAverageStart);
  } finally {
    await nodeRed?.stop();
    await crm.close();
  }
}

async function drive(
  options: SoakOptions,
  crm: SangamCrmStandIn,
  nodeRed: NodeRedProcess,
  probeUrl: string,
  loadAverageStart: number,
): Promise<SoakResult> {
  const { log } = options;
  const os = await import('node:os');
  const startedAt = new Date();
  const t0 = Date.now();
  const nowS = (): number => (Date.now() - t0) / 1000;
  const durationMs = options.minutes * 60_000;
  const calls = new Map<string, CallOutcome>();
  const popups = new Map<string, PopupOutcome>();
  const inFlight = new Set<Promise<void>>();
  const outages: Array<{ fromS: number; toS: number }> = [];
  let crmDown = false;
  let stopped = false;

  const track = (promise: Promise<void>): void => {
    inFlight.add(promise);
    void promise.finally(() => inFlight.delete(promise));
  };

  const sendCall = (ref: string): void => {
    const outcome: CallOutcome = { sentAtMs: Date.now(), status: 0, answerMs: 0 };
    calls.set(ref, outcome);
    track(
      (async () => {
        try {
          const response = await fetch(`${nodeRed.url}/calls`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(faultRecord(ref)),
            signal: AbortSignal.timeout(120_000),
          });
          const body = await response.text();
          outcome.status = response.status;
          if (response.status !== 200 && response.status !== 202) outcome.body = body.slice(0, 300);
        } catch (error) {
          outcome.body = (error as Error).message;
        }
        outcome.answerMs = Date.now() - outcome.sentAtMs;
      })(),
    );
  };

  const sendPopup = (ref: string): void => {
    const outcome: PopupOutcome = { sentAtMs: Date.now(), status: 0, answerMs: 0 };
    popups.set(ref, outcome);
    // No time: the node stamps the event when it gets it. sent_ms (a custom field) says when the PBX sent it.
    const event = { cli: '9876501234', event: 'TC', uniqueid: ref, to: '2001', sent_ms: outcome.sentAtMs };
    track(
      (async () => {
        try {
          const response = await fetch(`${nodeRed.url}/popups`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(event),
            signal: AbortSignal.timeout(120_000),
          });
          const body = await response.text();
          outcome.status = response.status;
          if (response.status !== 200) outcome.error = body.slice(0, 300);
        } catch (error) {
          outcome.error = (error as Error).message;
        }
        outcome.answerMs = Date.now() - outcome.sentAtMs;
      })(),
    );
  };

  // Traffic: every 20 ms, send what is due by the clock (no drift, no bursts beyond a tick).
  const traffic = (async () => {
    let callsSent = 0;
    let popupsSent = 0;
    while (!stopped && Date.now() - t0 < durationMs) {
      const elapsedS = nowS();
      const callsDue = Math.floor(elapsedS * options.callsPerSecond);
      const popupsDue = Math.floor(elapsedS * options.popupsPerSecond);
      while (callsSent < callsDue) sendCall(`c-${callsSent++}`);
      while (popupsSent < popupsDue) sendPopup(`p-${popupsSent++}`);
      await sleep(20);
    }
  })();

  // Outages: down for outageSeconds every outageEverySeconds, starting one period in; none that would outlast the traffic.
  const outageLoop = (async () => {
    for (let k = 1; ; k++) {
      const fromMs = k * options.outageEverySeconds * 1000;
      if (fromMs + options.outageSeconds * 1000 > durationMs) return;
      while (!stopped && Date.now() - t0 < fromMs) await sleep(Math.min(250, fromMs - (Date.now() - t0)));
      if (stopped) return;
      const outage = { fromS: nowS(), toS: 0 };
      crmDown = true;
      await crm.goDown();
      log(`  ${outage.fromS.toFixed(0)} s: CRM down for ${options.outageSeconds} s`);
      const untilMs = fromMs + options.outageSeconds * 1000;
      while (Date.now() - t0 < untilMs) await sleep(Math.min(250, untilMs - (Date.now() - t0)));
      await crm.comeBack();
      crmDown = false;
      outage.toS = nowS();
      outages.push(outage);
    }
  })();

  // Sampling: inside Node-RED through the probe, the outbox through its admin route and the disk.
  const samples: SoakSample[] = [];
  let lastCpuS = 0;
  let totalReset = false;
  const takeSample = async (): Promise<void> => {
    const probe = await getJson<ProbeSample>(`${probeUrl}/sample`);
    const outbox = await getJson<{ entries: number; waiting: number }>(`${nodeRed.url}/sangam-config/crm/outbox`);
    samples.push({
      tS: round(nowS(), 2),
      rssMb: round(probe.rssBytes / MB, 2),
      heapUsedMb: round(probe.heapUsedBytes / MB, 2),
      heapTotalMb: round(probe.heapTotalBytes / MB, 2),
      fds: probe.fds,
      loopP99Ms: round(probe.loop.p99Ms, 2),
      loopMaxMs: round(probe.loop.maxMs, 2),
      cpuS: round(probe.cpuS - lastCpuS, 3),
      journalBytes: journalBytes(nodeRed.userDir),
      outboxEntries: outbox.entries,
      waiting: outbox.waiting,
      crmDown,
      callsSent: calls.size,
      popupsSent: popups.size,
    });
    lastCpuS = probe.cpuS;
    if (!totalReset && nowS() >= options.warmUpSeconds) {
      await getJson(`${probeUrl}/reset-total`, { method: 'POST' });
      totalReset = true;
    }
    // What the runtime and the stand-in keep for other tests, the soak does not need: keep the driver's memory flat.
    nodeRed.comms.length = 0;
    crm.requests.length = 0;
  };
  const sampler = (async () => {
    let nextMinute = 60;
    for (let k = 0; !stopped; k++) {
      const atMs = k * options.sampleSeconds * 1000;
      while (!stopped && Date.now() - t0 < atMs) await sleep(Math.min(250, atMs - (Date.now() - t0)));
      if (stopped) return;
      await takeSample();
      if (nowS() >= nextMinute) {
        const last = samples[samples.length - 1]!;
        log(
          `  ${(nextMinute / 60).toFixed(0)} min: calls ${calls.size}, pop-ups ${popups.size}, stored ${crm.callLogs.length}, ` +
            `RSS ${last.rssMb} MB, heap ${last.heapUsedMb} MB, fds ${last.fds}, loop p99 ${last.loopP99Ms} ms, ` +
            `journal ${(last.journalBytes / 1024).toFixed(0)} KB, waiting ${last.waiting}, in flight ${inFlight.size}`,
        );
        nextMinute += 60;
      }
    }
  })();

  await traffic;
  await outageLoop;
  await crm.comeBack();
  crmDown = false;
  // Every request answered (or timed out), then the outbox empty and every accepted record stored.
  const trafficEndS = nowS();
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  const acceptedRefs = [...calls].filter(([, outcome]) => outcome.status === 200 || outcome.status === 202).map(([ref]) => ref);
  let entries = -1;
  await waitFor(
    async () => {
      entries = (await getJson<{ entries: number }>(`${nodeRed.url}/sangam-config/crm/outbox`)).entries;
      if (entries !== 0) return false;
      const stored = new Set(crm.callLogs.map((entry) => entry.record.call_ref));
      return acceptedRefs.every((ref) => stored.has(ref));
    },
    600_000,
    () => `the outbox empty (has ${entries}) and the ${acceptedRefs.length} accepted records stored`,
    500,
  );
  const drainSeconds = nowS() - trafficEndS;
  stopped = true;
  await sampler;
  await takeSample();
  const endedAt = new Date();

  const figures = computeFigures(options, t0, crm, nodeRed, calls, popups, samples, outages, drainSeconds, loadAverageStart, os.loadavg()[0]!, os.cpus().length);
  figures.loop = await loopFigures(probeUrl, samples, options.warmUpSeconds);
  const { log: _log, ...plainOptions } = options;
  void _log;
  return { options: plainOptions, startedAt: startedAt.toISOString(), endedAt: endedAt.toISOString(), samples, figures, checks: judge(options, figures) };
}

async function loopFigures(probeUrl: string, samples: ReadonlyArray<SoakSample>, warmUpSeconds: number): Promise<SoakFigures['loop']> {
  const probe = await getJson<ProbeSample>(`${probeUrl}/sample`);
  const after = samples.filter((sample) => sample.tS >= warmUpSeconds);
  return {
    p99Ms: round(probe.loopTotal.p99Ms, 2),
    p50Ms: round(probe.loopTotal.p50Ms, 2),
    maxMs: round(probe.loopTotal.maxMs, 2),
    worstSampleP99Ms: Math.max(0, ...after.map((sample) => sample.loopP99Ms)),
  };
}

function inOutage(atMs: number, t0: number, outages: ReadonlyArray<{ fromS: number; toS: number }>, slackS: number): boolean {
  const tS = (atMs - t0) / 1000;
  return outages.some((outage) => tS >= outage.fromS - slackS && tS <= outage.toS + slackS);
}

function computeFigures(
  options: SoakOptions,
  /** When traffic started (epoch ms): the zero of the samples' and outages' times. */
  t0: number,
  crm: SangamCrmStandIn,
  nodeRed: NodeRedProcess,
  calls: ReadonlyMap<string, CallOutcome>,
  popups: ReadonlyMap<string, PopupOutcome>,
  samples: ReadonlyArray<SoakSample>,
  outages: ReadonlyArray<{ fromS: number; toS: number }>,
  drainSeconds: number,
  loadAverageStart: number,
  loadAverageEnd: number,
  cpus: number,
): SoakFigures {
  // Calls: what the CRM stored, per ref, and how many of those copies had their answer dropped.
  const copies = new Map<string, { count: number; answerLost: number }>();
  let unknown = 0;
  for (const entry of crm.callLogs) {
    const ref = entry.record.call_ref;
    if (typeof ref !== 'string' || !calls.has(ref)) {
      unknown++;
      continue;
    }
    const seen = copies.get(ref) ?? { count: 0, answerLost: 0 };
    seen.count++;
    if (entry.answerLost) seen.answerLost++;
    copies.set(ref, seen);
  }
  let duplicates = 0;
  let unexplained = 0;
  let answersLostRecords = 0;
  for (const seen of copies.values()) {
    duplicates += seen.count - 1;
    answersLostRecords += seen.answerLost;
    // Each extra copy needs a copy whose answer was lost (the node could not know it was stored).
    unexplained += Math.max(0, seen.count - 1 - seen.answerLost);
  }
  const outcomes = [...calls.values()];
  const accepted = [...calls].filter(([, outcome]) => outcome.status === 200 || outcome.status === 202);
  const other = [...calls].filter(([, outcome]) => outcome.status !== 200 && outcome.status !== 202);
  const answerTimes = outcomes.filter((outcome) => outcome.status !== 0).map((outcome) => outcome.answerMs);

  // Pop-ups: delivery time from the sender's clock to the CRM's; failures inside outages (2 s slack either side) apart.
  const storedPopups = new Map<string, number[]>();
  for (const entry of crm.notifies) {
    const ref = String(entry.event.uniqueid);
    const sentMs = Number(entry.event.sent_ms);
    const list = storedPopups.get(ref) ?? [];
    list.push(entry.receivedAt - sentMs);
    storedPopups.set(ref, list);
  }
  const deliveryTimes = [...storedPopups.values()].map((times) => Math.max(...times));
  const late = deliveryTimes.filter((ms) => ms > NOTIFY_MAX_AGE_SECONDS * 1000).length;
  const failed = [...popups].filter(([, outcome]) => outcome.status !== 200 && outcome.status !== 0);
  const failedIn = failed.filter(([, outcome]) => inOutage(outcome.sentAtMs, t0, outages, 2));
  const failedOut = failed.filter(([, outcome]) => !inOutage(outcome.sentAtMs, t0, outages, 2));
  let popupDuplicates = 0;
  for (const times of storedPopups.values()) popupDuplicates += times.length - 1;

  // Memory and descriptors after the warm-up.
  const after = samples.filter((sample) => sample.tS >= options.warmUpSeconds);
  const times = after.map((sample) => sample.tS);
  const fit = (values: number[]): Fit => {
    const result = linearFit(times, values);
    return { slopePerHour: round(result.slopePerHour, 2), start: round(result.start, 2), slopeErrorPerHour: round(result.slopeErrorPerHour, 2), samples: result.samples };
  };
  const floorWindowS = options.outageEverySeconds;
  const floorFit = (value: (sample: SoakSample) => number): Fit => {
    const floors: SoakSample[] = [];
    for (let from = options.warmUpSeconds; from + floorWindowS <= options.minutes * 60 + 1e-9; from += floorWindowS) {
      const window = after.filter((sample) => sample.tS >= from && sample.tS < from + floorWindowS);
      if (window.length > 0) floors.push(window.reduce((lowest, sample) => (value(sample) < value(lowest) ? sample : lowest)));
    }
    const result = linearFit(floors.map((sample) => sample.tS), floors.map(value));
    return { slopePerHour: round(result.slopePerHour, 2), start: round(result.start, 2), slopeErrorPerHour: round(result.slopeErrorPerHour, 2), samples: result.samples };
  };
  const third = (options.minutes * 60 - options.warmUpSeconds) / 3;
  const peak = (list: ReadonlyArray<SoakSample>): number => Math.max(0, ...list.map((sample) => sample.journalBytes));

  // Outbox drained between outages: some sample between an outage's end and the next one with no
  // more records in the journal than a second of live traffic (every record is journalled while it
  // is sent, so the journal is rarely empty at the instant of a sample while calls flow).
  let drained = 0;
  outages.forEach((outage, index) => {
    const until = outages[index + 1]?.fromS ?? Number.POSITIVE_INFINITY;
    const back = (sample: SoakSample): boolean => sample.outboxEntries <= options.callsPerSecond && sample.waiting === 0;
    if (samples.some((sample) => sample.tS > outage.toS && sample.tS < until && back(sample))) drained++;
  });

  const logLines = nodeRed.lines;
  const errorLines = logLines.filter((line) => /\[error\]/.test(line));
  const warnLines = logLines.filter((line) => /\[warn\]/.test(line));
  // Distinct messages (timestamps and counts stripped), so the report shows kinds, not a wall.
  const kinds = new Map<string, number>();
  for (const line of [...errorLines, ...warnLines]) {
    const kind = line.replace(/^\d+ \w+ [\d:]+ - /, '').replace(/\d+/g, 'N').slice(0, 200);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  const stats = crm.stats;
  return {
    calls: {
      sent: calls.size,
      answered200: outcomes.filter((outcome) => outcome.status === 200).length,
      answered202: outcomes.filter((outcome) => outcome.status === 202).length,
      otherAnswers: other.filter(([, outcome]) => outcome.status !== 0).length,
      unanswered: other.filter(([, outcome]) => outcome.status === 0).length,
      otherSamples: other.slice(0, 5).map(([ref, outcome]) => `${ref}: ${outcome.status} ${outcome.body ?? ''}`),
      accepted: accepted.length,
      storedDistinct: copies.size,
      storedCopies: crm.callLogs.length,
      lost: accepted.filter(([ref]) => !copies.has(ref)).length,
      unknown,
      duplicates,
      answersLostRecords,
      unexplainedDuplicates: unexplained,
      notAcceptedButStored: other.filter(([ref]) => copies.has(ref)).length,
      answerP50Ms: percentile(answerTimes, 50),
      answerP99Ms: percentile(answerTimes, 99),
      answerMaxMs: Math.max(0, ...answerTimes),
    },
    popups: {
      sent: popups.size,
      delivered: [...popups.values()].filter((outcome) => outcome.status === 200).length,
      late,
      deliveryP50Ms: percentile(deliveryTimes, 50),
      deliveryP99Ms: percentile(deliveryTimes, 99),
      deliveryMaxMs: Math.max(0, ...deliveryTimes),
      failedInOutage: failedIn.length,
      failedInOutageAnswerP99Ms: percentile(failedIn.map(([, outcome]) => outcome.answerMs), 99),
      failedInOutageAnswerMaxMs: Math.max(0, ...failedIn.map(([, outcome]) => outcome.answerMs)),
      failedOutsideOutage: failedOut.length,
      failedOutsideSamples: failedOut.slice(0, 5).map(([ref, outcome]) => `${ref}: ${outcome.status} ${outcome.error ?? ''}`),
      unanswered: [...popups.values()].filter((outcome) => outcome.status === 0).length,
      duplicates: popupDuplicates,
      maxAgeSeconds: NOTIFY_MAX_AGE_SECONDS,
    },
    crm: {
      requests: stats.requests,
      callLogRequests: stats.callLogRequests,
      notifyRequests: stats.notifyRequests,
      faulted: stats.faulted,
      rejected: stats.rejected,
      connections: stats.connections,
    },
    outages: [...outages],
    outboxDrainedCycles: { drained, cycles: outages.length },
    drainSeconds: round(drainSeconds),
    memory: {
      rssMb: fit(after.map((sample) => sample.rssMb)),
      heapUsedMb: fit(after.map((sample) => sample.heapUsedMb)),
      fds: fit(after.map((sample) => sample.fds)),
      journalBytes: fit(after.map((sample) => sample.journalBytes)),
      heapUsedFloorMb: floorFit((sample) => sample.heapUsedMb),
      fdsFloor: floorFit((sample) => sample.fds),
      floorWindowS,
      peakRssMb: Math.max(0, ...samples.map((sample) => sample.rssMb)),
      peakHeapUsedMb: Math.max(0, ...samples.map((sample) => sample.heapUsedMb)),
      peakFds: Math.max(0, ...samples.map((sample) => sample.fds)),
    },
    loop: { p99Ms: 0, p50Ms: 0, maxMs: 0, worstSampleP99Ms: 0 },
    outbox: {
      peakJournalBytes: peak(samples),
      peakJournalBytesFirstThird: peak(after.filter((sample) => sample.tS < options.warmUpSeconds + third)),
      peakJournalBytesLastThird: peak(after.filter((sample) => sample.tS >= options.warmUpSeconds + 2 * third)),
      endJournalBytes: samples[samples.length - 1]?.journalBytes ?? 0,
      peakWaiting: Math.max(0, ...samples.map((sample) => sample.waiting)),
    },
    nodeRedCpuSeconds: round(samples.reduce((sum, sample) => sum + sample.cpuS, 0)),
    nodeRedLog: {
      errorLines: errorLines.length,
      warnLines: warnLines.length,
      samples: [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([kind, count]) => `${count} x ${kind}`),
    },
    machine: { cpus, loadAverageStart: round(loadAverageStart, 2), loadAverageEnd: round(loadAverageEnd, 2), node: process.version },
  };
}

/** Thresholds: see the README's soak section for why each is what it is. */
export const LIMITS = {
  rssMbPerHour: 20,
  heapMbPerHour: 10,
  fdsPerHour: 10,
  loopP99Ms: 100,
};

export function judge(options: SoakOptions, figures: SoakFigures): SoakCheck[] {
  const { calls, popups, memory, loop, outbox } = figures;
  const slope = (fit: Fit, unit: string): string =>
    fit.samples < 3
      ? `n/a (${fit.samples} point${fit.samples === 1 ? '' : 's'}: too short a run to fit)`
      : `${fit.slopePerHour >= 0 ? '+' : ''}${fit.slopePerHour} ${unit}/h (± ${fit.slopeErrorPerHour})`;
  const flat = (fit: Fit, limit: number): boolean => fit.samples >= 3 && fit.slopePerHour < limit;
  return [
    {
      name: 'accepted call records stored',
      measured: `${calls.accepted - calls.lost} of ${calls.accepted} (200: ${calls.answered200}, 202 kept: ${calls.answered202}); lost ${calls.lost}`,
      target: 'all, lost 0',
      pass: calls.lost === 0 && calls.accepted > 0,
    },
    {
      name: 'call-log requests answered',
      measured: `${calls.sent - calls.otherAnswers - calls.unanswered} of ${calls.sent}; other answers ${calls.otherAnswers}, none ${calls.unanswered}`,
      target: 'all with 200 or 202',
      pass: calls.otherAnswers === 0 && calls.unanswered === 0,
    },
    {
      name: 'duplicates',
      measured: `${calls.duplicates} copies; records stored whose answer was dropped: ${calls.answersLostRecords}; unexplained ${calls.unexplainedDuplicates}`,
      target: 'only of records whose answer was lost',
      pass: calls.unexplainedDuplicates === 0 && calls.unknown === 0,
    },
    {
      name: 'pop-ups stored late',
      measured: `${popups.late} of ${popups.delivered} delivered (send to stored p50 ${popups.deliveryP50Ms} ms, p99 ${popups.deliveryP99Ms} ms, max ${popups.deliveryMaxMs} ms)`,
      target: `0 later than the maximum age (${popups.maxAgeSeconds} s)`,
      pass: popups.late === 0 && popups.delivered > 0,
    },
    {
      name: 'pop-ups failed during CRM outages',
      measured: `${popups.failedInOutage}, answered with the error after p99 ${popups.failedInOutageAnswerP99Ms} ms, max ${popups.failedInOutageAnswerMaxMs} ms`,
      target: `fail fast: within the maximum age (${popups.maxAgeSeconds} s)`,
      pass: popups.failedInOutageAnswerMaxMs < popups.maxAgeSeconds * 1000,
    },
    {
      name: 'pop-ups failed outside outages',
      measured: `${popups.failedOutsideOutage} of ${popups.sent}; unanswered ${popups.unanswered}`,
      target: 'at most 0.1% (three failed tries in a row), none unanswered',
      pass: popups.failedOutsideOutage <= Math.max(2, popups.sent * 0.001) && popups.unanswered === 0,
    },
    {
      name: 'RSS slope after warm-up',
      measured: `${slope(memory.rssMb, 'MB')} from ${memory.rssMb.start} MB; peak ${memory.peakRssMb} MB`,
      target: `< ${LIMITS.rssMbPerHour} MB/h`,
      pass: flat(memory.rssMb, LIMITS.rssMbPerHour),
      fullRunOnly: true,
    },
    {
      name: 'heap used slope after warm-up',
      measured:
        `floor (lowest of each ${memory.floorWindowS} s) ${slope(memory.heapUsedFloorMb, 'MB')} from ${memory.heapUsedFloorMb.start} MB; ` +
        `all samples ${slope(memory.heapUsedMb, 'MB')}; peak ${memory.peakHeapUsedMb} MB`,
      target: `floor < ${LIMITS.heapMbPerHour} MB/h`,
      pass: flat(memory.heapUsedFloorMb, LIMITS.heapMbPerHour),
      fullRunOnly: true,
    },
    {
      name: 'open file descriptors slope after warm-up',
      measured:
        `floor (lowest of each ${memory.floorWindowS} s) ${slope(memory.fdsFloor, 'fds')} from ${memory.fdsFloor.start}; ` +
        `all samples ${slope(memory.fds, 'fds')}; peak ${memory.peakFds} (connections held open during outages)`,
      target: `floor < ${LIMITS.fdsPerHour} /h`,
      pass: flat(memory.fdsFloor, LIMITS.fdsPerHour),
      fullRunOnly: true,
    },
    {
      name: 'event-loop delay after warm-up',
      measured: `p50 ${loop.p50Ms} ms, p99 ${loop.p99Ms} ms, max ${loop.maxMs} ms (worst ${options.sampleSeconds} s window p99 ${loop.worstSampleP99Ms} ms)`,
      target: `p99 < ${LIMITS.loopP99Ms} ms`,
      pass: loop.p99Ms < LIMITS.loopP99Ms,
      fullRunOnly: true,
    },
    {
      name: 'outbox drained after each outage',
      measured: `${figures.outboxDrainedCycles.drained} of ${figures.outboxDrainedCycles.cycles} outages; records waiting peak ${outbox.peakWaiting}; final drain ${figures.drainSeconds} s`,
      target: 'every outage: at most a second of calls in the journal, none waiting, before the next outage',
      pass: figures.outboxDrainedCycles.drained === figures.outboxDrainedCycles.cycles,
    },
    {
      name: 'outbox journal size on disk',
      measured:
        `peak ${(outbox.peakJournalBytes / 1024).toFixed(0)} KB (first third after warm-up ${(outbox.peakJournalBytesFirstThird / 1024).toFixed(0)} KB, ` +
        `last third ${(outbox.peakJournalBytesLastThird / 1024).toFixed(0)} KB), at the end ${(outbox.endJournalBytes / 1024).toFixed(0)} KB`,
      target: 'bounded: last third peak <= 1.5 x first third + 256 KB',
      pass: outbox.peakJournalBytesLastThird <= 1.5 * outbox.peakJournalBytesFirstThird + 256 * 1024,
      fullRunOnly: true,
    },
  ];
}

/** Writes `<dir>/<name>.json` (options, samples, figures, checks) and `<dir>/<name>.svg`; returns their paths. */
export function writeSoakFiles(result: SoakResult, dir: string, name: string): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${name}.json`);
  const svg = join(dir, `${name}.svg`);
  writeFileSync(json, `${JSON.stringify(result, null, 1)}\n`);
  const { options, figures } = result;
  const subtitle =
    `${options.minutes} min, ${options.callsPerSecond} call logs/s + ${options.popupsPerSecond} pop-ups/s through http in; CRM down ` +
    `${options.outageSeconds} s every ${options.outageEverySeconds} s, ${options.http503Rate * 100}% 503, ${options.dropRate * 100}% dropped connections. ` +
    `RSS ${figures.memory.rssMb.slopePerHour} MB/h, heap floor ${figures.memory.heapUsedFloorMb.slopePerHour} MB/h after warm-up.`;
  writeFileSync(
    svg,
    soakSvg(
      result.samples.map((sample) => ({
        tS: sample.tS,
        rssMb: sample.rssMb,
        heapUsedMb: sample.heapUsedMb,
        journalKb: sample.journalBytes / 1024,
        waiting: sample.waiting,
      })),
      figures.outages,
      options.warmUpSeconds,
      `Soak: sangam-call-log + sangam-notify in a real Node-RED against a flapping CRM (${result.startedAt.slice(0, 16).replace('T', ' ')} UTC)`,
      subtitle,
    ),
  );
  return { json, svg };
}
