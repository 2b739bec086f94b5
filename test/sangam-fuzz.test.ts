/**
 * Hostile input: thousands of generated msgs, valid and invalid, through sangam-call-log and
 * sangam-notify in a real Node-RED runtime against the strict SangamCRM stand-in. The generator
 * knows for each msg whether it is valid and, if not, which field is wrong; the test checks that
 * the runtime survives, that every invalid msg gives exactly one Catch error naming that field,
 * that every valid one is delivered (and found at the stand-in, whose checks refuse anything
 * malformed), and that nothing else happens. The seed is printed; FUZZ_SEED=<n> replays a run.
 */
import assert from 'node:assert/strict';
import { helper } from './support/node-red';
import { loadSangamFlow, useSangamCrm } from './support/sangam-crm';

const CASES = 3000;
const fromEnv = Number(process.env.FUZZ_SEED);
const SEED = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.floor(Math.random() * 2 ** 31) + 1;

type Target = 'log' | 'notify';

interface FuzzCase {
  id: number;
  target: Target;
  msg: Record<string, unknown>;
  /** Refs (call_ref / uniqueid) the CRM must store; empty for an invalid msg. */
  refs: string[];
  /** For an invalid msg: text its error message must contain (the field's path). */
  field?: string;
  /** What the mutation was, for failure messages. */
  what: string;
}

interface FuzzMsg {
  fuzzId: number;
  payload: unknown;
  error?: { message: string; source?: { id: string } };
}

