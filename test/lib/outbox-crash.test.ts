import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CorruptJournalReport, Outbox } from '../../src/lib/outbox';

const CHILD = path.join(__dirname, '..', 'support', 'outbox-crash-child.js');

interface ChildRun {
  /** Ids the child printed as durable, and as durably acknowledged. */
  durable: Set<number>;
  acked: Set<number>;
  /** Whether a compaction's temp file was there after the kill. */
  killedMidCompaction: boolean;
}

/**
 * Runs the child against `dir` and SIGKILLs it once `killWhen` says so (checked on every stdout
 * chunk and between them). Only whole lines count: a line cut by the kill was not printed.
 */
function runAndKill(dir: string, mode: 'append' | 'compact', killWhen: (run: ChildRun) => boolean): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    const run: ChildRun = { durable: new Set(), acked: new Set(), killedMidCompaction: false };
    let partial = '';
    let stderr = '';
    let killed = false;
    const kill = () => {
      if (killed) return;
      killed = true;
      child.kill('SIGKILL');
      run.killedMidCompaction = fs.existsSync(path.join(dir, 'crash.journal.tmp'));
    };
    const watch = () => {
      if (killed) return;
      if (killWhen(run)) kill();
      else setImmediate(watch);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const [kind, id] = line.split(' ');
        (kind === 'D' ? run.durable : run.acked).add(Number(id));
      }
      if (!killed && killWhen(run)) kill();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL' && killed) resolve(run);
      else reject(new Error(`child ended by itself (code ${code}, signal ${signal}): ${stderr}`));
    });
    setImmediate(watch);
  });
}

/** Reopens the journal like a restarted runtime would and checks that nothing durable was lost. */
async function verify(dir: string, run: ChildRun, ackedBefore: Set<number>): Promise<{ pending: number; reports: CorruptJournalReport[] }> {
  const reports: CorruptJournalReport[] = [];
  const outbox = await Outbox.open<{ seq: number }>({ dir, name: 'crash', onCorrupt: (r) => reports.push(r) });
  try {
    const pending = new Set(outbox.pending().map((entry) => entry.id));
    const acked = new Set([...ackedBefore, ...run.acked]);
    const lost = [...run.durable].filter((id) => !acked.has(id) && !pending.has(id));
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} durable ids lost`);
    const resurrected = [...acked].filter((id) => pending.has(id));
    assert.deepEqual(resurrected.slice(0, 10), [], `${resurrected.length} acknowledged ids came back`);
    assert.deepEqual(
      reports.filter((r) => !r.atTail),
      [],
      'only a torn tail may be damaged',
    );
    const ids = outbox.pending().map((entry) => entry.id);
    assert.ok(
      ids.every((id, i) => i === 0 || id > ids[i - 1]!),
      'pending in append order',
    );
    // Later appends continue cleanly after the cut tail.
    const [next] = await outbox.append('after-crash', [{ seq: -1 }]);
    assert.ok(next! > Math.max(0, ...run.durable), 'ids stay monotonic');
    await outbox.ack([next!]);
    return { pending: pending.size, reports };
  } finally {
    await outbox.close();
  }
}

describe('lib/outbox crash safety (child killed with SIGKILL)', function () {
  this.timeout(120_000);
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-crash-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loses no id printed as durable, killed at different moments of a stream of appends', async () => {
    const acked = new Set<number>();
    let printed = 0;
    for (const killAfter of [1, 300, 5000, 30_000, 80_000]) {
      const run = await runAndKill(dir, 'append', (r) => r.durable.size >= killAfter);
      printed += run.durable.size;
      const { pending, reports } = await verify(dir, run, acked);
      for (const id of run.acked) acked.add(id);
      console.log(
        `      killed after ${run.durable.size} durable ids: ${pending} pending after restart, torn tail: ${reports.length > 0 ? `${reports[0]!.bytes} bytes` : 'none'}`,
      );
    }
    assert.ok(printed > 100_000);
    // After the cuts, the journal reopens without any damage.
    const reports: CorruptJournalReport[] = [];
    await (await Outbox.open({ dir, name: 'crash', onCorrupt: (r) => reports.push(r) })).close();
    assert.deepEqual(reports, []);
  });

  it('loses nothing and resurrects no durable ack when killed during compaction', async () => {
    const acked = new Set<number>();
    let midCompaction = 0;
    let rounds = 0;
    // A kill as soon as a compaction's temp file shows up lands inside the compaction (or right after its rename).
    while (midCompaction < 3 && rounds < 20) {
      rounds++;
      const run = await runAndKill(dir, 'compact', (r) => r.durable.size > 2000 && fs.existsSync(path.join(dir, 'crash.journal.tmp')));
      if (run.killedMidCompaction) midCompaction++;
      await verify(dir, run, acked);
      for (const id of run.acked) acked.add(id);
      assert.equal(fs.existsSync(path.join(dir, 'crash.journal.tmp')), false, 'temp file removed on open');
    }
    console.log(`      ${rounds} kills, ${midCompaction} with the compaction's temp file still there`);
    assert.ok(midCompaction >= 3, `killed mid-compaction ${midCompaction} times in ${rounds} rounds`);
  });
});
