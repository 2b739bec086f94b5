import assert from 'node:assert/strict';
import { ConfigError } from '../../src/lib/errors';
import { IntegerSetting, readBoolean, readInteger } from '../../src/lib/settings';

const WINDOW: IntegerSetting = { name: 'batch window', min: 0, max: 10_000, fallback: 50 };
const SIZE: IntegerSetting = { name: 'batch size', min: 1, max: 1000, fallback: 100 };

describe('lib/settings', () => {
  describe('readInteger', () => {
    it('takes the fallback for an untouched field', () => {
      for (const value of [undefined, null, '']) assert.equal(readInteger(value, SIZE), 100);
    });

    it('takes the fallback for a field holding only spaces (not 0, which Number("  ") gives)', () => {
      assert.equal(readInteger('   ', WINDOW), 50);
      assert.equal(readInteger('\t', SIZE), 100);
    });

    it('reads numbers and numeric strings, including the bounds', () => {
      assert.equal(readInteger(25, SIZE), 25);
      assert.equal(readInteger('25', SIZE), 25);
      assert.equal(readInteger(' 7 ', SIZE), 7);
      assert.equal(readInteger(1, SIZE), 1);
      assert.equal(readInteger('1000', SIZE), 1000);
      assert.equal(readInteger(0, WINDOW), 0);
      assert.equal(readInteger('0', WINDOW), 0);
    });

    it('refuses out-of-range, fractional, non-numeric and non-scalar values, naming the property and value', () => {
      const cases: unknown[] = [0, 1001, -1, 2.5, '2.5', 'abc', '12abc', NaN, Infinity, true, {}, [5]];
      for (const value of cases) {
        assert.throws(
          () => readInteger(value, SIZE),
          (error: unknown) =>
            error instanceof ConfigError && /^batch size must be a whole number from 1 to 1000, got /.test(error.message),
          String(value),
        );
      }
      assert.throws(() => readInteger('abc', SIZE), { message: /got "abc"$/ });
    });
  });

  describe('readBoolean', () => {
    it('reads booleans and their string forms', () => {
      assert.equal(readBoolean(true, false), true);
      assert.equal(readBoolean('true', false), true);
      assert.equal(readBoolean(false, true), false);
      assert.equal(readBoolean('false', true), false);
    });

    it('takes the fallback for an untouched field, and false for anything else', () => {
      for (const value of [undefined, null, '']) {
        assert.equal(readBoolean(value, true), true);
        assert.equal(readBoolean(value, false), false);
      }
      assert.equal(readBoolean('yes', true), false);
      assert.equal(readBoolean(1, true), false);
    });
  });
});
