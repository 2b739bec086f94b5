import * as assert from 'node:assert/strict';
import { ValidationError } from '../../src/lib/errors';
import { AgentDirectory, parseAgentsCsv, phoneKey } from '../../src/sangam/agent-directory';

describe('AgentDirectory', () => {
  const directory = new AgentDirectory([
    { name: 'Asha Rao', extension: '201', phone: '+91 98123 45678', userId: 'u-asha', email: 'Asha@Example.com' },
    { name: 'Ravi', extension: '202', phone: '09876543210', userId: '7', email: '' },
    { name: 'Lee', extension: '', phone: '+1 (415) 555-0100', userId: '', email: 'lee@example.com' },
    {},
  ]);

  it('finds an agent by extension, user id and email (any case)', () => {
    assert.equal(directory.byExtension('201')?.name, 'Asha Rao');
    assert.equal(directory.byExtension('sip:202@pbx.example.com')?.name, 'Ravi');
    assert.equal(directory.byUserId('7')?.name, 'Ravi');
    assert.equal(directory.byEmail('asha@example.COM')?.name, 'Asha Rao');
    assert.equal(directory.byExtension('203'), undefined);
  });

  it('finds an agent by phone in each spelling of an Indian number: +91, 0091, 91, 0 or none, with spaces and dashes', () => {
    for (const spelling of ['9812345678', '09812345678', '+919812345678', '919812345678', '00919812345678', '+91-98123-45678', 'tel:+919812345678']) {
      assert.equal(directory.byPhone(spelling)?.name, 'Asha Rao', spelling);
    }
    assert.equal(directory.byPhone('+91 98765 43210')?.name, 'Ravi');
    assert.equal(directory.byPhone('+14155550100')?.name, 'Lee');
    assert.equal(directory.byPhone('4155550100'), undefined, 'a US number without its country code is another number');
  });

  it('byNumber tries the extension first, then the phone', () => {
    assert.equal(directory.byNumber('201')?.name, 'Asha Rao');
    assert.equal(directory.byNumber('09876543210')?.name, 'Ravi');
    assert.equal(directory.byNumber('12345'), undefined);
  });

  it('resolves click-to-call\'s from: an extension, a user id, an email or a phone', () => {
    assert.equal(directory.resolve('201')?.phone, '+91 98123 45678');
    assert.equal(directory.resolve('u-asha')?.name, 'Asha Rao');
    assert.equal(directory.resolve('lee@example.com')?.name, 'Lee');
    assert.equal(directory.resolve('+919876543210')?.name, 'Ravi');
    assert.equal(directory.resolve(''), undefined);
  });

  it('accepts an empty or missing list and numbers typed as numbers', () => {
    assert.equal(new AgentDirectory(undefined).size, 0);
    assert.equal(new AgentDirectory([]).size, 0);
    assert.equal(new AgentDirectory([{ extension: 201, userId: 5 }]).byExtension('201')?.userId, '5');
  });

  it('refuses two agents with one extension, phone, user id or email, naming both', () => {
    assert.throws(() => new AgentDirectory([{ name: 'A', extension: '201' }, { name: 'B', extension: '201' }]), (error: unknown) =>
      error instanceof ValidationError && error.field === 'agents[1].extension' && /is also the extension of agents\[0\] \(A\)/.test(error.message));
    assert.throws(() => new AgentDirectory([{ phone: '09812345678' }, { phone: '+91 98123 45678' }]), /agents\[1\]\.phone "\+91 98123 45678" is also the phone of agents\[0\]/);
    assert.throws(() => new AgentDirectory([{ email: 'a@x.com' }, { email: 'A@X.com' }]), /agents\[1\]\.email/);
  });

  it('refuses a list that is not a list of objects of text, naming the entry', () => {
    assert.throws(() => new AgentDirectory({}), (error: unknown) => error instanceof ValidationError && error.field === 'agents');
    assert.throws(() => new AgentDirectory(['201']), /agents\[0\] must be an object/);
    assert.throws(() => new AgentDirectory([{ email: ['a'] }]), /agents\[0\]\.email must be text/);
    assert.throws(() => new AgentDirectory([{ phone: 'n/a' }]), /agents\[0\]\.phone "n\/a" has no digits/);
  });

  it('looks up in constant time: 10,000 agents, 100,000 lookups well under a second', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => ({ extension: String(1000 + i), phone: `+9198${String(i).padStart(8, '0')}`, userId: `u${i}` }));
    const big = new AgentDirectory(many);
    const numbers = Array.from({ length: 100_000 }, (_, i) => `098${String(i % 10_000).padStart(8, '0')}`);
    let found = 0;
    const started = process.hrtime.bigint();
    for (const number of numbers) if (big.byNumber(number)) found += 1;
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(found, 100_000);
    // A scan of 10,000 agents per lookup would take minutes; a generous bound for a busy machine.
    assert.ok(ms < 1000, `${ms} ms`);
  });
});

describe('phoneKey', () => {
  it('files the spellings of one number under one key and keeps other numbers apart', () => {
    assert.equal(phoneKey('+91 98123 45678'), '9812345678');
    assert.equal(phoneKey('09812345678'), '9812345678');
    assert.equal(phoneKey('+1 415 555 0100'), '14155550100');
    assert.equal(phoneKey('0044 20 7946 0000'), '442079460000');
    assert.equal(phoneKey('client:alice'), undefined);
  });
});

describe('parseAgentsCsv', () => {
  it('reads a header row in any order and case, quoted fields with commas, quotes and line breaks', () => {
    const text = '\uFEFFEmail,Name,Extension,Phone,User ID\r\n' +
      'asha@example.com,"Rao, Asha",201,+91 98123 45678,u-asha\r\n' +
      '\r\n' +
      'ravi@example.com,"Ravi ""R"" Kumar",202,,7\n' +
      ',"Two\nLines",203,,\n';
    assert.deepEqual(parseAgentsCsv(text), [
      { name: 'Rao, Asha', extension: '201', phone: '+91 98123 45678', userId: 'u-asha', email: 'asha@example.com' },
      { name: 'Ravi "R" Kumar', extension: '202', phone: '', userId: '7', email: 'ravi@example.com' },
      { name: 'Two\nLines', extension: '203', phone: '', userId: '', email: '' },
    ]);
  });

  it('gives what AgentDirectory takes', () => {
    const directory = new AgentDirectory(parseAgentsCsv('name,extension,userId\nAsha,201,u-asha\n'));
    assert.equal(directory.byExtension('201')?.userId, 'u-asha');
  });

  it('rejects an unknown column, a row longer than the header and an unclosed quote, naming the line', () => {
    assert.throws(() => parseAgentsCsv('name,department\nAsha,Sales\n'), /CSV line 1: unknown column "department"/);
    assert.throws(() => parseAgentsCsv('name,extension\nAsha,201\nRavi,202,extra\n'), /CSV line 3 has 3 fields, the header 2/);
    assert.throws(() => parseAgentsCsv('name,extension\n"Asha,201\n'), /CSV line 2: a quoted field is not closed/);
    assert.throws(() => parseAgentsCsv('  \n'), /the CSV text is empty/);
  });
});
