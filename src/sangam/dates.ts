import * as fs from 'node:fs';
import { types } from 'node:util';
import { ConfigError, ValidationError } from '../lib/errors';
import { quote } from '../lib/values';

/**
 * Dates and durations in the form SangamCRM expects: 'YYYY-MM-DD HH:mm:ss' wall-clock time in
 * one IANA time zone, and 'HH:MM:SS' durations. Runs for every call record, so the common cases
 * avoid allocation and Intl calls: a zone's UTC offset is cached per hour.
 */

const ACCEPTED_DATES = 'use YYYY-MM-DD HH:mm:ss, ISO 8601, epoch milliseconds or a Date';
const ACCEPTED_DURATIONS = 'use seconds (a number of at least 0 or a string of digits) or HH:MM:SS';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Dates outside these years are a unit mistake (epoch seconds, microseconds) rather than a call. */
export const MIN_YEAR = 2000;
export const MAX_YEAR = 2100;
const MIN_EPOCH_MS = Date.UTC(MIN_YEAR, 0, 1);
const MAX_EPOCH_MS = Date.UTC(MAX_YEAR + 1, 0, 1) - 1;

/** Longer than this is no phone call; also keeps the hours text short. */
export const MAX_DURATION_SECONDS = 10_000 * 3600;

// ISO 8601 extended form with a time: date, T (or a space), hh:mm[:ss[.fraction]], optional zone.
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;
const DIGITS = /^\d{1,10}$/;
const CLOCK_DURATION = /^(\d{1,7}):([0-5]\d):([0-5]\d)$/;

const PAD2: string[] = Array.from({ length: 100 }, (_, i) => (i < 10 ? `0${i}` : String(i)));

interface Zone {
  readonly format: Intl.DateTimeFormat;
  /** UTC hour number -> offset in minutes, or NaN when the offset changes inside that hour. */
  readonly offsets: Map<number, number>;
  lastHour: number;
  lastOffset: number;
}

/** Bounds each zone's offset cache: about five years of distinct hours. */
const MAX_CACHED_HOURS = 50_000;
const zones = new Map<string, Zone>();

function zoneFor(timeZone: string): Zone {
  const known = zones.get(timeZone);
  if (known) return known;
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  } catch {
    throw new ConfigError(`time zone "${String(timeZone).slice(0, 100)}" is not a valid IANA time zone (e.g. Asia/Kolkata)`);
  }
  const zone: Zone = { format, offsets: new Map(), lastHour: NaN, lastOffset: 0 };
  zones.set(timeZone, zone);
  return zone;
}

