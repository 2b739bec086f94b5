import assert from 'node:assert/strict';
import { isObject, madeAtFirstCall, quote } from '../../src/lib/values';

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

  it('madeAtFirstCall makes the function at its first call, once, and passes each argument on', () => {
    let made = 0;
    const double = madeAtFirstCall(() => {
      made++;
      return (n: number) => n * 2;
    });
    assert.equal(made, 0, 'not made before the first call');
    assert.equal(double(2), 4);
    assert.equal(double(5), 10);
    assert.equal(made, 1);
  });
});
