import * as assert from 'node:assert/strict';
import { ConfigError, ValidationError } from '../../src/lib/errors';
import { AgentDirectory } from '../../src/sangam/agent-directory';
import { AgentCallCap, CallRefusedError, DialPolicy, countryCode, resolveAgentFrom, toE164 } from '../../src/exotel/dial-policy';

describe('exotel/dial-policy', () => {
  describe('toE164', () => {
    it('keeps +, turns 00 into +, and reads a leading 0 or 10 bare digits as an Indian number', () => {
      assert.equal(toE164('+919876543210'), '+919876543210');
      assert.equal(toE164('00447700900123'), '+447700900123');
      assert.equal(toE164('09876543210'), '+919876543210');
      assert.equal(toE164('9876543210'), '+919876543210');
      assert.equal(toE164('919876543210'), '+919876543210');
      assert.equal(toE164('447700900123'), '+447700900123');
    });

    it('reads Indian toll-free and shared-cost numbers written nationally (1800/1860, no 0) as +91, not +1', () => {
      assert.equal(toE164('18001234567'), '+9118001234567');
      assert.equal(toE164('1800123456'), '+911800123456');
      assert.equal(toE164('18601234567'), '+9118601234567');
      // A North American 1-800 number is written with its country code.
      assert.equal(toE164('+18005550100'), '+18005550100');
      assert.equal(toE164('0018005550100'), '+18005550100');
      // Other bare 1... numbers keep reading as +1.
      assert.equal(toE164('14155550100'), '+14155550100');
      const policy = DialPolicy.parse(undefined);
      policy.check('18001234567');
      assert.throws(() => policy.check('+18005550100'), /prefix \+1 /);
    });
  });

  describe('countryCode', () => {
    it('names one-, two- and three-digit country codes', () => {
      assert.equal(countryCode('+14155550100'), '+1');
      assert.equal(countryCode('+79161234567'), '+7');
      assert.equal(countryCode('+447700900123'), '+44');
      assert.equal(countryCode('+919876543210'), '+91');
      assert.equal(countryCode('+8823612345678'), '+882');
      assert.equal(countryCode('+2348012345678'), '+234');
    });
  });

  describe('DialPolicy', () => {
    it('allows only +91 when the setting is unset or empty, national numbers included', () => {
      for (const setting of [undefined, '', '  ']) {
        const policy = DialPolicy.parse(setting);
        assert.deepEqual(policy.prefixes, ['+91']);
        policy.check('+919876543210');
        policy.check('09876543210');
        policy.check('9876543210');
        assert.throws(() => policy.check('+447700900123'), ValidationError);
      }
    });

    it('refuses a number outside the list with an error naming its prefix and the setting', () => {
      const policy = DialPolicy.parse('+91, +1800');
      assert.throws(
        () => policy.check('+882361234567'),
        (error: Error) =>
          error instanceof CallRefusedError &&
          error.name === 'ValidationError' &&
          error.refusal.kind === 'prefix' &&
          error.refusal.prefix === '+882' &&
          error.field === 'payload.to' &&
          /prefix \+882 /.test(error.message) &&
          /allowedPrefixes \(\+91, \+1800\)/.test(error.message),
      );
      policy.check('+18005550100');
      assert.throws(() => policy.check('+14155550100'), /prefix \+1 /);
    });

    it('takes longer prefixes to narrow a country to some numbers', () => {
      const policy = DialPolicy.parse('+9180');
      policy.check('08012345678');
      assert.throws(() => policy.check('+919876543210'), /prefix \+91 /);
    });

    it('allows any destination only when told so with *', () => {
      const policy = DialPolicy.parse('*');
      assert.equal(policy.allowsAny, true);
      policy.check('+882361234567');
    });

    it('refuses a setting that is not a list of E.164 prefixes, naming the bad part', () => {
      assert.throws(() => DialPolicy.parse('+91, 1-800'), (error: Error) => error instanceof ConfigError && /"1-800"/.test(error.message));
      assert.throws(() => DialPolicy.parse('91'), /"91" is not an E.164 prefix/);
      assert.throws(() => DialPolicy.parse(91), /must be text/);
    });
  });

  describe('AgentCallCap', () => {
    it('allows maxPerMinute calls per agent in any minute, then refuses saying when the next is allowed', () => {
      let now = 1_000_000;
      const cap = AgentCallCap.parse(undefined, () => now);
      assert.equal(cap.maxPerMinute, 10);
      for (let i = 0; i < 10; i++) {
        cap.take('09876543210');
        now += 1_000;
      }
      assert.throws(
        () => cap.take('+919876543210'),
        (error: Error) =>
          error instanceof CallRefusedError &&
          error.refusal.kind === 'cap' &&
          /10 call\(s\)/.test(error.message) &&
          /in 50 s/.test(error.message),
      );
      // Another agent is not affected.
      cap.take('+919812345678');
      // The first call leaves the window 60 s after it was placed.
      now = 1_000_000 + 60_000;
      cap.take('9876543210');
      assert.throws(() => cap.take('9876543210'), ValidationError);
    });

    it('does not count a refused call', () => {
      let now = 0;
      const cap = new AgentCallCap(1, () => now);
      cap.take('+919876543210');
      now = 30_000;
      assert.throws(() => cap.take('+919876543210'));
      assert.throws(() => cap.take('+919876543210'));
      now = 60_000;
      cap.take('+919876543210');
    });

    it('forgets agents idle for a minute, so memory follows the active agents', () => {
      let now = 0;
      const cap = new AgentCallCap(5, () => now);
      for (let i = 0; i < 1_000; i++) cap.take(`+91980000${String(i).padStart(4, '0')}`);
      assert.equal(cap.agents, 1_000);
      now = 61_000;
      cap.take('+919876543210');
      assert.equal(cap.agents, 1);
    });

    it('turns off with 0 and refuses settings that are not whole numbers', () => {
      const cap = AgentCallCap.parse('0');
      for (let i = 0; i < 100; i++) cap.take('+919876543210');
      assert.throws(() => AgentCallCap.parse('ten'), /maxCallsPerAgentPerMinute must be a whole number/);
      assert.throws(() => AgentCallCap.parse(-1), ConfigError);
      assert.equal(AgentCallCap.parse('25').maxPerMinute, 25);
      assert.equal(AgentCallCap.parse(' 25 ').maxPerMinute, 25);
      // Blank is the default, not 0 (Number('  ') is 0: that would have turned the cap off).
      assert.equal(AgentCallCap.parse('  ').maxPerMinute, 10);
      assert.throws(() => AgentCallCap.parse('0x10'), ConfigError);
      assert.throws(() => AgentCallCap.parse('1e3'), ConfigError);
      assert.throws(() => AgentCallCap.parse(2.5), ConfigError);
      assert.throws(() => AgentCallCap.parse(10_001), ConfigError);
    });
  });

  describe('resolveAgentFrom', () => {
    const directory = new AgentDirectory([
      { name: 'Asha', extension: '201', phone: '+91 98123 45678', userId: '19x5', email: 'Asha@Example.com' },
      { name: 'Ravi', extension: '202', phone: '', userId: '19x6', email: '' },
    ]);

    it('replaces an extension, userId or email (from or phone) with the agent\'s phone, leaving the msg\'s payload alone', () => {
      for (const from of ['201', '19x5', 'asha@example.com', 201]) {
        const payload = { from, to: '09876543210' };
        assert.deepEqual(resolveAgentFrom(payload, directory), { from: '+91 98123 45678', to: '09876543210', phone: undefined });
        assert.equal(payload.from, from);
      }
      assert.equal((resolveAgentFrom({ phone: '201', to: '09876543210' }, directory) as { from: string }).from, '+91 98123 45678');
    });

    it('dials a phone number that is no agent\'s as given, and leaves non-objects to the payload check', () => {
      const payload = { from: '+919800000001', to: '09876543210' };
      assert.equal(resolveAgentFrom(payload, directory), payload);
      assert.equal(resolveAgentFrom('x', directory), 'x');
    });

    it('refuses an unknown reference and an agent without a phone, naming the field', () => {
      assert.throws(
        () => resolveAgentFrom({ from: 'nobody@example.com', to: '1' }, directory),
        (error: Error) => error instanceof ValidationError && error.field === 'payload.from' && /"nobody@example.com" is neither a phone number nor the extension, userId or email of an agent/.test(error.message),
      );
      assert.throws(() => resolveAgentFrom({ phone: '299', to: '1' }, directory), /^ValidationError: payload\.phone: "299"/);
      assert.throws(() => resolveAgentFrom({ from: '202', to: '1' }, directory), /agent "Ravi" has no phone/);
      assert.throws(() => resolveAgentFrom({ from: '201', to: '1' }, undefined, 'agents[0].phone "x" has no digits'), /agent directory is not available \(agents\[0\]\.phone "x" has no digits\)/);
    });
  });
});
