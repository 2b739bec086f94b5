import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32, crc32Table, decodeJsonTextLine, decodeLine, encodeJsonTextAppend, encodeLine, jsonTextAppendPayloadBytes, writeJsonTextAppend } from '../../src/lib/journal-line';

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
    for (const [line, reason] of cases) {
      assert.equal(decodeLine(Buffer.from(line, 'latin1')), reason, JSON.stringify(line));
      assert.equal(decodeJsonTextLine(Buffer.from(line, 'latin1')), reason, `as JSON texts: ${JSON.stringify(line)}`);
    }
  });

  describe('decodeJsonTextLine', () => {
    it('hands back the texts of an append line byte for byte, whatever brackets, commas, quotes and escapes they hold', () => {
      const texts = [
        '{"name":"रवि, \\"the\\" agent","tags":["a,b","]","}","[{"],"n":-1.5e3}',
        '"ends in a backslash \\\\"',
        '[[1,[2,{"x":[]}]],{},null]',
        '{"a" : 1, "b":"\\u00e9 \\ud83d\\udcde"}',
        'true',
        '"📞 \\u2028"',
      ];
      const key = 'IVR "main", \\ [1]';
      const line = body(encodeJsonTextAppend(9_007_199_254_740_991, key, texts));
      assert.deepEqual(decodeJsonTextLine(line), ['A', 9_007_199_254_740_991, key, texts]);
      // The same items decodeLine finds: each text parses to the value decodeLine gives.
      const parsed = decodeLine(line) as ['A', number, string, unknown[]];
      assert.deepEqual(parsed[3], texts.map((text) => JSON.parse(text) as unknown));
    });

    it('hands back the texts of random JSON values as they were written, spaces and all (500 lines)', () => {
      let seed = 7;
      const random = (n: number) => {
        seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
        return (seed >>> 16) % n;
      };
      const alphabet = ['a', ',', '[', ']', '{', '}', '"', '\\', ':', ' ', 'é', '📞', '\n', '\u0000'];
      const text = () => Array.from({ length: random(8) }, () => alphabet[random(alphabet.length)]).join('');
      const value = (depth: number): unknown => {
        const kind = random(depth > 3 ? 4 : 6);
        if (kind === 0) return text();
        if (kind === 1) return random(1000) - 500;
        if (kind === 2) return random(2) === 0 ? null : true;
        if (kind === 3) return random(1e6) / 7;
        if (kind === 4) return Array.from({ length: random(4) }, () => value(depth + 1));
        return Object.fromEntries(Array.from({ length: random(4) }, () => [text(), value(depth + 1)]));
      };
      for (let i = 0; i < 500; i++) {
        const values = Array.from({ length: 1 + random(5) }, () => value(0));
        // Indented, then on one line: spaces between the tokens that a parse and a stringify would
        // not give back, so only texts cut out of the line pass (a raw newline is only ever indentation).
        const texts = values.map((v) => JSON.stringify(v, null, random(3)).replace(/\n/g, ' '));
        const key = text();
        assert.deepEqual(decodeJsonTextLine(body(encodeJsonTextAppend(i + 1, key, texts))), ['A', i + 1, key, texts], `line ${i}`);
        assert.deepEqual(texts.map((t) => JSON.parse(t) as unknown), values, `line ${i} parses back`);
      }
    });

    it('parses what it cannot cut, and decodes header and acknowledgement lines as decodeLine does', () => {
      // Spaces around the items' array: valid JSON, not as writeJsonTextAppend writes it.
      assert.deepEqual(decodeJsonTextLine(body(encodeLine('["A",3,"k",[ {"n" : 1} ,2] ]'))), ['A', 3, 'k', ['{"n":1}', '2']]);
      // Brackets that do not match, or an id JSON does not allow: refused as decodeLine refuses them.
      for (const payload of ['["A",1,"k",[{"n":[1}]]]', '["A",1,"k",[{]]', '["A",01,"k",[1]]', '["A",1,"k",[1,]]']) {
        assert.equal(decodeJsonTextLine(body(encodeLine(payload))), 'invalid JSON', payload);
      }
      assert.deepEqual(decodeJsonTextLine(body(encodeLine('["H",1,42]'))), ['H', 1, 42]);
      assert.deepEqual(decodeJsonTextLine(body(encodeLine('["K",[1,2,3]]'))), ['K', [1, 2, 3]]);
    });

    it('keeps a text that was not JSON when it was appended, rather than drop its whole line', () => {
      // writeJsonTextAppend trusts its caller; such a text is sent as it is and the CRM refuses it.
      assert.deepEqual(decodeJsonTextLine(body(encodeJsonTextAppend(1, 'k', ['{"n":1}', 'not json']))), ['A', 1, 'k', ['{"n":1}', 'not json']]);
      assert.equal(decodeLine(body(encodeJsonTextAppend(1, 'k', ['{"n":1}', 'not json']))), 'invalid JSON');
    });
  });
});
