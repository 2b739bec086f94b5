/**
 * The lock file of an outbox journal: `<name>.lock` holds the pid and host of the process that
 * has the journal open, so two runtimes cannot write one journal. A lock whose holder is gone
 * (dead pid, another host, our own pid reused after a restart) is taken over.
 */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import { errorCode } from './errors';

/** Another live process holds the journal's lock file. */
export class OutboxLockedError extends Error {
  override name = 'OutboxLockedError';
  constructor(
    readonly lockFile: string,
    readonly holder: { pid: number; host: string },
    detail: string,
  ) {
    super(
      `Outbox journal is in use: lock file ${lockFile} belongs to process ${holder.pid} on ` +
        `host ${holder.host || '?'} (${detail}). Two Node-RED runtimes must not share one outbox ` +
        `directory; if that process is not a Node-RED runtime using this directory, delete the lock file.`,
    );
  }
}

/** Lock files held by this process: tells a stale lock with our reused pid (container pid 1) from our own. */
const locksHeldByThisProcess = new Set<string>();

/** Creates `lockFile` with our pid and host; rejects with OutboxLockedError while a live holder has it. */
export async function acquireLock(lockFile: string): Promise<void> {
  if (locksHeldByThisProcess.has(lockFile)) {
    throw new OutboxLockedError(lockFile, { pid: process.pid, host: os.hostname() }, 'this runtime has it open already; close it first');
  }
  // Claimed before any await, so two open() calls in this process cannot both pass.
  locksHeldByThisProcess.add(lockFile);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await fsp.open(lockFile, 'wx', 0o600);
        try {
          await fh.writeFile(`${process.pid}\n${os.hostname()}\n`);
        } finally {
          await fh.close();
        }
        return;
      } catch (err) {
        if (errorCode(err) !== 'EEXIST' || attempt >= 3) throw err;
      }
      const holder = await readLock(lockFile);
      if (holder && !isStale(holder)) {
        throw new OutboxLockedError(lockFile, holder, 'that process is running');
      }
      await fsp.rm(lockFile, { force: true });
    }
  } catch (err) {
    locksHeldByThisProcess.delete(lockFile);
    throw err;
  }
}

/** Removes `lockFile` if this process holds it; a lock taken over by another process is left alone. */
export async function releaseLock(lockFile: string): Promise<void> {
  if (!locksHeldByThisProcess.delete(lockFile)) return;
  const holder = await readLock(lockFile).catch(() => undefined);
  if (holder?.pid === process.pid) await fsp.rm(lockFile, { force: true }).catch(() => undefined);
}

/** The lock's holder; undefined when the file is gone or unreadable (a crash before its content was written). */
async function readLock(lockFile: string): Promise<{ pid: number; host: string } | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(lockFile, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const [pidText, host = ''] = text.split('\n');
  const pid = Number(pidText);
  return Number.isSafeInteger(pid) && pid > 0 ? { pid, host } : undefined;
}

function isStale(holder: { pid: number; host: string }): boolean {
  // A lock from another host is almost always a recreated container (a new hostname over the same
  // user-dir volume). Refusing would stop every call log until someone deleted the file by hand;
  // two live runtimes sharing one user dir is a misconfiguration that Node-RED itself does not support.
  if (holder.host !== os.hostname()) return true;
  // Our own pid but not our lock: a previous run that got the same pid (pid 1 in a container).
  if (holder.pid === process.pid) return true;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    return errorCode(err) === 'ESRCH';
  }
}
