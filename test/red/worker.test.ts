import assert from 'node:assert/strict';
import { closeGraceMs } from '../../src/red/worker';

describe('red/worker closeGraceMs', () => {
  it("lets a request on the wire use its own time-out and a second, within Node-RED's 15 s close time-out less 3 s", () => {
    assert.equal(closeGraceMs({}, 5_000), 6_000);
    assert.equal(closeGraceMs({}, 10_000), 11_000);
    assert.equal(closeGraceMs({}, 20_000), 12_000);
    assert.equal(closeGraceMs(undefined, 0), 1_000);
  });

  it("follows the runtime's nodeCloseTimeout setting, and ignores one that is not a positive number", () => {
    assert.equal(closeGraceMs({ nodeCloseTimeout: 60_000 }, 20_000), 21_000);
    assert.equal(closeGraceMs({ nodeCloseTimeout: 5_000 }, 10_000), 2_000);
    assert.equal(closeGraceMs({ nodeCloseTimeout: 2_000 }, 10_000), 0);
    assert.equal(closeGraceMs({ nodeCloseTimeout: 'soon' }, 20_000), 12_000);
    assert.equal(closeGraceMs({ nodeCloseTimeout: -1 }, 20_000), 12_000);
  });
});
