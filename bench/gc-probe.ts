/**
 * Preloaded (node --require) into every node-red process of the footprint, with the package and
 * without it alike: asked over the IPC channel (the msg 'gc-probe'), it runs full garbage
 * collections and answers with the process's JS heap in use and RSS. The heap then holds only
 * what is live, so what the package keeps can be told apart from the 4 MB by which an idle
 * process's RSS moves from run to run (outside the heap: full collections leave RSS where it
 * was). Asked 'gc-last', it answers how many full collections ran and how long ago the last one
 * ended, so that an idle sample can wait for V8's memory reducer. (Not a signal: node-red exits on
 * SIGUSR2, for nodemon.)
 */
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

const MiB = 1024 * 1024;
const send = process.send?.bind(process);
if (send) {
  // gc() without starting node with --expose-gc (not allowed in NODE_OPTIONS on every Node version).
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  // When the last full collection ran: an idle process is sampled once V8's memory reducer has run
  // (a full collection, here 20-65 s after start, after which RSS drops by about 20 MB).
  let majorGcs = 0;
  let lastMajorGcAt = Number.NaN;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as { detail?: { kind?: number } }).detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
      majorGcs++;
      lastMajorGcAt = entry.startTime + entry.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  process.on('message', (message) => {
    if (message === 'gc-last') {
      send({ gcLast: { majorGcs, msAgo: majorGcs > 0 ? performance.now() - lastMajorGcAt : null } });
      return;
    }
    if (message !== 'gc-probe') return;
    gc();
    gc();
    // A moment for the collector's background threads to give freed pages back, then once more.
    setTimeout(() => {
      gc();
      const memory = process.memoryUsage();
      send({ gcProbe: { heapUsedMb: memory.heapUsed / MiB, rssMb: memory.rss / MiB } });
    }, 500);
  });
  // The channel alone must not keep node-red running once it stops.
  process.channel?.unref();
}
