/**
 * Durable outbox: a write-ahead journal of records waiting for the CRM's acknowledgement.
 *
 * Records are journalled before they are sent and dropped only once acknowledged, so a crash,
 * a redeploy or a restart loses none of them: `Outbox.open()` recovers what was not acknowledged.
 *
 * On-disk format: `<dir>/<name>.journal`, append-only, one record per line:
 *
 *     <crc32 of payload, 8 lowercase hex> <payload length in bytes, decimal> <payload JSON>\n
 *
 * payloads: `["H",1,nextId]` header (first line; carries the id counter across compactions),
 *           `["A",firstId,key,[item,...]]` one append() call: ids firstId, firstId+1, ...,
 *           `["K",[id,...]]` acknowledged ids.
 * A line whose length or CRC does not match is corrupt: at the end of the file it is a torn write
 * and is cut off on open; in the middle it is skipped (reported through `onCorrupt`).
 * Compaction writes the live entries to `<name>.journal.tmp`, syncs it and renames it over the
 * journal. `<name>.lock` holds the pid (and host) of the process that has the journal open.
 */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { AbortedError } from './errors';

const MiB = 1024 * 1024;
export const DEFAULT_MAX_ENTRIES = 100_000;
export const DEFAULT_MAX_BYTES = 256 * MiB;
const FORMAT_VERSION = 1;
/** Bytes handed to one write() call; bounds the copy made when many lines are written at once. */
const WRITE_CHUNK_BYTES = MiB;
/** Bytes read per read() call during recovery. */
const READ_CHUNK_BYTES = MiB;
/** Compaction puts at most this many entries on one line, so no line gets huge. */
const MAX_ITEMS_PER_COMPACTED_LINE = 1000;
/** An emptied journal is restarted only past this size: not one rename + fsyncs per record. */
const EMPTY_ROTATE_MIN_BYTES = 64 * 1024;
/** Upper bound on the header line's length (`["H",1,<id>]` with its checksum and length). */
const HEADER_MAX_BYTES = 48;

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
}

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
      line: Buffer;
      firstId: number;
      key: string;
      items: T[];
      resolve: (ids: number[]) => void;
      reject: (err: Error) => void;
    }
  | { kind: 'ack'; line: Buffer; resolve: () => void; reject: (err: Error) => void }
  | { kind: 'task'; run: () => Promise<void> };

type Payload = ['H', number, number] | ['A', number, string, unknown[]] | ['K', number[]];

/** Lock files held by this process: tells a stale lock with our reused pid (container pid 1) from our own. */
const locksHeldByThisProcess = new Set<string>();

