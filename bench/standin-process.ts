/**
 * The SangamCRM stand-in in its own process, and a small client for its /__control API.
 * Own process so that the CRM's CPU and memory never count against the Node-RED runtime measured here,
 * and so that the two use the machine's two cores the way a real deployment would.
 */
import { ChildProcess, fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { SangamCrmStats } from '../dev/standins/sangam-crm';

/** What GET /__control/stats answers (the fields the benchmark reads): the stand-in's counters and its current latency. */
export type CrmCounters = SangamCrmStats & { latencyMs: number };

export interface StandInProcessOptions {
  token: string;
  latencyMs?: number;
  /** How long to wait for the "listening on" line. */
  startTimeoutMs?: number;
}

/** Linux reports process times in clock ticks; USER_HZ is 100 on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

export class StandInProcess {
  /** Connections the control client itself opened since the last reset (they are not the node's). */
  private controlConnectionsSinceReset = 0;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly pid: number,
  ) {}

  static async start(options: StandInProcessOptions): Promise<StandInProcess> {
    // Compiled next to this file: <out>/bench/standin-process.js -> <out>/dev/standins/sangam-crm-cli.js
    const cli = path.join(__dirname, '..', 'dev', 'standins', 'sangam-crm-cli.js');
    if (!fs.existsSync(cli)) throw new Error(`stand-in not built: ${cli} is missing (run tsc -p tsconfig.test.json)`);
    const args = ['--token', options.token, '--port', '0', '--host', '127.0.0.1', '--fast'];
    if (options.latencyMs !== undefined) args.push('--latency', String(options.latencyMs));
    const child = fork(cli, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] });
    const url = await new Promise<string>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`stand-in did not start within ${options.startTimeoutMs ?? 10_000} ms: ${output}`));
      }, options.startTimeoutMs ?? 10_000);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        const match = /listening on (http:\/\/[^\s]+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          resolve(match[1]!);
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`stand-in exited with code ${String(code)} before listening: ${output}`));
      });
    });
    // Keep draining its output so a full pipe can never block it.
    child.stdout?.resume();
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`[stand-in] ${chunk.toString('utf8')}`));
    return new StandInProcess(child, url, child.pid ?? 0);
  }

  async reset(): Promise<void> {
    await this.control('POST', '/reset');
    // The reset's own connection was accepted before the counters were cleared.
    this.controlConnectionsSinceReset = 0;
  }

  async setLatency(ms: number): Promise<void> {
    await this.control('POST', '/latency', { ms });
  }

  /** Stops listening for `ms`, destroying open connections; it comes back by itself. */
  async goDown(ms: number): Promise<void> {
    await this.control('POST', '/down', { ms });
  }

  /** Counters with the control client's own connections taken out. */
  async stats(): Promise<CrmCounters> {
    const counters = (await this.control('GET', '/stats')) as CrmCounters;
    return { ...counters, connections: Math.max(0, counters.connections - this.controlConnectionsSinceReset) };
  }

  /** Like stats(), but undefined while the stand-in is down (connection refused). */
  async statsIfUp(): Promise<CrmCounters | undefined> {
    try {
      return await this.stats();
    } catch {
      return undefined;
    }
  }

  /** CPU seconds (user + system) the stand-in process has used so far, from /proc. */
  cpuSeconds(): number | undefined {
    try {
      const stat = fs.readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    } catch {
      return undefined;
    }
  }

  /** Resident set size of the stand-in process (MB), from /proc. */
  rssMb(): number | undefined {
    try {
      const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const match = /VmRSS:\s+(\d+) kB/.exec(status);
      return match ? Number(match[1]) / 1024 : undefined;
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        resolve();
      }, 5_000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.kill('SIGTERM');
    });
  }

  /** One control request on a fresh connection (agent: false), so the counting above stays exact. */
  private control(method: 'GET' | 'POST', route: string, body?: Record<string, unknown>): Promise<unknown> {
    const text = body === undefined ? '' : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const request = http.request(
        `${this.url}/__control${route}`,
        {
          method,
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) },
          timeout: 10_000,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const answer = Buffer.concat(chunks).toString('utf8');
            if (response.statusCode !== 200) {
              reject(new Error(`stand-in control ${method} ${route} answered ${String(response.statusCode)}: ${answer}`));
              return;
            }
            try {
              resolve(JSON.parse(answer) as unknown);
            } catch {
              reject(new Error(`stand-in control ${method} ${route} answered no JSON: ${answer.slice(0, 100)}`));
            }
          });
          response.on('error', reject);
        },
      );
      // Count only connections the stand-in accepted (a refused one while it is down is not counted there).
      request.on('socket', (socket) => socket.once('connect', () => this.controlConnectionsSinceReset++));
      request.on('timeout', () => request.destroy(new Error(`stand-in control ${method} ${route} timed out`)));
      request.on('error', reject);
      request.end(text);
    });
  }
}
