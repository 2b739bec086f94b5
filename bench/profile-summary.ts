/**
 * Summarises a V8 .cpuprofile (from node --cpu-prof): self time per function and per package, and
 * total (inclusive) time for functions of this repository, so a profile of the call-log path can be
 * read without a browser.
 *
 *   node .build/bench/profile-summary.js /tmp/prof/CPU.*.cpuprofile [--top 25]
 */
import * as fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** `node_modules/got`, `node_modules/@node-red/runtime`, `src/sangam` ..., `(node internals)`, `(gc)`. */
function packageOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return '(node internals)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return `node_modules/${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const build = /\/(?:\.build[^/]*|nodes)\/(.*)$/.exec(url);
  if (build) {
    const parts = build[1]!.split('/');
    return parts.length > 1 ? parts.slice(0, -1).join('/') : parts[0]!;
  }
  return url;
}

function shortLocation(url: string, line: number): string {
  const trimmed = url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, '').replace(/^.*\/(\.build[^/]*|nodes)\//, '');
  return `${trimmed}:${line + 1}`;
}

export function summarise(profile: CpuProfile, top: number): string {
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const selfMicros = new Map<number, number>();
  for (let index = 0; index < profile.samples.length; index++) {
    const id = profile.samples[index]!;
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
  }
  const totalMicros = [...selfMicros.values()].reduce((sum, value) => sum + value, 0);
  const idle = [...selfMicros].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((sum, [, value]) => sum + value, 0);
  const busy = totalMicros - idle;

  const selfByFunction = new Map<string, number>();
  const selfByPackage = new Map<string, number>();
  // Inclusive time of our own functions: each sample counts once per distinct function on its stack.
  const inclusive = new Map<string, number>();
  for (const [id, micros] of selfMicros) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    const key = `${functionName || '(anonymous)'}  ${shortLocation(url, lineNumber)}`;
    selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + micros);
    const pkg = packageOf(url, functionName);
    selfByPackage.set(pkg, (selfByPackage.get(pkg) ?? 0) + micros);
    const seen = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const frame = byId.get(current)!.callFrame;
      if (!/\/(src|bench)\//.test(frame.url) || frame.url.includes('node_modules')) continue;
      const own = `${frame.functionName || '(anonymous)'}  ${shortLocation(frame.url, frame.lineNumber)}`;
      if (seen.has(own)) continue;
      seen.add(own);
      inclusive.set(own, (inclusive.get(own) ?? 0) + micros);
    }
  }
  const percent = (micros: number): string => `${((micros / busy) * 100).toFixed(1).padStart(5)}%`;
  const ms = (micros: number): string => `${(micros / 1000).toFixed(0).padStart(7)} ms`;
  const table = (title: string, entries: Map<string, number>, count: number): string =>
    [
      title,
      ...[...entries]
        .sort((left, right) => right[1] - left[1])
        .slice(0, count)
        .map(([name, micros]) => `  ${ms(micros)} ${percent(micros)}  ${name}`),
    ].join('\n');
  return [
    `profile: ${(totalMicros / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (percentages are of busy time)`,
    table('self time by package:', selfByPackage, 20),
    table(`self time by function (top ${top}):`, selfByFunction, top),
    table('inclusive time of this repository\'s functions:', inclusive, top),
  ].join('\n\n');
}

function main(): void {
  const args = process.argv.slice(2);
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args.splice(topIndex, 2)[1]) : 25;
  if (args.length === 0) {
    process.stderr.write('usage: profile-summary <file.cpuprofile> [--top N]\n');
    process.exitCode = 2;
    return;
  }
  for (const file of args) {
    const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
    process.stdout.write(`${file}\n${summarise(profile, Number.isInteger(top) && top > 0 ? top : 25)}\n`);
  }
}

if (require.main === module) main();
