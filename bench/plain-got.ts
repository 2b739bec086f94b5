/**
 * The reference points outside Node-RED: a plain got client on a keep-alive agent.
 *   callLogBatches: records in batches of 100, a few POSTs in flight (the practical limit);
 *   notifySteady:   one POST per pop-up at a fixed rate (the latency to be "within 2 ms" of).
 */
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Got } from 'got' with { 'resolution-mode': 'import' };

let gotPromise: Promise<Got> | undefined;

/** got is ESM only: import() it once (module node16 keeps this a real import()). */
function loadGot(): Promise<Got> {
  gotPromise ??= import('got').then((mod) => mod.got);
  return gotPromise;
}

export interface GotTarget {
  crmUrl: string;
  token: string;
  ivrName: string;
}

export interface PlainGotResult {
  records: number;
  requests: number;
  failedRequests: number;
  elapsedMs: number;
  /** Per request (call log: per batch of 100), ms. */
  latencies: Float64Array;
}

function client(got: Got, target: GotTarget, agent: http.Agent): Got {
  return got.extend({
    prefixUrl: target.crmUrl,
    headers: { authorization: target.token, 'content-type': 'application/json', accept: 'application/json' },
    agent: { http: agent },
    retry: { limit: 0 },
    throwHttpErrors: false,
    timeout: { request: 10_000 },
  });
}

/** POSTs `records` in batches of `batchSize`, `concurrency` at a time, as fast as answers come. */
export async function callLogBatches(options: {
  target: GotTarget;
  records: ReadonlyArray<object>;
  batchSize: number;
  concurrency: number;
}): Promise<PlainGotResult> {
  const { target, records, batchSize, concurrency } = options;
  const got = await loadGot();
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const api = client(got, target, agent);
  const batches = Math.ceil(records.length / batchSize);
  const latencies = new Float64Array(batches);
  let next = 0;
  let failedRequests = 0;
  let stored = 0;
  const startedAt = performance.now();
  const worker = async (): Promise<void> => {
    while (next < batches) {
      const index = next++;
      const body = JSON.stringify(records.slice(index * batchSize, (index + 1) * batchSize));
      const sentAt = performance.now();
      const response = await api.post(`api/v1/ivr-call-log?ivr-name=${encodeURIComponent(target.ivrName)}`, { body });
      latencies[index] = performance.now() - sentAt;
      if (response.statusCode !== 200) {
        failedRequests++;
        continue;
      }
      // Read the answer as a user's client must: one result per record.
      const answer = JSON.parse(response.body) as { result?: unknown[] };
      stored += answer.result?.length ?? 0;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  const elapsedMs = performance.now() - startedAt;
  agent.destroy();
  return { records: stored, requests: batches, failedRequests, elapsedMs, latencies };
}

/** One POST per event at `ratePerSecond` for `durationMs`; latency per request. */
export async function notifySteady(options: {
  target: GotTarget;
  ratePerSecond: number;
  durationMs: number;
  makeEvent: (seq: number) => object;
}): Promise<PlainGotResult> {
  const { target, ratePerSecond, durationMs, makeEvent } = options;
  const got = await loadGot();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const api = client(got, target, agent);
  const total = Math.round((ratePerSecond * durationMs) / 1000);
  const latencies = new Float64Array(total);
  let sent = 0;
  let answered = 0;
  let failedRequests = 0;
  const startedAt = performance.now();
  const path = `api/v1/ivr-call-notify?ivr-name=${encodeURIComponent(target.ivrName)}`;
  await new Promise<void>((resolve) => {
    const post = (seq: number): void => {
      const sentAt = performance.now();
      api.post(path, { body: JSON.stringify(makeEvent(seq)) }).then(
        (response) => {
          latencies[seq] = performance.now() - sentAt;
          JSON.parse(response.body);
          if (response.statusCode !== 200) failedRequests++;
          if (++answered === total) resolve();
        },
        () => {
          failedRequests++;
          if (++answered === total) resolve();
        },
      );
    };
    // Same pacing as the Node-RED steady driver: a tick every 2 ms sends what is due.
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - startedAt) * ratePerSecond) / 1000) + 1);
      while (sent < due) post(sent++);
      if (sent >= total) clearInterval(tick);
    }, 2);
  });
  const elapsedMs = performance.now() - startedAt;
  agent.destroy();
  return { records: 0, requests: total, failedRequests, elapsedMs, latencies };
}
