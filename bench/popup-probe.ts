/**
 * Pop-ups from a process of their own (plain got, keep-alive), for the pop-up rows of the benchmark:
 * sent at the same rate while sangam-call-log drains a backlog, their latency is what the CRM
 * stand-in (one process, one event loop) and the loopback add, without the Node-RED runtime's event
 * loop. The parent forks this file, sends {start: ProbeOptions}, later {stop: true}; the probe
 * answers with {latencies, failed} once every pop-up sent is answered.
 */
import * as http from 'node:http';
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Got } from 'got' with { 'resolution-mode': 'import' };

export interface ProbeOptions {
  crmUrl: string;
  token: string;
  ivrName: string;
  ratePerSecond: number;
}

export interface ProbeResult {
  latencies: number[];
  failed: number;
}

type ProbeMessage = { start: ProbeOptions } | { stop: true };

function crmTime(): string {
  const shifted = new Date(Date.now() + 330 * 60_000).toISOString();
  return `${shifted.slice(0, 10)} ${shifted.slice(11, 19)}`;
}

async function runProbe(options: ProbeOptions, stopped: () => boolean): Promise<ProbeResult> {
  const { got } = (await import('got')) as { got: Got };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const api = got.extend({
    prefixUrl: options.crmUrl,
    headers: { authorization: options.token, 'content-type': 'application/json', accept: 'application/json' },
    agent: { http: agent },
    retry: { limit: 0 },
    throwHttpErrors: false,
  });
  const url = `api/v1/ivr-call-notify?ivr-name=${encodeURIComponent(options.ivrName)}`;
  const latencies: number[] = [];
  let failed = 0;
  let sent = 0;
  let answered = 0;
  const startedAt = performance.now();
  await new Promise<void>((resolve) => {
    let done = false;
    const finishIfDone = (): void => {
      if (done && answered === sent) resolve();
    };
    const post = (seq: number): void => {
      const sentAt = performance.now();
      const body = JSON.stringify({ cli: `98${String(30_000_000 + seq)}`, event: 'ringing', uniqueid: `1715318500.${seq}`, nm: 'agent@example.com', to: '7890100001', time: crmTime() });
      api.post(url, { body }).then(
        (response) => {
          if (response.statusCode === 200) latencies.push(performance.now() - sentAt);
          else failed++;
          answered++;
          finishIfDone();
        },
        () => {
          failed++;
          answered++;
          finishIfDone();
        },
      );
    };
    const tick = setInterval(() => {
      if (stopped()) {
        clearInterval(tick);
        done = true;
        finishIfDone();
        return;
      }
      const due = Math.floor(((performance.now() - startedAt) * options.ratePerSecond) / 1000) + 1;
      while (sent < due) post(sent++);
    }, 2);
  });
  agent.destroy();
  return { latencies, failed };
}

/** A probe in its own process: start() begins sending, stop() ends it and resolves with the latencies. */
export class PopupProbe {
  private constructor(private readonly child: ReturnType<typeof fork>) {}

  static start(options: ProbeOptions): PopupProbe {
    const child = fork(__filename, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    child.send({ start: options } satisfies ProbeMessage);
    return new PopupProbe(child);
  }

  stop(): Promise<ProbeResult> {
    return new Promise((resolve, reject) => {
      this.child.once('message', (message) => {
        resolve(message as ProbeResult);
        this.child.disconnect();
      });
      this.child.once('exit', (code) => reject(new Error(`pop-up probe exited with code ${String(code)} before answering`)));
      this.child.send({ stop: true } satisfies ProbeMessage);
    });
  }
}

if (require.main === module) {
  let stop = false;
  let result: Promise<ProbeResult> | undefined;
  process.on('message', (message: ProbeMessage) => {
    if ('start' in message) result = runProbe(message.start, () => stop);
    else {
      stop = true;
      void result?.then((value) => process.send?.(value));
    }
  });
  process.on('disconnect', () => process.exit(0));
}
