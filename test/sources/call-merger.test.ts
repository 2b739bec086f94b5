import * as assert from 'node:assert/strict';
import { AgentDirectory } from '../../src/sangam/agent-directory';
import { asteriskCallLog } from '../../src/sources/asterisk';
import { CallMerger, MergedCall, RecentKeys } from '../../src/sources/call-merger';
import type { MappedCall } from '../../src/sources/common';
import { twilioCallLog } from '../../src/sources/twilio';

/*
 * Legs come from the Asterisk mapper fed with CDR columns as the cdr table writes them for a ring
 * group and a transfer (https://docs.asterisk.org/Configuration/Reporting/Call-Detail-Records-CDR/ :
 * one CDR per Party A and dial attempt, all sharing the call's linkedid), and from Twilio status
 * callbacks (https://www.twilio.com/docs/voice/api/call-resource#statuscallback).
 */

const agents = new AgentDirectory([
  { name: 'Asha', extension: '201', userId: 'u-asha' },
  { name: 'Ravi', extension: '202', userId: 'u-ravi' },
  { name: 'Mina', extension: '203', userId: 'u-mina' },
]);

function cdr(extension: string, disposition: string, billsec: number, start: string, end: string, sequence: string): MappedCall {
  const result = asteriskCallLog({
    src: '9812000001', dst: '600', dcontext: 'ext-group', channel: 'PJSIP/trunk-00000030', dstchannel: `PJSIP/${extension}-0000003${sequence}`,
    start, end, billsec: String(billsec), disposition, uniqueid: '1714645200.30', linkedid: '1714645200.30', sequence,
  }, { timeZone: 'Asia/Kolkata', pbxTimeZone: 'Asia/Kolkata', agents });
  assert.ok(!result.skipped);
  return result;
}

/** A clock and timers the test moves by hand. */
class FakeTime {
  now = 0;
  created = 0;
  private timers = new Map<number, { at: number; callback: () => void }>();
  private nextId = 1;
  setTimer = (callback: () => void, ms: number): unknown => {
    this.created += 1;
    const id = this.nextId++;
    this.timers.set(id, { at: this.now + ms, callback });
    return id;
  };
  clearTimer = (handle: unknown): void => {
    this.timers.delete(handle as number);
  };
  advance(ms: number): void {
    this.now += ms;
    for (const [id, timer] of [...this.timers]) {
      if (timer.at <= this.now) {
        this.timers.delete(id);
        timer.callback();
      }
    }
  }
}

function merger(time: FakeTime, options: { holdMs?: number; maxPending?: number; rememberMs?: number; maxRemembered?: number } = {}) {
  const emitted: Array<MergedCall<string>> = [];
  const instance = new CallMerger<string>({
    emit: (call) => emitted.push(call),
    holdMs: options.holdMs ?? 3000,
    maxPending: options.maxPending,
    rememberMs: options.rememberMs,
    maxRemembered: options.maxRemembered,
    now: () => time.now,
    setTimer: time.setTimer,
    clearTimer: time.clearTimer,
  });
  return { instance, emitted };
}

