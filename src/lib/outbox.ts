/**
 * Durable outbox: a write-ahead journal of records waiting for the CRM's acknowledgement.
 *
 * Records are journalled before they are sent and dropped only once acknowledged, so a crash,
 * a redeploy or a restart loses none of them: `Outbox.open()` recovers what was not acknowledged.
 *
 * On disk: `<dir>/<name>.journal`, append-only, one line per append() or ack() call, in the
 * checksummed line format of journal-line.ts. Appends and acks of one event-loop turn are written
 * with one write and one sync (a group commit of at most MAX_COMMIT_BYTES):
 *
 * payloads: `["H",1,nextId]` header (first line; carries the id counter across compactions),
 *           `["A",firstId,key,[item,...]]` one append() call: ids firstId, firstId+1, ...,
 *           `["K",[id,...]]` acknowledged ids.
 * A line whose length or CRC does not match is corrupt: at the end of the file it is a torn write
 * and is cut off on open; in the middle it is skipped (reported through `onCorrupt`).
 * Compaction writes the live entries to `<name>.journal.tmp`, syncs it and renames it over the
 * journal. `<name>.lock` (lock-file.ts) holds the pid and host of the process that has the journal open.
 *
 * A sick disk: an append is resolved only once its line is written (and synced), so a write the
 * disk refuses (ENOSPC, EROFS, EIO) rejects it with an OutboxWriteError and nothing of it counts as
 * kept. A failed write is cut off again; when that cut fails too (a disk turned read-only), or a
 * sync failed, the file's tail is unknown: the journal is then written anew from memory (the
 * compaction's temp + rename) before the next group commit, and until that succeeds every batch is
 * refused. A crash meanwhile leaves the last good journal: what it may hold of a refused write is a
 * torn line that recovery cuts off, or whole lines of records whose msgs were refused (at least
 * once: sent, never lost).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { AbortedError, errorCode } from './errors';
import { decodeJsonTextLine, decodeLine, encodeJsonTextAppend, encodeLine, FORMAT_VERSION, HEADER_MAX_BYTES, JournalPayload, JsonTextPayload, jsonTextAppendPayloadBytes, lineBytes, writeJsonTextAppend } from './journal-line';
import { acquireLock, releaseLock } from './lock-file';

export { OutboxLockedError } from './lock-file';

const MiB = 1024 * 1024;
export const DEFAULT_MAX_ENTRIES = 100_000;
export const DEFAULT_MAX_BYTES = 256 * MiB;
/** Bytes handed to one write() call; bounds the copy made when many lines are written at once. */
const WRITE_CHUNK_BYTES = MiB;
/**
 * Bytes read per read() call during recovery. The lines of one read are checked and applied
 * before the next read yields: at about 25 MB/s of records, a 256 KiB read keeps the event loop
 * about 10 ms (pop-ups then wait no longer behind the start), where 1 MiB kept it 20-60 ms.
 */
const READ_CHUNK_BYTES = 256 * 1024;
/**
 * A group commit writes at most this much (at least one line): appends beyond it wait, as JSON
 * texts the caller holds anyway, and their lines are made when their commit runs. Without it a
 * burst that outruns the disk held each record twice (text and line) for every commit it waited.
 */
const MAX_COMMIT_BYTES = 4 * 1024 * 1024;

/** Compaction puts at most this many entries on one line, so no line gets huge. */
const MAX_ITEMS_PER_COMPACTED_LINE = 1000;
/** The writer's buffer is kept while it is idle only up to this size (see writeBuffer). */
const KEPT_IDLE_BUFFER_BYTES = 64 * 1024;
/** An emptied journal is restarted only past this size: not one rename + fsyncs per record. */
const EMPTY_ROTATE_MIN_BYTES = 64 * 1024;
/**
 * A journal to be written anew (its tail unknown after a failed write) holding more than this is
 * tried at most once per REPAIR_RETRY_MS: each try may write that much before the disk fails it.
 * A small one is tried before every group commit, so a mended disk is used at once.
 */
const REPAIR_BACKOFF_MIN_BYTES = MiB;
const REPAIR_RETRY_MS = 1_000;

export interface OutboxOptions {
  /** Directory of the journal, e.g. `<userDir>/sangam-outbox`; created (mode 0o700) if missing. */
  dir: string;
  /** File stem, e.g. the config node id; characters outside [A-Za-z0-9_-] become `_`. */
  name: string;
  /** Bound on entries waiting for acknowledgement (default 100000). */
  maxEntries?: number;
  /**
   * Bound on the journal file's size (default 256 MiB). An append that would push it past this
   * even after compaction is rejected. During compaction a second file of up to this size exists.
   */
  maxBytes?: number;
  /** 'fsync' (default): append() resolves after fdatasync. 'write': once the OS has the bytes. */
  durability?: 'fsync' | 'write';
  /** Called for each run of corrupt bytes found on open (the outbox skips them and goes on). */
  onCorrupt?: (report: CorruptJournalReport) => void;
  /**
   * Items are JSON texts (T = string), written into the journal verbatim and handed back as text:
   * a caller that already serialised its records saves a second encoding, an escaped copy and a
   * parse per append.
   */
  itemsAreJsonText?: boolean;
  /**
   * Told when a failure the outbox works around in the background begins, and when it is over:
   * once each, not once per retry, so the owner can log it and show it in a status.
   */
  onProblem?: (problem: OutboxProblem) => void;
  /**
   * Opens the journal and the compaction file (default: `fs.promises.open`). For instrumentation:
   * tests wrap the handles to count the writes and syncs the outbox makes.
   */
  openFile?: (file: string, flags: 'r+' | 'w+', mode?: number) => Promise<fsp.FileHandle>;
}

