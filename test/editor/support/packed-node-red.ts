/**
 * A real `node-red` process whose user dir got this package the way the palette manager installs
 * it: `npm pack` of the repository, then `npm install <tarball>` in the user dir. What the editor
 * tests see is exactly what a user gets from the registry (the "files" list, the manifest's
 * `node-red` section, the runtime dependency resolved by npm), not the working tree.
 *
 * test/support/node-red-process.ts always (re)installs the package by copy or symlink, so it
 * cannot start on a user dir that holds the packed install; this spawns red.js itself and reuses
 * its settings writer.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type FlowNode, PACKAGE_NAME, packageRoot, writeSettingsFile } from '../../support/node-red-process';

const run = promisify(execFile);

/** The node types the manifest declares: every one must load from the tarball. */
export const NODE_TYPES = ['sangam-config', 'sangam-call-log', 'sangam-notify', 'exotel-config', 'exotel-click2call'] as const;

export interface PackedInstall {
  /** A user dir template holding node_modules with the installed tarball (copied per start). */
  templateDir: string;
  tarball: string;
  packMs: number;
  installMs: number;
}

let packedInstall: Promise<PackedInstall> | undefined;

/**
 * Packs the repository once per test process and installs the tarball into a template user dir.
 * `--ignore-scripts`: the compiled nodes/*.js must already be there (test:editor builds first);
 * prepack's clean build would delete nodes/*.js under other test runs sharing the working tree.
 */
export function packAndInstall(): Promise<PackedInstall> {
  packedInstall ??= (async () => {
    const root = packageRoot();
    for (const type of NODE_TYPES) {
      if (!existsSync(join(root, 'nodes', `${type}.js`))) throw new Error(`nodes/${type}.js is missing: run npm run build first`);
    }
    const workDir = mkdtempSync(join(tmpdir(), 'nr-editor-pack-'));
    const packStarted = Date.now();
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', workDir], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
    const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    if (!packed) throw new Error(`npm pack printed no result: ${stdout}`);
    const packedPaths = new Set(packed.files.map((file) => file.path));
    const missing = NODE_TYPES.flatMap((type) => [`nodes/${type}.js`, `nodes/${type}.html`]).filter((path) => !packedPaths.has(path));
    if (missing.length > 0) throw new Error(`the tarball lacks ${missing.join(', ')} (a build raced the pack?)`);
    const packMs = Date.now() - packStarted;

    // The scoped name becomes sangamcrm-node-red-telephony-<version>.tgz.
    const tarball = join(workDir, packed.filename.replace(/^@/, '').replace('/', '-'));
    const templateDir = join(workDir, 'userdir');
    mkdirSync(templateDir);
    writeFileSync(join(templateDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true, version: '0.0.1' }, null, 2));
    const installStarted = Date.now();
    // As the palette manager runs it, plus --offline: the only runtime dependency (got) is in the npm cache.
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--no-update-notifier', '--save', '--omit=dev', tarball], {
      cwd: templateDir,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { templateDir, tarball, packMs, installMs: Date.now() - installStarted };
  })();
  return packedInstall;
}

export class PackedNodeRed {
  readonly lines: string[] = [];
  url = '';
  private exitInfo: string | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly userDir: string,
  ) {}

  /** Starts node-red on a fresh copy of the packed install; the user dir is removed by stop(). */
  static async start(settings: Record<string, unknown> = {}): Promise<PackedNodeRed> {
    const { templateDir } = await packAndInstall();
    const userDir = mkdtempSync(join(tmpdir(), 'nr-editor-userdir-'));
    cpSync(templateDir, userDir, { recursive: true, verbatimSymlinks: true });
    // Credentials are encrypted with a key of their own (written by writeSettingsFile); the editor
    // needs nothing else: no palette installs, no tours.
    const settingsFile = writeSettingsFile(userDir, settings);
    const redJs = require.resolve('node-red/red.js', { paths: [packageRoot()] });
    const child = spawn(process.execPath, [redJs, '--userDir', userDir, '--settings', settingsFile, '--port', '0'], {
      cwd: userDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const nodeRed = new PackedNodeRed(child, userDir);
    const onText = (text: string): void => {
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        nodeRed.lines.push(line);
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
      await nodeRed.waitUntil(() => nodeRed.url !== '', 60_000, 'Node-RED to listen');
      // "Started flows" comes after the nodes loaded: any load error is printed before it.
      await nodeRed.waitUntil(() => nodeRed.lines.some((line) => /Started flows|Flows file .* not found|Starting flows/.test(line)), 60_000, 'the flows to start');
    } catch (error) {
      await nodeRed.stop();
      throw error;
    }
    return nodeRed;
  }

  get output(): string {
    return this.lines.join('\n');
  }

  /** GET /flows as the admin API returns it (v1: a plain array). */
  async flowsText(): Promise<string> {
    const response = await fetch(`${this.url}/flows`, { headers: { 'Node-RED-API-Version': 'v1' } });
    if (!response.ok) throw new Error(`GET /flows answered ${response.status}`);
    return response.text();
  }

  async flows(): Promise<FlowNode[]> {
    return JSON.parse(await this.flowsText()) as FlowNode[];
  }

  /** A full deploy through the admin API (used to start each test from an empty workspace). */
  async deploy(flows: ReadonlyArray<FlowNode>): Promise<void> {
    const response = await fetch(`${this.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full', 'Node-RED-API-Version': 'v1' },
      body: JSON.stringify(flows),
    });
    if (!response.ok) throw new Error(`deploy answered ${response.status}: ${await response.text()}`);
  }

  /** What the editor gets for a node's credentials: text values, and has_<name> for passwords. */
  async credentials(type: string, id: string): Promise<Record<string, unknown>> {
    const response = await fetch(`${this.url}/credentials/${type}/${encodeURIComponent(id)}`);
    if (!response.ok) throw new Error(`GET /credentials/${type}/${id} answered ${response.status}`);
    return (await response.json()) as Record<string, unknown>;
  }

  /** The flow file as saved on disk. */
  flowFileText(): string {
    return readFileSync(join(this.userDir, 'flows.json'), 'utf8');
  }

  /** The installed package's manifest, read from the user dir (proves where the nodes came from). */
  installedManifest(): { name: string; version: string } {
    return JSON.parse(readFileSync(join(this.userDir, 'node_modules', ...PACKAGE_NAME.split('/'), 'package.json'), 'utf8')) as {
      name: string;
      version: string;
    };
  }

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
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGINT');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.userDir, { recursive: true, force: true });
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

let shared: Promise<PackedNodeRed> | undefined;

/** One Node-RED for every editor test file (each test starts from an empty deploy). */
export function sharedNodeRed(): Promise<PackedNodeRed> {
  shared ??= PackedNodeRed.start();
  return shared;
}

/** Stops the shared Node-RED and removes the packed tarball's work dir (root after-all hook). */
export async function stopSharedNodeRed(): Promise<void> {
  const running = shared;
  shared = undefined;
  if (running) await (await running.catch(() => undefined))?.stop();
  const packed = packedInstall;
  packedInstall = undefined;
  const install = packed ? await packed.catch(() => undefined) : undefined;
  if (install) rmSync(join(install.templateDir, '..'), { recursive: true, force: true });
}
