/**
 * Mocha root hooks for the editor suite (loaded by .mocharc.editor.json "require"): the editor
 * test files share one packed install and one Node-RED; this stops it after the last file.
 */
import { stopSharedNodeRed } from './packed-node-red';

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await stopSharedNodeRed();
  },
};