/**
 * `compaction-failed`: the journal could not be rewritten (`error` says why, e.g. ENOSPC). Nothing
 * is lost: the old journal stays in use and grows, compaction is retried as more of it is
 * acknowledged, and appends are refused as "outbox full" once it reaches maxBytes.
 * `compaction-recovered`: a compaction succeeded after failing.
 */
export type OutboxProblem =
  | { kind: 'compaction-failed'; journal: string; error: Error }
  | { kind: 'compaction-recovered'; journal: string }
  /** A group commit failed (the first of a spell): its appends were refused, each with the OutboxWriteError `error`. */
  | { kind: 'write-failed'; journal: string; error: OutboxWriteError }
  /** A group commit succeeded after failing: appends are kept again. */
  | { kind: 'write-recovered'; journal: string };

export interface CorruptJournalReport {
  file: string;
  /** Byte offset and length of the corrupt run. */
  offset: number;
  bytes: number;
  reason: string;
  /** True for a torn last write (cut off on open); false for damage followed by good lines. */
  atTail: boolean;
}

export interface OutboxEntry<T> {
  id: number;
  item: T;
  /** Grouping key given to append() (e.g. an IVR name): entries are resent per key. */
  key: string;
}

/** append() would exceed maxEntries or maxBytes: the msg is rejected, nothing of it journalled. */
export class OutboxFullError extends Error {
  override name = 'OutboxFullError';
  constructor(
    readonly waiting: { entries: number; bytes: number },
    readonly limits: { maxEntries: number; maxBytes: number },
    readonly rejected: number,
  ) {
    super(
      `Outbox full: ${waiting.entries} records wait for the CRM (journal ${formatBytes(waiting.bytes)}; ` +
        `limits ${limits.maxEntries} records, ${formatBytes(limits.maxBytes)}). ` +
        `This msg's ${rejected} record(s) were rejected, not dropped: nothing of it was journalled.`,
    );
  }
}

/**
 * The disk did not take a group commit: its appends are refused and nothing of them counts as kept.
 * `code` is the file system's (ENOSPC, EROFS, EIO, ...); the message names the journal (so its
 * directory) and the cause, and leads with the cause so a shortened form (a node status) still says it.
 */
export class OutboxWriteError extends Error {
  override name = 'OutboxWriteError';
  /** The file system's error code, e.g. EROFS. */
  readonly code: string | undefined;
  /** The cause alone, e.g. `EROFS: read-only file system, write`. */
  readonly reason: string;
  /**
   * `what` leads the cause in the message; `takesAgain` says when records are taken again (by
   * default: once the journal's directory takes writes, which is what a disk that fails needs).
   */
  constructor(
    readonly journal: string,
    cause: unknown,
    what = '',
    takesAgain = `as soon as ${path.dirname(journal)} takes writes`,
  ) {
    const reason = `${what}${errorMessage(cause)}`;
    super(
      `Outbox journal not written (${reason}): ${journal}; the msg's records are not kept. ` +
        `The outbox takes records again ${takesAgain}, without a restart.`,
    );
    this.code = errorCode(cause);
    this.reason = reason;
  }
}

interface StoredEntry<T> {
  id: number;
  key: string;
  item: T;
  /** This entry's share of the journal line that holds it (shares of a line sum to its length). */
  bytes: number;
}

type WriteOp<T> =
  | {
      kind: 'append';
      /** The line's length; the line itself is made when its commit runs (JSON-text items), or at append. */
      bytes: number;
      line: Buffer | undefined;
      /** payloadBytes for encodeJsonTextAppend when `line` is made at commit. */
      payloadBytes: number;
      firstId: number;
      key: string;
      items: T[];
      resolve: (ids: number[]) => void;
      reject: (err: Error) => void;
    }
  | { kind: 'ack'; bytes: number; line: Buffer; resolve: () => void; reject: (err: Error) => void }
  | { kind: 'task'; run: () => Promise<void> };

interface Settings {
  paths: { dir: string; journal: string; temp: string; lock: string };
  limits: { maxEntries: number; maxBytes: number };
  syncOnWrite: boolean;
  itemsAreJsonText: boolean;
  onProblem: OutboxOptions['onProblem'];
  openFile: NonNullable<OutboxOptions['openFile']>;
}

