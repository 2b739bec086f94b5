import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AbortedError } from '../../src/lib/errors';
import { encodeLine } from '../../src/lib/journal-line';
import { CorruptJournalReport, Outbox, OutboxFullError, OutboxLockedError, OutboxOptions, OutboxProblem, OutboxWriteError } from '../../src/lib/outbox';

interface CallRecord {
  from: string;
  to?: string;
  seconds?: number;
}

describe('lib/outbox', () => {
  let dir: string;
  const opened: Outbox<unknown>[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-test-'));
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((outbox) => outbox.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function open<T = CallRecord>(options: Partial<OutboxOptions> = {}): Promise<Outbox<T>> {
    const outbox = await Outbox.open<T>({ dir, name: 'node.1', ...options });
    opened.push(outbox as Outbox<unknown>);
    return outbox;
  }

  const journalPath = () => path.join(dir, 'node_1.journal');
  const ids = (outbox: Outbox<unknown>) => outbox.pending().map((entry) => entry.id);

  /** Calls made on the files the outbox opens, counted through its openFile option. */
  interface FileCalls {
    opens: string[];
    writes: number;
    syncs: number;
  }

  /** An openFile for the outbox that counts writes (writev or write) and syncs on the handles it opens. */
  function countingOpen(calls: FileCalls): NonNullable<OutboxOptions['openFile']> {
    return async (file, flags, mode) => {
      calls.opens.push(file);
      const fh = await fs.promises.open(file, flags, mode);
      const { writev, write, datasync, sync } = fh;
      fh.writev = ((...args: Parameters<typeof writev>) => {
        calls.writes++;
        return writev.apply(fh, args);
      }) as typeof writev;
      fh.write = ((...args: Parameters<typeof write>) => {
        calls.writes++;
        return write.apply(fh, args);
      }) as typeof write;
      fh.datasync = () => {
        calls.syncs++;
        return datasync.call(fh);
      };
      fh.sync = () => {
        calls.syncs++;
        return sync.call(fh);
      };
      return fh;
    };
  }

  const journalLines = () => fs.readFileSync(journalPath(), 'utf8').split('\n').filter(Boolean);

  it('creates the directory (0o700) and a journal (0o600) holding only a header', async () => {
    dir = path.join(dir, 'user', 'sangam-outbox');
    const outbox = await open();
    assert.deepEqual(outbox.pending(), []);
    assert.equal(outbox.size.entries, 0);
    assert.equal(outbox.size.bytes, fs.statSync(journalPath()).size);
    if (process.platform !== 'win32') {
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
      assert.equal(fs.statSync(journalPath()).mode & 0o077, 0);
    }
    assert.match(fs.readFileSync(journalPath(), 'utf8'), /^[0-9a-f]{8} \d+ \["H",1,1\]\n$/);
  });

  it('appends, lists pending in append order with keys, acknowledges, ignores unknown ids', async () => {
    const outbox = await open();
    const [a, b] = await Promise.all([
      outbox.append('ivr-a', [{ from: '1' }, { from: '2' }]),
      outbox.append('ivr-b', [{ from: '3' }]),
    ]);
    assert.deepEqual(a, [1, 2]);
    assert.deepEqual(b, [3]);
    assert.deepEqual(outbox.pending(), [
      { id: 1, key: 'ivr-a', item: { from: '1' } },
      { id: 2, key: 'ivr-a', item: { from: '2' } },
      { id: 3, key: 'ivr-b', item: { from: '3' } },
    ]);
    assert.equal(outbox.size.entries, 3);
    assert.equal(outbox.size.bytes, fs.statSync(journalPath()).size);

    await outbox.ack([2, 99, -1]);
    assert.deepEqual(ids(outbox), [1, 3]);
    assert.equal(outbox.size.entries, 2);
    await outbox.ack([2]); // twice: no-op
    assert.deepEqual(await outbox.append('ivr-a', []), []);
    assert.equal(outbox.size.bytes, fs.statSync(journalPath()).size);
  });

  it('counts an append as waiting before it is durable', async () => {
    const outbox = await open();
    const appended = outbox.append('k', [{ from: '1' }]);
    assert.equal(outbox.size.entries, 1);
    assert.deepEqual(outbox.pending(), [], 'listed only once durable');
    await appended;
    assert.equal(outbox.pending().length, 1);
  });

  it('recovers pending entries after close and reopen; acks journalled without being awaited', async () => {
    const first = await open();
    await first.append('ivr-a', [{ from: '1', to: '2', seconds: 30 }, { from: '3' }]);
    await first.append('ivr-b', [{ from: '4' }]);
    void first.ack([1]);
    await first.close();
    await first.close(); // idempotent

    const second = await open();
    assert.deepEqual(second.pending(), [
      { id: 2, key: 'ivr-a', item: { from: '3' } },
      { id: 3, key: 'ivr-b', item: { from: '4' } },
    ]);
  });

  it('keeps ids monotonic across reopen, also after everything was acknowledged', async () => {
    let outbox = await open();
    assert.deepEqual(await outbox.append('k', [{ from: '1' }, { from: '2' }]), [1, 2]);
    await outbox.ack([1, 2]);
    await outbox.close();
    outbox = await open();
    assert.deepEqual(await outbox.append('k', [{ from: '3' }]), [3]);
    await outbox.ack([3]);
    await outbox.close();
    outbox = await open();
    assert.deepEqual(outbox.pending(), []);
    assert.deepEqual(await outbox.append('k', [{ from: '4' }]), [4]);
  });

  it('returns items as JSON gives them back, the same before and after a restart', async () => {
    const outbox = await open<Record<string, unknown>>();
    const item: Record<string, unknown> = { at: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)), skip: undefined, n: 1 };
    await outbox.append('k', [item]);
    item.n = 2; // a later change by the caller does not reach the journal copy
    const expected = [{ id: 1, key: 'k', item: { at: '2026-01-02T03:04:05.000Z', n: 1 } }];
    assert.deepEqual(outbox.pending(), expected);
    await outbox.close();
    assert.deepEqual((await open<Record<string, unknown>>()).pending(), expected);
  });

  it('journals JSON texts verbatim with itemsAreJsonText, and hands them back as text after a restart and a compaction', async () => {
    const texts = ['{"name":"रवि","n":1}', '{"name":"a\\"b","n":2}', '{"n":3}'];
    const outbox = await open<string>({ itemsAreJsonText: true, maxBytes: 64 * 1024 });
    const ids = await outbox.append('k', texts);
    assert.deepEqual(outbox.pending().map((entry) => entry.item), texts);
    // Enough acknowledged filler to make the writer compact the journal around the three texts.
    for (let i = 0; i < 40; i++) {
      const filler = await outbox.append('k', [JSON.stringify({ filler: 'x'.repeat(2000), i })]);
      await outbox.ack(filler);
    }
    await outbox.close();
    const reopened = await open<string>({ itemsAreJsonText: true, maxBytes: 64 * 1024 });
    assert.deepEqual(reopened.pending().map((entry) => [entry.id, entry.item]), ids.map((id, i) => [id, texts[i]]));
    const journal = fs.readFileSync(path.join(dir, 'node_1.journal'), 'utf8');
    assert.ok(journal.includes('{"name":"रवि","n":1}'), 'written verbatim, not as an escaped string');
  });

  it('reads a journal of JSON texts back verbatim, also where its lines span reads and one line is longer than a read', async () => {
    const options = { itemsAreJsonText: true, maxBytes: 64 * 1024 * 1024 };
    const outbox = await open<string>(options);
    // Texts as no parse-and-stringify gives them back (spaces, escapes), of many lengths: lines of
    // 1-6 of them end at every offset of the reads; one text of 600 KB is longer than two reads.
    const text = (i: number) => `{ "n" : ${i}, "who" : "\\u0930\\u0935\\u093f, \\"x\\"", "pad" : "${'p'.repeat((i * 37) % 700)}" }`;
    const expected: Array<[number, string]> = [];
    let next = 0;
    for (let line = 0; line < 1_500; line++) {
      const texts = Array.from({ length: 1 + (line % 6) }, () => text(next++));
      if (line === 700) texts.push(JSON.stringify({ big: 'b'.repeat(600_000) }));
      const lineIds = await outbox.append(`ivr-${line % 3}`, texts);
      // Every fourth line acknowledged: ack lines between the appends, as a running journal has.
      if (line % 4 === 0) await outbox.ack(lineIds);
      else lineIds.forEach((id, i) => expected.push([id, texts[i]!]));
    }
    assert.deepEqual(JSON.parse(text(1)), { n: 1, who: 'रवि, "x"', pad: 'p'.repeat(37) }, 'the texts are JSON');
    await outbox.close();
    assert.ok(fs.statSync(journalPath()).size > 1_500_000, 'several reads long');
    const reopened = await open<string>(options);
    assert.deepEqual(reopened.pending().map((entry) => [entry.id, entry.item]), expected);
  });

  it('rejects items that are not JSON values without journalling anything', async () => {
    const outbox = await open<unknown>();
    const before = fs.statSync(journalPath()).size;
    await assert.rejects(outbox.append('k', [{ n: 1n }]), TypeError);
    assert.equal(outbox.size.entries, 0);
    assert.deepEqual(await outbox.append('k', [{ n: 1 }]), [1], 'the failed call used no id');
    assert.ok(fs.statSync(journalPath()).size > before);
  });

  it('keeps unicode items intact, including keys, emoji, line separators and lone surrogates', async () => {
    const items = [
      { from: 'नमस्ते 📞 ரஞ்சனி', to: 'Zoë\u2028\u2029\n\t"\\' },
      { from: '\ud800 lone', to: '😀'.repeat(100) },
    ];
    const outbox = await open();
    await outbox.append('IVR “सहायता”', items);
    await outbox.close();
    const reopened = await open();
    assert.deepEqual(
      reopened.pending().map((entry) => [entry.key, entry.item]),
      items.map((item) => ['IVR “सहायता”', JSON.parse(JSON.stringify(item)) as unknown]),
    );
  });

  describe('bounds', () => {
    it('rejects a msg that would exceed maxEntries, all or nothing, and says so', async () => {
      const outbox = await open({ maxEntries: 5 });
      await outbox.append('k', [{ from: '1' }, { from: '2' }, { from: '3' }]);
      const sizeBefore = fs.statSync(journalPath()).size;
      const err = await outbox.append('k', [{ from: '4' }, { from: '5' }, { from: '6' }]).then(
        () => assert.fail('expected OutboxFullError'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof OutboxFullError);
      assert.match(err.message, /3 records wait/);
      assert.match(err.message, /limits 5 records/);
      assert.match(err.message, /rejected, not dropped/);
      assert.equal(err.rejected, 3);
      assert.equal(outbox.size.entries, 3);
      assert.equal(fs.statSync(journalPath()).size, sizeBefore, 'nothing half-written');
      assert.deepEqual(await outbox.append('k', [{ from: '4' }, { from: '5' }]), [4, 5], 'ids not used up');
      await outbox.close();
      assert.deepEqual(ids(await open({ maxEntries: 5 })), [1, 2, 3, 4, 5]);
    });

    it('counts queued appends of the same tick against the bound', async () => {
      const outbox = await open({ maxEntries: 4 });
      const results = await Promise.allSettled([1, 2, 3, 4, 5, 6].map((n) => outbox.append('k', [{ from: String(n) }])));
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected'],
      );
      assert.equal(outbox.pending().length, 4);
    });

    it('rejects a msg that would push the journal past maxBytes, and rejects an oversized one outright', async () => {
      const outbox = await open({ maxBytes: 4096 });
      const big = { from: 'x'.repeat(1500) };
      await outbox.append('k', [big]);
      await outbox.append('k', [big]);
      const sizeBefore = fs.statSync(journalPath()).size;
      await assert.rejects(outbox.append('k', [big]), OutboxFullError);
      await assert.rejects(outbox.append('k', [{ from: 'y'.repeat(5000) }]), /limits 100000 records, 4.0 KiB/);
      assert.equal(fs.statSync(journalPath()).size, sizeBefore);
      assert.ok(outbox.size.bytes <= 4096);
    });

    it('compacts instead of rejecting when acknowledged entries take the room', async () => {
      const maxBytes = 64 * 1024;
      const outbox = await open({ maxBytes });
      const item = { from: 'z'.repeat(1000) };
      let appended: number[] = [];
      for (;;) {
        try {
          appended = appended.concat(await outbox.append('k', [item]));
        } catch (err) {
          assert.ok(err instanceof OutboxFullError);
          break;
        }
      }
      assert.ok(appended.length > 50);
      await outbox.ack(appended.slice(0, -5));
      const more = await outbox.append('k', [item]);
      assert.ok(fs.statSync(journalPath()).size <= maxBytes);
      assert.deepEqual(ids(outbox), [...appended.slice(-5), ...more]);
      await outbox.close();
      assert.deepEqual(ids(await open({ maxBytes })), [...appended.slice(-5), ...more]);
    });
  });

  describe('compaction', () => {
    it('rewrites the journal to exactly the pending entries once most of it is acknowledged', async () => {
      const maxBytes = 256 * 1024; // compaction once 64 KiB are dead and dead > live
      const outbox = await open({ maxBytes });
      const expected: number[] = [];
      let largest = 0;
      let written = 0;
      for (let round = 0; round < 200; round++) {
        const before = outbox.size.bytes;
        const got = await outbox.append(`ivr-${round % 3}`, Array.from({ length: 20 }, (_, i) => ({ from: `${round}/${i}`, to: 'y'.repeat(100) })));
        expected.push(...got.filter((id) => id % 7 === 0));
        written += outbox.size.bytes - before;
        await outbox.ack(got.filter((id) => id % 7 !== 0));
        largest = Math.max(largest, fs.statSync(journalPath()).size);
      }
      assert.deepEqual(ids(outbox), expected);
      // ~490 KiB of records went through; live ones are 1/7 of that.
      assert.ok(written > 400 * 1024, `appended ${written} bytes`);
      assert.ok(largest < 200 * 1024, `journal stayed small (largest ${largest} bytes)`);
      await outbox.close();
      const reopened = await open({ maxBytes });
      assert.deepEqual(ids(reopened), expected);
      assert.deepEqual(
        reopened.pending().map((entry) => entry.key),
        expected.map((id) => `ivr-${Math.floor((id - 1) / 20) % 3}`),
      );
    });

    it('compacts entries whose line is bigger than its write buffer between small ones, every entry intact', async () => {
      const options = { itemsAreJsonText: true, maxBytes: 16 * 1024 * 1024 };
      const outbox = await open<string>(options);
      const small = await outbox.append('a', ['{"n":1}', '{"n":2}']);
      // Three consecutive records of 1.7 MB under one key: one compacted line of 5.1 MB, more than
      // the writer's buffer can be (it keeps at most 4 MiB).
      const big = Array.from({ length: 3 }, (_, i) => JSON.stringify({ n: i, pad: String(i).repeat(1_700_000) }));
      const bigIds = await outbox.append('b', big);
      const after = await outbox.append('c', ['{"n":3}']);
      // 6 MB acknowledged: more dead than live, and over the 1 MiB a compaction waits for.
      for (let i = 0; i < 60; i++) await outbox.ack(await outbox.append('f', [JSON.stringify({ pad: 'x'.repeat(100 * 1024) })]));
      await outbox.append('c', ['{"n":4}']);
      // 11.2 MB were appended: a smaller journal was compacted, and each compaction rewrote the big line.
      const size = fs.statSync(journalPath()).size;
      assert.ok(size < 9_000_000, `compacted to ${size} bytes`);
      await outbox.close();
      const reopened = await open<string>(options);
      assert.deepEqual(
        reopened.pending().map((entry) => [entry.key, entry.item]),
        [['a', '{"n":1}'], ['a', '{"n":2}'], ...big.map((text) => ['b', text]), ['c', '{"n":3}'], ['c', '{"n":4}']],
      );
      assert.deepEqual(ids(reopened).slice(0, 6), [...small, ...bigIds, ...after]);
    });

    it('starts an empty journal once everything is acknowledged', async () => {
      const outbox = await open();
      const got: number[] = [];
      for (let i = 0; i < 10; i++) got.push(...(await outbox.append('k', Array.from({ length: 100 }, () => ({ from: 'w'.repeat(100) })))));
      assert.ok(fs.statSync(journalPath()).size > 100_000);
      await outbox.ack(got);
      await outbox.append('k', [{ from: 'after' }]); // the writer compacts between batches
      assert.ok(fs.statSync(journalPath()).size < 200, `size ${fs.statSync(journalPath()).size}`);
      await outbox.close();
      const reopened = await open();
      assert.deepEqual(reopened.pending(), [{ id: 1001, key: 'k', item: { from: 'after' } }]);
    });

    it('holds every durable id not acknowledged at any moment, also while compactions run (copies of the journal as a crash leaves it)', async () => {
      // Compaction once 128 KiB are dead; nine in ten records are acknowledged as soon as they are
      // durable, the tenth a while later (a few hundred stay live, for the compactions to copy).
      const outbox = await open<{ n: number; pad: string }>({ maxBytes: 512 * 1024 });
      const durable = new Set<number>();
      const ackCalled = new Set<number>();
      const copyDir = path.join(dir, 'copy');
      fs.mkdirSync(copyDir);
      let copies = 0;
      let copiesMidCompaction = 0;
      let checking = false;
      const failures: string[] = [];
      // Copies the journal between two turns of the event loop (the writer's I/O may be half done, as
      // with a SIGKILL), then opens the copy: every id durable and not acknowledged at that moment is there.
      const check = async (): Promise<void> => {
        checking = true;
        const mustHave = [...durable].filter((id) => !ackCalled.has(id));
        const maxDurable = Math.max(0, ...durable);
        if (fs.existsSync(`${journalPath()}.tmp`)) copiesMidCompaction++;
        fs.copyFileSync(journalPath(), path.join(copyDir, 'node_1.journal'));
        copies++;
        const copy = await Outbox.open<unknown>({ dir: copyDir, name: 'node.1' });
        try {
          const pending = new Set(ids(copy));
          const missing = mustHave.filter((id) => !pending.has(id));
          if (missing.length > 0) failures.push(`copy ${copies}: ${missing.length} ids missing (${missing.slice(0, 5).join(', ')} ...)`);
          const [next] = await copy.append('k', [{ n: -1, pad: '' }]);
          if (!(next! > maxDurable)) failures.push(`copy ${copies}: id ${next} reused (largest durable ${maxDurable})`);
        } finally {
          await copy.close();
          checking = false;
        }
      };
      let n = 0;
      const waiting: number[] = [];
      const acknowledge = (acked: number[]) => {
        for (const id of acked) ackCalled.add(id);
        void outbox.ack(acked);
      };
      const appender = async (): Promise<void> => {
        while (n < 12_000) {
          const [id] = await outbox.append(`ivr-${n % 3}`, [{ n: n++, pad: 'p'.repeat(300) }]);
          durable.add(id!);
          if (id! % 10 !== 0) acknowledge([id!]);
          else waiting.push(id!);
          if (waiting.length > 300) acknowledge(waiting.splice(0, 100));
          if (!checking && id! % 1000 === 0) await check();
        }
      };
      let done = false;
      // Appends resolve only between compactions (one writer): copies during one come from this poller.
      const poller = async (): Promise<void> => {
        while (!done) {
          if (!checking && fs.existsSync(`${journalPath()}.tmp`)) await check();
          else await new Promise((resolve) => setImmediate(resolve));
        }
      };
      const polling = poller();
      await Promise.all(Array.from({ length: 32 }, appender));
      done = true;
      await polling;
      console.log(`        ${copies} copies checked, ${copiesMidCompaction} of them taken during a compaction`);
      assert.deepEqual(failures, []);
      assert.ok(copiesMidCompaction >= 3, `${copies} copies, ${copiesMidCompaction} of them during a compaction`);
      assert.deepEqual(ids(outbox), [...durable].filter((id) => !ackCalled.has(id)));
    });

    it('tells onProblem once when compactions fail, keeps every entry, and once when one succeeds again', async () => {
      // The compaction file's path taken by a directory: opening it fails with EISDIR, also for
      // root (a chmod would not stop root). Made after open(), which removes a stale temp file.
      const maxBytes = 256 * 1024; // a compaction is due every 64 KiB of acknowledged records
      const problems: OutboxProblem[] = [];
      const calls: FileCalls = { opens: [], writes: 0, syncs: 0 };
      const outbox = await open({ maxBytes, openFile: countingOpen(calls), onProblem: (problem) => problems.push(problem) });
      const temp = `${journalPath()}.tmp`;
      fs.mkdirSync(temp);
      const item = { from: 'c'.repeat(1000) };
      const [kept] = await outbox.append('k', [item]);
      const compactions = () => calls.opens.filter((file) => file === temp).length;
      for (let i = 0; i < 200; i++) await outbox.ack(await outbox.append('k', [item]));
      assert.ok(compactions() >= 2, `${compactions()} compactions tried`);
      assert.equal(problems.length, 1, `one report for ${compactions()} failed compactions`);
      const [failed] = problems;
      assert.ok(failed?.kind === 'compaction-failed');
      assert.equal(failed.journal, journalPath());
      assert.equal((failed.error as NodeJS.ErrnoException).code, 'EISDIR');
      assert.ok(fs.statSync(journalPath()).size > 150 * 1024, 'the journal grew: not compacted');
      assert.deepEqual(ids(outbox), [kept]);

      fs.rmdirSync(temp);
      const tried = compactions();
      for (let i = 0; i < 100 && compactions() === tried; i++) await outbox.ack(await outbox.append('k', [item]));
      await outbox.close(); // runs after the compaction that just started: one writer
      assert.deepEqual(
        problems.map((problem) => problem.kind),
        ['compaction-failed', 'compaction-recovered'],
      );
      assert.ok(fs.statSync(journalPath()).size < 64 * 1024, 'compacted');
      assert.deepEqual(ids(await open({ maxBytes })), [kept]);
    });

    it('ignores a temp file left by a compaction that did not reach its rename', async () => {
      const outbox = await open();
      await outbox.append('k', [{ from: '1' }]);
      await outbox.close();
      fs.writeFileSync(`${journalPath()}.tmp`, 'half a compaction');
      const reopened = await open();
      assert.deepEqual(ids(reopened), [1]);
      assert.equal(fs.existsSync(`${journalPath()}.tmp`), false);
    });
  });

  describe('damaged journal', () => {
    for (const itemsAreJsonText of [false, true]) {
      it(`drops a torn last record at every byte offset, keeps the rest, cuts the tail, appends cleanly${itemsAreJsonText ? ' (a journal of JSON texts)' : ''}`, async () => {
        // The same records either way: as values, or as the JSON texts a call-log node journals.
        const item = (from: string): unknown => (itemsAreJsonText ? JSON.stringify({ from }) : { from });
        const outbox = await open<unknown>({ itemsAreJsonText });
        await outbox.append('k', [item('1'), item('2')]);
        await outbox.ack([1]);
        await outbox.append('k', [item('3')]);
        const beforeLast = fs.statSync(journalPath()).size;
        await outbox.append('k', [item('last ✓')]);
        await outbox.close();
        const whole = fs.readFileSync(journalPath());

        for (let cut = beforeLast; cut < whole.length; cut++) {
          fs.writeFileSync(journalPath(), whole.subarray(0, cut));
          const reports: CorruptJournalReport[] = [];
          const torn = await open<unknown>({ itemsAreJsonText, onCorrupt: (r) => reports.push(r) });
          assert.deepEqual(torn.pending().map((entry) => [entry.id, entry.item]), [[2, item('2')], [3, item('3')]], `cut at ${cut}`);
          assert.equal(fs.statSync(journalPath()).size, beforeLast, `tail cut off at ${cut}`);
          assert.equal(reports.length, cut > beforeLast ? 1 : 0);
          if (reports[0]) assert.deepEqual([reports[0].offset, reports[0].bytes, reports[0].atTail], [beforeLast, cut - beforeLast, true]);
          assert.deepEqual(await torn.append('k', [item('again')]), [4], 'ids continue past the last good record');
          await torn.close();
          opened.pop();
          const reopened = await open<unknown>({ itemsAreJsonText, onCorrupt: (r) => reports.push(r) });
          assert.deepEqual(ids(reopened), [2, 3, 4]);
          assert.equal(reports.length, cut > beforeLast ? 1 : 0, 'clean after the cut');
          await reopened.close();
          opened.pop();
        }
      });
    }

    it('skips damaged lines in the middle, reports them and keeps everything around them', async () => {
      const outbox = await open();
      for (let i = 1; i <= 5; i++) await outbox.append('k', [{ from: String(i) }]);
      await outbox.close();
      const lines = fs.readFileSync(journalPath(), 'utf8').split('\n');
      // lines: header, records 1..5, ''
      lines[2] = lines[2]!.replace('"from":"2"', '"from":"X"'); // checksum mismatch
      lines.splice(4, 0, 'garbage without any format', '\u0000\u0000\u0000'); // before record 3's successor
      fs.writeFileSync(journalPath(), lines.join('\n'));

      const reports: CorruptJournalReport[] = [];
      const reopened = await open({ onCorrupt: (r) => reports.push(r) });
      assert.deepEqual(ids(reopened), [1, 3, 4, 5]);
      assert.deepEqual(
        reports.map((r) => [r.reason, r.atTail]),
        [
          ['checksum mismatch', false],
          ['malformed line', false],
        ],
      );
      assert.equal(reports[1]!.bytes, 'garbage without any format\n\u0000\u0000\u0000\n'.length, 'consecutive bad lines reported as one run');
      assert.deepEqual(await reopened.append('k', [{ from: '6' }]), [6]);
    });

    it('refuses a journal of an unknown format version and leaves it untouched', async () => {
      const outbox = await open();
      await outbox.close();
      const text = encodeLine('["H",2,1]').toString('utf8');
      fs.writeFileSync(journalPath(), text);
      await assert.rejects(open(), /format version 2/);
      assert.equal(fs.readFileSync(journalPath(), 'utf8'), text);
      assert.equal(fs.existsSync(path.join(dir, 'node_1.lock')), false, 'lock released');
    });
  });

  // How the lock file works is tested in lock-file.test.ts; here, that the outbox holds it while open.
  it('holds <name>.lock while open: a second open is refused until the first is closed', async () => {
    const first = await open();
    assert.equal(fs.readFileSync(path.join(dir, 'node_1.lock'), 'utf8').split('\n')[0], String(process.pid));
    await assert.rejects(open(), (err: unknown) => err instanceof OutboxLockedError && /open already/.test(err.message));
    await first.close();
    assert.equal(fs.existsSync(path.join(dir, 'node_1.lock')), false);
    await (await open()).close();
  });

  it('rejects appends after close with AbortedError', async () => {
    const outbox = await open();
    await outbox.close();
    await assert.rejects(outbox.append('k', [{ from: '1' }]), AbortedError);
    await outbox.ack([1]);
  });

  describe('durability', () => {
    for (const [durability, syncsPerAppend] of [['fsync', 1], ['write', 0]] as const) {
      it(`'${durability}': an append resolves once written${syncsPerAppend ? ' and synced' : ', without a sync'}`, async () => {
        const calls: FileCalls = { opens: [], writes: 0, syncs: 0 };
        const outbox = await open({ durability, openFile: countingOpen(calls) });
        calls.writes = calls.syncs = 0; // what open() did to create the journal is not an append
        for (let i = 1; i <= 3; i++) {
          assert.deepEqual(await outbox.append('k', [{ from: String(i) }]), [i]);
          assert.deepEqual([calls.writes, calls.syncs], [i, i * syncsPerAppend], `after append ${i}`);
        }
        await outbox.close();
        assert.deepEqual(ids(await open()), [1, 2, 3]);
      });
    }
  });

  describe('group commit', () => {
    it('writes the appends of one tick with one write and one sync, one journal line per append', async () => {
      const calls: FileCalls = { opens: [], writes: 0, syncs: 0 };
      const outbox = await open({ openFile: countingOpen(calls) });
      const linesBefore = journalLines().length;
      calls.writes = calls.syncs = 0;
      const appended = await Promise.all(Array.from({ length: 200 }, (_, i) => outbox.append(`ivr-${i % 2}`, [{ from: String(i) }])));
      assert.deepEqual(appended.flat(), Array.from({ length: 200 }, (_, i) => i + 1));
      assert.deepEqual([calls.writes, calls.syncs], [1, 1], 'writes and syncs for 200 appends of one tick');
      assert.equal(journalLines().length - linesBefore, 200);
      // The next tick's appends are a commit of their own.
      await Promise.all([outbox.append('k', [{ from: 'a' }]), outbox.append('k', [{ from: 'b' }])]);
      assert.deepEqual([calls.writes, calls.syncs], [2, 2]);
    });

    it('writes at most 4 MiB in one group commit (JSON texts waiting beyond it get their lines at their own commit), in order, all kept', async () => {
      const calls: FileCalls = { opens: [], writes: 0, syncs: 0 };
      const outbox = await open<string>({ itemsAreJsonText: true, maxBytes: 64 * 1024 * 1024, openFile: countingOpen(calls) });
      calls.writes = calls.syncs = 0;
      const sizeBefore = fs.statSync(journalPath()).size;
      // Ten appends of 0.9 MiB in one tick: four fit in a commit of at most 4 MiB, a fifth does not.
      const texts = Array.from({ length: 10 }, (_, i) => JSON.stringify({ n: i, pad: 'x'.repeat(900 * 1024) }));
      const appended = await Promise.all(texts.map((text) => outbox.append('k', [text])));
      assert.deepEqual(appended.flat(), Array.from({ length: 10 }, (_, i) => i + 1));
      assert.equal(calls.syncs, 3, 'commits (one sync each) of 4 + 4 + 2 lines');
      assert.equal(outbox.size.bytes, fs.statSync(journalPath()).size, 'bytes counted at append = bytes written');
      assert.ok(fs.statSync(journalPath()).size - sizeBefore > 9_000_000);
      await outbox.close();
      assert.deepEqual((await open<string>({ itemsAreJsonText: true, maxBytes: 64 * 1024 * 1024 })).pending().map((entry) => entry.item), texts);
    });

    it('refuses the appends of a commit whose buffer cannot be had (out of memory) as not kept, journals none of it, and takes the next ones', async () => {
      const problems: OutboxProblem[] = [];
      const outbox = await open<string>({ itemsAreJsonText: true, maxBytes: 64 * 1024 * 1024, onProblem: (problem) => problems.push(problem) });
      assert.deepEqual(await outbox.append('k', ['{"n":1}']), [1]);
      const sizeBefore = fs.statSync(journalPath()).size;
      // Bigger than the buffer the writer kept from the small commit: this commit needs a new one.
      const big = JSON.stringify({ n: 2, pad: 'x'.repeat(2 * 1024 * 1024) });
      const allocUnsafe = Buffer.allocUnsafe;
      // What V8 throws when it has no memory for an ArrayBuffer; only for buffers of the big commit's size.
      Buffer.allocUnsafe = ((size: number) => {
        if (size >= 2 * 1024 * 1024) throw new RangeError('Array buffer allocation failed');
        return allocUnsafe(size);
      }) as typeof Buffer.allocUnsafe;
      let refused: unknown;
      try {
        await outbox.append('k', [big]).catch((error: unknown) => (refused = error));
      } finally {
        Buffer.allocUnsafe = allocUnsafe;
      }
      assert.ok(refused instanceof OutboxWriteError, String(refused));
      assert.match(refused.message, /its lines could not be made: Array buffer allocation failed/);
      assert.match(refused.message, /records are not kept\. The outbox takes records again with the next msgs that memory allows, without a restart\.$/);
      assert.equal(fs.statSync(journalPath()).size, sizeBefore, 'nothing of the refused commit written');
      assert.deepEqual(outbox.pending().map((entry) => entry.item), ['{"n":1}']);
      assert.equal(outbox.size.entries, 1);
      // The next commit is made and written; onProblem heard of the failure and of the recovery.
      const [next] = await outbox.append('k', ['{"n":3}']);
      assert.deepEqual(problems.map((problem) => problem.kind), ['write-failed', 'write-recovered']);
      await outbox.close();
      const reopened = await open<string>({ itemsAreJsonText: true, maxBytes: 64 * 1024 * 1024 });
      assert.deepEqual(
        reopened.pending().map((entry) => [entry.id, entry.item]),
        [
          [1, '{"n":1}'],
          [next, '{"n":3}'],
        ],
      );
    });

    it('group-commits 50,000 appends of 500 callers in far fewer syncs (throughput printed, not asserted)', async () => {
      const calls: FileCalls = { opens: [], writes: 0, syncs: 0 };
      const outbox = await open({ maxEntries: 1_000_000, openFile: countingOpen(calls) });
      calls.syncs = 0;
      const record = { from: '+919845012345', to: '+918041234567', seconds: 42 };
      const total = 50_000;
      const started = process.hrtime.bigint();
      let done = 0;
      // 500 callers in flight, one record each per append: the writer batches them.
      await Promise.all(
        Array.from({ length: 500 }, async () => {
          while (done < total) {
            done++;
            await outbox.append('ivr', [record]);
          }
        }),
      );
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      console.log(
        `      outbox: ${total} single-record appends with fdatasync in ${seconds.toFixed(2)} s = ${Math.round(total / seconds)} appends/s, ${calls.syncs} syncs`,
      );
      // Each sync covers the appends made while the previous one ran: with 500 callers, hundreds.
      assert.ok(calls.syncs <= total / 50, `${calls.syncs} syncs for ${total} appends`);
      assert.equal(outbox.pending().length, total);
      await outbox.close();
      assert.equal((await open({ maxEntries: 1_000_000 })).pending().length, total);
    });
  });

  describe('a sick disk (its failures made through openFile; test/faults/sick-disk.faults.ts has the real ones)', () => {
    const fsError = (code: string, text: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: ${text}`), { code });

    /**
     * Files whose writes fail while `disk.sick` names a code: writev lands the first half of its
     * first line and then fails (a torn tail), truncate fails with EROFS when `disk.readOnly`,
     * and while read-only no file opens for writing.
     */
    function sickOpen(disk: { sick?: string; readOnly: boolean }): NonNullable<OutboxOptions['openFile']> {
      return async (file, flags, mode) => {
        if (disk.readOnly) throw fsError('EROFS', `read-only file system, open '${file}'`);
        const fh = await fs.promises.open(file, flags, mode);
        const { writev, truncate } = fh;
        fh.writev = (async (buffers: readonly NodeJS.ArrayBufferView[], position?: number) => {
          if (!disk.sick) return writev.call(fh, buffers, position);
          const first = buffers[0] as Buffer;
          fs.writeSync(fh.fd, first, 0, first.length >> 1, position);
          throw fsError(disk.sick, 'write failed');
        }) as typeof writev;
        fh.truncate = ((length?: number) => (disk.readOnly ? Promise.reject(fsError('EROFS', 'read-only file system, ftruncate')) : truncate.call(fh, length))) as typeof truncate;
        return fh;
      };
    }

    it('a write that fails and cannot be cut off: refused naming the journal, a crash then finds the last good journal, and the next commit writes it anew from memory', async () => {
      const disk: { sick?: string; readOnly: boolean } = { readOnly: false };
      const problems: OutboxProblem[] = [];
      const outbox = await open({ openFile: sickOpen(disk), onProblem: (problem) => problems.push(problem) });
      await outbox.append('k', [{ from: 'kept' }]);
      const [acked] = await outbox.append('k', [{ from: 'acked' }]);
      disk.sick = 'EROFS';
      disk.readOnly = true;
      const refused = (error: unknown): boolean => {
        assert.ok(error instanceof OutboxWriteError && error.code === 'EROFS', String(error));
        assert.ok(error.message.includes(journalPath()) && error.message.includes('not kept'), error.message);
        assert.ok(error.message.endsWith(`takes records again as soon as ${dir} takes writes, without a restart.`), error.message);
        return true;
      };
      await assert.rejects(outbox.append('k', [{ from: 'refused' }]), refused);
      // A crash now: the journal on disk is the last good one plus a torn line, which recovery cuts off.
      const crashDir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-crash-copy-'));
      try {
        fs.copyFileSync(journalPath(), path.join(crashDir, 'node_1.journal'));
        const torn: CorruptJournalReport[] = [];
        const afterCrash = await Outbox.open<CallRecord>({ dir: crashDir, name: 'node.1', onCorrupt: (report) => torn.push(report) });
        assert.deepEqual(afterCrash.pending().map((entry) => entry.item.from), ['kept', 'acked']);
        assert.deepEqual(torn.map((report) => report.atTail), [true]);
        await afterCrash.close();
      } finally {
        fs.rmSync(crashDir, { recursive: true, force: true });
      }
      // Still read-only: writing the journal anew fails, so this batch is refused too.
      await assert.rejects(outbox.append('k', [{ from: 'refused too' }]), refused);
      await outbox.ack([acked!]).catch(() => undefined);
      assert.deepEqual(outbox.pending().map((entry) => entry.item.from), ['kept']);

      disk.sick = undefined;
      disk.readOnly = false;
      await outbox.append('k', [{ from: 'after' }]);
      assert.deepEqual(problems.map((problem) => problem.kind), ['write-failed', 'write-recovered']);
      assert.ok(!fs.readFileSync(journalPath(), 'utf8').includes('refused'), 'the torn line is gone with the old file');
      await outbox.close();
      const torn: CorruptJournalReport[] = [];
      const reopened = await open({ onCorrupt: (report) => torn.push(report) });
      assert.deepEqual(reopened.pending().map((entry) => entry.item.from), ['kept', 'after'], 'exactly what was reported kept and not acknowledged');
      assert.deepEqual(torn, []);
    });

    it('close writes a damaged journal anew when the disk takes writes again, with the acknowledgements made meanwhile', async () => {
      const disk: { sick?: string; readOnly: boolean } = { readOnly: false };
      const outbox = await open({ openFile: sickOpen(disk) });
      const [acked] = await outbox.append('k', [{ from: 'acked' }]);
      await outbox.append('k', [{ from: 'kept' }]);
      disk.sick = 'EIO';
      disk.readOnly = true;
      await assert.rejects(outbox.append('k', [{ from: 'refused' }]), OutboxWriteError);
      await outbox.ack([acked!]).catch(() => undefined);
      disk.sick = undefined;
      disk.readOnly = false;
      await outbox.close();
      assert.deepEqual((await open()).pending().map((entry) => entry.item.from), ['kept']);
    });

    it('a write that fails and is cut off (ENOSPC): refused; the acknowledgements it carried are written with the next commit', async () => {
      const disk: { sick?: string; readOnly: boolean } = { readOnly: false };
      const outbox = await open({ openFile: sickOpen(disk) });
      const [first] = await outbox.append('k', [{ from: '1' }]);
      disk.sick = 'ENOSPC';
      const refusedAppend = outbox.append('k', [{ from: 'refused' }]);
      const ack = outbox.ack([first!]);
      await assert.rejects(refusedAppend, (error: Error) => error instanceof OutboxWriteError && error.code === 'ENOSPC');
      await assert.rejects(ack, OutboxWriteError);
      disk.sick = undefined;
      await outbox.append('k', [{ from: '2' }]);
      await outbox.close();
      assert.deepEqual((await open()).pending().map((entry) => entry.item.from), ['2'], 'the acknowledged record is not sent again after a restart');
    });
  });
});
