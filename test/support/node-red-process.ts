/**
 * A real `node-red` process (the devDependency's red.js) with a user dir of its own, a settings
 * file and this package installed into `<userDir>/node_modules/@sangamcrm/node-red-telephony`,
 * the way a user's Node-RED sees it after `npm install`. Flows are deployed through the admin
 * API exactly as the editor deploys them (credentials inline on the nodes, stored encrypted by
 * the runtime), and the editor's websocket (/comms) is read for debug output, node status and
 * deploy notifications.
 *
 * The node-red-node-test-helper runs one runtime per test process; this runs any number.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { freePort } from './mosquitto';

export const PACKAGE_NAME = '@sangamcrm/node-red-telephony';

export type FlowNode = Record<string, unknown> & { id: string; type: string };
export type NodeCredentials = Record<string, Record<string, string>>;

/** One message Node-RED sent its editors over /comms. */
export interface CommsMessage {
  topic: string;
  data: unknown;
}

/** What a debug node publishes (data of a `debug` comms message). */
export interface DebugMessage {
  id: string;
  z?: string;
  name?: string;
  /** The value shown in the sidebar: JSON text for objects, else as formatted. */
  msg: string;
  format: string;
  property?: string;
}

export interface NodeRedProcessOptions {
  /**
   * Environment added to this process's own (e.g. SANGAM_DOMAIN for `${SANGAM_DOMAIN}` properties).
   * A function gets the port Node-RED will listen on (chosen free beforehand), for values that
   * name Node-RED's own URL such as a status callback.
   */
  env?: Record<string, string> | ((port: number) => Record<string, string>);
  /** 'copy' (default) snapshots nodes/, examples/ and package.json, so a rebuild elsewhere cannot
   * change the package under a running test; 'symlink' links the repository (live edits). */
  install?: 'copy' | 'symlink' | 'none';
  /** Use this user dir (kept on stop) instead of a fresh temporary one (removed on stop). */
  userDir?: string;
  /** Whether stop() (or a failed start) removes the user dir; default: only a temporary one start() made. */
  removeUserDir?: boolean;
  /** Extra settings merged over the defaults (JSON values only). */
  settings?: Record<string, unknown>;
  /** Default 0: a free port, read back from Node-RED's "Server now running at" line (with a function `env`: picked beforehand). */
  port?: number;
  /** Receives every output line as it comes (e.g. to echo it in the demo). */
  onLine?: (line: string) => void;
  /** How long to wait for the editor to answer (default 60 s: a loaded machine is slow). */
  startTimeoutMs?: number;
}