export class Outbox<T> {
  private readonly entries = new Map<number, StoredEntry<T>>();
  private readonly queue: WriteOp<T>[] = [];
  private writerRunning = false;
  /**
   * The writer's last buffer (a group commit's or a compaction's), which the next one writes its
   * lines into when it fits: in a burst each commit's lines (megabytes) would otherwise be new
   * memory that only a full garbage collection gives back. At most MAX_COMMIT_BYTES is kept while the writer is busy, and
   * KEPT_IDLE_BUFFER_BYTES once it is idle.
   */
  private writerBuffer: Buffer | undefined;
  private nextId = 1;
  /** Length of the journal file: everything before it is written (and synced in 'fsync' mode). */
  private fileBytes = 0;
  /** Sum of `bytes` of the entries in `entries`. */
  private liveBytes = 0;
  private queuedEntries = 0;
  private queuedAppendBytes = 0;
  private queuedBytes = 0;
  private compactRequested = false;
  /** After a failed compaction, wait until this much is dead before trying again. */
  private compactRetryAtDeadBytes = 0;
  /** The compaction failure told to onProblem and not yet followed by a success. */
  private compactionFailing = false;
  /** The write failure told to onProblem and not yet followed by a successful group commit. */
  private writeFailing = false;
  /**
   * Set when the journal file cannot be trusted (a failed write not cut off, a failed sync) or is
   * gone: it is written anew from memory before anything else is written. Its handle is closed.
   */
  private damaged: Error | undefined;
  /** After a large failed rewrite of a damaged journal: no new try before this time (ms). */
  private repairNotBefore = 0;
  /**
   * Ack lines of a failed group commit whose file was cut back clean (ENOSPC): written with the
   * next one, so a restart does not send their records again. Moot once the journal is rewritten.
   */
  private unwrittenAcks: Buffer[] = [];
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  private readonly paths: Settings['paths'];
  private readonly limits: Settings['limits'];
  private readonly syncOnWrite: boolean;
  private readonly itemsAreJsonText: boolean;
  private readonly onProblem: Settings['onProblem'];
  private readonly openFile: Settings['openFile'];

  private constructor(
    private fh: fsp.FileHandle,
    settings: Settings,
  ) {
    this.paths = settings.paths;
    this.limits = settings.limits;
    this.syncOnWrite = settings.syncOnWrite;
    this.itemsAreJsonText = settings.itemsAreJsonText;
    this.onProblem = settings.onProblem;
    this.openFile = settings.openFile;
  }

  /** Opens (or creates) the journal, takes its lock and recovers the unacknowledged entries. */
  static async open<T>(options: OutboxOptions): Promise<Outbox<T>> {
    const stem = options.name.replace(/[^A-Za-z0-9_-]/g, '_');
    if (!stem) throw new TypeError('Outbox name must not be empty');
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (!(Number.isInteger(maxEntries) && maxEntries > 0)) throw new RangeError(`Outbox maxEntries must be a positive integer, got ${maxEntries}`);
    if (!(Number.isInteger(maxBytes) && maxBytes >= 1024)) throw new RangeError(`Outbox maxBytes must be an integer >= 1024, got ${maxBytes}`);
    const dir = path.resolve(options.dir);
    const journal = path.join(dir, `${stem}.journal`);
    const paths = { dir, journal, temp: `${journal}.tmp`, lock: path.join(dir, `${stem}.lock`) };
    const settings: Settings = {
      paths,
      limits: { maxEntries, maxBytes },
      syncOnWrite: options.durability !== 'write',
      itemsAreJsonText: options.itemsAreJsonText === true,
      onProblem: options.onProblem,
      openFile: options.openFile ?? ((file, flags, mode) => fsp.open(file, flags, mode)),
    };

    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    await acquireLock(paths.lock);
    try {
      // A temp file is a compaction that did not reach its rename: the journal is still whole.
      await fsp.rm(paths.temp, { force: true });
      let fh: fsp.FileHandle | undefined;
      try {
        fh = await settings.openFile(journal, 'r+');
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
      }
      if (!fh) {
        const outbox = new Outbox<T>(await settings.openFile(journal, 'w+', 0o600), settings);
        await outbox.rewrite([]);
        return outbox;
      }
      const outbox = new Outbox<T>(fh, settings);
      try {
        await outbox.recover(options.onCorrupt);
      } catch (err) {
        await fh.close();
        throw err;
      }
      return outbox;
    } catch (err) {
      await releaseLock(paths.lock);
      throw err;
    }
  }

