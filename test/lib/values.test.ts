import assert from 'node:assert/strict';
import { isObject, quote } from '../../src/lib/values';

describe('lib/values', () => {
  it('isObject: JSON objects only, not null, arrays or primitives', () => {
    assert.equal(isObject({}), true);
    assert.equal(isObject(Object.create(null)), true);
    for (const value of [null, undefined, [], [1], 'x', 1, true]) assert.equal(isObject(value), false, String(value));
  });

  it('quote: a JSON string, cut after 60 characters', () => {
    assert.equal(quote('a"b'), '"a\\"b"');
    assert.equal(quote('x'.repeat(60)), JSON.stringify('x'.repeat(60)));
    assert.equal(quote('x'.repeat(61)), JSON.stringify(`${'x'.repeat(60)}…`));
  });
});