/** The repository root: the nearest directory up from here whose package.json names this package. */
export function packageRoot(from: string = __dirname): string {
  let dir = resolve(from);
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${from}`);
    dir = up;
  }
}

/**
 * Installs this package into `<userDir>/node_modules` by symlink or by copy. A copy gets a
 * `node_modules` link back to the repository's, so that its runtime dependency (got) resolves.
 */
export function installPackage(userDir: string, mode: 'copy' | 'symlink', root: string = packageRoot()): string {
  if (!existsSync(join(root, 'nodes', 'sangam-config.js'))) {
    throw new Error(`${root}/nodes/*.js are missing: compile first (npx tsc -p tsconfig.json)`);
  }
  const target = join(userDir, 'node_modules', ...PACKAGE_NAME.split('/'));
  rmSync(target, { recursive: true, force: true });
  mkdirSync(dirname(target), { recursive: true });
  if (mode === 'symlink') {
    symlinkSync(root, target, 'dir');
  } else {
    mkdirSync(target);
    cpSync(join(root, 'package.json'), join(target, 'package.json'));
    cpSync(join(root, 'nodes'), join(target, 'nodes'), { recursive: true, filter: (source) => !source.endsWith('.map') });
    if (existsSync(join(root, 'examples'))) cpSync(join(root, 'examples'), join(target, 'examples'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(target, 'node_modules'), 'dir');
  }
  return target;
}

/** Node-RED settings as a CommonJS module: offline, no palette installs, no telemetry prompt. */
export function writeSettingsFile(userDir: string, extra: Record<string, unknown> = {}): string {
  const settings: Record<string, unknown> = {
    uiHost: '127.0.0.1',
    flowFile: 'flows.json',
    // The credentials file is encrypted with this key; a throwaway dir gets a throwaway key.
    credentialSecret: randomBytes(16).toString('hex'),
    telemetry: { enabled: false, updateNotification: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    logging: { console: { level: 'info', metrics: false, audit: false } },
    editorTheme: { tours: false, projects: { enabled: false } },
    ...extra,
  };
  const file = join(userDir, 'settings.js');
  writeFileSync(file, `// Written by test/support/node-red-process.ts\nmodule.exports = ${JSON.stringify(settings, null, 2)};\n`);
  return file;
}

/** Puts each node's credentials on it, as the editor sends them in a deploy. */
export function withCredentials(flows: ReadonlyArray<FlowNode>, credentials: NodeCredentials = {}): FlowNode[] {
  const unknownIds = Object.keys(credentials).filter((id) => !flows.some((node) => node.id === id));
  if (unknownIds.length > 0) throw new Error(`credentials for nodes not in the flows: ${unknownIds.join(', ')}`);
  return flows.map((node) => (credentials[node.id] ? { ...node, credentials: { ...credentials[node.id] } } : { ...node }));
}

export class NodeRedProcess {
  /** Everything the process printed so far. */
  readonly lines: string[] = [];
  /** Every comms message since start (debug output, status, notifications). */
  readonly comms: CommsMessage[] = [];
  private socket: WebSocket | undefined;
  private readonly listeners = new Set<() => void>();
  private exitInfo: string | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly userDir: string,
    /** Whether stop() removes the user dir (set once start() succeeded with a temporary one). */
    private ownsUserDir: boolean,
  ) {}

  /** Set once Node-RED said where it listens. */
  url = '';

  static async start(options: NodeRedProcessOptions = {}): Promise<NodeRedProcess> {
    const root = packageRoot();
    const ownsUserDir = options.removeUserDir ?? options.userDir === undefined;
    const userDir = options.userDir ?? mkdtempSync(join(tmpdir(), 'node-red-'));
    mkdirSync(userDir, { recursive: true });
    try {
      // 'none': the caller installed the package already (from the packed tarball, say).
      if (options.install !== 'none') installPackage(userDir, options.install ?? 'copy', root);
      const settingsFile = writeSettingsFile(userDir, options.settings);
      const { env } = options;
      if (typeof env !== 'function') {
        const nodeRed = await NodeRedProcess.spawnOnce(options, root, userDir, settingsFile, options.port ?? 0, env ?? {});
        nodeRed.ownsUserDir = ownsUserDir;
        return nodeRed;
      }
      // The port must be known before the process starts: pick a free one; another process may win the race, so retry.
      let lastError: Error | undefined;
      for (let attempt = 0; attempt < 3; attempt++) {
        const port = options.port ?? (await freePort());
        try {
          const nodeRed = await NodeRedProcess.spawnOnce(options, root, userDir, settingsFile, port, env(port));
          nodeRed.ownsUserDir = ownsUserDir;
          return nodeRed;
        } catch (error) {
          lastError = error as Error;
          if (!/port-in-use|EADDRINUSE|already in use/i.test(lastError.message)) break;
        }
      }
      throw lastError ?? new Error('node-red did not start');
    } catch (error) {
      if (ownsUserDir) rmSync(userDir, { recursive: true, force: true });
      throw error;
    }
  }

  private static async spawnOnce(
    options: NodeRedProcessOptions,
    root: string,
    userDir: string,
    settingsFile: string,
    port: number,
    env: Record<string, string>,
  ): Promise<NodeRedProcess> {
    const redJs = require.resolve('node-red/red.js', { paths: [root] });
    const child = spawn(process.execPath, [redJs, '--userDir', userDir, '--settings', settingsFile, '--port', String(port)], {
      cwd: userDir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const nodeRed = new NodeRedProcess(child, userDir, false);
    const onText = (text: string): void => {
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        nodeRed.lines.push(line);
        options.onLine?.(line);
        const running = /Server now running at (http:\/\/[^\s/]+)/.exec(line);
        if (running) nodeRed.url = running[1]!;
      }
      nodeRed.notify();
    };
    child.stdout?.setEncoding('utf8').on('data', onText);
    child.stderr?.setEncoding('utf8').on('data', onText);
    child.once('exit', (code, signal) => {
      nodeRed.exitInfo = `node-red exited (${code ?? signal})`;
      nodeRed.notify();
    });
    try {
      await nodeRed.waitUntil(() => nodeRed.url !== '', options.startTimeoutMs ?? 60_000, 'Node-RED to listen');
      await nodeRed.connectComms();
    } catch (error) {
      await nodeRed.stop();
      throw error;
    }
    return nodeRed;
  }

  /** The node-red process's id (to read /proc/<pid>/status, say); undefined once it could not be spawned. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get output(): string {
    return this.lines.join('\n');
  }

  /** Deploys (full unless told: 'nodes' restarts only the changed nodes, as the editor's Modified Nodes) and resolves once the runtime has started the new flows. */
  async deploy(flows: ReadonlyArray<FlowNode>, credentials: NodeCredentials = {}, type: 'full' | 'flows' | 'nodes' = 'full'): Promise<void> {
    // The same flows deployed again get the same revision: only a notification after this deploy counts.
    const before = new Set(this.comms);
    const response = await fetch(`${this.url}/flows`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'Node-RED-API-Version': 'v2',
        'Node-RED-Deployment-Type': type,
      },
      body: JSON.stringify({ flows: withCredentials(flows, credentials) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`deploy answered ${response.status}: ${text}`);
    const { rev } = JSON.parse(text) as { rev: string };
    // The admin API answers before the flows have started; the runtime announces when they have.
    await this.waitForComms(
      (message) => message.topic === 'notification/runtime-deploy' && (message.data as { revision?: string }).revision === rev && !before.has(message),
      30_000,
      `the deploy of revision ${rev} to start`,
    );
  }

  /** GET /flows as the admin API answers it (v1: a plain array; credentials are never in it). */
  async flowsText(): Promise<string> {
    const response = await fetch(`${this.url}/flows`, { headers: { 'Node-RED-API-Version': 'v1' } });
    if (!response.ok) throw new Error(`GET /flows answered ${response.status}`);
    return response.text();
  }

  /** The flows as the runtime stores them (GET /flows: credentials are never in it). */
  async flows(): Promise<FlowNode[]> {
    return JSON.parse(await this.flowsText()) as FlowNode[];
  }

  /** What the editor gets for a node's credentials: text values, and has_<name> for passwords. */
  async credentials(type: string, id: string): Promise<Record<string, unknown>> {
    const response = await fetch(`${this.url}/credentials/${type}/${encodeURIComponent(id)}`);
    if (!response.ok) throw new Error(`GET /credentials/${type}/${id} answered ${response.status}`);
    return (await response.json()) as Record<string, unknown>;
  }

  /** The flow file (flows.json) as saved on disk. */
  flowFileText(): string {
    return readFileSync(join(this.userDir, 'flows.json'), 'utf8');
  }

  /** The installed package's manifest, read from the user dir (shows where the nodes came from). */
  installedManifest(): { name: string; version: string } {
    return JSON.parse(readFileSync(join(this.userDir, 'node_modules', ...PACKAGE_NAME.split('/'), 'package.json'), 'utf8')) as {
      name: string;
      version: string;
    };
  }

  /** Debug sidebar messages so far (optionally only those of one debug node). */
  debugMessages(debugNodeId?: string): DebugMessage[] {
    return this.comms
      .filter((message) => message.topic === 'debug')
      .map((message) => message.data as DebugMessage)
      .filter((data) => debugNodeId === undefined || data.id === debugNodeId);
  }

  /** Resolves with the first comms message (already received or coming) that matches. */
  async waitForComms(match: (message: CommsMessage) => boolean, timeoutMs: number, what: string): Promise<CommsMessage> {
    let found: CommsMessage | undefined;
    await this.waitUntil(() => (found = this.comms.find(match)) !== undefined, timeoutMs, what);
    return found!;
  }

  /** Resolves once `count` debug messages of `debugNodeId` have arrived. */
  async waitForDebug(debugNodeId: string, count: number, timeoutMs = 30_000): Promise<DebugMessage[]> {
    await this.waitUntil(() => this.debugMessages(debugNodeId).length >= count, timeoutMs, `${count} debug message(s) from ${debugNodeId}`);
    return this.debugMessages(debugNodeId);
  }

  /** Waits for a condition re-checked on every output line or comms message; fails early if the process dies. */
  waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (condition()) {
          finish();
          resolve();
        } else if (this.exitInfo) {
          finish();
          reject(new Error(`${this.exitInfo} while waiting for ${what}:\n${this.output.slice(-3000)}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`waited ${timeoutMs} ms for ${what}; node-red said:\n${this.output.slice(-3000)}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Kills the process as a crash or a power cut would (no close handlers run) and waits for it. */
  async crash(): Promise<void> {
    this.socket?.removeAllListeners();
    this.socket?.terminate();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await exited;
  }

  /** Stops Node-RED as Ctrl-C does (flows closed, outbox flushed), SIGKILL after 20 s; removes the user dir if it is to (see removeUserDir). */
  async stop(): Promise<void> {
    this.socket?.removeAllListeners();
    this.socket?.terminate();
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGINT');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    if (this.ownsUserDir) rmSync(this.userDir, { recursive: true, force: true });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private connectComms(): Promise<void> {
    const socket = new WebSocket(`${this.url.replace(/^http/, 'ws')}/comms`);
    this.socket = socket;
    socket.on('message', (data) => {
      const batch = JSON.parse(String(data)) as CommsMessage[] | { auth?: string };
      if (Array.isArray(batch)) this.comms.push(...batch);
      this.notify();
    });
    return new Promise((resolve, reject) => {
      socket.once('open', () => {
        // Every client gets every topic anyway; a subscribe also replays retained messages (node statuses).
        socket.send(JSON.stringify({ subscribe: 'status/#' }));
        resolve();
      });
      socket.once('error', reject);
    });
  }
}
