/**
 * Fault suite, part 3: the outbox journal on a sick disk, for real (the faults need root: without
 * it, or without loop devices, those tests skip, saying so):
 * - a full disk (ENOSPC): a tmpfs of 256 KiB, filled up while the journal is open;
 * - a disk that turns read-only (EROFS) under the open journal: an ext4 image on a loop device
 *   mounted with errors=remount-ro, and a file-system error injected through
 *   /sys/fs/ext4/<loop>/trigger_fs_error, so the kernel remounts it read-only as on a failing disk
 *   (loop-disk.ts; `mount -o remount,ro` would not do: it refuses while a file is open for
 *   writing). It is mended as an admin would: lazy umount, e2fsck, mount again on the same path;
 * - a deleted directory: rm -rf of the outbox directory while the journal is open.
 *
 * Each test checks what matters: an append the disk did not take is refused with an error naming
 * the journal (so its directory) and the cause, never resolved as kept; once the disk is well
 * again, appends work without reopening; and a reopen finds exactly the records reported kept.
 * The read-only disk is also run through a deployed sangam-call-log node: Catch, status, log, and
 * delivery after the disk is mended, without a restart.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Outbox, OutboxProblem, OutboxWriteError } from '../../src/lib/outbox';
import { LoopDisk } from './loop-disk';
import { faultRecord } from './delivery-figures';
import { SECRET_TOKEN, USER_DIR, catchNode, collect, helper, loggedText } from '../support/node-red';
import { sangamFlow, useSangamCrm } from '../support/sangam-crm';
import { withCatalog } from '../support/catalog';
import sangamConfig = require('../../src/sangam-config');
import sangamCallLog = require('../../src/sangam-call-log');

function mountTmpfs(dir: string, size: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return ((error as { stderr?: Buffer }).stderr?.toString() || (error as Error).message).trim();
  }
}

/** Fills the file system of `dir` to the last byte with a file `filler`; returns its path. */
function fillUp(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOSPC') throw error;
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

/** A record of about `bytes` of JSON text, so that one append needs new pages of the tmpfs. */
function record(ref: string, bytes = 16 * 1024): string {
  return JSON.stringify({ call_ref: ref, pad: 'x'.repeat(bytes) });
}

const refsOf = (outbox: Outbox<string>): string[] => outbox.pending().map((entry) => (JSON.parse(entry.item) as { call_ref: string }).call_ref);

describe('fault suite: the outbox journal on a sick disk', function () {
  this.timeout(60_000);
  let root: string;
  const disks: LoopDisk[] = [];

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sangam-sick-disk-'));
  });
  afterEach(() => {
    for (const disk of disks.splice(0)) disk.dispose();
    try {
      execFileSync('umount', [root], { stdio: 'pipe' });
    } catch {
      // Not mounted (the test skipped, or did not mount).
    }
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('a full disk (ENOSPC, tmpfs): the append is refused naming the journal and the cause, nothing is claimed kept, and it works again once space is freed', async function () {
    const refused = mountTmpfs(root, '256k');
    if (refused !== undefined) {
      console.log(`      [faults] SKIPPED the full-disk test: cannot mount a tmpfs here (${refused}); run as root`);
      this.skip();
    }
    const dir = path.join(root, 'sangam-outbox');
    let outbox = await Outbox.open<string>({ dir, name: 'crm', itemsAreJsonText: true });
    await outbox.append('ivr', [record('before')]);
    const filler = fillUp(root);
    await assert.rejects(outbox.append('ivr', [record('full')]), (error: Error) => {
      assert.ok(error instanceof OutboxWriteError && error.code === 'ENOSPC', error.message);
      assert.ok(error.message.startsWith('Outbox journal not written (ENOSPC: '), error.message);
      assert.ok(error.message.includes(path.join(dir, 'crm.journal')), error.message);
      return true;
    });
    assert.deepEqual(refsOf(outbox), ['before'], 'the refused record is not pending');
    fs.rmSync(filler);
    // Same outbox, no reopen: the disk has room again.
    await outbox.append('ivr', [record('after')]);
    assert.deepEqual(refsOf(outbox), ['before', 'after']);
    await outbox.close();
    outbox = await Outbox.open<string>({ dir, name: 'crm', itemsAreJsonText: true });
    assert.deepEqual(refsOf(outbox), ['before', 'after'], 'a restart finds exactly what was reported kept');
    await outbox.close();
  });

  it('a disk that turns read-only (EROFS, ext4 on a loop device): appends are refused naming the directory and the cause, and once it is mended the journal is written anew and works, without a reopen', async function () {
    const disk = LoopDisk.create(root);
    if (typeof disk === 'string') {
      console.log(`      [faults] SKIPPED the read-only-disk test: ${disk}; run as root on a machine with loop devices`);
      this.skip();
    }
    disks.push(disk);
    const dir = path.join(root, 'sangam-outbox');
    const problems: OutboxProblem[] = [];
    const outbox = await Outbox.open<string>({ dir, name: 'crm', itemsAreJsonText: true, onProblem: (problem) => problems.push(problem) });
    await outbox.append('ivr', [record('before', 10)]);
    await outbox.append('ivr', [record('acked', 10)]);
    disk.breakDown();
    const refusedSaying = (error: unknown): boolean => {
      assert.ok(error instanceof OutboxWriteError, String(error));
      assert.equal(error.code, 'EROFS', error.message);
      assert.ok(error.message.startsWith('Outbox journal not written ('), error.message);
      assert.ok(error.message.includes(`${dir}/crm.journal`), error.message);
      return true;
    };
    // The write fails, and so does cutting it off: the journal's tail is unknown from here on.
    await assert.rejects(outbox.append('ivr', [record('ro-1', 10)]), refusedSaying);
    // Writing the journal anew (temp file + rename) fails too while the disk is read-only.
    await assert.rejects(outbox.append('ivr', [record('ro-2', 10)]), refusedSaying);
    // An acknowledgement the disk cannot take still counts: its record is not resent.
    await outbox.ack([2]).catch(() => undefined);
    assert.deepEqual(refsOf(outbox), ['before'], 'nothing refused is pending');
    assert.deepEqual(problems.map((problem) => problem.kind), ['write-failed'], 'told once, not per refused append');

    disk.mend(); // e2fsck would refuse if the journal's handle on the sick disk were still open
    await outbox.append('ivr', [record('after', 10)]);
    assert.deepEqual(problems.map((problem) => problem.kind), ['write-failed', 'write-recovered']);
    assert.deepEqual(refsOf(outbox), ['before', 'after']);
    await outbox.close();
    const reopened = await Outbox.open<string>({ dir, name: 'crm', itemsAreJsonText: true });
    assert.deepEqual(refsOf(reopened), ['before', 'after'], 'a restart finds exactly what was reported kept and not acknowledged');
    await reopened.close();
  });

  it('a deleted directory: the journal is written anew in a new directory, so what is reported kept survives a restart', async () => {
    const dir = path.join(root, 'sangam-outbox');
    let outbox = await Outbox.open<string>({ dir, name: 'crm', itemsAreJsonText: true });
    await outbox.append('ivr', [record('before', 10)]);
    fs.rmSync(dir, { recursive: true, force: true });
    await outbox.append('ivr', [record('after', 10)]);
    assert.ok(fs.existsSync(path.join(dir, 'crm.journal')), 'the journal is back on disk');
    await outbox.ack([1]);
    await outbox.close();
    outbox = await Outbox.open<string>({ dir, name: 'crm', itemsAreJsonText: true });
    assert.deepEqual(refsOf(outbox), ['after'], 'a restart finds what was kept after the deletion, and not what was acknowledged');
    await outbox.close();
  });
});

describe('fault suite: a deployed sangam-call-log whose outbox disk turns read-only', function () {
  this.timeout(120_000);
  const outboxDir = path.join(USER_DIR, 'sangam-outbox');
  let disk: LoopDisk | undefined;
  // Registered before useSangamCrm's hooks, so it runs first: the mount goes (lazily, the journal
  // may still be open) before the helper's cleanup removes the outbox directory.
  afterEach(() => {
    disk?.dispose();
    disk = undefined;
  });
  const crm = useSangamCrm();

  interface Msg {
    payload: { call_ref?: string };
    error?: { message: string };
  }

  function send(tag: string, count: number): void {
    for (let i = 0; i < count; i++) helper.getNode('log').receive({ payload: faultRecord(`${tag}-${i}`) });
  }

  async function load(): Promise<void> {
    const flow = sangamFlow({ domain: crm().url, config: { ivrName: 'faults', timezone: 'UTC', timeout: 1000 }, node: { batchWindow: 10, retries: 0 } });
    await helper.load([withCatalog, sangamConfig, sangamCallLog, catchNode], flow, { crm: { token: SECRET_TOKEN } });
  }

  it('Catch gets an error naming the directory and EROFS, the status and the log (once) say it, nothing refused is kept; once the disk is mended msgs are kept again without a restart, and a restart finds and delivers exactly the records reported kept', async function () {
    fs.mkdirSync(outboxDir, { recursive: true });
    const made = LoopDisk.create(outboxDir);
    if (typeof made === 'string') {
      console.log(`      [faults] SKIPPED the read-only-disk node test: ${made}; run as root on a machine with loop devices`);
      this.skip();
    }
    disk = made;
    await load();
    const statusSpy = helper.getNode('log').status as unknown as { getCalls(): Array<{ thisValue: { id: string }; args: Array<{ fill?: string; text?: string }> }> };
    const shown = (): Array<{ fill?: string; text?: string }> => statusSpy.getCalls().filter((call) => call.thisValue.id === 'log').map((call) => call.args[0]);
    const logged = (part: string): number => helper.log().args.filter((args) => JSON.stringify(args).includes(part)).length;

    // The CRM is down: each msg's record is kept in the journal, and its msg says so.
    await crm().goDown();
    const kept = collect<Msg>('caught', 3);
    send('kept', 3);
    for (const msg of await kept) assert.match(msg.error?.message ?? '', /kept in the outbox and will be retried/);

    disk.breakDown();
    const refused = collect<Msg>('caught', 2);
    send('ro', 2);
    for (const msg of await refused) {
      const message = msg.error?.message ?? '';
      assert.ok(message.includes(`${outboxDir}/crm.journal`) && message.includes('EROFS') && message.includes('not kept'), message);
      assert.doesNotMatch(message, /kept in the outbox/);
    }
    assert.ok(shown().some((status) => status.fill === 'red' && /EROFS/.test(status.text ?? '')), JSON.stringify(shown()));
    assert.equal(logged('cannot be written (EROFS'), 1, 'the config logs the failing disk once');

    // Mended as an admin would, while Node-RED runs: the journal is written anew from memory.
    disk.mend();
    const keptAfter = collect<Msg>('caught', 2);
    send('after', 2);
    for (const msg of await keptAfter) assert.match(msg.error?.message ?? '', /kept in the outbox and will be retried/);
    assert.equal(logged('is written again; call logs are kept again'), 1);

    // A restart: the journal holds exactly the records reported kept, and nothing refused.
    await helper.unload();
    const reader = await Outbox.open<string>({ dir: outboxDir, name: 'crm', itemsAreJsonText: true });
    assert.deepEqual(refsOf(reader).sort(), ['after-0', 'after-1', 'kept-0', 'kept-1', 'kept-2']);
    await reader.close();
    await crm().comeBack();
    await load();
    await crm().waitForRecords(5, 30_000);
    assert.deepEqual(crm().callLogs.map((entry) => entry.record.call_ref).sort(), ['after-0', 'after-1', 'kept-0', 'kept-1', 'kept-2']);
  });

  it('records kept before the disk turned read-only are still delivered from memory, and their acknowledgements, written once it is mended, keep a restart from sending them again', async function () {
    fs.mkdirSync(outboxDir, { recursive: true });
    const made = LoopDisk.create(outboxDir);
    if (typeof made === 'string') {
      console.log(`      [faults] SKIPPED the read-only-disk replay test: ${made}; run as root on a machine with loop devices`);
      this.skip();
    }
    disk = made;
    await load();
    await crm().goDown();
    const kept = collect<Msg>('caught', 3);
    send('kept', 3);
    for (const msg of await kept) assert.match(msg.error?.message ?? '', /kept in the outbox and will be retried/);

    disk.breakDown();
    await crm().comeBack();
    const flushed = await helper.request().post('/sangam-config/crm/outbox/flush');
    assert.equal(flushed.status, 200);
    assert.equal((flushed.body as { entries: number }).entries, 0, 'sent from memory; the acknowledgement could not be written');
    assert.deepEqual(crm().callLogs.map((entry) => entry.record.call_ref).sort(), ['kept-0', 'kept-1', 'kept-2']);

    // The acknowledgement's write fails after the flush answered: the config logs it (once).
    const logged = (part: string): number => helper.log().args.filter((args) => JSON.stringify(args).includes(part)).length;
    for (const deadline = Date.now() + 20_000; logged('cannot be written (EROFS') === 0; ) {
      if (Date.now() > deadline) assert.fail(`the failed acknowledgement was not logged: ${loggedText()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    disk.mend();
    const out = collect<Msg>('out', 1);
    send('after', 1);
    await out;
    await helper.unload();
    const reader = await Outbox.open<string>({ dir: outboxDir, name: 'crm', itemsAreJsonText: true });
    assert.deepEqual(refsOf(reader), [], 'the journal written anew holds none of the records the CRM stored');
    await reader.close();
    assert.equal(crm().callLogs.length, 4, 'each record stored once');
  });
});
