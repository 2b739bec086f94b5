/**
 * The line format of the outbox journal (see outbox.ts for what the lines mean):
 *
 *     <crc32 of payload, 8 lowercase hex> <payload length in bytes, decimal> <payload JSON>\n
 *
 * payloads: `["H",1,nextId]` header, `["A",firstId,key,[item,...]]` appended items,
 *           `["K",[id,...]]` acknowledged ids.
 * The length and checksum let a reader tell a whole line from a torn or damaged one.
 */
import * as zlib from 'node:zlib';

/** Version in the header line; a journal of another version is not read. */
export const FORMAT_VERSION = 1;
/** Upper bound on the header line's length (`["H",1,<id>]` with its checksum and length). */
export const HEADER_MAX_BYTES = 48;

export type JournalPayload = ['H', number, number] | ['A', number, string, unknown[]] | ['K', number[]];

/** `<crc32 hex8> <length> <payload>\n` */
export function encodeLine(payload: string): Buffer {
  const payloadBytes = Buffer.byteLength(payload);
  const line = Buffer.allocUnsafe(lineBytes(payloadBytes));
  const start = lineHeadBytes(payloadBytes);
  line.write(payload, start, 'utf8');
  finishLine(line, 0, payloadBytes);
  return line;
}

/**
 * The line of `["A",firstId,key,[item,...]]` for items that are JSON texts already, written
 * straight into the line's buffer: no joined string on the JS heap and no second copy.
 */
export function encodeJsonTextAppend(firstId: number, key: string, items: readonly string[], payloadBytes = jsonTextAppendPayloadBytes(firstId, key, items)): Buffer {
  const line = Buffer.allocUnsafe(lineBytes(payloadBytes));
  writeJsonTextAppend(line, 0, firstId, key, items, payloadBytes);
  return line;
}

/**
 * encodeJsonTextAppend's line written into `target` at `offset` (a group commit's buffer, reused
 * from commit to commit: a burst's lines then cost no new memory each); returns its length.
 */
export function writeJsonTextAppend(target: Buffer, offset: number, firstId: number, key: string, items: readonly string[], payloadBytes: number): number {
  const length = lineBytes(payloadBytes);
  if (offset + length > target.length) throw new RangeError(`a journal line of ${length} bytes does not fit at ${offset} in ${target.length}`);
  const start = offset + lineHeadBytes(payloadBytes);
  let at = start + target.write(appendPrefix(firstId, key), start, 'utf8');
  for (let i = 0; i < items.length; i++) {
    if (i > 0) target[at++] = 0x2c; // ,
    at += target.write(items[i]!, at, 'utf8');
  }
  target[at++] = 0x5d; // ]
  target[at++] = 0x5d;
  // A wrong payloadBytes would journal a line that fails its own check: refuse instead.
  if (at - start !== payloadBytes) throw new RangeError(`journal line payload is ${at - start} bytes, expected ${payloadBytes}`);
  finishLine(target, offset, payloadBytes);
  return length;
}

/**
 * The payload length of encodeJsonTextAppend's line, without making it: a journal can count a line
 * against its bounds when it is appended and write it out only when its group commit runs.
 */
export function jsonTextAppendPayloadBytes(firstId: number, key: string, items: readonly string[]): number {
  let payloadBytes = Buffer.byteLength(appendPrefix(firstId, key)) + 2 + Math.max(0, items.length - 1);
  for (const item of items) {
    if (typeof item !== 'string') throw new TypeError('items must be JSON texts');
    payloadBytes += Buffer.byteLength(item);
  }
  return payloadBytes;
}

/** The whole line's length for a payload of `payloadBytes`: checksum, length, spaces and newline. */
export function lineBytes(payloadBytes: number): number {
  return lineHeadBytes(payloadBytes) + payloadBytes + 1;
}

function appendPrefix(firstId: number, key: string): string {
  return `["A",${firstId},${JSON.stringify(key)},[`;
}

function lineHeadBytes(payloadBytes: number): number {
  return 8 + 1 + String(payloadBytes).length + 1;
}

/** Writes checksum, length and newline around the payload the line at `offset` holds already. */
function finishLine(target: Buffer, offset: number, payloadBytes: number): void {
  const start = offset + lineHeadBytes(payloadBytes);
  const end = start + payloadBytes;
  target.write(`${crc32(target.subarray(start, end)).toString(16).padStart(8, '0')} ${payloadBytes} `, offset, 'latin1');
  target[end] = 0x0a;
}

