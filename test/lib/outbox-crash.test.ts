import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CorruptJournalReport, Outbox } from '../../src/lib/outbox';

const CHILD = path.join(__dirname, '..', 'support', 'outbox-crash-child.js');

interface ChildRun {
  /** Ids the child printed as durable, as about to be acknowledged (ack() called), and as durably acknowledged. */
  durable: Set<number>;
  ackCalled: Set<number>;
  acked: Set<number>;
  /** Whether a compaction's temp file was there after the kill. */
  killedMidCompaction: boolean;
}

/** What the test knows from earlier children on the same journal. */
interface History {
  ackCalled: Set<number>;
  acked: Set<number>;
}

/**
 * Runs the child against `dir` and SIGKILLs it once `killWhen` says so (checked on every stdout
 * chunk and between them). Only whole lines count: a line cut by the kill was not printed.
 * `readPauseMs` makes the test a slow reader (as on a loaded machine): the pipe fills up and the
 * child's output waits for the test.
 */
function runAndKill(dir: string, mode: 'append' | 'compact', killWhen: (run: ChildRun) => boolean, readPauseMs = 0): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    const run: ChildRun = { durable: new Set(), ackCalled: new Set(), acked: new Set(), killedMidCompaction: false };
    let partial = '';
    let stderr = '';
    let killed = false;
    let readUntil = 0;
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
        const set = kind === 'D' ? run.durable : kind === 'R' ? run.ackCalled : kind === 'K' ? run.acked : undefined;
        if (!set) throw new Error(`unexpected line from the child: ${JSON.stringify(line)}`);
        set.add(Number(id));
      }
      if (!killed && killWhen(run)) kill();
      // Reads for a moment, then stops for readPauseMs: the pipe fills up in between.
      if (readPauseMs > 0 && !killed && Date.now() >= readUntil) {
        child.stdout.pause();
        setTimeout(() => {
          readUntil = Date.now() + readPauseMs / 4;
          child.stdout.resume();
        }, readPauseMs);
      }
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

/**
 * Reopens the journal like a restarted runtime would and checks the outbox's promise: an id whose
 * append() resolved and for which ack() was never called is pending; an id whose ack() resolved is
 * not. An id whose ack() was called but had not resolved may be either (its ack line may or may
 * not have reached the journal, or a compaction may already have left it out), so it counts as
 * acknowledged for "lost": a `K` line not printed yet does not mean the ack is not on disk.
 * Adds this run to `history`.
 */
async function verify(dir: string, run: ChildRun, history: History): Promise<{ pending: number; reports: CorruptJournalReport[] }> {
  for (const id of run.ackCalled) history.ackCalled.add(id);
  for (const id of run.acked) history.acked.add(id);
  const notCalled = [...run.acked].filter((id) => !history.ackCalled.has(id));
  assert.deepEqual(notCalled.slice(0, 10), [], `${notCalled.length} ids printed as acknowledged before ack() was said to be called`);
  const reports: CorruptJournalReport[] = [];
  const outbox = await Outbox.open<{ seq: number }>({ dir, name: 'crash', onCorrupt: (r) => reports.push(r) });
  try {
    const pending = new Set(outbox.pending().map((entry) => entry.id));
    const lost = [...run.durable].filter((id) => !history.ackCalled.has(id) && !pending.has(id));
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} durable ids lost`);
    const resurrected = [...history.acked].filter((id) => pending.has(id));
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
    const history: History = { ackCalled: new Set(), acked: new Set() };
    let printed = 0;
    for (const killAfter of [1, 300, 5000, 30_000, 80_000]) {
      const run = await runAndKill(dir, 'append', (r) => r.durable.size >= killAfter);
      printed += run.durable.size;
      const { pending, reports } = await verify(dir, run, history);
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

  /**
   * Kills the child as soon as a compaction's temp file shows up (inside the compaction, or right
   * after its rename), and every third round as soon as it is gone again (after the rename).
   */
  async function killDuringCompactions(wanted: number, maxRounds: number, readPauseMs = 0): Promise<void> {
    const history: History = { ackCalled: new Set(), acked: new Set() };
    let midCompaction = 0;
    let rounds = 0;
    let ackedNotPrinted = 0;
    while (midCompaction < wanted && rounds < maxRounds) {
      rounds++;
      const afterRename = rounds % 3 === 0;
      let sawTemp = false;
      const run = await runAndKill(
        dir,
        'compact',
        (r) => {
          if (r.durable.size <= 2000) return false;
          const temp = fs.existsSync(path.join(dir, 'crash.journal.tmp'));
          if (!afterRename) return temp;
          sawTemp ||= temp;
          return sawTemp && !temp;
        },
        readPauseMs,
      );
      if (run.killedMidCompaction && !afterRename) midCompaction++;
      ackedNotPrinted += [...run.ackCalled].filter((id) => !run.acked.has(id)).length;
      await verify(dir, run, history);
      assert.equal(fs.existsSync(path.join(dir, 'crash.journal.tmp')), false, 'temp file removed on open');
    }
    console.log(
      `      ${rounds} kills, ${midCompaction} with the compaction's temp file still there; ` +
        `${ackedNotPrinted} ids with ack() called but not printed as acknowledged when killed`,
    );
    assert.ok(midCompaction >= wanted, `killed mid-compaction ${midCompaction} times in ${rounds} rounds`);
  }

  it('loses nothing and resurrects no durable ack when killed during compaction', async () => {
    await killDuringCompactions(3, 20);
  });

  it('loses nothing when killed during compaction while the test reads its output slowly (a loaded machine)', async () => {
    // The child's pipe fills up: what the child says must still leave it before it acts on it.
    await killDuringCompactions(8, 30, 200);
  });
});