  /**
   * Journals `items` under `key`, all or nothing, and resolves with their ids once they are
   * durable. Rejects with OutboxFullError (nothing journalled) when a bound would be exceeded.
   * Items must be JSON values; pending() returns them as read back from JSON.
   */
  append(key: string, items: readonly T[]): Promise<number[]> {
    if (this.closing) return Promise.reject(new AbortedError(`Outbox ${this.paths.journal} is closed`));
    if (this.failure) return Promise.reject(this.failure);
    if (items.length === 0) return Promise.resolve([]);
    const firstId = this.nextId;
    let line: Buffer | undefined;
    let payload: string | undefined;
    let payloadBytes = 0;
    let bytes: number;
    try {
      if (this.itemsAreJsonText) {
        payloadBytes = jsonTextAppendPayloadBytes(firstId, String(key), items as readonly unknown[] as readonly string[]);
        bytes = lineBytes(payloadBytes);
      } else {
        payload = JSON.stringify(['A', firstId, String(key), items]);
        line = encodeLine(payload);
        bytes = line.length;
      }
    } catch (err) {
      return Promise.reject(new TypeError(`Outbox records must be JSON values: ${errorMessage(err)}`));
    }
    const room = this.roomFor(items.length, bytes);
    if (room instanceof OutboxFullError) return Promise.reject(room);
    if (room === 'after-compaction') this.compactRequested = true;

    // Keep what JSON gives back, so items look the same before and after a restart.
    const journalled = payload === undefined ? items.slice() : (JSON.parse(payload) as ['A', number, string, T[]])[3];
    this.nextId += items.length;
    this.queuedEntries += items.length;
    this.queuedAppendBytes += bytes;
    this.queuedBytes += bytes;
    return new Promise<number[]>((resolve, reject) => {
      this.enqueue({ kind: 'append', bytes, line, payloadBytes, firstId, key: String(key), items: journalled, resolve, reject });
    });
  }

  /**
   * Removes acknowledged entries and journals the acknowledgement; unknown ids are ignored.
   * The returned promise (settled once the ack line is written) may be ignored: a lost ack line
   * only means the entries are sent once more after a restart.
   */
  ack(ids: readonly number[]): Promise<void> {
    if (this.closing) return Promise.resolve();
    const known: number[] = [];
    for (const id of ids) {
      const entry = this.entries.get(id);
      if (!entry) continue;
      this.entries.delete(id);
      this.liveBytes -= entry.bytes;
      known.push(id);
    }
    if (known.length === 0) return Promise.resolve();
    const line = encodeLine(JSON.stringify(['K', known]));
    this.queuedBytes += line.length;
    const written = new Promise<void>((resolve, reject) => this.enqueue({ kind: 'ack', bytes: line.length, line, resolve, reject }));
    // Marked as handled so a caller that does not await it cannot crash the runtime.
    written.catch(() => undefined);
    return written;
  }

  /** Unacknowledged durable entries, in append order (including those recovered on open). */
  pending(): OutboxEntry<T>[] {
    const out: OutboxEntry<T>[] = [];
    for (const entry of this.entries.values()) out.push({ id: entry.id, item: entry.item, key: entry.key });
    return out;
  }

  /** Entries waiting (durable or being written) and the journal's size on disk once written. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size + this.queuedEntries, bytes: this.fileBytes + this.queuedBytes };
  }

  /** Writes what is queued, closes the journal and releases the lock. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.enqueue({
        kind: 'task',
        run: async () => {
          // A journal a failed write left behind is written anew if the disk takes it now, with the
          // acknowledgements made since: fewer records sent twice after the restart. Best effort.
          if (this.damaged || this.unwrittenAcks.length > 0) await this.writeBatch([]);
          // Closing cannot fail in a way the caller could act on; the lock is released regardless.
          await this.fh.close().catch(() => undefined);
          await releaseLock(this.paths.lock).catch(() => undefined);
          resolve();
        },
      });
    });
    return this.closing;
  }

  /**
   * Whether `count` more entries on a line of `lineBytes` fit within the bounds: now, only once the
   * journal is compacted (the caller then asks for a compaction), or not at all.
   */
  private roomFor(count: number, lineBytes: number): 'fits' | 'after-compaction' | OutboxFullError {
    const { maxEntries, maxBytes } = this.limits;
    const waiting = this.size;
    const fail = () => new OutboxFullError(waiting, this.limits, count);
    if (waiting.entries + count > maxEntries) return fail();
    if (waiting.bytes + lineBytes <= maxBytes) return 'fits';
    const afterCompaction = HEADER_MAX_BYTES + this.liveBytes + this.queuedAppendBytes + lineBytes;
    if (afterCompaction > maxBytes || this.deadBytes() < this.compactMinBytes()) return fail();
    return 'after-compaction';
  }

  private enqueue(op: WriteOp<T>): void {
    this.queue.push(op);
    if (this.writerRunning) return;
    this.writerRunning = true;
    // setImmediate, not a microtask: every append() of this turn of the event loop joins the write.
    setImmediate(() => {
      // Nothing in the writer is meant to throw; if it does, fail the outbox rather than the runtime.
      this.runWriter().catch((err: unknown) => {
        this.failure ??= asError(err);
      });
    });
  }

