/**
 * Child process for test/lib/outbox-crash.test.ts: appends records to an outbox as fast as it can
 * until it is killed, and prints `D <id>` once an id is durable, `R <id>` just before it calls
 * ack() for it and `K <id>` once that ack is durable.
 * Usage: node outbox-crash-child.js <dir> <append|compact>
 *   append:  small records; the oldest are acknowledged in bulk to stay under maxEntries.
 *   compact: 1 KiB records, nine in ten acknowledged at once, so compaction runs all the time.
 *
 * Lines are written with a blocking write(2) on fd 1, never through process.stdout: on a pipe
 * that the test does not drain fast enough (a loaded machine), process.stdout queues writes in
 * memory and a SIGKILL drops them, so the test would see `D 7` but not the `R 7` that preceded
 * the ack of 7, and count the acknowledged 7 as lost. Here a line has left the process before
 * the next statement runs (a full pipe makes the child wait instead).
 */
import * as fs from 'node:fs';
import { Outbox } from '../../src/lib/outbox';

interface CrashRecord {
  seq: number;
  note: string;
}

const IN_FLIGHT = 64;
const nap = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `text` to stdout before returning. */
function say(text: string): void {
  const data = Buffer.from(text, 'utf8');
  for (let done = 0; done < data.length; ) {
    try {
      done += fs.writeSync(1, data, done, data.length - done);
    } catch (err) {
      // fd 1 is blocking unless something made it non-blocking; then wait for the reader.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(nap, 0, 0, 1);
    }
  }
}

async function main(): Promise<void> {
  const [dir, mode] = process.argv.slice(2);
  if (!dir || (mode !== 'append' && mode !== 'compact')) throw new Error('usage: outbox-crash-child <dir> <append|compact>');
  const outbox = await Outbox.open<CrashRecord>({ dir, name: 'crash', maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 });
  const note = mode === 'compact' ? 'x'.repeat(1000) : 'call from +91 98450 12345 → IVR “support”';
  let seq = 0;
  const waitingForAck: number[] = [];

  const acknowledge = (ids: number[]) => {
    if (ids.length === 0) return;
    // Said before ack() runs: from here on the id may be gone after a kill (acknowledged, not lost).
    say(ids.map((id) => `R ${id}\n`).join(''));
    void outbox.ack(ids).then(() => say(ids.map((id) => `K ${id}\n`).join('')));
  };

  const appendOne = async (): Promise<void> => {
    for (;;) {
      const ids = await outbox.append(`ivr-${seq % 3}`, [{ seq: seq++, note }]);
      say(ids.map((id) => `D ${id}\n`).join(''));
      if (mode === 'compact') {
        acknowledge(ids.filter((id) => id % 10 !== 0));
        waitingForAck.push(...ids.filter((id) => id % 10 === 0));
        // Keep some thousands live so each compaction has real work to copy.
        if (waitingForAck.length > 4000) acknowledge(waitingForAck.splice(0, 1000));
      } else {
        waitingForAck.push(...ids);
        if (waitingForAck.length > 50_000) acknowledge(waitingForAck.splice(0, 10_000));
      }
    }
  };
  // What a previous run left is "resent" and acknowledged, as the call-log node would do.
  acknowledge(outbox.pending().map((entry) => entry.id));
  await Promise.all(Array.from({ length: IN_FLIGHT }, appendOne));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
