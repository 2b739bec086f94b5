/**
 * The set-up the SangamCRM runtime tests share: the SangamCRM stand-in for a describe block,
 * a fresh Node-RED test-helper server per test, and the usual flow (config, the node under test,
 * an `out` helper on its output, a Catch node wired to a `caught` helper).
 */
import { SangamCrmStandIn } from '../../dev/standins/sangam-crm';
import { SECRET_TOKEN, catchNode, clearOutboxes, helper, onTab } from './node-red';
import sangamConfig = require('../../src/sangam-config');
import sangamCallLog = require('../../src/sangam-call-log');
import sangamNotify = require('../../src/sangam-notify');

/**
 * Registers, in the calling describe block: the stand-in (token SECRET_TOKEN) started before
 * its tests and closed after them; helper.startServer() before each test; after each test the
 * stand-in listening again (if a test took it down) and reset, the flows unloaded, the server
 * stopped and the outbox journals removed. Returns the stand-in (call it inside hooks and tests).
 */
export function useSangamCrm(): () => SangamCrmStandIn {
  let crm: SangamCrmStandIn | undefined;
  before(async () => {
    crm = await SangamCrmStandIn.start({ token: SECRET_TOKEN });
  });
  after(() => crm?.close());
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await crm?.comeBack().catch(() => undefined);
    crm?.reset();
    await helper.unload();
    await helper.stopServer();
    clearOutboxes();
  });
  return () => {
    if (!crm) throw new Error('the SangamCRM stand-in is not started yet (use it inside hooks and tests)');
    return crm;
  };
}

export type SangamNodeType = 'sangam-call-log' | 'sangam-notify';

/** The id each node type gets in sangamFlow(): `log` or `notify`. */
export const SANGAM_NODE_ID: Readonly<Record<SangamNodeType, string>> = { 'sangam-call-log': 'log', 'sangam-notify': 'notify' };

export interface SangamFlowOptions {
  /** The stand-in's URL (the config's domain). */
  domain: string;
  /** Properties of the `crm` sangam-config node, over domain and server: 'crm'. */
  config?: Record<string, unknown>;
  /** The node(s) under test (default sangam-call-log), each wired to `out`. */
  type?: SangamNodeType | ReadonlyArray<SangamNodeType>;
  /** Properties of each node under test, over id, type, server and wires. */
  node?: Record<string, unknown>;
}

/** The flow on one tab: `crm` config, the node(s) under test -> `out`, and `catcher` (all scopes) -> `caught`. */
export function sangamFlow({ domain, config = {}, type = 'sangam-call-log', node = {} }: SangamFlowOptions): Array<Record<string, unknown>> {
  const types = typeof type === 'string' ? [type] : type;
  return onTab(
    { id: 'crm', type: 'sangam-config', domain, ...config },
    ...types.map((nodeType) => ({ id: SANGAM_NODE_ID[nodeType], type: nodeType, server: 'crm', wires: [['out']], ...node })),
    { id: 'out', type: 'helper' },
    { id: 'catcher', type: 'catch', scope: null, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  );
}

/** Loads sangamFlow(options) into the test helper with the node modules it needs and the config's token. */
export async function loadSangamFlow(options: SangamFlowOptions): Promise<void> {
  const types = typeof options.type === 'string' ? [options.type] : (options.type ?? ['sangam-call-log']);
  const modules = { 'sangam-call-log': sangamCallLog, 'sangam-notify': sangamNotify };
  await helper.load([sangamConfig, ...types.map((nodeType) => modules[nodeType]), catchNode], sangamFlow(options), { crm: { token: SECRET_TOKEN } });
}
