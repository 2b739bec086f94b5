import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeRedProcess, PACKAGE_NAME, packageRoot } from './support/node-red-process';

const NODE_TYPES = ['sangam-config', 'sangam-call-log', 'sangam-notify', 'exotel-config', 'exotel-click2call'];

interface NodeSetInfo {
  id: string;
  module: string;
  types: string[];
  enabled: boolean;
  err?: string;
}

describe('the packed package, installed into a fresh Node-RED user dir', function () {
  this.timeout(180_000);
  const root = packageRoot();
  let workDir: string;
  let tarball: string;
  let nodeRed: NodeRedProcess | undefined;

  before(() => {
    workDir = mkdtempSync(join(tmpdir(), 'sangam-pack-'));
    // `npm test` has just compiled src/ into nodes/; prepack would only compile it again.
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', workDir], { cwd: root, encoding: 'utf8' }),
    ) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(workDir, packed[0].filename);
  });
  after(async () => {
    await nodeRed?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('ships the compiled nodes, editor files, locales, icons, examples and README, and no source or tests', () => {
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((line) => line.replace(/^package\//, ''));
    for (const type of NODE_TYPES) {
      assert.ok(listing.includes(`nodes/${type}.js`), `nodes/${type}.js`);
      assert.ok(listing.includes(`nodes/${type}.html`), `nodes/${type}.html`);
      assert.ok(listing.includes(`nodes/locales/en-US/${type}.json`), `en-US catalog of ${type}`);
      assert.ok(listing.includes(`nodes/locales/en-US/${type}.html`), `en-US help of ${type}`);
    }
    for (const file of ['package.json', 'README.md', 'LICENSE']) assert.ok(listing.includes(file), file);
    assert.ok(listing.some((file) => file.startsWith('examples/') && file.endsWith('.json')), 'examples');
    assert.ok(listing.some((file) => file.startsWith('nodes/icons/')), 'icons');
    const unwanted = listing.filter((file) => /^(src|test|dev|bench|\.build|\.ci)\//.test(file) || file.endsWith('.ts') || file.endsWith('.map'));
    assert.deepEqual(unwanted, []);
  });

  it('installs with npm and loads all five node types in node-red with no error or warning', async () => {
    const userDir = join(workDir, 'user');
    execFileSync('mkdir', ['-p', userDir]);
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
    // As a user's npm installs it: got and its dependencies come from the registry, into a private,
    // empty npm cache, so nothing an earlier install left in the user's cache can make this pass.
    const cache = join(workDir, 'npm-cache');
    try {
      execFileSync('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', '--cache', cache, tarball], { cwd: userDir, stdio: 'pipe' });
    } catch (error) {
      const { stderr } = error as { stderr?: Buffer };
      throw new Error(`npm install of the packed tarball failed: ${stderr?.toString() ?? String(error)}`);
    }
    const installed = JSON.parse(readFileSync(join(userDir, 'node_modules', ...PACKAGE_NAME.split('/'), 'package.json'), 'utf8')) as {
      name: string;
    };
    assert.equal(installed.name, PACKAGE_NAME);
    assert.ok(readdirSync(join(userDir, 'node_modules')).includes('got'), 'the runtime dependency is installed');

    nodeRed = await NodeRedProcess.start({ userDir, install: 'none' });
    const response = await fetch(`${nodeRed.url}/nodes`, { headers: { Accept: 'application/json' } });
    const sets = (await response.json()) as NodeSetInfo[];
    const ours = sets.filter((set) => set.module === PACKAGE_NAME);
    assert.deepEqual(ours.flatMap((set) => set.types).sort(), [...NODE_TYPES].sort());
    for (const set of ours) {
      assert.equal(set.err, undefined, `${set.id}: ${set.err}`);
      assert.ok(set.enabled, `${set.id} is enabled`);
    }
    const complaints = nodeRed.lines.filter((line) => /\[(warn|error)\]/.test(line) && /sangam|exotel|telephony/i.test(line));
    assert.deepEqual(complaints, []);
  });
});
