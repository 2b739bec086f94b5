/**
 * Loaded into the soak's Node-RED process with `node --require` (NODE_OPTIONS), so that what it
 * measures is measured inside that process: memory, open file descriptors and event-loop delay
 * (perf_hooks.monitorEventLoopDelay). It answers on a port of its own on 127.0.0.1, which it
 * prints as `soak-probe listening on http://127.0.0.1:<port>`:
 *   GET /sample  the figures now; the event-loop delay since the previous /sample
 *   POST /reset-total  starts the whole-run delay histogram afresh (at the end of the warm-up)
 * It touches nothing of Node-RED; its server is unref'd so it never holds the process open.
 */
import * as http from 'node:http';
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface ProbeSample {
  /** process.uptime() in seconds. */
  uptimeS: number;
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  /** Entries of /proc/self/fd, less the one readdir itself opens. */
  fds: number;
  /** Event-loop delay since the previous sample, in ms. */
  loop: LoopDelay;
  /** Event-loop delay since the start or the last /reset-total, in ms. */
  loopTotal: LoopDelay;
  /** CPU time used since the start, in seconds (user + system). */
  cpuS: number;
}

export interface LoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  count: number;
}

function delayOf(histogram: IntervalHistogram): LoopDelay {
  const ms = (ns: number): number => (Number.isFinite(ns) ? ns / 1e6 : 0);
  return {
    p50Ms: ms(histogram.percentile(50)),
    p99Ms: ms(histogram.percentile(99)),
    maxMs: ms(histogram.max),
    meanMs: ms(histogram.mean),
    count: histogram.count,
  };
}

function countFds(): number {
  try {
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return -1; // not Linux
  }
}

function start(): void {
  const interval = monitorEventLoopDelay({ resolution: 10 });
  const total = monitorEventLoopDelay({ resolution: 10 });
  interval.enable();
  total.enable();
  const server = http.createServer((req, res) => {
    const answer = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/sample') {
      const memory = process.memoryUsage();
      const cpu = process.cpuUsage();
      const sample: ProbeSample = {
        uptimeS: process.uptime(),
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        heapTotalBytes: memory.heapTotal,
        externalBytes: memory.external,
        fds: countFds(),
        loop: delayOf(interval),
        loopTotal: delayOf(total),
        cpuS: (cpu.user + cpu.system) / 1e6,
      };
      interval.reset();
      answer(200, sample);
    } else if (req.method === 'POST' && req.url === '/reset-total') {
      total.reset();
      answer(200, { ok: true });
    } else {
      answer(404, { error: 'GET /sample or POST /reset-total' });
    }
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address !== null && typeof address === 'object') console.log(`soak-probe listening on http://127.0.0.1:${address.port}`);
  });
  server.unref();
}

start();
