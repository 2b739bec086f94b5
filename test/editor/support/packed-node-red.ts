/**
 * A real `node-red` process whose user dir got this package the way the palette manager installs
 * it: `npm pack` of the repository, then `npm install <tarball>` in the user dir. What the editor
 * tests see is exactly what a user gets from the registry (the "files" list, the manifest's
 * `node-red` section, the runtime dependency resolved by npm), not the working tree.
 *
 * The process itself is a NodeRedProcess (test/support/node-red-process.ts) started with
 * `install: 'none'` on a copy of the packed install.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NodeRedProcess, packageRoot } from '../../support/node-red-process';

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
    const missing = [...NODE_TYPES.flatMap((type) => [`nodes/${type}.js`, `nodes/${type}.html`]), 'resources/validators.js'].filter((path) => !packedPaths.has(path));
    if (missing.length > 0) throw new Error(`the tarball lacks ${missing.join(', ')} (a build raced the pack?)`);
    const packMs = Date.now() - packStarted;

    // The scoped name becomes sangamcrm-node-red-telephony-<version>.tgz.
    const tarball = join(workDir, packed.filename.replace(/^@/, '').replace('/', '-'));
    const templateDir = join(workDir, 'userdir');
    mkdirSync(templateDir);
    writeFileSync(join(templateDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true, version: '0.0.1' }, null, 2));
    const installStarted = Date.now();
    // As the palette manager runs it, plus --prefer-offline: got and its dependencies come from the npm cache when it has them.
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-update-notifier', '--save', '--omit=dev', tarball], {
      cwd: templateDir,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { templateDir, tarball, packMs, installMs: Date.now() - installStarted };
  })();
  return packedInstall;
}

/** Node-RED running on the packed install (what the editor tests drive). */
export type PackedNodeRed = NodeRedProcess;

/**
 * Starts node-red on a fresh copy of the packed install (removed by stop()) and waits until the
 * flows have started: the nodes have loaded, and any load error is in its output.
 */
export async function startPackedNodeRed(settings: Record<string, unknown> = {}): Promise<PackedNodeRed> {
  const { templateDir } = await packAndInstall();
  const userDir = mkdtempSync(join(tmpdir(), 'nr-editor-userdir-'));
  cpSync(templateDir, userDir, { recursive: true, verbatimSymlinks: true });
  // NodeRedProcess writes the settings: credentials encrypted with a key of their own, no palette
  // installs, no tours; the editor needs nothing else.
  const nodeRed = await NodeRedProcess.start({ userDir, install: 'none', removeUserDir: true, settings });
  try {
    // "Started flows" comes after the nodes loaded: any load error is printed before it.
    await nodeRed.waitUntil(() => nodeRed.lines.some((line) => /Started flows|Flows file .* not found|Starting flows/.test(line)), 60_000, 'the flows to start');
  } catch (error) {
    await nodeRed.stop();
    throw error;
  }
  return nodeRed;
}

let shared: Promise<PackedNodeRed> | undefined;

/** One Node-RED for every editor test file (each test starts from an empty deploy). */
export function sharedNodeRed(): Promise<PackedNodeRed> {
  shared ??= startPackedNodeRed();
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
