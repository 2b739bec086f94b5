import type * as JournalModule from '../lib/outbox';
import type * as BatcherModule from './call-log-batcher';
import type * as DispatcherModule from './call-log-dispatcher';

/*
 * The call-log delivery path, loaded at its first use rather than with the node files: a Node-RED
 * whose call-log nodes log no call never loads it. The dispatcher and the batcher come with a
 * node's first call log (or the outbox's first replay), the journal (lib/outbox with its line
 * format and lock) with its first open: at deploy only when an earlier run left a journal.
 * require caches the module, so a call after the first costs a lookup.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
export const dispatcherModule = (): typeof DispatcherModule => require('./call-log-dispatcher') as typeof DispatcherModule;
export const batcherModule = (): typeof BatcherModule => require('./call-log-batcher') as typeof BatcherModule;
export const journalModule = (): typeof JournalModule => require('../lib/outbox') as typeof JournalModule;
/* eslint-enable @typescript-eslint/no-require-imports */
