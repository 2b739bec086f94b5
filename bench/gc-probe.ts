/**
 * Preloaded (node --require) into every node-red process of the footprint, with the package and
 * without it alike: asked over the IPC channel (the msg 'gc-probe'), it runs full garbage
 * collections and answers with the process's JS heap in use and RSS. The heap then holds only
 * what is live, so what the package keeps can be told apart from the 4 MB by which an idle
 * process's RSS moves from run to run (outside the heap: full collections leave RSS where it
 * was). (Not a signal: node-red exits on SIGUSR2, for nodemon.)
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

const MiB = 1024 * 1024;
const send = process.send?.bind(process);
if (send) {
  // gc() without starting node with --expose-gc (not allowed in NODE_OPTIONS on every Node version).
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  process.on('message', (message) => {
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
