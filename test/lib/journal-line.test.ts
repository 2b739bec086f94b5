import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32, crc32Table, decodeLine, encodeJsonTextAppend, encodeLine, jsonTextAppendPayloadBytes, writeJsonTextAppend } from '../../src/lib/journal-line';

/** A line as the journal holds it, without its newline: what the reader hands to decodeLine. */
const body = (line: Buffer) => line.subarray(0, line.length - 1);

describe('lib/journal-line', () => {
  describe('crc32', () => {
    it('matches the standard check value and the native implementation', () => {
      assert.equal(crc32Table(Buffer.from('123456789')), 0xcbf43926);
      assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
      const data = randomBytes(10_000);
      assert.equal(crc32Table(data), crc32(data));
      assert.equal(crc32Table(Buffer.alloc(0)), 0);
    });
  });

  it('encodes `<crc32 hex8> <byte length> <payload>\\n` and decodes it back', () => {
    const payload = '["A",7,"IVR “सहायता”",[{"from":"📞"}]]';
    const line = encodeLine(payload);
    const bytes = Buffer.byteLength(payload);
    assert.equal(line.toString('utf8'), `${crc32(Buffer.from(payload)).toString(16).padStart(8, '0')} ${bytes} ${payload}\n`);
    assert.deepEqual(decodeLine(body(line)), JSON.parse(payload));
    assert.deepEqual(decodeLine(body(encodeLine('["H",1,42]'))), ['H', 1, 42]);
    assert.deepEqual(decodeLine(body(encodeLine('["K",[1,2,3]]'))), ['K', [1, 2, 3]]);
  });

  it('writes JSON texts verbatim into an append line, byte for byte as encodeLine would', () => {
    const texts = ['{"name":"रवि","n":1}', '{"q":"a\\"b"}', '7'];
    const line = encodeJsonTextAppend(3, 'ivr "x"', texts);
    assert.deepEqual(line, encodeLine(`["A",3,${JSON.stringify('ivr "x"')},[${texts.join(',')}]]`));
    assert.deepEqual(decodeLine(body(line)), ['A', 3, 'ivr "x"', texts.map((text) => JSON.parse(text) as unknown)]);
    assert.throws(() => encodeJsonTextAppend(1, 'k', [{} as unknown as string]), TypeError);
  });

  it('writes an append line into a buffer at an offset as encodeJsonTextAppend makes it, leaving the bytes around it alone', () => {
    const texts = ['{"name":"रवि","n":1}', '7'];
    const line = encodeJsonTextAppend(9, 'k', texts);
    const target = Buffer.alloc(line.length + 20, 0x2a);
    assert.equal(writeJsonTextAppend(target, 7, 9, 'k', texts, jsonTextAppendPayloadBytes(9, 'k', texts)), line.length);
    assert.deepEqual(target.subarray(7, 7 + line.length), line);
    assert.deepEqual([...target.subarray(0, 7), ...target.subarray(7 + line.length)], new Array<number>(20).fill(0x2a));
    // One that does not fit, or whose counted size is wrong, is refused rather than written torn.
    assert.throws(() => writeJsonTextAppend(Buffer.alloc(line.length), 1, 9, 'k', texts, jsonTextAppendPayloadBytes(9, 'k', texts)), RangeError);
    assert.throws(() => writeJsonTextAppend(Buffer.alloc(100), 0, 9, 'k', texts, jsonTextAppendPayloadBytes(9, 'k', texts) - 1), RangeError);
  });

  it('tells why a line is corrupt', () => {
    const good = body(encodeLine('["A",1,"k",[{"from":"1"}]]')).toString('latin1');
    const cases: Array<[string, string]> = [
      ['', 'malformed line'],
      ['garbage without any format', 'malformed line'],
      [`XYZ${good.slice(3)}`, 'malformed checksum'],
      [`${good.slice(0, 9)}2x ${good.slice(good.indexOf(' ', 9) + 1)}`, 'malformed length'],
      [good.slice(0, -1), 'length mismatch'],
      [good.replace('"from":"1"', '"from":"2"'), 'checksum mismatch'],
      [body(encodeLine('["A",1,"k",[{"from":')).toString('latin1'), 'invalid JSON'],
      [body(encodeLine('["A",1,"k",[]]')).toString('latin1'), 'unknown record'],
      [body(encodeLine('["A",0,"k",[1]]')).toString('latin1'), 'unknown record'],
      [body(encodeLine('["K",[1,-2]]')).toString('latin1'), 'unknown record'],
      [body(encodeLine('["X"]')).toString('latin1'), 'unknown record'],
    ];
    for (const [line, reason] of cases) assert.equal(decodeLine(Buffer.from(line, 'latin1')), reason, JSON.stringify(line));
  });
});
