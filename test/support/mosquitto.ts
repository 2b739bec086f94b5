/**
 * A real mosquitto broker for tests: started on a free 127.0.0.1 port with a generated config
 * file (anonymous, no persistence), stopped and its files removed by stop().
 * Debian's mosquitto 2 lives in /usr/sbin, which is not on every user's PATH.
 *
 * mosquitto is a program npm cannot install. Only what needs MQTT 5 shared subscriptions uses it
 * (aedes, which `npm ci` brings, has neither MQTT 5 nor `$share/`): such a suite calls
 * startMosquittoOrSkip() in its before hook, which skips the suite, loudly, where mosquitto is
 * missing. Environment:
 *   MOSQUITTO_BIN=/path/to/mosquitto  use that executable
 *   MOSQUITTO_BIN=none                act as on a machine without mosquitto (CI's bare-machine step)
 *   MOSQUITTO_REQUIRED=1              a missing mosquitto fails the suite instead of skipping it
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CANDIDATES = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto', '/opt/homebrew/sbin/mosquitto'];

/** How to get mosquitto, for the skip line and the error. */
export const MOSQUITTO_HOWTO = 'apt-get install mosquitto, or set MOSQUITTO_BIN=/path/to/mosquitto';

/** The mosquitto executable, or undefined when none is installed (or MOSQUITTO_BIN=none). */
export function findMosquitto(): string | undefined {
  const configured = process.env.MOSQUITTO_BIN;
  if (configured === 'none') return undefined;
  if (configured) return configured;
  const onPath = (process.env.PATH ?? '').split(':').filter((dir) => dir !== '').map((dir) => join(dir, 'mosquitto'));
  return [...onPath, ...CANDIDATES].find((candidate) => existsSync(candidate));
}

/**
 * For a suite's before hook: a started mosquitto, or, where none is installed, the suite skipped
 * (its tests show as pending in mocha's summary) with a SKIPPED line in the test output that says
 * what was not run and how to run it. With MOSQUITTO_REQUIRED=1 a missing mosquitto fails instead.
 */
export async function startMosquittoOrSkip(context: Mocha.Context, what: string): Promise<Mosquitto> {
  if (!findMosquitto()) {
    const why = process.env.MOSQUITTO_BIN === 'none' ? 'MOSQUITTO_BIN=none' : 'mosquitto is not installed';
    if (process.env.MOSQUITTO_REQUIRED === '1') throw new Error(`${what} needs mosquitto and MOSQUITTO_REQUIRED=1, but ${why} (${MOSQUITTO_HOWTO})`);
    const line = `SKIPPED: ${what} needs mosquitto, an MQTT 5 broker (${why}): ${MOSQUITTO_HOWTO}, then run npm test again`;
    console.log(`\n${'!'.repeat(100)}\n${line}\n${'!'.repeat(100)}\n`);
    context.skip();
  }
  return Mosquitto.start();
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
    if (!executable) throw new Error(`mosquitto is not installed (${MOSQUITTO_HOWTO})`);
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
