/**
 * A `--require` hook that makes `node-red`, `node-red/...` and `@node-red/...` resolve to another
 * Node-RED install (the directory in NODE_RED_COMPAT_MODULES, a node_modules folder), whoever asks:
 * the tests (`require.resolve('node-red')`, `require.resolve('node-red/red.js', { paths })`,
 * `require('@node-red/nodes/...')`) and node-red-node-test-helper alike.
 *
 * Why a resolver hook rather than NODE_PATH or a scratch copy of the repository: NODE_PATH is only
 * consulted after every node_modules up the tree, so the repository's own node-red 4 would win;
 * a scratch copy would have to duplicate node_modules and the build on every run. The hook changes
 * exactly one thing, where those names resolve, and leaves every other module (mocha, got, ws, the
 * test helper) where `npm ci` put it. Requests made from inside the other Node-RED already resolve
 * to its own nested copies, so only requests from outside it are redirected.
 */
import Module = require('node:module');
import { readFileSync } from 'node:fs';
import { join, sep } from 'node:path';

const modulesDir = process.env.NODE_RED_COMPAT_MODULES;
if (!modulesDir) throw new Error('resolve-node-red: set NODE_RED_COMPAT_MODULES to the node_modules folder of the Node-RED to use');

/** Module._resolveFilename is internal to Node.js and untyped: this is its shape. */
type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: { paths?: string[] }) => string;
const moduleInternals = Module as unknown as { _resolveFilename: ResolveFilename };
const originalResolve = moduleInternals._resolveFilename;

const REDIRECTED = /^(node-red(\/|$)|@node-red\/)/;

moduleInternals._resolveFilename = function (request, parent, isMain, options) {
  if (REDIRECTED.test(request)) {
    const parentFile = (parent as { filename?: string } | undefined)?.filename ?? '';
    if (!parentFile.startsWith(modulesDir + sep)) {
      return originalResolve.call(this, request, parent, isMain, { ...options, paths: [modulesDir] });
    }
  }
  return originalResolve.call(this, request, parent, isMain, options);
};

const version = (JSON.parse(readFileSync(join(modulesDir, 'node-red', 'package.json'), 'utf8')) as { version: string }).version;
const resolved = require.resolve('node-red/package.json');
if (!resolved.startsWith(modulesDir + sep)) throw new Error(`resolve-node-red: node-red still resolves to ${resolved}`);
process.stderr.write(`resolve-node-red: node-red ${version} from ${modulesDir} on Node.js ${process.version}\n`);