/** An IANA zone name as the tz database writes them (Asia/Kolkata, America/Argentina/Buenos_Aires, Etc/GMT+5, UTC). */
const ZONE_NAME = /^[A-Z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/;

/**
 * Whether a zone is known without building an Intl formatter: the first formatter of a process
 * loads ICU's data (about 8 MB of RSS, tens of ms), which a config node that has not converted a
 * date yet should not pay when it starts. Known = a file of the system's tz database, or one of
 * Intl's canonical zones (Node 20's ICU lists Asia/Calcutta, not Asia/Kolkata). A zone newer
 * than the ICU of this Node passes here and fails at its first date, with zoneFor's message.
 */
function isKnownZoneName(tz: string): boolean {
  // The tz database's own files (posix/, right/, localtime, leapseconds) start in lower case; Factory is no zone to ICU.
  if (!ZONE_NAME.test(tz) || tz === 'Factory') return false;
  try {
    if (fs.statSync(`/usr/share/zoneinfo/${tz}`).isFile()) return true;
  } catch {
    // No such file, or no tz database on this system (Windows, a slim container).
  }
  return Intl.supportedValuesOf('timeZone').includes(tz);
}

export function isValidTimeZone(tz: string): boolean {
  if (typeof tz !== 'string' || tz === '') return false;
  // Node 22's Intl takes offsets like "+05:30", Node 20's does not: a fixed offset ignores DST,
  // so refuse it everywhere and ask for a zone name.
  if (/^[+-]\d/.test(tz)) return false;
  if (zones.has(tz) || isKnownZoneName(tz)) return true;
  // Anything else (an alias in other letter case, a name only ICU knows) asks Intl itself.
  try {
    zoneFor(tz);
    return true;
  } catch {
    return false;
  }
}

/** The host's IANA zone, or UTC when the runtime does not know it. */
export function hostTimeZone(): string {
  const tz = new Intl.DateTimeFormat().resolvedOptions().timeZone;
  return tz && isValidTimeZone(tz) ? tz : 'UTC';
}

/** Offset from Intl itself, to the second the formatter shows. */
function exactOffsetMinutes(zone: Zone, utcMs: number): number {
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  let minute = 0;
  let second = 0;
  for (const part of zone.format.formatToParts(utcMs)) {
    switch (part.type) {
      case 'year': year = Number(part.value); break;
      case 'month': month = Number(part.value); break;
      case 'day': day = Number(part.value); break;
      // Some ICU versions print midnight as 24 even with h23.
      case 'hour': hour = Number(part.value) % 24; break;
      case 'minute': minute = Number(part.value); break;
      case 'second': second = Number(part.value); break;
      default: break;
    }
  }
  const wall = Date.UTC(year, month - 1, day, hour, minute, second);
  return Math.round((wall - Math.floor(utcMs / 1000) * 1000) / MINUTE_MS);
}

/** The zone's offset (minutes east of UTC) at a UTC instant. */
function offsetMinutes(zone: Zone, utcMs: number): number {
  const hour = Math.floor(utcMs / HOUR_MS);
  if (hour === zone.lastHour) return zone.lastOffset;
  let offset = zone.offsets.get(hour);
  if (offset === undefined) {
    const start = hour * HOUR_MS;
    const atStart = exactOffsetMinutes(zone, start);
    // A transition inside the hour (they happen at whole local minutes, not only whole hours)
    // leaves the hour uncached: those instants ask Intl each time.
    offset = atStart === exactOffsetMinutes(zone, start + HOUR_MS - 1) ? atStart : NaN;
    if (zone.offsets.size >= MAX_CACHED_HOURS) zone.offsets.clear();
    zone.offsets.set(hour, offset);
  }
  if (Number.isNaN(offset)) return exactOffsetMinutes(zone, utcMs);
  zone.lastHour = hour;
  zone.lastOffset = offset;
  return offset;
}

/**
 * The UTC instant of a wall-clock time (given as if it were UTC) in a zone. A time that occurs
 * twice (clocks turned back) is its first occurrence; a time skipped (clocks turned forward) is
 * read with the offset before the change, which lands just after the gap.
 */
function wallToUtc(zone: Zone, wallMs: number): number {
  const before = offsetMinutes(zone, wallMs - DAY_MS);
  const after = offsetMinutes(zone, wallMs + DAY_MS);
  const withBefore = wallMs - before * MINUTE_MS;
  if (before === after || offsetMinutes(zone, withBefore) === before) return withBefore;
  const withAfter = wallMs - after * MINUTE_MS;
  if (offsetMinutes(zone, withAfter) === after) return withAfter;
  return withBefore;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function isRealDateTime(year: number, month: number, day: number, hour: number, minute: number, second: number): boolean {
  return (
    month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) &&
    hour <= 23 && minute <= 59 && second <= 59
  );
}

function formatWall(year: number, month: number, day: number, hour: number, minute: number, second: number): string {
  return `${year}-${PAD2[month]}-${PAD2[day]} ${PAD2[hour]}:${PAD2[minute]}:${PAD2[second]}`;
}

/** Formats a UTC instant as wall-clock time in the zone, without Date or Intl on the cached path. */
function formatInstant(zone: Zone, utcMs: number): string {
  const wallSeconds = Math.floor(utcMs / 1000) + offsetMinutes(zone, utcMs) * 60;
  const days = Math.floor(wallSeconds / 86_400);
  const secondOfDay = wallSeconds - days * 86_400;
  // Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil inverse).
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthIndex = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthIndex + 2) / 5) + 1;
  const month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(secondOfDay / 3600);
  const minute = Math.floor((secondOfDay % 3600) / 60);
  return formatWall(year, month, day, hour, minute, secondOfDay % 60);
}

function digit(text: string, index: number): number {
  const code = text.charCodeAt(index) - 48;
  return code >= 0 && code <= 9 ? code : NaN;
}

/**
 * Reads 'YYYY-MM-DD HH:mm:ss' without a regex (the hot path when a PBX already sends this form).
 * Returns the wall time as if it were UTC, or NaN when the text is not exactly that form or not
 * a real date and time.
 */
