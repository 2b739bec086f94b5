/**
 * Fault suite, part 3: the outbox journal on a sick disk, for real. A full disk is a tmpfs of
 * 256 KiB (mount needs root: without it these tests skip, loudly); a deleted directory is rm -rf
 * of the outbox directory while the journal is open.
 *
 * Not here: a disk that turns read-only under an open journal. `mount -o remount,ro` refuses
 * (EBUSY) while a file on it is open for writing, as the journal always is; only the kernel's
 * errors=remount-ro on a failing block device does it (dm-error would be the way to test it).
 *
 * Each test checks what matters: an append the disk did not take is refused with an error naming
 * the journal (so its directory) and the cause, never resolved as kept; once the disk is well
 * again, appends work without reopening; and a reopen finds exactly the records reported kept.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Outbox } from '../../src/lib/outbox';

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

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sangam-sick-disk-'));
  });
  afterEach(() => {
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
      assert.ok(error.message.startsWith(`Outbox could not write ${path.join(dir, 'crm.journal')}: ENOSPC`), error.message);
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