  /** Single writer: group-commits consecutive appends/acks (one writev, one sync), runs tasks (close) in order. */
  private async runWriter(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const first = this.queue[0]!;
        if (first.kind === 'task') {
          this.queue.shift();
          await first.run();
          continue;
        }
        let n = 1;
        let batchBytes = first.bytes;
        for (; n < this.queue.length; n++) {
          const next = this.queue[n]!;
          if (next.kind === 'task' || batchBytes + next.bytes > MAX_COMMIT_BYTES) break;
          batchBytes += next.bytes;
        }
        let batch = this.queue.splice(0, n) as Exclude<WriteOp<T>, { kind: 'task' }>[];
        if (this.shouldCompact(batchBytes) && (await this.tryCompact())) {
          // The compacted journal no longer holds the acknowledged entries: their ack lines are moot.
          for (const op of batch) if (op.kind === 'ack') this.settleAck(op);
          batch = batch.filter((op) => op.kind === 'append');
        }
        if (batch.length > 0) await this.writeBatch(batch);
        if (this.queue.length === 0 && this.shouldCompact(0)) await this.tryCompact();
      }
    } finally {
      this.writerRunning = false;
      // A burst's buffer is not kept once the writer has nothing to do: an idle outbox holds 64 KiB at most.
      if (this.writerBuffer && this.writerBuffer.length > KEPT_IDLE_BUFFER_BYTES) this.writerBuffer = undefined;
    }
  }

  private settleAck(op: { bytes: number; resolve: () => void }): void {
    this.queuedBytes -= op.bytes;
    op.resolve();
  }

  private async writeBatch(batch: Exclude<WriteOp<T>, { kind: 'task' }>[]): Promise<void> {
    const ready = this.failure ?? (await this.readyToWrite());
    let error = ready instanceof Error ? ready : undefined;
    if (ready === 'rewritten') {
      // The journal written anew holds no acknowledged entry: their ack lines are moot.
      for (const op of batch) if (op.kind === 'ack') this.settleAck(op);
      batch = batch.filter((op) => op.kind === 'append');
    }
    // Lines left to the commit are made only if the disk takes the batch; a failure to make one
    // (out of memory) refuses the batch as a failed write, so no append is left unanswered and
    // each says that its records are not kept.
    let commit: Buffer | undefined;
    if (!error) {
      try {
        commit = this.commitOf(batch);
      } catch (err) {
        const what = 'its lines could not be made: ';
        error = new OutboxWriteError(this.paths.journal, err, what, 'with the next msgs that memory allows');
      }
    }
    const start = this.fileBytes;
    const total = commit?.length ?? 0;
    if (!error && commit && total > 0) {
      let written = false;
      try {
        await writeAll(this.fh, [commit], start);
        written = true;
        if (this.syncOnWrite) await this.fh.datasync();
      } catch (err) {
        error = new OutboxWriteError(this.paths.journal, err);
        // A failed sync may have dropped pages it never wrote (the kernel forgets them): the file
        // is no longer trusted, whatever a truncate says. A failed write is cut off if it can be.
        if (written) await this.damage(err);
        else {
          try {
            // Cut a partial write off so that later lines follow a clean end of file.
            await this.fh.truncate(start);
          } catch {
            await this.damage(err);
          }
        }
      }
    }
    if (!error) {
      this.fileBytes = start + total;
      this.unwrittenAcks = [];
    } else if (!this.damaged) {
      for (const op of batch) if (op.kind === 'ack') this.unwrittenAcks.push(op.line);
    }
    this.tellWriteOutcome(error);
    for (const op of batch) {
      this.queuedBytes -= op.bytes;
      if (op.kind === 'ack') {
        if (error) op.reject(error);
        else op.resolve();
        continue;
      }
      this.queuedEntries -= op.items.length;
      this.queuedAppendBytes -= op.bytes;
      if (error) {
        op.reject(error);
        continue;
      }
      this.addEntries(op.firstId, op.key, op.items, op.bytes);
      op.resolve(op.items.map((_, i) => op.firstId + i));
    }
  }

  /**
   * The acknowledgements a failed write left unwritten and the batch's lines, in order, as one
   * buffer: the kept one when they fit in it. Append lines left to the commit are written straight
   * into it (writeJsonTextAppend checks each against the bytes counted at append).
   */
  private commitOf(batch: readonly Exclude<WriteOp<T>, { kind: 'task' }>[]): Buffer {
    let total = 0;
    for (const line of this.unwrittenAcks) total += line.length;
    for (const op of batch) total += op.bytes;
    const buffer = this.writeBuffer(total);
    let at = 0;
    for (const line of this.unwrittenAcks) at += line.copy(buffer, at);
    for (const op of batch) {
      if (op.kind === 'ack') at += op.line.copy(buffer, at);
      else if (op.line) at += op.line.copy(buffer, at);
      else at += writeJsonTextAppend(buffer, at, op.firstId, op.key, op.items as readonly unknown[] as readonly string[], op.payloadBytes);
    }
    if (at !== total) throw new RangeError(`a group commit of ${at} bytes, ${total} counted`);
    return buffer.subarray(0, total);
  }

  /**
   * The writer's buffer for lines (group commits, compaction), at least `bytes` long: the kept one
   * when it is big enough. One commit or compaction uses it at a time: the writer runs them in turn,
   * and the rewrite a journal may get while it is opened runs before the writer starts.
   */
  private writeBuffer(bytes: number): Buffer {
    const kept = this.writerBuffer;
    if (kept && kept.length >= bytes) return kept;
    // Rounded up, so that the next commits of a burst, a little bigger or smaller, fit too.
    const buffer = Buffer.allocUnsafe(bytes <= 4096 ? bytes : Math.ceil(bytes / 65_536) * 65_536);
    this.writerBuffer = buffer.length <= MAX_COMMIT_BYTES ? buffer : undefined;
    return buffer;
  }

  /** Tells onProblem when group commits start failing, and when one succeeds again: once each. */
  private tellWriteOutcome(error: Error | undefined): void {
    if (error instanceof OutboxWriteError && !this.writeFailing) {
      this.writeFailing = true;
      this.tellProblem({ kind: 'write-failed', journal: this.paths.journal, error });
    } else if (!error && this.writeFailing) {
      this.writeFailing = false;
      this.tellProblem({ kind: 'write-recovered', journal: this.paths.journal });
    }
  }

  /**
   * The journal file can no longer be trusted: it is written anew before the next write. Its handle
   * is closed now: nothing more goes into it, and a disk that failed can be unmounted and mended.
   */
  private async damage(cause: unknown): Promise<void> {
    this.damaged ??= asError(cause);
    await this.fh.close().catch(() => undefined);
  }

  /**
   * Before each group commit: resolves with the error that refuses the batch, or undefined once the
   * journal can take it. A journal deleted while open (its directory removed) still takes writes,
   * into a file no restart can find: records would be reported kept and be lost. So it is checked
   * (one fstat, beside a write and a sync) and, like a damaged one, written anew where it belongs
   * from the entries in memory ('rewritten'). The lock file of a deleted directory stays missing
   * until the next open.
   */
  private async readyToWrite(): Promise<OutboxWriteError | 'rewritten' | undefined> {
    let what = 'the journal could not be written anew: ';
    if (!this.damaged) {
      try {
        if ((await this.fh.stat()).nlink > 0) return undefined;
        what = 'the journal was deleted and could not be written anew: ';
        await this.damage(new Error('the journal was deleted'));
      } catch (err) {
        // fstat itself failed (EIO): the journal is as good as lost.
        await this.damage(err);
      }
    }
    if (Date.now() < this.repairNotBefore) return new OutboxWriteError(this.paths.journal, this.damaged, what);
    try {
      await fsp.mkdir(this.paths.dir, { recursive: true, mode: 0o700 });
      await this.rewrite(Array.from(this.entries.values()));
    } catch (err) {
      if (this.liveBytes >= REPAIR_BACKOFF_MIN_BYTES) this.repairNotBefore = Date.now() + REPAIR_RETRY_MS;
      return new OutboxWriteError(this.paths.journal, err, what);
    }
    return 'rewritten';
  }

  private addEntries(firstId: number, key: string, items: readonly T[], lineBytes: number): StoredEntry<T>[] {
    const share = Math.floor(lineBytes / items.length);
    const added: StoredEntry<T>[] = [];
    items.forEach((item, i) => {
      const bytes = i === 0 ? lineBytes - share * (items.length - 1) : share;
      const entry = { id: firstId + i, key, item, bytes };
      this.entries.set(entry.id, entry);
      added.push(entry);
    });
    this.liveBytes += lineBytes;
    return added;
  }

  /** Journal bytes that hold nothing pending: header, ack lines, acknowledged and corrupt lines. */
  private deadBytes(): number {
    return Math.max(0, this.fileBytes - this.liveBytes);
  }

  private compactMinBytes(): number {
    const { maxBytes } = this.limits;
    return Math.floor(Math.max(Math.min(MiB, maxBytes / 4), maxBytes / 16));
  }

  private shouldCompact(incomingBytes: number): boolean {
    // A damaged journal is written anew before the next group commit anyway (readyToWrite).
    if (this.damaged) return false;
    const dead = this.deadBytes();
    if (dead < this.compactRetryAtDeadBytes) return false;
    if (this.entries.size === 0 && this.queuedEntries === 0) {
      return dead >= Math.min(EMPTY_ROTATE_MIN_BYTES, this.compactMinBytes()) && this.fileBytes > HEADER_MAX_BYTES;
    }
    if (dead < this.compactMinBytes()) return false;
    return this.compactRequested || dead > this.liveBytes || this.fileBytes + incomingBytes > this.limits.maxBytes;
  }

  /** Compacts; on failure keeps the current journal (nothing lost), backs off and tells onProblem once. */
  private async tryCompact(): Promise<boolean> {
    try {
      await this.rewrite(Array.from(this.entries.values()));
    } catch (err) {
      this.compactRetryAtDeadBytes = this.deadBytes() + this.compactMinBytes();
      if (!this.compactionFailing) {
        this.compactionFailing = true;
        this.tellProblem({ kind: 'compaction-failed', journal: this.paths.journal, error: asError(err) });
      }
      return false;
    } finally {
      this.compactRequested = false;
    }
    if (this.compactionFailing) {
      this.compactionFailing = false;
      this.tellProblem({ kind: 'compaction-recovered', journal: this.paths.journal });
    }
    return true;
  }

  /** The owner's callback runs inside the writer: if it throws, that is its own bug, not a journal failure. */
  private tellProblem(problem: OutboxProblem): void {
    try {
      this.onProblem?.(problem);
    } catch (thrown) {
      queueMicrotask(() => {
        throw thrown;
      });
    }
  }

  /**
   * Replaces the journal with a header and `keep`: write temp, sync, rename over, sync directory.
   * A crash before the rename leaves the old journal; after it, the new one: both hold every
   * pending entry. Runs only inside the writer, so no append lands in between.
   */
  private async rewrite(keep: readonly StoredEntry<T>[]): Promise<void> {
    const fh = await this.openFile(this.paths.temp, 'w+', 0o600);
    /** Each kept entry's share of its new line, by its index in `keep`: set on the entries once the new journal is in place. */
    const newShares = new Array<number>(keep.length);
    let length = 0;
    try {
      // Lines are written into one buffer of about WRITE_CHUNK_BYTES, written out whenever the next
      // line would not fit: compacting 100,000 entries then makes no new memory per line.
      const chunk = this.writeBuffer(WRITE_CHUNK_BYTES);
      let used = 0;
      const flush = async (): Promise<void> => {
        if (used === 0) return;
        await writeAll(fh, [chunk.subarray(0, used)], length);
        length += used;
        used = 0;
      };
      const put = async (bytes: number, write: (target: Buffer, offset: number) => number): Promise<void> => {
        if (used + bytes > chunk.length) await flush();
        if (bytes > chunk.length) {
          // A line bigger than the chunk (records of hundreds of KB): a buffer of its own.
          const own = Buffer.allocUnsafe(bytes);
          write(own, 0);
          await writeAll(fh, [own], length);
          length += bytes;
          return;
        }
        used += write(chunk, used);
      };
      const copy = (line: Buffer) => (target: Buffer, offset: number) => line.copy(target, offset);
      const header = encodeLine(JSON.stringify(['H', FORMAT_VERSION, this.nextId]));
      await put(header.length, copy(header));
      for (let i = 0; i < keep.length; ) {
        // One line per run of consecutive ids under one key: the line format needs consecutive ids.
        let j = i + 1;
        while (j < keep.length && j - i < MAX_ITEMS_PER_COMPACTED_LINE && keep[j]!.key === keep[i]!.key && keep[j]!.id === keep[j - 1]!.id + 1) j++;
        const run = keep.slice(i, j);
        let lineLength: number;
        if (this.itemsAreJsonText) {
          const texts = run.map((e) => e.item as unknown as string);
          const payloadBytes = jsonTextAppendPayloadBytes(run[0]!.id, run[0]!.key, texts);
          lineLength = lineBytes(payloadBytes);
          await put(lineLength, (target, offset) => writeJsonTextAppend(target, offset, run[0]!.id, run[0]!.key, texts, payloadBytes));
        } else {
          const line = encodeLine(JSON.stringify(['A', run[0]!.id, run[0]!.key, run.map((e) => e.item)]));
          lineLength = line.length;
          await put(lineLength, copy(line));
        }
        const share = Math.floor(lineLength / run.length);
        for (let k = 0; k < run.length; k++) newShares[i + k] = k === 0 ? lineLength - share * (run.length - 1) : share;
        i = j;
      }
      await flush();
      // Always synced, even in 'write' mode: a rename of unsynced data can leave an empty journal after power loss.
      await fh.datasync();
      await fsp.rename(this.paths.temp, this.paths.journal);
    } catch (err) {
      await fh.close().catch(() => undefined);
      await fsp.rm(this.paths.temp, { force: true }).catch(() => undefined);
      throw err;
    }
    const old = this.fh;
    this.fh = fh;
    this.fileBytes = length;
    // Whatever was wrong with the old file (a tail a failed write left, its deletion) is gone with it.
    this.damaged = undefined;
    this.repairNotBefore = 0;
    this.unwrittenAcks = [];
    // Entries acknowledged while this ran were written but are gone from `entries`: they count as dead.
    if (keep.length === 0) this.entries.clear();
    for (let i = 0; i < keep.length; i++) keep[i]!.bytes = newShares[i]!;
    this.liveBytes = 0;
    for (const entry of this.entries.values()) this.liveBytes += entry.bytes;
    this.compactRetryAtDeadBytes = 0;
    await old.close().catch(() => undefined);
    // The rename is done: old or new journal, either is whole, so a failed directory sync changes nothing here.
    await syncDirectory(this.paths.dir).catch(() => undefined);
  }

  /** Reads the journal, applies its lines, reports and cuts off corrupt bytes at the end. */
  private async recover(onCorrupt: OutboxOptions['onCorrupt']): Promise<void> {
    const file = this.paths.journal;
    let offset = 0; // file offset of carry[0]
    let carry = Buffer.alloc(0);
    let validEnd = 0;
    let sawHeader = false;
    let bad: { offset: number; end: number; reason: string } | undefined;
    const report = (atTail: boolean) => {
      if (bad && onCorrupt) onCorrupt({ file, offset: bad.offset, bytes: bad.end - bad.offset, reason: bad.reason, atTail });
      bad = undefined;
    };
    const markBad = (start: number, end: number, reason: string) => {
      if (bad) bad.end = end;
      else bad = { offset: start, end, reason };
    };
    // The part of a line a read cut off is moved to the front of the buffer and the next read goes
    // after it: no copy of each read, and the buffer grows only for a line longer than itself.
    let readBuffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    for (;;) {
      if (carry.length === readBuffer.length) {
        const bigger = Buffer.allocUnsafe(readBuffer.length * 2);
        carry.copy(bigger);
        readBuffer = bigger;
      } else if (carry.length > 0) {
        carry.copy(readBuffer);
      }
      const { bytesRead } = await this.fh.read(readBuffer, carry.length, readBuffer.length - carry.length, offset + carry.length);
      if (bytesRead === 0) break;
      const data = readBuffer.subarray(0, carry.length + bytesRead);
      let lineStart = 0;
      for (let nl = data.indexOf(0x0a); nl !== -1; nl = data.indexOf(0x0a, lineStart)) {
        const line = data.subarray(lineStart, nl);
        const parsed = this.itemsAreJsonText ? decodeJsonTextLine(line) : decodeLine(line);
        if (typeof parsed === 'string') {
          markBad(offset + lineStart, offset + nl + 1, parsed);
        } else {
          report(false);
          if (parsed[0] === 'H') sawHeader = true;
          this.apply(parsed, nl + 1 - lineStart);
          validEnd = offset + nl + 1;
        }
        lineStart = nl + 1;
      }
      carry = data.subarray(lineStart);
      offset += lineStart;
    }
    if (carry.length > 0) markBad(offset, offset + carry.length, 'line without end (torn write)');
    const fileLength = offset + carry.length;
    report(true);
    this.fileBytes = validEnd;
    if (validEnd < fileLength) {
      await this.fh.truncate(validEnd);
      await this.fh.datasync();
    }
    if (!sawHeader && this.entries.size === 0) await this.rewrite([]);
  }

  /** One line read back; a journal of JSON texts has its append items as texts already. */
  private apply(payload: JournalPayload | JsonTextPayload, lineBytes: number): void {
    switch (payload[0]) {
      case 'H':
        if (payload[1] !== FORMAT_VERSION) {
          throw new Error(`Outbox journal ${this.paths.journal} has format version ${payload[1]}, this version reads ${FORMAT_VERSION}: left untouched`);
        }
        this.nextId = Math.max(this.nextId, payload[2]);
        return;
      case 'A': {
        const [, firstId, key, items] = payload;
        for (let i = 0; i < items.length; i++) {
          // An id seen twice would double-count its bytes: drop the older copy first.
          const older = this.entries.get(firstId + i);
          if (older) {
            this.entries.delete(older.id);
            this.liveBytes -= older.bytes;
          }
        }
        this.addEntries(firstId, key, items as T[], lineBytes);
        this.nextId = Math.max(this.nextId, firstId + items.length);
        return;
      }
      case 'K':
        for (const id of payload[1]) {
          // Keeps ids monotonic even when the header line is the damaged one.
          this.nextId = Math.max(this.nextId, id + 1);
          const entry = this.entries.get(id);
          if (!entry) continue;
          this.entries.delete(id);
          this.liveBytes -= entry.bytes;
        }
        return;
    }
  }
}

