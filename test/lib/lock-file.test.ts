import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireLock, OutboxLockedError, releaseLock } from '../../src/lib/lock-file';

describe('lib/lock-file', () => {
  let dir: string;
  let lockFile: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lock-file-test-'));
    lockFile = path.join(dir, 'node_1.lock');
  });
  afterEach(async () => {
    await releaseLock(lockFile);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes our pid and host, refuses a second acquire in this process until released, then removes the file', async () => {
    await acquireLock(lockFile);
    assert.equal(fs.readFileSync(lockFile, 'utf8'), `${process.pid}\n${os.hostname()}\n`);
    await assert.rejects(acquireLock(lockFile), (err: unknown) => err instanceof OutboxLockedError && /open already/.test(err.message));
    await releaseLock(lockFile);
    assert.equal(fs.existsSync(lockFile), false);
    await acquireLock(lockFile);
    assert.equal(fs.existsSync(lockFile), true);
  });

  it('takes over a stale lock of a dead process, and an empty lock file', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    fs.writeFileSync(lockFile, `${dead.stdout}\n${os.hostname()}\n`);
    await acquireLock(lockFile);
    assert.equal(fs.readFileSync(lockFile, 'utf8').split('\n')[0], String(process.pid));
    await releaseLock(lockFile);
    fs.writeFileSync(lockFile, '');
    await acquireLock(lockFile);
    assert.equal(fs.readFileSync(lockFile, 'utf8').split('\n')[0], String(process.pid));
  });

  it('refuses a lock held by a live process, naming it, and leaves its file alone', async () => {
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(lockFile, `${holder.pid}\n${os.hostname()}\n`);
      await assert.rejects(acquireLock(lockFile), (err: unknown) => err instanceof OutboxLockedError && err.message.includes(`process ${holder.pid}`));
      await releaseLock(lockFile);
      assert.equal(fs.readFileSync(lockFile, 'utf8').split('\n')[0], String(holder.pid));
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
