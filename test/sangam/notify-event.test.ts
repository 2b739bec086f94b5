import assert from 'node:assert/strict';
import { ValidationError } from '../../src/lib/errors';
import { isTooOld, normaliseNotifyEvent } from '../../src/sangam/notify-event';

const KOLKATA = 'Asia/Kolkata';
const NEW_YORK = 'America/New_York';
const NOW = Date.UTC(2020, 10, 10, 5, 25, 47, 250);

/** Asserts a ValidationError whose message contains every fragment. */
function throwsValidation(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    for (const fragment of fragments) {
      assert.ok(err.message.includes(fragment), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(fragment)}`);
    }
    return true;
  });
}

function guideEvent(): Record<string, unknown> {
  return {
    cli: '9876598765',
    event: 'TC',
    uniqueid: '12398778.1234',
    time: '2020-11-10 10:55:47',
    nm: 'abc@gmail.com',
    to: '7890178901',
  };
}

function normalise(payload: unknown, timeZone = KOLKATA) {
  return normaliseNotifyEvent(payload, { timeZone, now: NOW });
}

describe('sangam/notify-event', () => {
  describe('normaliseNotifyEvent', () => {
    it('passes the guide sample unchanged and gives its instant', () => {
      const { event, eventTimeMs } = normalise(guideEvent());
      assert.deepEqual(event, guideEvent());
      assert.deepEqual(Object.keys(event), ['cli', 'event', 'uniqueid', 'time', 'nm', 'to']);
      assert.equal(eventTimeMs, Date.UTC(2020, 10, 10, 5, 25, 47));
    });

    it('returns a new object and leaves the input alone', () => {
      const input = Object.freeze(guideEvent());
      const { event } = normalise(input);
      assert.notEqual(event, input);
      assert.deepEqual(input, guideEvent());
    });

    it('defaults time to now, in the zone', () => {
      for (const missing of [undefined, null, '']) {
        const { event, eventTimeMs } = normalise({ ...guideEvent(), time: missing });
        assert.equal(event.time, '2020-11-10 10:55:47');
        assert.equal(eventTimeMs, NOW);
      }
      assert.equal(normalise({ ...guideEvent(), time: undefined }, NEW_YORK).event.time, '2020-11-10 00:25:47');
    });

    it('formats any clock reading given as now, even a fake clock at 0', () => {
      const { event, eventTimeMs } = normaliseNotifyEvent({ ...guideEvent(), time: undefined }, { timeZone: 'UTC', now: 0 });
      assert.equal(event.time, '1970-01-01 00:00:00');
      assert.equal(eventTimeMs, 0);
    });

    it('uses the clock when no now is given', () => {
      const before = Date.now();
      const { eventTimeMs } = normaliseNotifyEvent({ ...guideEvent(), time: undefined }, { timeZone: KOLKATA });
      assert.ok(eventTimeMs >= before && eventTimeMs <= Date.now());
    });

    it('converts ISO, epoch ms and Date times into the zone', () => {
      const iso = normalise({ ...guideEvent(), time: '2020-11-10T05:25:47Z' });
      assert.equal(iso.event.time, '2020-11-10 10:55:47');
      assert.equal(iso.eventTimeMs, Date.UTC(2020, 10, 10, 5, 25, 47));
      const epoch = normalise({ ...guideEvent(), time: NOW }, NEW_YORK);
      assert.equal(epoch.event.time, '2020-11-10 00:25:47');
      assert.equal(epoch.eventTimeMs, NOW);
      const date = normalise({ ...guideEvent(), time: new Date(NOW) });
      assert.equal(date.event.time, '2020-11-10 10:55:47');
      assert.equal(date.eventTimeMs, NOW);
    });

    it('reads a formatted time as wall-clock time in the zone', () => {
      assert.equal(normalise({ ...guideEvent(), time: '2020-11-10 00:25:47' }, NEW_YORK).eventTimeMs, Date.UTC(2020, 10, 10, 5, 25, 47));
    });

    it('rejects an invalid time, naming payload.time', () => {
      throwsValidation(() => normalise({ ...guideEvent(), time: '2020-02-30 10:00:00' }), 'payload.time: "2020-02-30 10:00:00" is not a valid date');
      throwsValidation(() => normalise({ ...guideEvent(), time: true }), 'payload.time must be a date, got a boolean');
    });

    for (const field of ['cli', 'event', 'uniqueid', 'to']) {
      it(`requires ${field} as a non-empty string`, () => {
        throwsValidation(() => normalise({ ...guideEvent(), [field]: undefined }), `payload.${field} is required`);
        throwsValidation(() => normalise({ ...guideEvent(), [field]: null }), `payload.${field} is required`);
        throwsValidation(() => normalise({ ...guideEvent(), [field]: '' }), `payload.${field} is empty`);
        throwsValidation(() => normalise({ ...guideEvent(), [field]: 123 }), `payload.${field} must be a string, got number 123`);
        throwsValidation(() => normalise({ ...guideEvent(), [field]: 'a\nb' }), `payload.${field} contains a control character`);
      });
    }

    it('limits phone numbers to 64 characters', () => {
      throwsValidation(() => normalise({ ...guideEvent(), cli: '1'.repeat(65) }), 'payload.cli is 65 characters long; at most 64');
      throwsValidation(() => normalise({ ...guideEvent(), to: '1'.repeat(65) }), 'payload.to is 65 characters long');
    });

    it('treats nm as optional text', () => {
      const { event } = normalise({ ...guideEvent(), nm: undefined });
      assert.equal('nm' in event, false);
      assert.equal('nm' in normalise({ ...guideEvent(), nm: null }).event, false);
      assert.equal(normalise({ ...guideEvent(), nm: 'अनीता' }).event.nm, 'अनीता');
      throwsValidation(() => normalise({ ...guideEvent(), nm: 7 }), 'payload.nm must be a string, got number 7');
      throwsValidation(() => normalise({ ...guideEvent(), nm: 'a\r' }), 'payload.nm contains a control character');
    });

    it('passes extra scalar fields after the guide fields, in input order', () => {
      const { event } = normalise({ channel: 'SIP/100', ...guideEvent(), queue: 3, vip: true, note: null, none: undefined });
      assert.deepEqual(Object.keys(event), ['cli', 'event', 'uniqueid', 'time', 'nm', 'to', 'channel', 'queue', 'vip', 'note']);
      assert.equal(event.channel, 'SIP/100');
      assert.equal(event.queue, 3);
    });

    it('rejects extra fields that are not scalar, and prototype keys', () => {
      throwsValidation(() => normalise({ ...guideEvent(), extra: { a: 1 } }), 'payload.extra: nested objects are not accepted');
      throwsValidation(() => normalise({ ...guideEvent(), extra: [1] }), 'payload.extra: arrays are not accepted');
      throwsValidation(() => normalise({ ...guideEvent(), extra: Number.NaN }), 'payload.extra: NaN is not accepted');
      throwsValidation(() => normalise(JSON.parse('{"cli":"1","event":"TC","uniqueid":"u","to":"2","__proto__":{"x":1}}')), 'payload.__proto__: the field name "__proto__" is not accepted');
      throwsValidation(() => normalise({ ...guideEvent(), constructor: 'x' }), 'payload.constructor: the field name');
    });

    it('ignores fields supplied only by a polluted Object.prototype', () => {
      const proto = Object.prototype as Record<string, unknown>;
      proto.cli = '1';
      try {
        throwsValidation(() => normalise({ event: 'TC', uniqueid: 'u', to: '2' }), 'payload.cli is required');
      } finally {
        delete proto.cli;
      }
    });

    it('rejects objects with a prototype of their own', () => {
      const inherited = Object.create({ cli: '1' }) as Record<string, unknown>;
      Object.assign(inherited, { event: 'TC', uniqueid: 'u', to: '2' });
      throwsValidation(() => normalise(inherited), 'payload must be a pop-up event object', 'got an object');
    });

    it('rejects payloads that are not objects', () => {
      throwsValidation(() => normalise('{"cli":"1"}'), 'payload must be a pop-up event object {cli, event, uniqueid, time, nm, to}, got a string', 'JSON node');
      throwsValidation(() => normalise([guideEvent()]), 'got an array');
      throwsValidation(() => normalise(null), 'got null');
      throwsValidation(() => normalise(Buffer.from('x')), 'got a Buffer');
    });

    it('accepts at most 100 fields', () => {
      const wide: Record<string, unknown> = guideEvent();
      for (let i = 6; i < 101; i++) wide[`f${i}`] = i;
      throwsValidation(() => normalise(wide), 'payload has 101 fields; at most 100 are accepted');
      delete wide.f100;
      assert.equal(Object.keys(normalise(wide).event).length, 100);
    });
  });

  describe('isTooOld', () => {
    it('compares the age with the maximum', () => {
      assert.equal(isTooOld(NOW - 30_000, 30, NOW), false);
      assert.equal(isTooOld(NOW - 30_001, 30, NOW), true);
      assert.equal(isTooOld(NOW - 5_000, 60, NOW), false);
      assert.equal(isTooOld(NOW - 3_600_000, 60, NOW), true);
    });

    it('has no limit when the maximum is 0', () => {
      assert.equal(isTooOld(NOW - 10 * 86_400_000, 0, NOW), false);
    });

    it('does not call an event from a little in the future too old', () => {
      assert.equal(isTooOld(NOW + 2_000, 30, NOW), false);
      assert.equal(isTooOld(NOW + 2_000, 1, NOW), false);
    });
  });
});
