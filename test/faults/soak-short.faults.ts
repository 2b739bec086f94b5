/**
 * Fault suite, part 4: the soak's short variant (test/soak/soak-run.ts). Three minutes
 * (SOAK_SHORT_MINUTES) of 50 call logs/s and 5 pop-ups/s through a real Node-RED against a CRM
 * that is down 10 s every 60 s, answers 3% of requests 503 and drops 1% of connections.
 * It judges delivery (no accepted record lost, duplicates only where an answer was lost, no
 * pop-up late, the outbox drained after each outage); memory slopes, the event-loop delay and
 * the journal's growth are printed, not judged: a few minutes are too short to fit a slope
 * through the garbage collector's saw-tooth (the 30-minute `npm run test:soak` judges them).
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pickSeed } from './delivery-figures';
import { checkLines } from '../soak/soak-report';
import { runSoak, writeSoakFiles } from '../soak/soak-run';

describe('fault suite: a short soak (real Node-RED, steady traffic, a flapping CRM)', function () {
  const minutes = Number(process.env.SOAK_SHORT_MINUTES ?? 3);
  this.timeout(minutes * 60_000 + 12 * 60_000);

  it(`keeps every accepted record and sends no pop-up late over ${minutes} min with an outage every minute`, async () => {
    const seed = pickSeed();
    const result = await runSoak({
      minutes,
      callsPerSecond: 50,
      popupsPerSecond: 5,
      outageEverySeconds: 60,
      outageSeconds: 10,
      http503Rate: 0.03,
      dropRate: 0.01,
      warmUpSeconds: 60,
      sampleSeconds: 5,
      seed,
      log: (line) => console.log(`      [soak] ${line}`),
    });
    const files = writeSoakFiles(result, mkdtempSync(join(tmpdir(), 'sangam-soak-short-')), 'soak-short');
    console.log(`      [soak] seed ${seed}; wrote ${files.json} and ${files.svg}`);
    console.log(checkLines(result.checks, false).replace(/^/gm, '      [soak] '));
    assert.deepEqual(
      result.checks.filter((check) => !check.pass && !check.fullRunOnly).map((check) => `${check.name}: ${check.measured}`),
      [],
    );
  });
});