export class Outbox<T> {
  private readonly entries = new Map<number, StoredEntry<T>>();
  private readonly queue: WriteOp<T>[] = [];
  private writerRunning = false;
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
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private fh: fsp.FileHandle,
    private readonly paths: { dir: string; journal: string; temp: string; lock: string },
    private readonly limits: { maxEntries: number; maxBytes: number },
    private readonly syncOnWrite: boolean,
    private readonly itemsAreJsonText: boolean,
  ) {}

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

    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    await acquireLock(paths.lock);
    try {
      // A temp file is a compaction that did not reach its rename: the journal is still whole.
      await fsp.rm(paths.temp, { force: true });
      let fh: fsp.FileHandle | undefined;
      try {
        fh = await fsp.open(journal, 'r+');
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
      }
      if (!fh) {
        const outbox = new Outbox<T>(await fsp.open(journal, 'w+', 0o600), paths, { maxEntries, maxBytes }, options.durability !== 'write', options.itemsAreJsonText === true);
        await outbox.rewrite([]);
        return outbox;
      }
      const outbox = new Outbox<T>(fh, paths, { maxEntries, maxBytes }, options.durability !== 'write', options.itemsAreJsonText === true);
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
    let line: Buffer;
    let payload: string | undefined;
    try {
      if (this.itemsAreJsonText) {
        line = encodeJsonTextAppend(firstId, String(key), items as readonly unknown[] as readonly string[]);
      } else {
        payload = JSON.stringify(['A', firstId, String(key), items]);
        line = encodeLine(payload);
      }
    } catch (err) {
      return Promise.reject(new TypeError(`Outbox records must be JSON values: ${errorMessage(err)}`));
    }
    const full = this.checkRoom(items.length, line.length);
    if (full) return Promise.reject(full);

    // Keep what JSON gives back, so items look the same before and after a restart.
    const journalled = payload === undefined ? items.slice() : (JSON.parse(payload) as ['A', number, string, T[]])[3];
    this.nextId += items.length;
    this.queuedEntries += items.length;
    this.queuedAppendBytes += line.length;
    this.queuedBytes += line.length;
    return new Promise<number[]>((resolve, reject) => {
      this.enqueue({ kind: 'append', line, firstId, key: String(key), items: journalled, resolve, reject });
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
    const written = new Promise<void>((resolve, reject) => this.enqueue({ kind: 'ack', line, resolve, reject }));
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

  /** Drops every entry appended before this call (admin action); resolves with how many. */
  discard(): Promise<number> {
    if (this.closing) return Promise.reject(new AbortedError(`Outbox ${this.paths.journal} is closed`));
    return new Promise<number>((resolve, reject) => {
      this.enqueue({
        kind: 'task',
        run: async () => {
          const count = this.entries.size;
          try {
            await this.rewrite([]);
          } catch (err) {
            reject(asError(err));
            return;
          }
          resolve(count);
        },
      });
    });
  }

  /** Writes what is queued, closes the journal and releases the lock. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.enqueue({
        kind: 'task',
        run: async () => {
          // Closing cannot fail in a way the caller could act on; the lock is released regardless.
          await this.fh.close().catch(() => undefined);
          await releaseLock(this.paths.lock).catch(() => undefined);
          resolve();
        },
      });
    });
    return this.closing;
  }

  private checkRoom(count: number, lineBytes: number): OutboxFullError | undefined {
    const { maxEntries, maxBytes } = this.limits;
    const waiting = this.size;
    const fail = () => new OutboxFullError(waiting, this.limits, count);
    if (waiting.entries + count > maxEntries) return fail();
    if (waiting.bytes + lineBytes <= maxBytes) return undefined;
    // Past the size bound: accepted only if a compaction brings the journal back under it.
    const afterCompaction = HEADER_MAX_BYTES + this.liveBytes + this.queuedAppendBytes + lineBytes;
    if (afterCompaction > maxBytes || this.deadBytes() < this.compactMinBytes()) return fail();
    this.compactRequested = true;
    return undefined;
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

  /** Single writer: group-commits consecutive appends/acks, runs tasks (discard, close) in order. */
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
        while (n < this.queue.length && this.queue[n]!.kind !== 'task') n++;
        let batch = this.queue.splice(0, n) as Exclude<WriteOp<T>, { kind: 'task' }>[];
        const batchBytes = batch.reduce((sum, op) => sum + op.line.length, 0);
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
    }
  }

  private settleAck(op: { line: Buffer; resolve: () => void }): void {
    this.queuedBytes -= op.line.length;
    op.resolve();
  }

  private async writeBatch(batch: Exclude<WriteOp<T>, { kind: 'task' }>[]): Promise<void> {
    const start = this.fileBytes;
    let total = 0;
    for (const op of batch) total += op.line.length;
    let error: Error | undefined = this.failure;
    if (!error) {
      try {
        await writeAll(this.fh, batch.map((op) => op.line), start);
        if (this.syncOnWrite) await this.fh.datasync();
      } catch (err) {
        error = new Error(`Outbox could not write ${this.paths.journal}: ${errorMessage(err)}`);
        try {
          // Cut a partial write off so that later lines follow a clean end of file.
          await this.fh.truncate(start);
        } catch (truncateErr) {
          this.failure = new Error(
            `Outbox ${this.paths.journal} is unusable: a write failed (${errorMessage(err)}) and could not be undone (${errorMessage(truncateErr)})`,
          );
        }
      }
    }
    if (!error) this.fileBytes = start + total;
    for (const op of batch) {
      this.queuedBytes -= op.line.length;
      if (op.kind === 'ack') {
        if (error) op.reject(error);
        else op.resolve();
        continue;
      }
      this.queuedEntries -= op.items.length;
      this.queuedAppendBytes -= op.line.length;
      if (error) {
        op.reject(error);
        continue;
      }
      this.addEntries(op.firstId, op.key, op.items, op.line.length);
      op.resolve(op.items.map((_, i) => op.firstId + i));
    }
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
    const dead = this.deadBytes();
    if (dead < this.compactRetryAtDeadBytes) return false;
    if (this.entries.size === 0 && this.queuedEntries === 0) {
      return dead >= Math.min(EMPTY_ROTATE_MIN_BYTES, this.compactMinBytes()) && this.fileBytes > HEADER_MAX_BYTES;
    }
    if (dead < this.compactMinBytes()) return false;
    return this.compactRequested || dead > this.liveBytes || this.fileBytes + incomingBytes > this.limits.maxBytes;
  }

  /** Compacts; on failure keeps the current journal (nothing lost) and backs off. */
  private async tryCompact(): Promise<boolean> {
    try {
      await this.rewrite(Array.from(this.entries.values()));
      return true;
    } catch {
      this.compactRetryAtDeadBytes = this.deadBytes() + this.compactMinBytes();
      return false;
    } finally {
      this.compactRequested = false;
    }
  }

  /**
   * Replaces the journal with a header and `keep`: write temp, sync, rename over, sync directory.
   * A crash before the rename leaves the old journal; after it, the new one: both hold every
   * pending entry. Runs only inside the writer, so no append lands in between.
   */
  private async rewrite(keep: readonly StoredEntry<T>[]): Promise<void> {
    const fh = await fsp.open(this.paths.temp, 'w+', 0o600);
    const newShares = new Map<StoredEntry<T>, number>();
    let length = 0;
    try {
      const chunk: Buffer[] = [];
      let chunkBytes = 0;
      const push = async (line: Buffer): Promise<void> => {
        chunk.push(line);
        chunkBytes += line.length;
        if (chunkBytes < WRITE_CHUNK_BYTES) return;
        await writeAll(fh, chunk.splice(0), length);
        length += chunkBytes;
        chunkBytes = 0;
      };
      await push(encodeLine(JSON.stringify(['H', FORMAT_VERSION, this.nextId])));
      for (let i = 0; i < keep.length; ) {
        // One line per run of consecutive ids under one key: the line format needs consecutive ids.
        let j = i + 1;
        while (j < keep.length && j - i < MAX_ITEMS_PER_COMPACTED_LINE && keep[j]!.key === keep[i]!.key && keep[j]!.id === keep[j - 1]!.id + 1) j++;
        const run = keep.slice(i, j);
        const line = this.itemsAreJsonText
          ? encodeJsonTextAppend(run[0]!.id, run[0]!.key, run.map((e) => e.item as unknown as string))
          : encodeLine(JSON.stringify(['A', run[0]!.id, run[0]!.key, run.map((e) => e.item)]));
        const share = Math.floor(line.length / run.length);
        run.forEach((entry, k) => newShares.set(entry, k === 0 ? line.length - share * (run.length - 1) : share));
        await push(line);
        i = j;
      }
      if (chunkBytes > 0) {
        await writeAll(fh, chunk, length);
        length += chunkBytes;
      }
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
    // Entries acknowledged while this ran were written but are gone from `entries`: they count as dead.
    if (keep.length === 0) this.entries.clear();
    this.liveBytes = 0;
    for (const entry of this.entries.values()) {
      entry.bytes = newShares.get(entry) ?? entry.bytes;
      this.liveBytes += entry.bytes;
    }
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
    const readBuffer = Buffer.alloc(READ_CHUNK_BYTES);
    for (;;) {
      const { bytesRead } = await this.fh.read(readBuffer, 0, readBuffer.length, offset + carry.length);
      if (bytesRead === 0) break;
      const data = carry.length > 0 ? Buffer.concat([carry, readBuffer.subarray(0, bytesRead)]) : Buffer.from(readBuffer.subarray(0, bytesRead));
      let lineStart = 0;
      for (let nl = data.indexOf(0x0a); nl !== -1; nl = data.indexOf(0x0a, lineStart)) {
        const parsed = decodeLine(data.subarray(lineStart, nl));
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

  private apply(payload: Payload, lineBytes: number): void {
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
        const recovered = this.itemsAreJsonText ? items.map((item) => JSON.stringify(item)) : items;
        this.addEntries(firstId, key, recovered as T[], lineBytes);
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

/** `<crc32 hex8> <length> <payload>\n` */
function encodeLine(payload: string): Buffer {
  const payloadBytes = Buffer.byteLength(payload);
  const line = allocateLine(payloadBytes);
  line.payload.write(payload, 0, 'utf8');
  return line.finish();
}

/**
 * The line of `["A",firstId,key,[item,...]]` for items that are JSON texts already, written
 * straight into the line's buffer: no joined string on the JS heap and no second copy.
 */
function encodeJsonTextAppend(firstId: number, key: string, items: readonly string[]): Buffer {
  const prefix = `["A",${firstId},${JSON.stringify(key)},[`;
  let payloadBytes = Buffer.byteLength(prefix) + 2 + Math.max(0, items.length - 1);
  for (const item of items) {
    if (typeof item !== 'string') throw new TypeError('items must be JSON texts');
    payloadBytes += Buffer.byteLength(item);
  }
  const line = allocateLine(payloadBytes);
  const out = line.payload;
  let offset = out.write(prefix, 0, 'utf8');
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out[offset++] = 0x2c; // ,
    offset += out.write(items[i]!, offset, 'utf8');
  }
  out[offset++] = 0x5d; // ]
  out[offset++] = 0x5d;
  return line.finish();
}

/** One buffer for a whole line: the caller fills `payload`, finish() writes checksum, length and newline. */
function allocateLine(payloadBytes: number): { payload: Buffer; finish(): Buffer } {
  const headBytes = 8 + 1 + String(payloadBytes).length + 1;
  const line = Buffer.allocUnsafe(headBytes + payloadBytes + 1);
  const payload = line.subarray(headBytes, headBytes + payloadBytes);
  return {
    payload,
    finish() {
      line.write(`${crc32(payload).toString(16).padStart(8, '0')} ${payloadBytes} `, 0, 'latin1');
      line[line.length - 1] = 0x0a;
      return line;
    },
  };
}

/** The payload of a line (without its newline), or why the line is corrupt. */
function decodeLine(line: Buffer): Payload | string {
  if (line.length < 12 || line[8] !== 0x20) return 'malformed line';
  const crcText = line.toString('latin1', 0, 8);
  if (!/^[0-9a-f]{8}$/.test(crcText)) return 'malformed checksum';
  const space = line.indexOf(0x20, 9);
  if (space === -1 || space - 9 > 12) return 'malformed length';
  const lengthText = line.toString('latin1', 9, space);
  if (!/^[0-9]+$/.test(lengthText)) return 'malformed length';
  const body = line.subarray(space + 1);
  if (body.length !== Number(lengthText)) return 'length mismatch';
  if (crc32(body) !== parseInt(crcText, 16)) return 'checksum mismatch';
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return 'invalid JSON';
  }
  return isPayload(value) ? value : 'unknown record';
}

function isPayload(value: unknown): value is Payload {
  if (!Array.isArray(value)) return false;
  const isId = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
  switch (value[0]) {
    case 'H':
      return value.length === 3 && Number.isInteger(value[1]) && isId(value[2]);
    case 'A':
      return value.length === 4 && isId(value[1]) && typeof value[2] === 'string' && Array.isArray(value[3]) && value[3].length > 0;
    case 'K':
      return value.length === 2 && Array.isArray(value[1]) && value[1].every(isId);
    default:
      return false;
  }
}

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE, as zlib) computed with a table: for Node versions without zlib.crc32 (< 20.15). */
export function crc32Table(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC-32 (IEEE): zlib's native one when this Node has it. */
export function crc32(data: Uint8Array): number {
  return nativeCrc32 ? nativeCrc32(data) >>> 0 : crc32Table(data);
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

async function acquireLock(lockFile: string): Promise<void> {
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

async function releaseLock(lockFile: string): Promise<void> {
  if (!locksHeldByThisProcess.delete(lockFile)) return;
  const holder = await readLock(lockFile).catch(() => undefined);
  // Only our own lock: after a takeover by another process the file is no longer ours.
  if (holder?.pid === process.pid) await fsp.rm(lockFile, { force: true }).catch(() => undefined);
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
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