describe('CallMerger', () => {
  it('makes one record of a ring group\'s CDRs (same linkedid), the answered leg winning though it came last', () => {
    const time = new FakeTime();
    const { instance, emitted } = merger(time);
    assert.deepEqual(instance.offer(cdr('201', 'NO ANSWER', 0, '2024-05-02 10:20:00', '2024-05-02 10:20:12', '1'), 'msg-201'), { held: true });
    time.advance(500);
    instance.offer(cdr('203', 'NO ANSWER', 0, '2024-05-02 10:20:00', '2024-05-02 10:20:12', '3'), 'msg-203');
    time.advance(500);
    instance.offer(cdr('202', 'ANSWERED', 60, '2024-05-02 10:20:02', '2024-05-02 10:21:14', '2'), 'msg-202');
    time.advance(1999);
    assert.equal(emitted.length, 0, 'still inside the window of the first CDR');
    time.advance(1);
    assert.equal(emitted.length, 1);
    const [call] = emitted;
    assert.equal(call.winner.context, 'msg-202');
    assert.deepEqual(call.legs.map((leg) => leg.context), ['msg-201', 'msg-203', 'msg-202']);
    assert.equal(call.record.call_status, 'Held');
    assert.equal(call.record.assigned_user_id, 'u-ravi');
    assert.equal(call.record.duration, 60);
    assert.equal(call.record.date_start, '2024-05-02 10:20:00', 'the earliest start of the legs');
    assert.equal(call.record.date_end, '2024-05-02 10:21:14', 'the latest end of the legs');
    assert.equal(instance.pendingCalls, 0);
  });

  it('keeps the leg with the longest talk when several were answered (a transfer)', () => {
    const time = new FakeTime();
    const { instance, emitted } = merger(time);
    instance.offer(cdr('201', 'ANSWERED', 30, '2024-05-02 10:20:00', '2024-05-02 10:20:35', '1'), 'first');
    instance.offer(cdr('202', 'ANSWERED', 90, '2024-05-02 10:20:35', '2024-05-02 10:22:05', '2'), 'second');
    instance.flush();
    assert.equal(emitted[0].winner.context, 'second');
    assert.equal(emitted[0].record.assigned_user_id, 'u-ravi');
  });

  it('refuses a repeat of a held CDR and, once logged, any repeat or late leg of the call, until forgotten', () => {
    const time = new FakeTime();
    const { instance, emitted } = merger(time);
    const leg = cdr('202', 'ANSWERED', 60, '2024-05-02 10:20:02', '2024-05-02 10:21:14', '2');
    instance.offer(leg, 'a');
    assert.deepEqual(instance.offer(leg, 'b'), { held: false, reason: 'repeat: this callback or CDR was already received' });
    time.advance(3000);
    assert.equal(emitted.length, 1);
    assert.deepEqual(instance.offer(leg, 'c'), { held: false, reason: 'repeat: this call was already logged' });
    const late = cdr('203', 'NO ANSWER', 0, '2024-05-02 10:20:00', '2024-05-02 10:20:12', '3');
    assert.equal(instance.offer(late, 'd').held, false);
    instance.forget(leg.callKey);
    assert.deepEqual(instance.offer(leg, 'e'), { held: true }, 'after a failed delivery the retry is taken');
  });

  it('logs a Twilio callback at once with no hold window, and refuses its retry', () => {
    const time = new FakeTime();
    const { instance, emitted } = merger(time, { holdMs: 0 });
    const callback = { CallSid: 'CA01', CallStatus: 'completed', CallDuration: '42', Direction: 'inbound', From: '+14155552671', To: '+14155550100', Timestamp: 'Tue, 02 Mar 2021 21:12:56 +0000' };
    const call = twilioCallLog(callback, { timeZone: 'UTC' });
    assert.ok(!call.skipped);
    assert.deepEqual(instance.offer(call, 'first'), { held: true });
    assert.equal(emitted.length, 1, 'emitted inside offer()');
    assert.equal(instance.offer(call, 'retry').held, false);
    assert.equal(time.created, 0, 'no timer for a call that is not held');
  });

  it('keeps an inbound Twilio call Inbound when its <Dial> child (outbound-dial, to the agent) wins', () => {
    const time = new FakeTime();
    const { instance, emitted } = merger(time);
    const stamp = 'Tue, 02 Mar 2021 21:12:56 +0000';
    // The child (the agent's leg) wins here on talk time.
    const parent = twilioCallLog({ CallSid: 'CAparent', CallStatus: 'completed', CallDuration: '30', Direction: 'inbound', From: '+14155552671', To: '+14155550100', Timestamp: stamp }, { timeZone: 'UTC' });
    const child = twilioCallLog({ CallSid: 'CAchild', ParentCallSid: 'CAparent', CallStatus: 'completed', CallDuration: '25', Direction: 'outbound-dial', From: '+14155552671', To: '+919812345678', Timestamp: stamp }, { timeZone: 'UTC', agents });
    assert.ok(!parent.skipped && !child.skipped);
    instance.offer({ ...child, talkSeconds: 40 }, 'child');
    instance.offer(parent, 'parent');
    time.advance(3000);
    assert.equal(emitted.length, 1);
    assert.equal(emitted[0].winner.context, 'child');
    assert.equal(emitted[0].record.direction, 'Inbound', 'the parent call says which way the call went');
  });

  it('takes the agent from the answered leg that names one when the winning leg does not (a Twilio parent and its <Dial> child)', () => {
    const time = new FakeTime();
    const { instance, emitted } = merger(time);
    const stamp = 'Tue, 02 Mar 2021 21:12:56 +0000';
    const parent = twilioCallLog({ CallSid: 'CAp2', CallStatus: 'completed', CallDuration: '80', Direction: 'inbound', From: '+14155552671', To: '+14155550100', Timestamp: stamp }, { timeZone: 'UTC', agents });
    const child = twilioCallLog({ CallSid: 'CAc2', ParentCallSid: 'CAp2', CallStatus: 'completed', CallDuration: '71', Direction: 'outbound-dial', From: '+14155552671', To: '202', Timestamp: stamp }, { timeZone: 'UTC', agents });
    assert.ok(!parent.skipped && !child.skipped);
    instance.offer(parent, 'parent');
    instance.offer(child, 'child');
    time.advance(3000);
    assert.equal(emitted[0].winner.context, 'parent', 'the longer talk wins');
    assert.equal(emitted[0].record.assigned_user_id, 'u-ravi', 'the agent the child leg rang');
  });

  it('serves every held call with one timer, and emits calls in the order they were opened', () => {
    const time = new FakeTime();
    const { instance, emitted } = merger(time);
    for (let i = 0; i < 100; i++) {
      const leg = { ...cdr('201', 'ANSWERED', 5, '2024-05-02 10:20:00', '2024-05-02 10:20:10', '1'), callKey: `asterisk:call-${i}` };
      instance.offer(leg, `m${i}`);
      time.advance(10);
    }
    assert.equal(time.created, 1);
    time.advance(3000);
    assert.equal(emitted.length, 100);
    assert.deepEqual(emitted.slice(0, 3).map((c) => c.callKey), ['asterisk:call-0', 'asterisk:call-1', 'asterisk:call-2']);
  });

  it('is bounded: over maxPending the oldest call is emitted early, not dropped', () => {
    const time = new FakeTime();
    const { instance, emitted } = merger(time, { maxPending: 2 });
    for (const key of ['a', 'b', 'c']) instance.offer({ ...cdr('201', 'ANSWERED', 5, '2024-05-02 10:20:00', '2024-05-02 10:20:10', '1'), callKey: key }, key);
    assert.deepEqual(emitted.map((c) => c.callKey), ['a']);
    assert.equal(instance.pendingCalls, 2);
  });
});

describe('RecentKeys', () => {
  it('forgets a key after its ttl and keeps at most maxEntries, the oldest dropped first', () => {
    let now = 0;
    const keys = new RecentKeys(2, 1000, () => now);
    keys.add('a');
    now = 999;
    assert.equal(keys.has('a'), true);
    now = 1000;
    assert.equal(keys.has('a'), false);
    keys.add('b');
    keys.add('c');
    keys.add('d');
    assert.equal(keys.size, 2);
    assert.equal(keys.has('b'), false);
    assert.equal(keys.has('d'), true);
  });
});