/** Adds a key as JSON.parse does: an own enumerable property, even for `__proto__` (assignment would set the prototype). */
function ownProperty(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** mulberry32: small, seeded, good enough to pick cases. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

class Generator {
  private readonly random: () => number;
  private nextRef = 0;

  constructor(seed: number) {
    this.random = prng(seed);
  }

  chance(p: number): boolean {
    return this.random() < p;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }
  ref(prefix: string): string {
    return `${prefix}-${SEED}-${this.nextRef++}`;
  }

  /** Text that is valid in a field: Hindi, emoji, Latin, up to `max` characters. */
  text(max = 40): string {
    const pieces = ['राम कुमार', 'कॉल सेंटर', '📞', '🙏🏽', 'Ünïcødé', 'plain', '"quoted"', "it's", '<b>tag</b>', '\\back', '{"json":1}', ' ', '&amp;'];
    let out = '';
    while (out.length < 3 || (this.chance(0.5) && out.length < max - 12)) out += this.pick(pieces);
    return out.slice(0, max);
  }

  phone(): string {
    return this.pick(['9876509876', '+919800000001', '02212345678', '2001', '+१२३४५६', 'ext. 42', '(022) 4000-1234']);
  }

  /** A date_start in every accepted form; the epoch ms is known for deriving date_end. */
  dateStart(): { value: unknown; epochMs: number } {
    const epochMs = Date.UTC(2024, this.int(0, 11), this.int(1, 28), this.int(0, 23), this.int(0, 59), this.int(0, 59));
    const iso = new Date(epochMs).toISOString();
    switch (this.int(0, 4)) {
      case 0: return { value: iso.slice(0, 19).replace('T', ' '), epochMs };
      case 1: return { value: iso, epochMs };
      case 2: return { value: epochMs, epochMs };
      case 3: return { value: new Date(epochMs), epochMs };
      default: return { value: `${iso.slice(0, 19)}+00:00`, epochMs };
    }
  }

  /** A valid call record whose custom field call_ref is `ref`. */
  validRecord(ref: string): Record<string, unknown> {
    const start = this.dateStart();
    const record: Record<string, unknown> = {
      direction: this.pick(['Inbound', 'inbound', 'OUTBOUND', 'Outbound']),
      enjay_lat_source_number: this.phone(),
      enjay_lat_destination_number: this.phone(),
      date_start: start.value,
    };
    if (this.chance(0.3)) {
      // No duration: derived from date_end.
      record.date_end = new Date(start.epochMs + this.int(0, 7200) * 1000).toISOString();
    } else {
      record.duration = this.pick<unknown>([this.int(0, 36_000), '00:01:00', String(this.int(0, 999)), '123:59:59', 12.6]);
    }
    if (this.chance(0.5)) record.name = this.text();
    if (this.chance(0.3)) record.call_status = this.pick(['Held', 'not held', 'HELD']);
    if (this.chance(0.3)) record.logged_by = this.pick(['IVR', 'crm app', 'Synapse']);
    if (this.chance(0.3)) record.decision_variable = this.pick(['', 'always', 'NEVER']);
    if (this.chance(0.2)) record.assigned_user_id = this.pick(['1', 'उपयोगकर्ता-7', '']);
    if (this.chance(0.2)) record.synapse_recording_link = this.pick(['', 'https://rec.example.com/a.mp3?x=1&y=२']);
    if (this.chance(0.2)) record.mobile_call_detect_c = this.pick(['0', '', null]);
    record.call_ref = ref;
    // Custom fields the guide allows ("parameters can be customised"): scalars of every kind.
    const extras = this.int(0, 4);
    for (let i = 0; i < extras; i++) {
      record[`x_${i}`] = this.pick<unknown>([this.int(-1e9, 1e9), 3.25, true, false, null, this.text(), 'x'.repeat(2000), undefined]);
    }
    return record;
  }

  validNotify(ref: string): Record<string, unknown> {
    const event: Record<string, unknown> = {
      cli: this.phone(),
      event: this.pick(['TC', 'ANSWER', 'रिंग', '📞']),
      uniqueid: ref,
      to: this.phone(),
    };
    // The node drops events older than 30 s: times are made at send time, so they are fresh.
    const now = Date.now();
    const time = this.pick<unknown>([undefined, null, '', new Date(now), now, new Date(now).toISOString()]);
    if (time !== undefined) event.time = time;
    if (this.chance(0.5)) event.nm = this.pick(['agent@example.com', 'सीमा', '🙂 Agent', '']);
    if (this.chance(0.3)) event.queue = this.pick<unknown>(['sales', 7, false, null]);
    return event;
  }

  /** A call-log case: valid (single, array, unicode ivrName) or one deliberate defect. */
  callLogCase(id: number): FuzzCase {
    if (this.chance(0.45)) {
      if (this.chance(0.3)) {
        const refs = Array.from({ length: this.int(2, 30) }, () => this.ref('log'));
        return { id, target: 'log', msg: { payload: refs.map((ref) => this.validRecord(ref)) }, refs, what: 'valid array' };
      }
      const ref = this.ref('log');
      const msg: Record<string, unknown> = { payload: this.validRecord(ref) };
      if (this.chance(0.2)) msg.ivrName = this.pick(['आईवीआर-1', 'ivr 2 📞', 'a&b=c?d']);
      return { id, target: 'log', msg, refs: [ref], what: 'valid record' };
    }
    return this.invalidCallLog(id);
  }

  private invalidCallLog(id: number): FuzzCase {
    const invalid = (msg: Record<string, unknown>, field: string, what: string): FuzzCase => ({ id, target: 'log', msg, refs: [], field, what });
    const kind = this.int(0, 9);
    if (kind === 0) {
      // Not a record at all.
      const payload = this.pick<unknown>([
        '{"direction":"Inbound"}', 42, null, undefined, true, Buffer.from('call'), new Date(), [], NaN, () => 1,
      ]);
      return invalid({ payload }, 'payload', `payload ${typeof payload}`);
    }
    if (kind === 1 && this.chance(0.3)) {
      // Over the 1000-record cap: the whole msg is refused.
      return invalid({ payload: Array.from({ length: 1001 }, () => this.validRecord(this.ref('cap'))) }, 'payload', 'over the cap');
    }
    if (kind === 2) {
      const ivrName = this.pick(['ivr\r\nX-Injected: 1', 'ivr\nname', 'x'.repeat(201), '\u0000']);
      return invalid({ payload: this.validRecord(this.ref('ivr')), ivrName }, 'ivrName', 'bad msg.ivrName');
    }
    // One bad field in one record, maybe inside an array.
    const inArray = this.chance(0.3);
    const records = inArray ? Array.from({ length: this.int(1, 8) }, () => this.validRecord(this.ref('arr'))) : [this.validRecord(this.ref('one'))];
    const index = this.int(0, records.length - 1);
    const record = records[index]!;
    const at = inArray ? `payload[${index}]` : 'payload';
    const [field, what] = this.breakRecord(record);
    return invalid({ payload: inArray ? records : record }, field.startsWith('[') || field === '' ? `${at}${field}` : `${at}.${field}`, what);
  }

  /** Damages one field of a valid record; returns the path suffix the error must name, and what was done. */
  private breakRecord(record: Record<string, unknown>): [string, string] {
    const deep = (depth: number): Record<string, unknown> => {
      const root: Record<string, unknown> = {};
      let level = root;
      for (let i = 0; i < depth; i++) level = (level.next = {}) as Record<string, unknown>;
      return root;
    };
    switch (this.int(0, 17)) {
      case 0: delete record.direction; return ['direction', 'direction missing'];
      case 1: record.direction = this.pick<unknown>(['sideways', 5, '', ['Inbound']]); return ['direction', 'bad direction'];
      case 2: record.enjay_lat_source_number = this.pick<unknown>([9876509876, '', '   ', '98765\n09876', 'x'.repeat(65), null]); return ['enjay_lat_source_number', 'bad source number'];
      case 3: record.enjay_lat_destination_number = this.pick<unknown>([2001, '\t2001', undefined, {}]); return ['enjay_lat_destination_number', 'bad destination'];
      case 4:
        record.date_start = this.pick<unknown>([
          '2024-02-30 10:00:00', 'yesterday', NaN, Infinity, new Date(NaN), 1714557600, '1999-12-31 23:59:59', {}, '2024-13-01T00:00:00Z', true,
        ]);
        return ['date_start', 'bad date_start'];
      case 5: delete record.date_start; return ['date_start', 'date_start missing'];
      case 6: record.duration = this.pick<unknown>([-5, NaN, Infinity, '1:2', 'abc', {}, '00:60:00', 1e12]); return ['duration', 'bad duration'];
      case 7: record.name = this.pick<unknown>(['a\nb', 'a\rb', 123, 'n'.repeat(2001), ['x']]); return ['name', 'bad name'];
      case 8: record.call_status = this.pick<unknown>(['maybe', 0, 'Held ']); return ['call_status', 'bad call_status'];
      case 9: record.mobile_call_detect_c = this.pick<unknown>(['1', 0, 'yes']); return ['mobile_call_detect_c', 'bad mobile_call_detect_c'];
      case 10: record.x_nested = this.pick<unknown>([deep(this.int(1, 600)), [1, 2], { a: 1 }]); return ['x_nested', 'nested custom value'];
      case 11: record.x_number = this.pick<unknown>([NaN, Infinity, -Infinity]); return ['x_number', 'non-finite custom number'];
      case 12: record.x_object = this.pick<unknown>([Buffer.from('x'), new Date(), 10n, new Map(), Symbol('s')]); return ['x_object', 'non-JSON custom value'];
      case 13: record.x_text = this.pick(['line1\nline2', 'tab\there', 'nul\u0000', 'del\u007f', 'y'.repeat(2001)]); return ['x_text', 'bad custom text'];
      case 14: {
        // Keys as JSON.parse makes them: __proto__ as an own property, not the prototype.
        const key = this.pick(['__proto__', 'constructor', 'prototype']);
        ownProperty(record, key, JSON.parse(this.pick(['{"polluted": true}', '"x"', '1'])));
        return [key, `${key} key`];
      }
      case 15: record['bad\nkey'] = 'v'; return ['["bad\\nkey"]', 'control character in a field name'];
      case 16: record.logged_via = 'Phone'; return ['logged_via', 'bad logged_via'];
      default: {
        const { value, epochMs } = this.dateStart();
        record.date_start = value;
        delete record.duration;
        record.date_end = new Date(epochMs - 1000).toISOString();
        return ['date_end', 'date_end before date_start'];
      }
    }
  }

  notifyCase(id: number): FuzzCase {
    if (this.chance(0.5)) {
      const ref = this.ref('pop');
      const msg: Record<string, unknown> = { payload: this.validNotify(ref) };
      if (this.chance(0.2)) msg.ivrName = 'आईवीआर-pop';
      return { id, target: 'notify', msg, refs: [ref], what: 'valid event' };
    }
    const event = this.validNotify(this.ref('badpop'));
    const invalid = (field: string, what: string, msg: Record<string, unknown> = { payload: event }): FuzzCase =>
      ({ id, target: 'notify', msg, refs: [], field, what });
    switch (this.int(0, 10)) {
      case 0: return invalid('payload', 'not an object', { payload: this.pick<unknown>(['text', 7, null, [event], Buffer.from('{}')]) });
      case 1: delete event.cli; return invalid('payload.cli', 'cli missing');
      case 2: event.cli = this.pick<unknown>([9876509876, '', '98\n76']); return invalid('payload.cli', 'bad cli');
      case 3: event.event = this.pick<unknown>(['', ' ', 5, 'T\rC']); return invalid('payload.event', 'bad event');
      case 4: event.uniqueid = this.pick<unknown>([12398778.1234, null, '']); return invalid('payload.uniqueid', 'bad uniqueid');
      case 5: event.to = this.pick<unknown>(['', 789, 'x'.repeat(65)]); return invalid('payload.to', 'bad to');
      case 6: event.time = this.pick<unknown>(['garbage', NaN, new Date(NaN), '2024-02-30 10:00:00', {}]); return invalid('payload.time', 'bad time');
      case 7: event.nm = this.pick<unknown>(['a\nb', 42, 'n'.repeat(2001)]); return invalid('payload.nm', 'bad nm');
      case 8: event.extra = this.pick<unknown>([{ a: 1 }, NaN, Buffer.from('b')]); return invalid('payload.extra', 'bad extra field');
      case 9: ownProperty(event, '__proto__', { cli: '1' }); return invalid('payload.__proto__', '__proto__ key');
      default: return invalid('ivrName', 'bad msg.ivrName', { payload: event, ivrName: 'pop\r\nup' });
    }
  }
}

describe('fuzz: generated msgs, valid and hostile, through sangam-call-log and sangam-notify', function () {
  this.timeout(120_000);
  const crm = useSangamCrm();

  it(`survives ${CASES} msgs: one Catch error naming the field per invalid msg, every valid one delivered, nothing else`, async () => {
    console.log(`      fuzz seed ${SEED} (FUZZ_SEED=${SEED} replays it)`);
    await loadSangamFlow({
      domain: crm().url,
      config: { ivrName: 'fuzz', timezone: 'UTC' },
      type: ['sangam-call-log', 'sangam-notify'],
    });
    const outs = new Map<number, FuzzMsg[]>();
    const errors = new Map<number, FuzzMsg[]>();
    const strays: unknown[] = [];
    const note = (into: Map<number, FuzzMsg[]>) => (msg: FuzzMsg) => {
      if (typeof msg.fuzzId !== 'number') return strays.push(msg);
      const list = into.get(msg.fuzzId) ?? [];
      list.push(msg);
      into.set(msg.fuzzId, list);
      return list.length;
    };
    helper.getNode('out').on('input', note(outs));
    helper.getNode('caught').on('input', note(errors));

    const generator = new Generator(SEED);
    const cases: FuzzCase[] = [];
    const answered = (): number => outs.size + errors.size;
    for (let id = 0; id < CASES; id++) {
      const fuzzCase = generator.chance(0.7) ? generator.callLogCase(id) : generator.notifyCase(id);
      cases.push(fuzzCase);
      helper.getNode(fuzzCase.target).receive({ ...fuzzCase.msg, fuzzId: id });
      // Bounded backlog: a producer that outruns the CRM for ever proves nothing here.
      if (id % 50 === 49) {
        for (let spins = 0; id + 1 - answered() > 400 && spins < 2000; spins++) await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }

    const deadline = Date.now() + 90_000;
    while (answered() < CASES && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));

    // The runtime still works: one more valid msg goes through after all that.
    const last = generator.ref('last');
    helper.getNode('log').receive({ payload: generator.validRecord(last), fuzzId: CASES });
    for (let spins = 0; !outs.has(CASES) && spins < 400; spins++) await new Promise((resolve) => setTimeout(resolve, 25));
    assert.ok(outs.has(CASES), 'the runtime no longer delivers after the fuzz run');

    const problems: string[] = [];
    const expectedRefs = new Set<string>([last]);
    let invalidCount = 0;
    for (const fuzzCase of cases) {
      const got = outs.get(fuzzCase.id) ?? [];
      const caught = errors.get(fuzzCase.id) ?? [];
      const label = `#${fuzzCase.id} ${fuzzCase.target} ${fuzzCase.what}`;
      if (fuzzCase.field === undefined) {
        for (const ref of fuzzCase.refs) expectedRefs.add(ref);
        if (got.length !== 1 || caught.length !== 0) {
          problems.push(`${label}: valid, got ${got.length} out and ${caught.length} error(s): ${caught.map((msg) => msg.error?.message).join(' / ')}`);
        }
        continue;
      }
      invalidCount++;
      if (got.length !== 0 || caught.length !== 1) {
        problems.push(`${label}: invalid, got ${got.length} out and ${caught.length} error(s)`);
        continue;
      }
      const message = caught[0]!.error?.message ?? '';
      if (!message.includes(fuzzCase.field)) problems.push(`${label}: error does not name ${fuzzCase.field}: ${message}`);
      if (caught[0]!.error?.source?.id !== fuzzCase.target) problems.push(`${label}: error from ${caught[0]!.error?.source?.id}`);
    }
    const storedRefs = [
      ...crm().callLogs.map((entry) => String(entry.record.call_ref)),
      ...crm().notifies.map((entry) => String(entry.event.uniqueid)),
    ];
    const storedSet = new Set(storedRefs);
    const missing = [...expectedRefs].filter((ref) => !storedSet.has(ref));
    const unexpected = storedRefs.filter((ref) => !expectedRefs.has(ref));
    console.log(
      `      fuzz: ${CASES} msgs (${CASES - invalidCount} valid, ${invalidCount} invalid), ` +
        `${crm().callLogs.length} call records and ${crm().notifies.length} pop-ups stored, ${problems.length} problem(s)`,
    );
    assert.deepEqual(problems.slice(0, 20), [], `seed ${SEED}`);
    assert.deepEqual(missing.slice(0, 20), [], `valid records not stored (seed ${SEED})`);
    assert.deepEqual(unexpected.slice(0, 20), [], `stored records from invalid msgs, or twice (seed ${SEED})`);
    assert.equal(storedRefs.length, expectedRefs.size, 'each valid record stored once');
    assert.equal(crm().stats.rejected, 0, 'the strict stand-in refused a request: something malformed reached it');
    assert.deepEqual(strays, [], 'msgs without a fuzz id');
    // Nothing else: no warning (a dropped pop-up, an outbox retry) from our nodes.
    const warnings = helper
      .log()
      .args.map((args) => args[0] as { level?: number; type?: string; msg?: unknown })
      .filter((entry) => entry?.level === 30 && String(entry.type).startsWith('sangam'));
    assert.deepEqual(warnings.map((entry) => String(entry.msg)).slice(0, 10), []);
  });
});