function parseCrmForm(text: string): number {
  if (text.length !== 19 || text[4] !== '-' || text[7] !== '-' || text[10] !== ' ' || text[13] !== ':' || text[16] !== ':') {
    return NaN;
  }
  const year = digit(text, 0) * 1000 + digit(text, 1) * 100 + digit(text, 2) * 10 + digit(text, 3);
  const month = digit(text, 5) * 10 + digit(text, 6);
  const day = digit(text, 8) * 10 + digit(text, 9);
  const hour = digit(text, 11) * 10 + digit(text, 12);
  const minute = digit(text, 14) * 10 + digit(text, 15);
  const second = digit(text, 17) * 10 + digit(text, 18);
  // NaN from a non-digit fails every comparison below.
  if (!isRealDateTime(year, month, day, hour, minute, second)) return NaN;
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function invalidDate(field: string, shown: string, why = 'is not a valid date'): ValidationError {
  return new ValidationError(`${field}: ${shown} ${why}; ${ACCEPTED_DATES}`, field);
}

function outOfRange(field: string, shown: string): ValidationError {
  return invalidDate(field, shown, `is not between the years ${MIN_YEAR} and ${MAX_YEAR}`);
}

function checkYear(year: number, field: string, shown: string): void {
  if (year < MIN_YEAR || year > MAX_YEAR) throw outOfRange(field, shown);
}

/** A date converted for the CRM, with its instant when the caller asked for it. */
export interface CrmDate {
  /** 'YYYY-MM-DD HH:mm:ss' in the zone. */
  text: string;
  /** Epoch milliseconds (whole seconds for wall-clock input); NaN when not requested. */
  epochMs: number;
}

/**
 * Converts a date to the CRM's form in `timeZone`; with `wantEpochMs` also gives its instant
 * (costs a zone lookup for input that is already wall-clock time). Throws ValidationError
 * naming `field`, or ConfigError for an unknown zone.
 */
export function convertCrmDate(value: unknown, timeZone: string, field: string, wantEpochMs = false): CrmDate {
  const zone = zoneFor(timeZone);
  if (typeof value === 'string') {
    const text = value.trim();
    const wall = parseCrmForm(text);
    if (!Number.isNaN(wall)) {
      // As if UTC, the first and last wall times of the allowed years are exactly these bounds.
      if (wall < MIN_EPOCH_MS || wall > MAX_EPOCH_MS) throw outOfRange(field, quote(value));
      return { text, epochMs: wantEpochMs ? wallToUtc(zone, wall) : NaN };
    }
    return convertIsoText(zone, value, text, field, wantEpochMs);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalidDate(field, String(value));
    const ms = Math.floor(value);
    if (ms < MIN_EPOCH_MS || ms > MAX_EPOCH_MS) {
      const hint = value >= MIN_EPOCH_MS / 1000 && value <= MAX_EPOCH_MS / 1000
        ? ' (it looks like epoch seconds: multiply by 1000)'
        : '';
      throw invalidDate(field, String(value), `is not epoch milliseconds between the years ${MIN_YEAR} and ${MAX_YEAR}${hint}`);
    }
    return { text: formatInstant(zone, ms), epochMs: ms };
  }
  // util.types.isDate also recognises Dates made in a Function node's own context.
  if (types.isDate(value)) {
    const ms = Date.prototype.getTime.call(value);
    if (Number.isNaN(ms)) throw invalidDate(field, 'the Date', 'is an Invalid Date');
    if (ms < MIN_EPOCH_MS || ms > MAX_EPOCH_MS) throw outOfRange(field, new Date(ms).toISOString());
    return { text: formatInstant(zone, ms), epochMs: ms };
  }
  throw new ValidationError(`${field} must be a date, got ${kindOf(value)}; ${ACCEPTED_DATES}`, field);
}

function convertIsoText(zone: Zone, original: string, text: string, field: string, wantEpochMs: boolean): CrmDate {
  const match = ISO_DATE_TIME.exec(text);
  if (!match) throw invalidDate(field, quote(original));
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const hour = Number(match[4]);
  const minute = Number(match[5]);
  const second = match[6] === undefined ? 0 : Number(match[6]);
  if (!isRealDateTime(year, month, day, hour, minute, second)) throw invalidDate(field, quote(original));
  checkYear(year, field, quote(original));
  const wall = Date.UTC(year, month - 1, day, hour, minute, second);
  const sign = match[8];
  if (match[7] === undefined && sign === undefined) {
    // No zone given: the time is already wall-clock time in the configured zone.
    return { text: formatWall(year, month, day, hour, minute, second), epochMs: wantEpochMs ? wallToUtc(zone, wall) : NaN };
  }
  let offset = 0;
  if (sign !== undefined) {
    const offsetHours = Number(match[9]);
    const offsetMinutesPart = match[10] === undefined ? 0 : Number(match[10]);
    if (offsetHours > 23 || offsetMinutesPart > 59) throw invalidDate(field, quote(original), 'has an impossible UTC offset');
    offset = (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutesPart);
  }
  const ms = wall - offset * MINUTE_MS;
  if (ms < MIN_EPOCH_MS || ms > MAX_EPOCH_MS) throw outOfRange(field, quote(original));
  return { text: formatInstant(zone, ms), epochMs: ms };
}

/**
 * 'YYYY-MM-DD HH:mm:ss' in the IANA `timeZone` from such a string (checked, passed as is), an
 * ISO 8601 string (without a zone it is read as time in `timeZone`), epoch milliseconds or a Date.
 * Fractions of a second are dropped. `field` is the path shown in errors (`payload[2].date_start`).
 */
export function formatCrmDate(value: unknown, timeZone: string, field: string): string {
  return convertCrmDate(value, timeZone, field).text;
}

/**
 * Formats a clock reading (epoch ms) in the zone without the plausibility range that input dates
 * get: a test's fake clock may start at 0.
 */
export function formatEpochMs(epochMs: number, timeZone: string): string {
  if (!Number.isFinite(epochMs)) throw new RangeError(`clock reading ${epochMs} is not a finite number of milliseconds`);
  return formatInstant(zoneFor(timeZone), Math.floor(epochMs));
}

/** Whole seconds as 'HH:MM:SS'; hours have at least two digits and may exceed 99. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) throw new RangeError(`duration ${seconds} is not a number of seconds of at least 0`);
  const whole = Math.round(seconds);
  const hours = Math.floor(whole / 3600);
  const rest = whole - hours * 3600;
  const minutes = Math.floor(rest / 60);
  return `${hours < 100 ? PAD2[hours] : hours}:${PAD2[minutes]}:${PAD2[rest - minutes * 60]}`;
}

function invalidDuration(field: string, shown: string, why = 'is not a duration'): ValidationError {
  return new ValidationError(`${field}: ${shown} ${why}; ${ACCEPTED_DURATIONS}`, field);
}

function secondsToDuration(seconds: number, field: string, shown: string): string {
  if (seconds > MAX_DURATION_SECONDS) throw invalidDuration(field, shown, `is longer than ${MAX_DURATION_SECONDS / 3600} hours`);
  return formatDuration(seconds);
}

/**
 * A call duration as 'HH:MM:SS' from seconds (a number, fractions rounded, or a string of
 * digits) or from 'H:MM:SS' with any number of hour digits (hours padded to two).
 */
export function normaliseDuration(value: unknown, field: string): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw invalidDuration(field, String(value));
    return secondsToDuration(value, field, String(value));
  }
  if (typeof value !== 'string') {
    throw new ValidationError(`${field} must be a duration, got ${kindOf(value)}; ${ACCEPTED_DURATIONS}`, field);
  }
  // Already 'HH:MM:SS' with minutes and seconds below 60: the usual case, passed as is.
  if (
    value.length === 8 && value[2] === ':' && value[5] === ':' &&
    digit(value, 0) >= 0 && digit(value, 1) >= 0 && digit(value, 3) <= 5 && digit(value, 4) >= 0 &&
    digit(value, 6) <= 5 && digit(value, 7) >= 0
  ) {
    return value;
  }
  const text = value.trim();
  if (DIGITS.test(text)) return secondsToDuration(Number(text), field, quote(value));
  const clock = CLOCK_DURATION.exec(text);
  if (clock) {
    const seconds = Number(clock[1]) * 3600 + Number(clock[2]) * 60 + Number(clock[3]);
    return secondsToDuration(seconds, field, quote(value));
  }
  throw invalidDuration(field, quote(value));
}