/**
 * Writes all of `buffers` at `position` with writev (one system call for many lines, none of
 * them copied into a joined buffer first), in groups of about WRITE_CHUNK_BYTES; resumes short writes.
 */
async function writeAll(fh: fsp.FileHandle, buffers: readonly Buffer[], position: number): Promise<void> {
  let pos = position;
  for (let i = 0; i < buffers.length; ) {
    const parts: Buffer[] = [];
    let bytes = 0;
    while (i < buffers.length && (parts.length === 0 || bytes + buffers[i]!.length <= WRITE_CHUNK_BYTES)) {
      bytes += buffers[i]!.length;
      parts.push(buffers[i++]!);
    }
    const { bytesWritten } = await fh.writev(parts, pos);
    if (bytesWritten < bytes) {
      const rest = Buffer.concat(parts, bytes).subarray(bytesWritten);
      for (let done = 0; done < rest.length; ) {
        const written = await fh.write(rest, done, rest.length - done, pos + bytesWritten + done);
        done += written.bytesWritten;
      }
    }
    pos += bytes;
  }
}

/** Makes a rename durable. Windows cannot open a directory: there, renames are durable anyway. */
async function syncDirectory(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch (err) {
    if (!['EISDIR', 'EPERM', 'EACCES', 'EINVAL', 'EBADF'].includes(errorCode(err) ?? '')) throw err;
  } finally {
    await fh?.close();
  }
}


function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function formatBytes(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MiB` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} bytes`;
}
