/**
 * The soak (`npm run test:soak`, not part of `npm test`): 30 minutes (SOAK_MINUTES) of 50 call
 * logs/s and 5 pop-ups/s through a real Node-RED against a CRM that is down 20 s every 2 minutes,
 * answers 3% of requests 503 and drops 1% of connections; see soak-run.ts for what is checked.
 * Writes docs/soak/soak.json and docs/soak/soak.svg (SOAK_OUT names another directory).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { packageRoot } from '../support/node-red-process';
import { checkLines, checksMarkdown } from './soak-report';
import { fullSoakOptions, runSoak, writeSoakFiles } from './soak-run';

describe('soak: a real Node-RED at 50 call logs/s and 5 pop-ups/s against a flapping CRM', function () {
  const options = fullSoakOptions(process.env, (line) => console.log(`      [soak] ${line}`));
  // The run, the final drain (up to 10 minutes) and Node-RED's start and stop.
  this.timeout(options.minutes * 60_000 + 15 * 60_000);

  it(`keeps every accepted record, sends no pop-up late, and stays flat (${options.minutes} min)`, async () => {
    const result = await runSoak(options);
    const files = writeSoakFiles(result, process.env.SOAK_OUT ?? join(packageRoot(), 'docs', 'soak'), 'soak');
    console.log(`      [soak] wrote ${files.json} and ${files.svg}`);
    console.log(checkLines(result.checks, true).replace(/^/gm, '      [soak] '));
    console.log(`\n${checksMarkdown(result.checks)}\n`);
    console.log(`      [soak] Node-RED log: ${result.figures.nodeRedLog.errorLines} [error], ${result.figures.nodeRedLog.warnLines} [warn] lines`);
    for (const line of result.figures.nodeRedLog.samples) console.log(`      [soak]   ${line}`);
    assert.deepEqual(result.checks.filter((check) => !check.pass).map((check) => `${check.name}: ${check.measured}`), []);
  });
});
