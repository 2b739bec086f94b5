/**
 * A real mosquitto broker for tests: started on a free 127.0.0.1 port with a generated config
 * file (anonymous, no persistence), stopped and its files removed by stop().
 * Debian's mosquitto 2 lives in /usr/sbin, which is not on every user's PATH.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CANDIDATES = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto', '/opt/homebrew/sbin/mosquitto'];

/** The mosquitto executable, or undefined when none is installed. */
export function findMosquitto(): string | undefined {
  if (process.env.MOSQUITTO_BIN) return process.env.MOSQUITTO_BIN;
  const onPath = (process.env.PATH ?? '').split(':').map((dir) => join(dir, 'mosquitto'));
  return [...onPath, ...CANDIDATES].find((candidate) => existsSync(candidate));
}

/** A port that was free a moment ago (the caller must cope with losing a race for it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}

/** Resolves once a TCP connection to 127.0.0.1:port succeeds; rejects after timeoutMs or if `gaveUp()` says so. */
export async function waitForPort(port: number, timeoutMs: number, gaveUp: () => string | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problem = gaveUp();
    if (problem) throw new Error(problem);
    const connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    if (Date.now() > deadline) throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export class Mosquitto {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    private readonly output: string[],
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** What the broker logged (connections, subscriptions): useful in a failure message. */
  get log(): string {
    return this.output.join('');
  }

  static async start(): Promise<Mosquitto> {
    const executable = findMosquitto();
    if (!executable) throw new Error('mosquitto is not installed (apt-get install mosquitto, or set MOSQUITTO_BIN)');
    let lastError: Error | undefined;
    // A port picked as free can be taken before mosquitto binds it: try a few.
    for (let attempt = 0; attempt < 3; attempt++) {
      const dir = mkdtempSync(join(tmpdir(), 'mosquitto-'));
      const port = await freePort();
      const configFile = join(dir, 'mosquitto.conf');
      writeFileSync(
        configFile,
        [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stdout', 'log_type error', 'log_type warning', 'log_type notice', ''].join('\n'),
      );
      const output: string[] = [];
      const child = spawn(executable, ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.setEncoding('utf8').on('data', (text: string) => output.push(text));
      child.stderr?.setEncoding('utf8').on('data', (text: string) => output.push(text));
      let exited: string | undefined;
      child.once('exit', (code, signal) => (exited = `mosquitto exited (${code ?? signal}) before listening: ${output.join('').trim()}`));
      child.once('error', (error) => (exited = `mosquitto could not start: ${error.message}`));
      try {
        await waitForPort(port, 10_000, () => exited);
        return new Mosquitto(child, dir, port, output);
      } catch (error) {
        lastError = error as Error;
        child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    }
    throw lastError ?? new Error('mosquitto did not start');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
