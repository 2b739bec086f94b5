import assert from 'node:assert/strict';
import * as vm from 'node:vm';
import { ValidationError } from '../../src/lib/errors';
import {
  CALL_RECORD_FIELDS,
  type CallRecord,
  DEFAULT_MAX_RECORDS,
  normaliseCallLogPayload,
  normaliseCallRecord,
} from '../../src/sangam/call-record';

const KOLKATA = 'Asia/Kolkata';
const NEW_YORK = 'America/New_York';
const OPTIONS = { timeZone: KOLKATA, maxRecords: 1000 };

/** Asserts a ValidationError whose message contains every fragment. */
function throwsValidation(fn: () => unknown, ...fragments: string[]): ValidationError {
  let caught: ValidationError | undefined;
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    for (const fragment of fragments) {
      assert.ok(err.message.includes(fragment), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(fragment)}`);
    }
    caught = err;
    return true;
  });
  assert.ok(caught);
  return caught;
}

/** The guide's first sample record. */
function guideRecord(): Record<string, unknown> {
  return {
    duration: '00:01:00',
    enjay_lat_source_number: '9876598765',
    date_start: '2020-11-10 10:55:47',
    date_end: '2020-11-10 10:56:47',
    mobile_call_detect_c: '0',
    name: '9876598765',
    enjay_lat_destination_number: '7890178901',
    assigned_user_id: '1',
    decision_variable: '',
    direction: 'Outbound',
    call_status: 'Held',
    logged_via: 'Calllog',
    logged_by: 'IVR',
    synapse_recording_link: '',
  };
}

/** The fewest fields a record needs. */
function minimalRecord(): Record<string, unknown> {
  return {
    direction: 'Inbound',
    enjay_lat_source_number: '+919876598765',
    enjay_lat_destination_number: '07890178901',
    date_start: '2020-11-10 10:55:47',
    duration: 60,
  };
}

function one(record: unknown, timeZone = KOLKATA): CallRecord {
  return normaliseCallRecord(record, 'payload[0]', timeZone);
}

describe('sangam/call-record', () => {
  describe('a complete record', () => {
    it('passes the guide sample unchanged, in the guide order', () => {
      const input = guideRecord();
      const out = one(input);
      assert.deepEqual(out, input);
      assert.deepEqual(Object.keys(out), [...CALL_RECORD_FIELDS]);
    });

    it('never mutates its input and returns a new object', () => {
      const input = minimalRecord();
      const frozen = Object.freeze({ ...input, custom: 'x' });
      const snapshot = structuredClone(input);
      const out = one(input);
      assert.notEqual(out, input);
      assert.deepEqual(input, snapshot);
      assert.doesNotThrow(() => one(frozen));
    });

    it('writes known fields first in guide order, then custom fields in input order', () => {
      const out = one({ zeta: 1, logged_by: 'ivr', alpha: 'a', ...minimalRecord(), middle: null });
      assert.deepEqual(Object.keys(out), [
        'duration', 'enjay_lat_source_number', 'date_start', 'mobile_call_detect_c', 'name',
        'enjay_lat_destination_number', 'direction', 'logged_via', 'logged_by', 'zeta', 'alpha', 'middle',
      ]);
    });
  });

  describe('derived fields', () => {
    it('derives name from the source number for Inbound calls', () => {
      assert.equal(one(minimalRecord()).name, '+919876598765');
    });

    it('derives name from the destination number for Outbound calls', () => {
      assert.equal(one({ ...minimalRecord(), direction: 'outbound' }).name, '07890178901');
    });

    it('derives name when it is null or empty, and keeps a given one', () => {
      assert.equal(one({ ...minimalRecord(), name: null }).name, '+919876598765');
      assert.equal(one({ ...minimalRecord(), name: '' }).name, '+919876598765');
      assert.equal(one({ ...minimalRecord(), name: 'Call with Asha' }).name, 'Call with Asha');
    });

    it('sets mobile_call_detect_c to "0" and logged_via to "Calllog" when missing', () => {
      const out = one(minimalRecord());
      assert.equal(out.mobile_call_detect_c, '0');
      assert.equal(out.logged_via, 'Calllog');
    });

    it('derives duration from date_start and date_end', () => {
      const out = one({ ...minimalRecord(), duration: undefined, date_end: '2020-11-10 11:57:49' });
      assert.equal(out.duration, '01:02:02');
      assert.equal(out.date_end, '2020-11-10 11:57:49');
    });

    it('derives duration across a DST change from real instants', () => {
      // 01:50 EDT to 01:10 EST is 20 minutes, though the wall clock went back.
      const out = one({
        ...minimalRecord(),
        duration: null,
        date_start: '2020-11-01T05:50:00Z',
        date_end: '2020-11-01T06:10:00Z',
      }, NEW_YORK);
      assert.equal(out.date_start, '2020-11-01 01:50:00');
      assert.equal(out.date_end, '2020-11-01 01:10:00');
      assert.equal(out.duration, '00:20:00');
    });

    it('derives a zero duration and one from mixed date forms', () => {
      assert.equal(one({ ...minimalRecord(), duration: '', date_end: '2020-11-10 10:55:47' }).duration, '00:00:00');
      const start = Date.UTC(2020, 10, 10, 5, 25, 47);
      const out = one({ ...minimalRecord(), duration: undefined, date_start: start, date_end: new Date(start + 90_000) });
      assert.equal(out.duration, '00:01:30');
      assert.equal(out.date_start, '2020-11-10 10:55:47');
    });

    it('rejects an end before the start, naming date_end', () => {
      throwsValidation(
        () => one({ ...minimalRecord(), duration: undefined, date_end: '2020-11-10 10:55:46' }),
        'payload[0].date_end: "2020-11-10 10:55:46" is before date_start "2020-11-10 10:55:47"',
      );
    });

    it('requires a duration or both dates, saying it may be derived', () => {
      throwsValidation(
        () => one({ ...minimalRecord(), duration: undefined }),
        'payload[0].duration is missing',
        'date_start and date_end',
      );
    });

    it('keeps a given duration even when both dates are given', () => {
      assert.equal(one({ ...minimalRecord(), duration: '00:00:30', date_end: '2020-11-10 10:56:47' }).duration, '00:00:30');
    });
  });

  describe('conversions', () => {
    it('converts dates into the zone and keeps formatted ones', () => {
      const out = one({ ...minimalRecord(), date_start: '2020-11-10T05:25:47Z', date_end: '2020-11-10 10:56:47' });
      assert.equal(out.date_start, '2020-11-10 10:55:47');
      assert.equal(out.date_end, '2020-11-10 10:56:47');
      const ny = one({ ...minimalRecord(), date_start: '2020-03-08T07:00:00Z' }, NEW_YORK);
      assert.equal(ny.date_start, '2020-03-08 03:00:00');
    });

    it('turns duration in seconds into HH:MM:SS', () => {
      assert.equal(one({ ...minimalRecord(), duration: 0 }).duration, '00:00:00');
      assert.equal(one({ ...minimalRecord(), duration: '3725' }).duration, '01:02:05');
      assert.equal(one({ ...minimalRecord(), duration: 400_000 }).duration, '111:06:40');
      assert.equal(one({ ...minimalRecord(), duration: '1:00:00' }).duration, '01:00:00');
    });

    it('names the record field in date and duration errors', () => {
      throwsValidation(() => one({ ...minimalRecord(), date_start: '2020-13-45' }), 'payload[0].date_start: "2020-13-45" is not a valid date');
      throwsValidation(() => one({ ...minimalRecord(), date_end: 'later' }), 'payload[0].date_end: "later"');
      throwsValidation(() => one({ ...minimalRecord(), duration: -3 }), 'payload[0].duration: -3 is not a duration');
    });
  });

  describe('enumerations', () => {
    const cases: Array<[string, string[], string]> = [
      ['direction', ['Inbound', 'inbound', 'INBOUND', 'iNbOuNd'], 'Inbound'],
      ['direction', ['Outbound', 'outbound', 'OUTBOUND'], 'Outbound'],
      ['call_status', ['Held', 'held', 'HELD'], 'Held'],
      ['call_status', ['Not Held', 'not held', 'NOT HELD', 'Not held'], 'Not Held'],
      ['decision_variable', ['always', 'Always', 'ALWAYS'], 'always'],
      ['decision_variable', ['never', 'NEVER'], 'never'],
      ['decision_variable', [''], ''],
      ['logged_by', ['CRM App', 'crm app', 'CRM APP'], 'CRM App'],
      ['logged_by', ['Synapse', 'synapse'], 'Synapse'],
      ['logged_by', ['IVR', 'ivr', 'Ivr'], 'IVR'],
      ['logged_via', ['Calllog', 'calllog', 'CALLLOG'], 'Calllog'],
    ];
    for (const [field, inputs, expected] of cases) {
      it(`${field}: ${inputs.map((text) => JSON.stringify(text)).join(', ')} -> ${JSON.stringify(expected)}`, () => {
        for (const input of inputs) assert.equal(one({ ...minimalRecord(), [field]: input })[field], expected);
      });
    }

    it('rejects values outside each enumeration, naming index, field and the options', () => {
      const record = minimalRecord();
      throwsValidation(
        () => normaliseCallLogPayload([record, record, record, { ...record, direction: 'sideways' }], OPTIONS),
        'payload[3].direction: "sideways" is not one of Inbound, Outbound',
      );
      throwsValidation(() => one({ ...record, call_status: 'not_held' }), 'payload[0].call_status: "not_held" is not one of Held, Not Held');
      throwsValidation(() => one({ ...record, call_status: 'Not  Held' }), 'payload[0].call_status: "Not  Held"');
      throwsValidation(() => one({ ...record, decision_variable: 'sometimes' }), 'payload[0].decision_variable: "sometimes" is not one of always, never, "" (empty)');
      throwsValidation(() => one({ ...record, logged_by: 'PBX' }), 'payload[0].logged_by: "PBX" is not one of CRM App, Synapse, IVR');
      throwsValidation(() => one({ ...record, logged_via: 'api' }), 'payload[0].logged_via: "api" is not one of Calllog');
      throwsValidation(() => one({ ...record, direction: 1 }), 'payload[0].direction must be one of Inbound, Outbound, got number 1');
    });

    it('leaves optional enumerations out when absent or null', () => {
      const out = one({ ...minimalRecord(), call_status: null, logged_by: undefined });
      assert.equal('call_status' in out, false);
      assert.equal('logged_by' in out, false);
      assert.equal('decision_variable' in out, false);
    });
  });

  describe('required fields', () => {
    for (const field of ['direction', 'enjay_lat_source_number', 'enjay_lat_destination_number', 'date_start']) {
      it(`requires ${field}`, () => {
        const record = minimalRecord();
        delete record[field];
        throwsValidation(() => normaliseCallLogPayload(record, OPTIONS), `payload.${field} is required`);
        throwsValidation(() => normaliseCallLogPayload([minimalRecord(), { ...minimalRecord(), [field]: null }], OPTIONS), `payload[1].${field} is required`);
      });
    }

    it('rejects empty phone numbers', () => {
      throwsValidation(() => one({ ...minimalRecord(), enjay_lat_source_number: '' }), 'payload[0].enjay_lat_source_number is empty');
      throwsValidation(() => one({ ...minimalRecord(), enjay_lat_destination_number: '   ' }), 'payload[0].enjay_lat_destination_number is empty');
    });
  });

  describe('string fields', () => {
    it('rejects numbers where strings belong, saying what was given', () => {
      throwsValidation(
        () => one({ ...minimalRecord(), enjay_lat_source_number: 9876 }),
        'payload[0].enjay_lat_source_number must be a string, got number 9876',
        'leading zeros',
      );
      throwsValidation(() => one({ ...minimalRecord(), enjay_lat_destination_number: 9876 }), 'payload[0].enjay_lat_destination_number must be a string, got number 9876');
      throwsValidation(() => one({ ...minimalRecord(), name: 42 }), 'payload[0].name must be a string, got number 42');
      throwsValidation(() => one({ ...minimalRecord(), assigned_user_id: 1 }), 'payload[0].assigned_user_id must be a string, got number 1');
      throwsValidation(() => one({ ...minimalRecord(), synapse_recording_link: false }), 'payload[0].synapse_recording_link must be a string, got boolean false');
    });

    it('accepts mobile_call_detect_c only as the string "0"', () => {
      assert.equal(one({ ...minimalRecord(), mobile_call_detect_c: '0' }).mobile_call_detect_c, '0');
      throwsValidation(() => one({ ...minimalRecord(), mobile_call_detect_c: 0 }), 'payload[0].mobile_call_detect_c must be the string "0"', 'got number 0');
      throwsValidation(() => one({ ...minimalRecord(), mobile_call_detect_c: '1' }), 'payload[0].mobile_call_detect_c must be the string "0"', 'got a string "1"');
    });

    it('limits phone numbers to 64 characters and other text to 2000', () => {
      assert.equal(one({ ...minimalRecord(), enjay_lat_source_number: '9'.repeat(64) }).enjay_lat_source_number, '9'.repeat(64));
      throwsValidation(() => one({ ...minimalRecord(), enjay_lat_source_number: '9'.repeat(65) }), 'payload[0].enjay_lat_source_number is 65 characters long; at most 64');
      const link = `https://rec.example.com/${'a'.repeat(2000 - 24)}`;
      assert.equal(one({ ...minimalRecord(), synapse_recording_link: link }).synapse_recording_link, link);
      throwsValidation(() => one({ ...minimalRecord(), synapse_recording_link: `${link}b` }), 'payload[0].synapse_recording_link is 2001 characters long; at most 2000');
      throwsValidation(() => one({ ...minimalRecord(), note: 'x'.repeat(2001) }), 'payload[0].note is 2001 characters long');
    });

    it('rejects control characters in every string value, known or custom', () => {
      for (const bad of ['a\nb', 'a\rb', 'a\u0000b', 'a\tb', 'a\u007fb', 'a\u0085b', 'a\u001bb']) {
        throwsValidation(() => one({ ...minimalRecord(), name: bad }), 'payload[0].name contains a control character');
        throwsValidation(() => one({ ...minimalRecord(), enjay_lat_source_number: bad }), 'payload[0].enjay_lat_source_number contains a control character');
        throwsValidation(() => one({ ...minimalRecord(), note: bad }), 'payload[0].note contains a control character');
      }
      throwsValidation(() => one({ ...minimalRecord(), name: 'ab\ncd' }), 'U+000A at character position 2');
      throwsValidation(() => one({ ...minimalRecord(), direction: 'Inbound\n' }), 'payload[0].direction: "Inbound\\n" is not one of');
    });

    it('accepts Unicode text', () => {
      const out = one({ ...minimalRecord(), name: 'राजेश कुमार से बात 📞', note: 'ग्राहक ने कॉल किया', 'टिप्पणी': 'ठीक' });
      assert.equal(out.name, 'राजेश कुमार से बात 📞');
      assert.equal(out.note, 'ग्राहक ने कॉल किया');
      assert.equal(out['टिप्पणी'], 'ठीक');
    });
  });

  describe('custom fields', () => {
    it('pass strings, finite numbers, booleans and null unchanged and drop undefined', () => {
      const out = one({ ...minimalRecord(), queue: 'sales', wait: 12.5, answered: true, agent: null, gone: undefined });
      assert.equal(out.queue, 'sales');
      assert.equal(out.wait, 12.5);
      assert.equal(out.answered, true);
      assert.equal(out.agent, null);
      assert.equal('gone' in out, false);
    });

    it('rejects nested objects, arrays, functions and non-finite numbers', () => {
      throwsValidation(() => normaliseCallLogPayload([minimalRecord(), { ...minimalRecord(), extra: { a: 1 } }], OPTIONS), 'payload[1].extra: nested objects are not accepted');
      throwsValidation(() => one({ ...minimalRecord(), tags: ['a'] }), 'payload[0].tags: arrays are not accepted');
      throwsValidation(() => one({ ...minimalRecord(), fn: () => 1 }), 'payload[0].fn: a function is not accepted');
      throwsValidation(() => one({ ...minimalRecord(), when: new Date() }), 'payload[0].when: a Date is not accepted');
      throwsValidation(() => one({ ...minimalRecord(), big: 1n }), 'payload[0].big: bigint 1 is not accepted');
      throwsValidation(() => one({ ...minimalRecord(), ratio: Number.NaN }), 'payload[0].ratio: NaN is not accepted; numbers must be finite');
      throwsValidation(() => one({ ...minimalRecord(), ratio: Number.NEGATIVE_INFINITY }), 'payload[0].ratio: -Infinity is not accepted');
    });

    it('names fields that are not identifiers in brackets', () => {
      throwsValidation(() => one({ ...minimalRecord(), 'my field': {} }), 'payload[0]["my field"]: nested objects are not accepted');
    });

    it('rejects prototype-polluting keys made by JSON.parse', () => {
      const parsed: unknown = JSON.parse(
        '{"direction":"Inbound","enjay_lat_source_number":"1","enjay_lat_destination_number":"2","date_start":"2020-11-10 10:55:47","duration":1,"__proto__":{"polluted":"yes"}}',
      );
      throwsValidation(() => normaliseCallLogPayload(parsed, OPTIONS), 'payload.__proto__: the field name "__proto__" is not accepted');
      throwsValidation(() => normaliseCallLogPayload([minimalRecord(), JSON.parse('{"constructor":"x"}')], OPTIONS), 'payload[1].constructor: the field name "constructor" is not accepted');
      throwsValidation(() => one({ ...minimalRecord(), prototype: 1 }), 'payload[0].prototype: the field name "prototype" is not accepted');
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });

    it('checks field names: empty, too long, control characters', () => {
      throwsValidation(() => one({ ...minimalRecord(), '': 1 }), 'payload[0] has a field with an empty name');
      throwsValidation(() => one({ ...minimalRecord(), ['k'.repeat(101)]: 1 }), 'payload[0] has a field name of 101 characters');
      assert.equal(one({ ...minimalRecord(), ['k'.repeat(100)]: 1 })['k'.repeat(100)], 1);
      throwsValidation(() => one({ ...minimalRecord(), 'bad\nkey': 1 }), 'payload[0]["bad\\nkey"] contains a control character', 'field name position 3');
    });

    it('accepts at most 100 fields per record', () => {
      const wide: Record<string, unknown> = minimalRecord();
      for (let i = Object.keys(wide).length; i < 100; i++) wide[`f${i}`] = i;
      assert.equal(Object.keys(one(wide)).length, 100 + 3); // plus name, mobile_call_detect_c, logged_via
      wide.oneMore = 1;
      throwsValidation(() => one(wide), 'payload[0] has 101 fields; at most 100 are accepted');
    });
  });

  describe('normaliseCallLogPayload', () => {
    it('takes one record as single', () => {
      const { records, single } = normaliseCallLogPayload(minimalRecord(), OPTIONS);
      assert.equal(single, true);
      assert.equal(records.length, 1);
      assert.equal(records[0]?.duration, '00:01:00');
    });

    it('takes an array of records in order', () => {
      const records = [minimalRecord(), { ...minimalRecord(), direction: 'Outbound', duration: 5 }];
      const result = normaliseCallLogPayload(records, OPTIONS);
      assert.equal(result.single, false);
      assert.deepEqual(result.records.map((record) => record.duration), ['00:01:00', '00:00:05']);
      assert.deepEqual(result.records.map((record) => record.direction), ['Inbound', 'Outbound']);
    });

    it('names the index and field of the first bad record', () => {
      const records = [minimalRecord(), minimalRecord(), { ...minimalRecord(), enjay_lat_source_number: 12 }, { ...minimalRecord(), direction: 'x' }];
      const err = throwsValidation(() => normaliseCallLogPayload(records, OPTIONS), 'payload[2].enjay_lat_source_number must be a string, got number 12');
      assert.equal(err.field, 'payload[2].enjay_lat_source_number');
    });

    it('uses payload.field for a single record', () => {
      throwsValidation(() => normaliseCallLogPayload({ ...minimalRecord(), direction: 'sideways' }, OPTIONS), 'payload.direction: "sideways" is not one of Inbound, Outbound');
    });

    it('rejects payloads that are no record or array of records', () => {
      const base = 'payload must be a call record object or an array of them, got ';
      throwsValidation(() => normaliseCallLogPayload('{"direction":"Inbound"}', OPTIONS), `${base}a string`, 'JSON node');
      throwsValidation(() => normaliseCallLogPayload(42, OPTIONS), `${base}number 42`);
      throwsValidation(() => normaliseCallLogPayload(null, OPTIONS), `${base}null`);
      throwsValidation(() => normaliseCallLogPayload(undefined, OPTIONS), `${base}undefined`);
      throwsValidation(() => normaliseCallLogPayload(Buffer.from('{}'), OPTIONS), `${base}a Buffer`);
      throwsValidation(() => normaliseCallLogPayload(new Date(), OPTIONS), `${base}a Date`);
      throwsValidation(() => normaliseCallLogPayload(new Map(), OPTIONS), `${base}a Map`);
      throwsValidation(() => normaliseCallLogPayload([], OPTIONS), 'payload is an empty array');
      throwsValidation(() => normaliseCallLogPayload([minimalRecord(), 'x'], OPTIONS), 'payload[1] must be a call record object, got a string');
      throwsValidation(() => normaliseCallLogPayload([minimalRecord(), null], OPTIONS), 'payload[1] must be a call record object, got null');
      throwsValidation(() => normaliseCallLogPayload([[minimalRecord()]], OPTIONS), 'payload[0] must be a call record object, got an array');
    });

    it('accepts records made in another context (a Function node sandbox)', () => {
      const foreign: unknown = vm.runInNewContext(
        '[{direction: "Inbound", enjay_lat_source_number: "1", enjay_lat_destination_number: "2", date_start: new Date(Date.UTC(2020, 10, 10, 5, 25, 47)), duration: 3}]',
      );
      const { records } = normaliseCallLogPayload(foreign, OPTIONS);
      assert.equal(records[0]?.date_start, '2020-11-10 10:55:47');
    });

    it('accepts objects without a prototype', () => {
      const bare = Object.assign(Object.create(null) as Record<string, unknown>, minimalRecord());
      assert.equal(normaliseCallLogPayload(bare, OPTIONS).records[0]?.direction, 'Inbound');
    });

    it('limits the number of records, 1000 by default', () => {
      const many = Array.from({ length: DEFAULT_MAX_RECORDS + 1 }, () => minimalRecord());
      throwsValidation(() => normaliseCallLogPayload(many, { timeZone: KOLKATA }), 'payload has 1001 call records; at most 1000 are accepted');
      assert.equal(normaliseCallLogPayload(many.slice(1), { timeZone: KOLKATA }).records.length, 1000);
      throwsValidation(() => normaliseCallLogPayload(many.slice(0, 3), { timeZone: KOLKATA, maxRecords: 2 }), 'payload has 3 call records; at most 2');
    });

    it('normalises 50,000 records', () => {
      const record = { ...guideRecord(), date_start: Date.UTC(2020, 10, 10, 5, 25, 47), duration: 61, date_end: undefined, queue: 'sales' };
      const batch = Array.from({ length: 1000 }, () => record);
      const started = process.hrtime.bigint();
      let count = 0;
      for (let i = 0; i < 50; i++) count += normaliseCallLogPayload(batch, OPTIONS).records.length;
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
      assert.equal(count, 50_000);
      // Informative only: not an assertion.
      console.log(`      50,000 records normalised in ${elapsedMs.toFixed(0)} ms`);
    });
  });
});
