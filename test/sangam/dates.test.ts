import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vm from 'node:vm';
import { ConfigError, ValidationError } from '../../src/lib/errors';
import { countFormatters } from '../support/intl';
import {
  convertCrmDate,
  formatCrmDate,
  formatDuration,
  formatEpochMs,
  hostTimeZone,
  isValidTimeZone,
  normaliseDuration,
} from '../../src/sangam/dates';

const KOLKATA = 'Asia/Kolkata';
const NEW_YORK = 'America/New_York';
const ACCEPTED = 'use YYYY-MM-DD HH:mm:ss, ISO 8601, epoch milliseconds or a Date';

/** Asserts a ValidationError whose message contains every fragment and no other error. */
function throwsValidation(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    for (const fragment of fragments) {
      assert.ok(err.message.includes(fragment), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(fragment)}`);
    }
    return true;
  });
}

describe('sangam/dates', () => {
  describe('formatCrmDate', () => {
    it('passes a valid YYYY-MM-DD HH:mm:ss string as is', () => {
      assert.equal(formatCrmDate('2020-11-10 10:55:47', KOLKATA, 'd'), '2020-11-10 10:55:47');
      assert.equal(formatCrmDate('2024-02-29 23:59:59', NEW_YORK, 'd'), '2024-02-29 23:59:59');
      assert.equal(formatCrmDate('2000-01-01 00:00:00', 'UTC', 'd'), '2000-01-01 00:00:00');
    });

    it('drops surrounding white space', () => {
      assert.equal(formatCrmDate(' 2020-11-10 10:55:47\u0020', KOLKATA, 'd'), '2020-11-10 10:55:47');
    });

    it('rejects strings of that form that are no real date or time, naming the field', () => {
      for (const text of [
        '2020-13-45 10:00:00',
        '2020-00-10 10:00:00',
        '2021-02-29 10:00:00',
        '2020-04-31 10:00:00',
        '2020-11-00 10:00:00',
        '2020-11-10 24:00:00',
        '2020-11-10 10:60:00',
        '2020-11-10 10:00:60',
        '2020-1a-10 10:00:00',
        '0000-00-00 00:00:00',
      ]) {
        throwsValidation(() => formatCrmDate(text, KOLKATA, 'payload[2].date_start'), `payload[2].date_start: "${text}"`, ACCEPTED);
      }
    });

    it('names the field and what is accepted for a date that is not one', () => {
      throwsValidation(
        () => formatCrmDate('2020-13-45', KOLKATA, 'payload[2].date_start'),
        'payload[2].date_start: "2020-13-45" is not a valid date; use YYYY-MM-DD HH:mm:ss, ISO 8601, epoch milliseconds or a Date',
      );
      throwsValidation(() => formatCrmDate('yesterday', KOLKATA, 'payload.date_end'), 'payload.date_end: "yesterday"');
      throwsValidation(() => formatCrmDate('', KOLKATA, 'payload.date_end'), 'payload.date_end: ""');
    });

    it('accepts 29 February only in leap years', () => {
      assert.equal(formatCrmDate('2000-02-29 12:00:00', 'UTC', 'd'), '2000-02-29 12:00:00');
      throwsValidation(() => formatCrmDate('2100-02-29 12:00:00', 'UTC', 'd'), '"2100-02-29 12:00:00"');
    });

    it('converts ISO 8601 with Z or an offset into Asia/Kolkata', () => {
      assert.equal(formatCrmDate('2020-11-10T05:25:47Z', KOLKATA, 'd'), '2020-11-10 10:55:47');
      assert.equal(formatCrmDate('2020-11-10T05:25:47.999Z', KOLKATA, 'd'), '2020-11-10 10:55:47');
      assert.equal(formatCrmDate('2020-11-10T10:55:47+05:30', KOLKATA, 'd'), '2020-11-10 10:55:47');
      assert.equal(formatCrmDate('2020-11-10T00:25:47-05:00', KOLKATA, 'd'), '2020-11-10 10:55:47');
      assert.equal(formatCrmDate('2020-11-10T00:25:47-0500', KOLKATA, 'd'), '2020-11-10 10:55:47');
      assert.equal(formatCrmDate('2020-11-10T00:25:47-05', KOLKATA, 'd'), '2020-11-10 10:55:47');
      assert.equal(formatCrmDate('2020-11-10 05:25:47Z', KOLKATA, 'd'), '2020-11-10 10:55:47');
      // Crossing midnight and a year end.
      assert.equal(formatCrmDate('2020-12-31T20:00:00Z', KOLKATA, 'd'), '2021-01-01 01:30:00');
    });

    it('converts into America/New_York on both sides of the DST changes', () => {
      // 2020-03-08: 02:00 EST became 03:00 EDT.
      assert.equal(formatCrmDate('2020-03-08T06:59:59Z', NEW_YORK, 'd'), '2020-03-08 01:59:59');
      assert.equal(formatCrmDate('2020-03-08T07:00:00Z', NEW_YORK, 'd'), '2020-03-08 03:00:00');
      // 2020-11-01: 02:00 EDT became 01:00 EST; 01:xx happens twice.
      assert.equal(formatCrmDate('2020-11-01T05:30:00Z', NEW_YORK, 'd'), '2020-11-01 01:30:00');
      assert.equal(formatCrmDate('2020-11-01T06:30:00Z', NEW_YORK, 'd'), '2020-11-01 01:30:00');
      assert.equal(formatCrmDate('2020-11-01T07:00:00Z', NEW_YORK, 'd'), '2020-11-01 02:00:00');
      assert.equal(formatCrmDate('2020-07-01T12:00:00+05:30', NEW_YORK, 'd'), '2020-07-01 02:30:00');
      assert.equal(formatCrmDate('2020-01-01T12:00:00+05:30', NEW_YORK, 'd'), '2020-01-01 01:30:00');
    });

    it('reads ISO 8601 without a zone as time in the configured zone', () => {
      assert.equal(formatCrmDate('2020-11-10T10:55:47', KOLKATA, 'd'), '2020-11-10 10:55:47');
      assert.equal(formatCrmDate('2020-11-10T10:55:47.123', NEW_YORK, 'd'), '2020-11-10 10:55:47');
      assert.equal(formatCrmDate('2020-11-10T10:55', NEW_YORK, 'd'), '2020-11-10 10:55:00');
    });

    it('rejects ISO strings with impossible parts or offsets', () => {
      throwsValidation(() => formatCrmDate('2020-02-30T10:00:00Z', KOLKATA, 'f'), 'f: "2020-02-30T10:00:00Z"');
      throwsValidation(() => formatCrmDate('2020-11-10T25:00:00Z', KOLKATA, 'f'), 'f: "2020-11-10T25:00:00Z"');
      throwsValidation(() => formatCrmDate('2020-11-10T10:00:00+24:00', KOLKATA, 'f'), 'impossible UTC offset');
      throwsValidation(() => formatCrmDate('2020-11-10', KOLKATA, 'f'), 'f: "2020-11-10"');
    });

    it('formats epoch milliseconds and Dates in the zone', () => {
      const instant = Date.UTC(2020, 10, 10, 5, 25, 47, 600);
      assert.equal(formatCrmDate(instant, KOLKATA, 'd'), '2020-11-10 10:55:47');
      assert.equal(formatCrmDate(instant, NEW_YORK, 'd'), '2020-11-10 00:25:47');
      assert.equal(formatCrmDate(new Date(instant), KOLKATA, 'd'), '2020-11-10 10:55:47');
      assert.equal(formatCrmDate(new Date(Date.UTC(2020, 6, 1, 4, 0, 0)), NEW_YORK, 'd'), '2020-07-01 00:00:00');
    });

    it('accepts a Date made in another context (a Function node sandbox)', () => {
      const foreign: unknown = vm.runInNewContext('new Date(Date.UTC(2020, 10, 10, 5, 25, 47))');
      assert.ok(!(foreign instanceof Date));
      assert.equal(formatCrmDate(foreign, KOLKATA, 'd'), '2020-11-10 10:55:47');
    });

    it('never prints hour 24 at midnight', () => {
      assert.equal(formatCrmDate(Date.UTC(2020, 10, 9, 18, 30, 0), KOLKATA, 'd'), '2020-11-10 00:00:00');
      assert.equal(formatCrmDate(Date.UTC(2021, 0, 1, 5, 0, 0), NEW_YORK, 'd'), '2021-01-01 00:00:00');
    });

    it('agrees with Intl minute by minute across zones with odd offsets and transitions', () => {
      const zones = [NEW_YORK, KOLKATA, 'Australia/Lord_Howe', 'America/St_Johns', 'Asia/Kathmandu', 'Pacific/Chatham', 'Europe/London'];
      for (const timeZone of zones) {
        const reference = new Intl.DateTimeFormat('sv-SE', {
          timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
          hour: '2-digit', minute: '2-digit', second: '2-digit',
        });
        // An irregular step so that many minutes and seconds of many hours are visited.
        // One year holds every zone's transitions in both directions; two took 20 s on a loaded 2-core machine.
        for (let ms = Date.UTC(2010, 0, 1); ms < Date.UTC(2011, 0, 1); ms += 7 * 60_000 + 13_000) {
          const expected = reference.format(ms);
          const actual = formatCrmDate(ms, timeZone, 'd');
          if (actual !== expected) assert.fail(`${timeZone} at ${new Date(ms).toISOString()}: ${actual} != ${expected}`);
        }
      }
    });

    it('rejects absurd numbers, with a hint for epoch seconds', () => {
      throwsValidation(() => formatCrmDate(1605005747, KOLKATA, 'payload.date_start'), 'payload.date_start: 1605005747', 'epoch seconds');
      throwsValidation(() => formatCrmDate(1605005747000000, KOLKATA, 'f'), 'f: 1605005747000000', 'between the years 2000 and 2100');
      throwsValidation(() => formatCrmDate(-1, KOLKATA, 'f'), 'f: -1');
      throwsValidation(() => formatCrmDate(Number.NaN, KOLKATA, 'f'), 'f: NaN');
      throwsValidation(() => formatCrmDate(Number.POSITIVE_INFINITY, KOLKATA, 'f'), 'f: Infinity');
    });

    it('rejects dates outside the years 2000 to 2100 in every form', () => {
      throwsValidation(() => formatCrmDate('1999-12-31 23:59:59', KOLKATA, 'f'), 'f: "1999-12-31 23:59:59" is not between the years 2000 and 2100');
      throwsValidation(() => formatCrmDate('2101-01-01T00:00:00Z', KOLKATA, 'f'), 'f: "2101-01-01T00:00:00Z"');
      throwsValidation(() => formatCrmDate(new Date(Date.UTC(1990, 0, 1)), KOLKATA, 'f'), 'f: 1990-01-01T00:00:00.000Z');
      assert.equal(formatCrmDate('2100-12-31 23:59:59', KOLKATA, 'd'), '2100-12-31 23:59:59');
    });

    it('rejects invalid Dates and other types, naming the field', () => {
      throwsValidation(() => formatCrmDate(new Date(Number.NaN), KOLKATA, 'payload[1].date_end'), 'payload[1].date_end: the Date is an Invalid Date');
      throwsValidation(() => formatCrmDate(true, KOLKATA, 'payload[1].date_end'), 'payload[1].date_end must be a date, got a boolean', ACCEPTED);
      throwsValidation(() => formatCrmDate(null, KOLKATA, 'f'), 'f must be a date, got null');
      throwsValidation(() => formatCrmDate({}, KOLKATA, 'f'), 'f must be a date, got an object');
      throwsValidation(() => formatCrmDate([2020], KOLKATA, 'f'), 'f must be a date, got an array');
    });

    it('refuses an unknown time zone with a ConfigError', () => {
      assert.throws(() => formatCrmDate('2020-11-10 10:55:47', 'Mars/Olympus', 'd'), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /time zone "Mars\/Olympus" is not a valid IANA time zone/);
        return true;
      });
    });
  });

  describe('convertCrmDate', () => {
    it('gives the instant when asked', () => {
      assert.deepEqual(convertCrmDate('2020-11-10 10:55:47', KOLKATA, 'd', true), {
        text: '2020-11-10 10:55:47',
        epochMs: Date.UTC(2020, 10, 10, 5, 25, 47),
      });
      assert.equal(convertCrmDate('2020-11-10T10:55:47', NEW_YORK, 'd', true).epochMs, Date.UTC(2020, 10, 10, 15, 55, 47));
      assert.equal(convertCrmDate('2020-11-10T10:55:47.250Z', NEW_YORK, 'd', true).epochMs, Date.UTC(2020, 10, 10, 10, 55, 47));
      assert.equal(convertCrmDate(1605005747123, NEW_YORK, 'd', true).epochMs, 1605005747123);
    });

    it('leaves the instant out when not asked for wall-clock input', () => {
      assert.ok(Number.isNaN(convertCrmDate('2020-11-10 10:55:47', KOLKATA, 'd').epochMs));
    });
  });

  describe('formatEpochMs', () => {
    it('formats any finite clock reading in the zone', () => {
      assert.equal(formatEpochMs(0, KOLKATA), '1970-01-01 05:30:00');
      assert.equal(formatEpochMs(Date.UTC(2020, 10, 10, 5, 25, 47, 999), NEW_YORK), '2020-11-10 00:25:47');
      assert.throws(() => formatEpochMs(Number.NaN, KOLKATA), RangeError);
    });
  });

  // The wall-clock reading behind durations derived from dates already in the CRM's form.
  describe('convertCrmDate epoch of YYYY-MM-DD HH:mm:ss', () => {
    const toEpochMs = (text: string, zone: string): number => convertCrmDate(text, zone, 'd', true).epochMs;
    it('reads wall-clock time in the zone', () => {
      assert.equal(toEpochMs('2020-11-10 10:55:47', KOLKATA), Date.UTC(2020, 10, 10, 5, 25, 47));
      assert.equal(toEpochMs('2020-07-01 00:00:00', NEW_YORK), Date.UTC(2020, 6, 1, 4));
      assert.equal(toEpochMs('2020-01-01 00:00:00', NEW_YORK), Date.UTC(2020, 0, 1, 5));
    });

    it('takes the first of a time that happens twice, and reads a skipped time with the offset before the gap', () => {
      assert.equal(toEpochMs('2020-11-01 01:30:00', NEW_YORK), Date.UTC(2020, 10, 1, 5, 30));
      assert.equal(toEpochMs('2020-11-01 02:00:00', NEW_YORK), Date.UTC(2020, 10, 1, 7, 0));
      assert.equal(toEpochMs('2020-03-08 02:30:00', NEW_YORK), Date.UTC(2020, 2, 8, 7, 30));
      assert.equal(toEpochMs('2020-03-08 03:00:00', NEW_YORK), Date.UTC(2020, 2, 8, 7, 0));
    });

    it('round-trips with formatCrmDate', () => {
      for (let ms = Date.UTC(2020, 2, 7); ms < Date.UTC(2020, 2, 10); ms += 17 * 60_000) {
        assert.equal(toEpochMs(formatCrmDate(ms, NEW_YORK, 'd'), NEW_YORK), ms);
      }
    });

  });

  describe('time zones', () => {
    it('tells valid IANA zones from others', () => {
      assert.equal(isValidTimeZone('Asia/Kolkata'), true);
      assert.equal(isValidTimeZone('UTC'), true);
      assert.equal(isValidTimeZone('America/New_York'), true);
      assert.equal(isValidTimeZone('Mars/Olympus'), false);
      assert.equal(isValidTimeZone(''), false);
      assert.equal(isValidTimeZone('+05:30'), false);
    });

    it('reports a valid host zone', () => {
      assert.equal(isValidTimeZone(hostTimeZone()), true);
    });

    it('refuses the tz database\'s own files and Factory, which are no zones to Intl', () => {
      for (const name of ['posix/Asia/Kolkata', 'right/UTC', 'localtime', 'posixrules', 'leapseconds', 'Factory', 'zone.tab', 'Asia', '../etc/passwd']) {
        assert.equal(isValidTimeZone(name), false, name);
      }
    });

    it('still asks Intl about names it cannot tell by themselves: an alias in other letter case is valid', () => {
      assert.equal(isValidTimeZone('asia/kolkata'), true);
      assert.equal(isValidTimeZone('america/new_york'), true);
    });

    it('tells a known zone without building an Intl formatter (the first one costs a process ~8 MB)', () => {
      // Zones no other test converts with (the zone cache would answer without Intl anyway): two of
      // Intl's own list, and, where the system has a tz database, two only it names so (Node 20's Intl
      // lists the older America/Buenos_Aires, and no Etc/GMT+5).
      const zones = ['Europe/Paris', 'Asia/Tokyo'];
      for (const zone of ['America/Argentina/Buenos_Aires', 'Etc/GMT+5']) if (fs.existsSync(`/usr/share/zoneinfo/${zone}`)) zones.push(zone);
      const built = countFormatters(() => {
        for (const zone of zones) assert.equal(isValidTimeZone(zone), true, zone);
      });
      assert.equal(built, 0);
    });
  });

  describe('formatDuration', () => {
    it('writes HH:MM:SS, with two or more hour digits', () => {
      assert.equal(formatDuration(0), '00:00:00');
      assert.equal(formatDuration(59), '00:00:59');
      assert.equal(formatDuration(60), '00:01:00');
      assert.equal(formatDuration(3661), '01:01:01');
      assert.equal(formatDuration(99 * 3600 + 59 * 60 + 59), '99:59:59');
      assert.equal(formatDuration(100 * 3600), '100:00:00');
      assert.equal(formatDuration(1234 * 3600 + 5), '1234:00:05');
    });

    it('rounds fractions of a second', () => {
      assert.equal(formatDuration(59.5), '00:01:00');
      assert.equal(formatDuration(59.4), '00:00:59');
    });

    it('refuses negative and non-finite numbers', () => {
      assert.throws(() => formatDuration(-1), RangeError);
      assert.throws(() => formatDuration(Number.NaN), RangeError);
    });
  });

  describe('normaliseDuration', () => {
    it('turns seconds into HH:MM:SS', () => {
      assert.equal(normaliseDuration(0, 'd'), '00:00:00');
      assert.equal(normaliseDuration(60, 'd'), '00:01:00');
      assert.equal(normaliseDuration(61.6, 'd'), '00:01:02');
      assert.equal(normaliseDuration(360_000, 'd'), '100:00:00');
      assert.equal(normaliseDuration('125', 'd'), '00:02:05');
      assert.equal(normaliseDuration('0', 'd'), '00:00:00');
    });

    it('passes HH:MM:SS and pads or trims the hours of H+:MM:SS', () => {
      assert.equal(normaliseDuration('00:01:00', 'd'), '00:01:00');
      assert.equal(normaliseDuration('1:02:03', 'd'), '01:02:03');
      assert.equal(normaliseDuration('123:02:03', 'd'), '123:02:03');
      assert.equal(normaliseDuration('0001:02:03', 'd'), '01:02:03');
    });

    it('rejects anything else, naming the field', () => {
      for (const bad of ['', 'abc', '1:2:3', '00:60:00', '00:00:60', '01:02', '-5', '1.5', '00:01:00:00']) {
        throwsValidation(() => normaliseDuration(bad, 'payload[4].duration'), `payload[4].duration: ${JSON.stringify(bad)} is not a duration`);
      }
      throwsValidation(() => normaliseDuration(-1, 'payload.duration'), 'payload.duration: -1 is not a duration');
      throwsValidation(() => normaliseDuration(Number.NaN, 'payload.duration'), 'payload.duration: NaN');
      throwsValidation(() => normaliseDuration(Number.POSITIVE_INFINITY, 'payload.duration'), 'payload.duration: Infinity');
      throwsValidation(() => normaliseDuration(true, 'payload.duration'), 'payload.duration must be a duration, got a boolean');
      throwsValidation(() => normaliseDuration(null, 'payload.duration'), 'payload.duration must be a duration, got null');
      throwsValidation(() => normaliseDuration(1e12, 'payload.duration'), 'payload.duration: 1000000000000 is longer than 10000 hours');
    });
  });
});
