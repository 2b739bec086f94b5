/**
 * What a journal compaction costs the appends that wait for it (README, "The outbox replaying
 * after an outage"): an outbox of JSON texts is filled with one-record lines, then most of them
 * are acknowledged in batches of 250 every 5 ms, as a replay does, while one record is appended
 * every 10 ms, as live calls are. The journal's one writer runs commits and compactions in turn, so the append
 * that arrives during a compaction waits for the whole rewrite and its sync.
 *
 *   npm run bench:compaction -- [--lines 99000] [--acked 60000] [--runs 3]
 *
 * Prints, per run, the appends' p50 and p99, the slowest append and the entries live when the
 * journal shrank (the compaction). Uses a temporary directory on the disk of os.tmpdir().
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Outbox } from '../src/lib/outbox';

interface Options {
  lines: number;
  acked: number;
  runs: number;
}

const ACK_BATCH = 250;
/** A replay's pace: 4 batches of 250 in flight to a CRM answering in 20 ms. */
const ACK_EVERY_MS = 5;
const APPEND_EVERY_MS = 10;

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { lines: 99_000, acked: 60_000, runs: 3 };
  for (let index = 0; index < argv.length; index += 2) {
    const name = argv[index];
    const value = Number(argv[index + 1]);
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name}: a positive whole number, not ${argv[index + 1]}`);
    if (name === '--lines') options.lines = value;
    else if (name === '--acked') options.acked = value;
    else if (name === '--runs') options.runs = value;
    else throw new RangeError(`unknown option ${name} (--lines, --acked, --runs)`);
  }
  if (options.acked > options.lines) throw new RangeError('--acked: at most --lines');
  return options;
}

/** A call record's JSON text of about 400 bytes, as sangam-call-log journals it. */
function recordText(seq: number): string {
  return JSON.stringify({
    direction: 'Inbound',
    enjay_lat_source_number: `+9198${String(10_000_000 + (seq % 90_000_000)).padStart(8, '0')}`,
    enjay_lat_destination_number: '2001',
    call_status: 'Held',
    date_start: new Date(Date.UTC(2026, 11, 4, 9, 0, 0) + seq * 1000).toISOString(),
    date_end: new Date(Date.UTC(2026, 11, 4, 9, 2, 0) + seq * 1000).toISOString(),
    duration: 120,
    logged_by: 'IVR',
    recording_url: `https://recordings.example.invalid/2026/12/04/${seq}.mp3`,
    description: `Queue sales, agent extension 2001, call ${seq}, answered after 3 rings`,
    uniqueid: `bench-${seq}`,
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function runOnce(options: Options): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'compaction-pause-'));
  try {
    const outbox = await Outbox.open<string>({ dir, name: 'bench', itemsAreJsonText: true });
    const journal = join(dir, 'bench.journal');
    const ids: number[] = [];
    // Filled in groups of appends in flight, so the group commits write many lines at once.
    for (let seq = 0; seq < options.lines; seq += 1000) {
      const group: Array<Promise<number[]>> = [];
      for (let i = seq; i < Math.min(options.lines, seq + 1000); i++) group.push(outbox.append('ivr', [recordText(i)]));
      for (const appended of await Promise.all(group)) ids.push(...appended);
    }
    const filledMb = statSync(journal).size / 1024 / 1024;

    const latencies: number[] = [];
    let slowest = { ms: 0, liveEntries: 0 };
    let live = options.lines;
    let appending = true;
    const appender = (async () => {
      for (let seq = options.lines; appending; seq++) {
        const started = performance.now();
        await outbox.append('ivr', [recordText(seq)]);
        const ms = performance.now() - started;
        latencies.push(ms);
        if (ms > slowest.ms) slowest = { ms, liveEntries: live };
        live++;
        await sleep(APPEND_EVERY_MS);
      }
    })();
    let compactedAt: number | undefined;
    let size = statSync(journal).size;
    for (let at = 0; at < options.acked; at += ACK_BATCH) {
      await outbox.ack(ids.slice(at, at + ACK_BATCH));
      live -= Math.min(ACK_BATCH, options.acked - at);
      const now = statSync(journal).size;
      if (compactedAt === undefined && now < size) compactedAt = live;
      size = now;
      await sleep(ACK_EVERY_MS);
    }
    appending = false;
    await appender;
    await outbox.close();
    const sorted = Float64Array.from(latencies).sort();
    const fixed = (ms: number): string => ms.toFixed(1);
    return (
      `${options.lines.toLocaleString('en-US')} lines (${filledMb.toFixed(0)} MB), ${options.acked.toLocaleString('en-US')} acknowledged: ` +
      `${latencies.length} appends, p50 ${fixed(percentile(sorted, 50))} ms, p99 ${fixed(percentile(sorted, 99))} ms, ` +
      `slowest ${fixed(slowest.ms)} ms at ${slowest.liveEntries.toLocaleString('en-US')} live entries; ` +
      (compactedAt === undefined ? 'no compaction seen' : `journal compacted at ${compactedAt.toLocaleString('en-US')} live entries`)
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  for (let run = 1; run <= options.runs; run++) process.stdout.write(`run ${run}/${options.runs}: ${await runOnce(options)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
