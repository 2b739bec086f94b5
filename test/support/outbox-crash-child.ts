/**
 * Child process for test/lib/outbox-crash.test.ts: appends records to an outbox as fast as it can
 * until it is killed, and prints `D <id>` once an id is durable and `K <id>` once its ack is.
 * Usage: node outbox-crash-child.js <dir> <append|compact>
 *   append:  small records; the oldest are acknowledged in bulk to stay under maxEntries.
 *   compact: 1 KiB records, nine in ten acknowledged at once, so compaction runs all the time.
 * stdout is a pipe: on Linux its writes are synchronous, so a printed line has left the process.
 */
import { Outbox } from '../../src/lib/outbox';

interface CrashRecord {
  seq: number;
  note: string;
}

const IN_FLIGHT = 64;

async function main(): Promise<void> {
  const [dir, mode] = process.argv.slice(2);
  if (!dir || (mode !== 'append' && mode !== 'compact')) throw new Error('usage: outbox-crash-child <dir> <append|compact>');
  const outbox = await Outbox.open<CrashRecord>({ dir, name: 'crash', maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 });
  const note = mode === 'compact' ? 'x'.repeat(1000) : 'call from +91 98450 12345 → IVR “support”';
  let seq = 0;
  const waitingForAck: number[] = [];

  const acknowledge = (ids: number[]) => {
    void outbox.ack(ids).then(() => process.stdout.write(ids.map((id) => `K ${id}\n`).join('')));
  };

  const appendOne = async (): Promise<void> => {
    for (;;) {
      const ids = await outbox.append(`ivr-${seq % 3}`, [{ seq: seq++, note }]);
      process.stdout.write(ids.map((id) => `D ${id}\n`).join(''));
      if (mode === 'compact') {
        const acked = ids.filter((id) => id % 10 !== 0);
        if (acked.length > 0) acknowledge(acked);
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
