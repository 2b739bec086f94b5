/**
 * Child process for the "loads at first use" test in test/sangam-call-log.test.ts: a fresh process,
 * so that no other test has loaded a module yet. Deploys one node of each type in a real Node-RED
 * (the test helper), against the SangamCRM stand-in, and prints as one JSON line which of the
 * package's modules (paths under src/, without extension) were loaded: once deployed, and once a
 * first call log came back from the CRM.
 */
import * as path from 'node:path';
import type { NodeAPI } from 'node-red';
import { SangamCrmStandIn } from '../../dev/standins/sangam-crm';
import { RECORD } from './call-record';
import { SECRET_TOKEN, catchNode, helper, onTab } from './node-red';

const SOURCE_ROOT = path.resolve(__dirname, '..', '..', 'src');

function loadedModules(): string[] {
  return Object.keys(require.cache)
    .filter((file) => file.startsWith(SOURCE_ROOT + path.sep))
    .map((file) => path.relative(SOURCE_ROOT, file).replace(/\\/g, '/').replace(/\.js$/, ''))
    .sort();
}

async function main(): Promise<void> {
  const crm = await SangamCrmStandIn.start({ token: SECRET_TOKEN });
  await helper.startServer();
  /* eslint-disable @typescript-eslint/no-require-imports */
  const nodes = ['sangam-config', 'sangam-call-log', 'sangam-notify', 'exotel-config', 'exotel-click2call'].map(
    (name) => require(path.join(SOURCE_ROOT, name)) as (RED: NodeAPI) => void,
  );
  /* eslint-enable @typescript-eslint/no-require-imports */
  await helper.load(
    [...nodes, catchNode],
    onTab(
      { id: 'crm', type: 'sangam-config', domain: crm.url, ivrName: 'ivr-1' },
      { id: 'log', type: 'sangam-call-log', server: 'crm', wires: [['out']] },
      { id: 'notify', type: 'sangam-notify', server: 'crm', wires: [[]] },
      { id: 'exotel', type: 'exotel-config', accountSid: 'acme1', subdomain: '127.0.0.1:9' },
      { id: 'c2c', type: 'exotel-click2call', account: 'exotel', wires: [[]] },
      { id: 'out', type: 'helper' },
      { id: 'catcher', type: 'catch', scope: null, wires: [['out']] },
    ),
    { crm: { token: SECRET_TOKEN }, exotel: { apiKey: 'key', apiToken: 'token' } },
  );
  const deployed = loadedModules();
  // The call log's answer, or its error (a Catch node feeds the same helper).
  const answered = new Promise<unknown>((resolve) =>
    helper.getNode('out').on('input', (msg: { payload: unknown; error?: { message: string } }) => resolve(msg.error ? msg.error.message : msg.payload)),
  );
  helper.getNode('log').receive({ payload: { ...RECORD, call_ref: 'first-call' } });
  const answer = await answered;
  const afterCallLog = loadedModules();
  await helper.unload();
  await helper.stopServer();
  await crm.close();
  process.stdout.write(`${JSON.stringify({ deployed, afterCallLog, answer })}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
