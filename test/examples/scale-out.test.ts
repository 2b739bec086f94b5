/**
 * Example 06 in two node-red processes on one mosquitto broker: MQTT 5 shared subscriptions
 * split the calls between them, and each call is logged (and each pop-up shown) exactly once.
 * Each runtime logs under its own ivr-name, so the CRM stand-in tells who logged what.
 *
 * Needs mosquitto: aedes (the broker `npm ci` brings) has no MQTT 5 and no `$share/` shared
 * subscriptions. Where mosquitto is missing the suite is skipped with a SKIPPED line in the test
 * output and shows as pending (test/support/mosquitto.ts); CI runs it with MOSQUITTO_REQUIRED=1.
 */
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { SangamCrmStandIn } from '../../dev/standins/sangam-crm';
import { type Mosquitto, startMosquittoOrSkip } from '../support/mosquitto';
import { NodeRedProcess } from '../support/node-red-process';
import { CRM_TOKEN, connectMqtt, credentialsFor, exampleEnv, flowsOf, probeUntilSubscribed } from './fixtures';

const CALLS = 200;
const POP_UPS = 40;

describe('06 - scale-out: two node-red processes on one broker', function () {
  this.timeout(180_000);

  let crm: SangamCrmStandIn;
  let broker: Mosquitto;
  let publisher: MqttClient;
  const runtimes: NodeRedProcess[] = [];

  before(async function () {
    broker = await startMosquittoOrSkip(this, '06 - scale-out (two Node-RED runtimes sharing MQTT 5 subscriptions)');
    crm = await SangamCrmStandIn.start({ token: CRM_TOKEN });
    const flows = flowsOf('06');
    // One after the other: two Node-RED starts at once on 2 cores only slow each other down.
    for (const ivrName of ['ivr-a', 'ivr-b']) {
      const nodeRed = await NodeRedProcess.start({ env: (port) => exampleEnv({ crm, mqttPort: broker.port, ivrName }, port) });
      runtimes.push(nodeRed);
      await nodeRed.deploy(flows, credentialsFor(flows));
    }
    publisher = await connectMqtt(broker.port, 5);
    await probeUntilSubscribed(publisher, 'pbx/calls/ended', runtimes, 'example-06-debug-errors', 'sangam-call-log');
    await probeUntilSubscribed(publisher, 'pbx/calls/ringing', runtimes, 'example-06-debug-errors', 'sangam-notify');
    assert.equal(crm.stats.requests, 0, 'a probe reached the CRM');
  });

  after(async () => {
    await publisher?.endAsync();
    await Promise.all(runtimes.map((nodeRed) => nodeRed.stop()));
    await broker?.stop();
    await crm?.close();
  });

  it(`turns ${CALLS} published calls into exactly ${CALLS} call records, split between both runtimes`, async () => {
    for (let index = 0; index < CALLS; index++) {
      await publisher.publishAsync('pbx/calls/ended', JSON.stringify(callRecord(index)), { qos: 2 });
    }
    await crm.waitForRecords(CALLS, 60_000);
    // Anything beyond CALLS would be a duplicate: give a late one its chance to arrive.
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    const refs = crm.callLogs.map((entry) => entry.record.pbx_call_id);
    assert.equal(refs.length, CALLS);
    assert.equal(new Set(refs).size, CALLS, 'a call was logged twice');
    const byRuntime = countBy(crm.callLogs.map((entry) => entry.ivrName));
    assert.deepEqual(Object.keys(byRuntime).sort(), ['ivr-a', 'ivr-b'], `split: ${JSON.stringify(byRuntime)}`);
    assert.ok(byRuntime['ivr-a']! > 0 && byRuntime['ivr-b']! > 0);
    // Each runtime's debug sidebar shows the results of the records it logged (one msg per record here).
    await runtimes[0]!.waitForDebug('example-06-debug-logged', byRuntime['ivr-a']!);
    await runtimes[1]!.waitForDebug('example-06-debug-logged', byRuntime['ivr-b']!);
    const shown = runtimes.map((nodeRed) => nodeRed.debugMessages('example-06-debug-logged').length);
    assert.deepEqual(shown, [byRuntime['ivr-a'], byRuntime['ivr-b']]);
    console.log(`      split of ${CALLS} calls: ${JSON.stringify(byRuntime)}`);
  });

  it(`shows each of ${POP_UPS} ringing calls once, split between both runtimes`, async () => {
    for (let index = 0; index < POP_UPS; index++) {
      await publisher.publishAsync(
        'pbx/calls/ringing',
        JSON.stringify({ cli: `+9198${String(index).padStart(8, '0')}`, event: 'TC', uniqueid: `ring-${index}`, nm: '', to: '2001' }),
      );
    }
    await waitFor(() => crm.notifies.length >= POP_UPS, 60_000, `${POP_UPS} pop-ups`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const ids = crm.notifies.map((entry) => entry.event.uniqueid);
    assert.equal(ids.length, POP_UPS);
    assert.equal(new Set(ids).size, POP_UPS, 'a pop-up was shown twice');
    const byRuntime = countBy(crm.notifies.map((entry) => entry.ivrName));
    assert.ok(byRuntime['ivr-a']! > 0 && byRuntime['ivr-b']! > 0, `split: ${JSON.stringify(byRuntime)}`);
  });
});

function callRecord(index: number): Record<string, unknown> {
  const start = Date.UTC(2024, 2, 1, 5, 0, 0) + index * 60_000;
  return {
    direction: index % 2 === 0 ? 'Inbound' : 'Outbound',
    enjay_lat_source_number: `+9198${String(index).padStart(8, '0')}`,
    enjay_lat_destination_number: '2001',
    date_start: new Date(start).toISOString(),
    date_end: new Date(start + 45_000).toISOString(),
    call_status: 'Held',
    logged_by: 'IVR',
    pbx_call_id: `scale-${index}`,
  };
}

function countBy(values: ReadonlyArray<string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
