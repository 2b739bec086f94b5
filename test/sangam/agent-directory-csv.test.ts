import assert from 'node:assert/strict';
import { parseAgentsCsv } from '../../src/sangam/agent-directory';
import { AGENTS_CSV_CASES } from '../cases/agents-csv-cases';

/** The runtime's side of the shared CSV table (the editor's side: test/editor/agents.editor.ts). */
describe('parseAgentsCsv, on the cases shared with the editor', () => {
  for (const { title, text, agents, error } of AGENTS_CSV_CASES) {
    it(`${error ? 'refuses' : 'reads'} ${title}`, () => {
      if (error !== undefined) {
        assert.throws(() => parseAgentsCsv(text), (thrown: Error) => {
          assert.equal(thrown.message, error);
          return true;
        });
      } else {
        assert.deepEqual(parseAgentsCsv(text), agents);
      }
    });
  }
});