/** The payload of a line (without its newline), or why the line is corrupt. */
export function decodeLine(line: Buffer): JournalPayload | string {
  const body = checkedBody(line);
  return typeof body === 'string' ? body : parsePayload(body);
}

/** A journal payload whose append items are the JSON texts they were written from. */
export type JsonTextPayload = ['H', number, number] | ['A', number, string, string[]] | ['K', number[]];

/**
 * decodeLine for a journal of JSON texts: an append line's items come back as the texts that were
 * written, cut out of the line rather than parsed and written again. Read at every start, a journal
 * of 100,000 records cost a second of the main thread that way, most of it making and collecting
 * objects for records that are only ever sent on as text. A line the cut does not take (not written
 * by writeJsonTextAppend, say) is parsed, and its items made texts with JSON.stringify.
 */
export function decodeJsonTextLine(line: Buffer): JsonTextPayload | string {
  const body = checkedBody(line);
  if (typeof body === 'string') return body;
  const cut = cutJsonTextAppend(body);
  if (cut) return cut;
  const payload = parsePayload(body);
  if (typeof payload === 'string' || payload[0] !== 'A') return payload;
  return ['A', payload[1], payload[2], payload[3].map((item) => JSON.stringify(item))];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const APPEND_START = Buffer.from('["A",');
/** The closing byte of each opening one: `[` `]`, `{` `}`. */
const CLOSER = new Uint8Array(256);
CLOSER[0x5b] = 0x5d;
CLOSER[0x7b] = 0x7d;

/**
 * `["A",<id>,<key>,[<item>,...]]` cut into its parts, each item's text as it stands in the line,
 * or undefined for anything else (the caller then parses the line). The line passed its checksum,
 * so it holds what a writer of JSON texts wrote; the cut insists on matching brackets and on the
 * line's exact end, so it finds the items where JSON.parse would, but it does not check the text
 * between them: a text that was not JSON when it was appended is kept and sent as it is (the CRM
 * refuses it, and it is set aside), where a parse would have dropped its whole line as corrupt.
 */
function cutJsonTextAppend(body: Buffer): JsonTextPayload | undefined {
  const end = body.length;
  if (end < 12 || body.compare(APPEND_START, 0, APPEND_START.length, 0, APPEND_START.length) !== 0) return undefined;
  let at = APPEND_START.length;
  const idStart = at;
  let id = 0;
  for (; at < end && body[at]! >= 0x30 && body[at]! <= 0x39; at++) id = id * 10 + (body[at]! - 0x30);
  if (at === idStart || body[idStart] === 0x30 || !Number.isSafeInteger(id) || body[at] !== COMMA) return undefined;
  const keyStart = ++at;
  at = stringEnd(body, at);
  if (at < 0) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(body.toString('utf8', keyStart, at));
  } catch {
    return undefined;
  }
  if (typeof key !== 'string' || body[at] !== COMMA || body[at + 1] !== 0x5b) return undefined;
  at += 2;
  const items: string[] = [];
  const open: number[] = [];
  let itemStart = at;
  for (; at < end; at++) {
    const byte = body[at]!;
    if (byte === QUOTE) {
      at = stringEnd(body, at) - 1;
      if (at < 0) return undefined;
    } else if (CLOSER[byte]) {
      open.push(CLOSER[byte]!);
    } else if (byte === 0x5d || byte === 0x7d) {
      if (open.length === 0) break;
      if (open.pop() !== byte) return undefined;
    } else if (byte === COMMA && open.length === 0) {
      if (at === itemStart) return undefined;
      items.push(body.toString('utf8', itemStart, at));
      itemStart = at + 1;
    }
  }
  if (at !== end - 2 || body[at] !== 0x5d || body[at + 1] !== 0x5d || at === itemStart) return undefined;
  items.push(body.toString('utf8', itemStart, at));
  return ['A', id, key, items];
}

/** Just past the JSON string that starts at `at` (a quote), or -1 if none does or it never ends. */
function stringEnd(body: Buffer, at: number): number {
  if (body[at] !== QUOTE) return -1;
  for (let i = at + 1; i < body.length; i++) {
    const byte = body[i];
    if (byte === QUOTE) return i + 1;
    if (byte === BACKSLASH) i++;
  }
  return -1;
}

/** The payload bytes of a line whose length and checksum hold, or why it is corrupt. */
function checkedBody(line: Buffer): Buffer | string {
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
  return body;
}

function parsePayload(body: Buffer): JournalPayload | string {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return 'invalid JSON';
  }
  return isPayload(value) ? value : 'unknown record';
}

function isPayload(value: unknown): value is JournalPayload {
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
