/**
 * `npm start`: the package at work on one machine, no accounts needed.
 *
 * Starts the SangamCRM stand-in, the Exotel stand-in (which ends every call after a few seconds
 * and posts Exotel's status callback, twice, as Exotel does when an answer is slow), an MQTT
 * broker (aedes, in this process) and Node-RED with this package installed into a throwaway user
 * dir (.demo/node-red). It deploys examples 01-05 with the credentials set through Node-RED's own
 * credential store, runs a traffic generator, and prints a line a second about what reached the
 * stand-ins. Ctrl-C stops everything.
 *
 * Every outside service can be real instead (see USAGE below): set its variables and the
 * stand-in for it is not started.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import * as net from 'node:net';
import { join } from 'node:path';
import type { Aedes } from 'aedes' with { 'resolution-mode': 'import' };
import { SangamCrmStandIn } from './standins/sangam-crm';
import { ExotelStandIn } from './standins/exotel';
import { EXOTEL_CONFIG_ID, SANGAM_CONFIG_ID, exampleByPrefix, mergeExamples, readExamples } from './demo/example-flows';
import { TrafficGenerator } from './demo/traffic';
import { NodeRedProcess, packageRoot } from '../test/support/node-red-process';

const USAGE = `Environment (all optional):
  NODE_RED_PORT        Node-RED's port (1880)
  SANGAM_DOMAIN        a real SangamCRM (e.g. acme.sangamcrm.com); unset: the stand-in on SANGAM_STANDIN_PORT (8089)
  SANGAM_TOKEN         its API token (required with SANGAM_DOMAIN)
  SANGAM_IVR_NAME      ivr-name sent to the CRM (demo-ivr)
  EXOTEL_SUBDOMAIN     real Exotel (api.exotel.com or api.in.exotel.com); unset: the stand-in on EXOTEL_STANDIN_PORT (8090)
  EXOTEL_SID, EXOTEL_KEY, EXOTEL_TOKEN, EXOTEL_CALLER_ID   the account (required with EXOTEL_SUBDOMAIN)
  SANGAM_WEBHOOK_SECRET  the shared secret the examples' HTTP endpoints require (at least 16 characters);
                       unset: a random one for this run, printed at start
  EXOTEL_STATUS_CALLBACK_URL   where Exotel posts call ends (http://127.0.0.1:<NODE_RED_PORT>/exotel/status-callback?token=<secret>;
                       a real Exotel needs a public URL, with ?token=<SANGAM_WEBHOOK_SECRET>)
  TWILIO_AUTH_TOKEN    the auth token example 09's nodes check Twilio's signatures with (demo: a made-up one)
  TWILIO_STATUS_CALLBACK_URL, TWILIO_VOICE_URL   the URLs as typed in Twilio's console (http://127.0.0.1:<NODE_RED_PORT>/twilio/...)
  MQTT_HOST, MQTT_PORT a real broker; unset: an in-process aedes broker on MQTT_PORT (1883)
  DEMO_TRAFFIC=0       no generated traffic (send your own). Off by default when SANGAM_DOMAIN or
                       EXOTEL_SUBDOMAIN point at a real service (fake calls must not reach a real CRM);
                       DEMO_TRAFFIC=1 turns it on, but never sends click-to-calls to a real Exotel
                       (it would ring made-up numbers)`;

interface DemoSettings {
  nodeRedPort: number;
  ivrName: string;
  crm: { domain: string; token: string } | { standInPort: number; token: string };
  exotel:
    | { subdomain: string; sid: string; apiKey: string; apiToken: string; callerId: string }
    | { standInPort: number; sid: string; apiKey: string; apiToken: string; callerId: string };
  mqtt: { host: string; port: number; external: boolean };
  statusCallbackUrl: string;
  /** SANGAM_WEBHOOK_SECRET, or one made for this run. */
  webhookSecret: string;
  webhookSecretGenerated: boolean;
  twilio: { authToken: string; statusCallbackUrl: string; voiceUrl: string };
  traffic: boolean;
  /** Click-to-calls only against the stand-in: a real Exotel would ring the generator's made-up numbers. */
  trafficClickToCalls: boolean;
}

function portFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`${name} must be a port number, got "${text}"`);
  return port;
}

function required(env: NodeJS.ProcessEnv, name: string, because: string): string {
  const value = env[name];
  if (!value) throw new RangeError(`${name} is required ${because}`);
  return value;
}

export function readDemoSettings(env: NodeJS.ProcessEnv): DemoSettings {
  const nodeRedPort = portFrom(env, 'NODE_RED_PORT', 1880);
  const crm: DemoSettings['crm'] = env.SANGAM_DOMAIN
    ? { domain: env.SANGAM_DOMAIN, token: required(env, 'SANGAM_TOKEN', 'with SANGAM_DOMAIN') }
    : { standInPort: portFrom(env, 'SANGAM_STANDIN_PORT', 8089), token: env.SANGAM_TOKEN || 'demo-sangam-token' };
  const exotel: DemoSettings['exotel'] = env.EXOTEL_SUBDOMAIN
    ? {
        subdomain: env.EXOTEL_SUBDOMAIN,
        sid: required(env, 'EXOTEL_SID', 'with EXOTEL_SUBDOMAIN'),
        apiKey: required(env, 'EXOTEL_KEY', 'with EXOTEL_SUBDOMAIN'),
        apiToken: required(env, 'EXOTEL_TOKEN', 'with EXOTEL_SUBDOMAIN'),
        callerId: required(env, 'EXOTEL_CALLER_ID', 'with EXOTEL_SUBDOMAIN'),
      }
    : {
        standInPort: portFrom(env, 'EXOTEL_STANDIN_PORT', 8090),
        sid: env.EXOTEL_SID || 'sangamdemo',
        apiKey: env.EXOTEL_KEY || 'demo-exotel-key',
        apiToken: env.EXOTEL_TOKEN || 'demo-exotel-token',
        callerId: env.EXOTEL_CALLER_ID || '+918047112233',
      };
  const givenSecret = env.SANGAM_WEBHOOK_SECRET;
  if (givenSecret !== undefined && givenSecret !== '' && givenSecret.length < 16) {
    throw new RangeError('SANGAM_WEBHOOK_SECRET must be at least 16 characters (the examples refuse every request with a shorter one)');
  }
  const webhookSecret = givenSecret || randomBytes(24).toString('hex');
  return {
    nodeRedPort,
    ivrName: env.SANGAM_IVR_NAME || 'demo-ivr',
    crm,
    exotel,
    mqtt: { host: env.MQTT_HOST || '127.0.0.1', port: portFrom(env, 'MQTT_PORT', 1883), external: Boolean(env.MQTT_HOST) },
    statusCallbackUrl:
      env.EXOTEL_STATUS_CALLBACK_URL || `http://127.0.0.1:${nodeRedPort}/exotel/status-callback?token=${encodeURIComponent(webhookSecret)}`,
    webhookSecret,
    webhookSecretGenerated: !givenSecret,
    twilio: {
      authToken: env.TWILIO_AUTH_TOKEN || 'demo-twilio-auth-token',
      statusCallbackUrl: env.TWILIO_STATUS_CALLBACK_URL || `http://127.0.0.1:${nodeRedPort}/twilio/status-callback`,
      voiceUrl: env.TWILIO_VOICE_URL || `http://127.0.0.1:${nodeRedPort}/twilio/voice`,
    },
    traffic: env.DEMO_TRAFFIC === '1' || (env.DEMO_TRAFFIC !== '0' && !('domain' in crm) && !('subdomain' in exotel)),
    trafficClickToCalls: !('subdomain' in exotel),
  };
}

/** An MQTT broker in this process: aedes is a devDependency, so a fresh checkout needs no apt. */
async function startAedes(port: number): Promise<{ close(): Promise<void> }> {
  const { Aedes: AedesBroker } = await import('aedes');
  const broker: Aedes = await AedesBroker.createBroker();
  const server: Server = net.createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`port ${port} is taken (another broker?): set MQTT_PORT, or MQTT_HOST to use that broker`) : error),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        broker.close(() => server.close(() => resolve()));
      }),
  };
}

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    console.log(USAGE);
    return;
  }
  let settings: DemoSettings;
  try {
    settings = readDemoSettings(process.env);
  } catch (error) {
    console.error(`npm start: ${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 1;
    return;
  }
  const root = packageRoot();
  const stops: Array<() => Promise<void>> = [];
  let stopping = false;
  const stopAll = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping ...');
    // Last started, first stopped: traffic, Node-RED (flushes its outbox), broker, stand-ins.
    for (const stop of stops.reverse()) await stop().catch((error: Error) => console.error(`  ${error.message}`));
    console.log('stopped.');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    let crmStandIn: SangamCrmStandIn | undefined;
    let domain: string;
    if ('domain' in settings.crm) {
      domain = settings.crm.domain;
    } else {
      crmStandIn = await SangamCrmStandIn.start({ token: settings.crm.token, port: settings.crm.standInPort });
      stops.push(() => crmStandIn!.close());
      domain = crmStandIn.url;
    }

    let exotelStandIn: ExotelStandIn | undefined;
    let subdomain: string;
    if ('subdomain' in settings.exotel) {
      subdomain = settings.exotel.subdomain;
    } else {
      exotelStandIn = await ExotelStandIn.start({
        accountSid: settings.exotel.sid,
        apiKey: settings.exotel.apiKey,
        apiToken: settings.exotel.apiToken,
        port: settings.exotel.standInPort,
        autoEndMs: 3_000,
        deliverCallbacksTwice: true,
      });
      stops.push(() => exotelStandIn!.close());
      subdomain = exotelStandIn.url;
    }

    if (!settings.mqtt.external) {
      const broker = await startAedes(settings.mqtt.port);
      stops.push(() => broker.close());
    }

    // A fresh flows file each start (the stand-ins' ports may have changed); the outbox survives.
    const userDir = join(root, '.demo', 'node-red');
    mkdirSync(userDir, { recursive: true });
    for (const file of ['flows.json', 'flows_cred.json', '.flows.json.backup', '.flows_cred.json.backup']) {
      rmSync(join(userDir, file), { force: true });
    }
    console.log('starting Node-RED ...');
    const nodeRed = await NodeRedProcess.start({
      userDir,
      install: 'symlink',
      port: settings.nodeRedPort,
      env: {
        // What the examples' ${...} properties read.
        SANGAM_DOMAIN: domain,
        SANGAM_IVR_NAME: settings.ivrName,
        MQTT_HOST: settings.mqtt.host,
        MQTT_PORT: String(settings.mqtt.port),
        EXOTEL_SID: settings.exotel.sid,
        EXOTEL_SUBDOMAIN: subdomain,
        EXOTEL_CALLER_ID: settings.exotel.callerId,
        EXOTEL_STATUS_CALLBACK_URL: settings.statusCallbackUrl,
        SANGAM_WEBHOOK_SECRET: settings.webhookSecret,
        TWILIO_STATUS_CALLBACK_URL: settings.twilio.statusCallbackUrl,
        TWILIO_VOICE_URL: settings.twilio.voiceUrl,
      },
      onLine: (line) => {
        if (/\[(warn|error)\]/.test(line) && !/Projects disabled|Encrypted credentials not found/.test(line)) console.log(`  node-red: ${line}`);
      },
    });
    stops.push(() => nodeRed.stop());

    // 06 is the scale-out variant of 01 + 03: deployed alongside them it would log every call twice.
    const examples = readExamples(join(root, 'examples'));
    const flows = mergeExamples(['01', '02', '03', '04', '05', '07', '08', '09', '10'].map((prefix) => exampleByPrefix(examples, prefix)));
    const twilioNodes = flows.filter((node) => /^sangam-(call-log|notify)$/.test(node.type) && node.inputFormat === 'twilio');
    await nodeRed.deploy(flows, {
      [SANGAM_CONFIG_ID]: { token: settings.crm.token },
      [EXOTEL_CONFIG_ID]: { apiKey: settings.exotel.apiKey, apiToken: settings.exotel.apiToken },
      ...Object.fromEntries(twilioNodes.map((node) => [node.id, { twilioAuthToken: settings.twilio.authToken }])),
    });

    let traffic: TrafficGenerator | undefined;
    if (settings.traffic) {
      traffic = new TrafficGenerator({
        mqttUrl: `mqtt://${settings.mqtt.host}:${settings.mqtt.port}`,
        nodeRedUrl: nodeRed.url,
        webhookSecret: settings.webhookSecret,
        twilioAuthToken: settings.twilio.authToken,
        clickToCallEveryMs: settings.trafficClickToCalls ? 5_000 : 0,
        log: (line) => console.log(`  ${line}`),
      });
      await traffic.start();
      stops.push(() => traffic!.stop());
    }

    printBanner(nodeRed.url, crmStandIn, exotelStandIn, settings);
    const summary = setInterval(() => printSummary(crmStandIn, exotelStandIn, traffic), 1_000);
    stops.push(async () => clearInterval(summary));
  } catch (error) {
    console.error(`npm start failed: ${(error as Error).message}`);
    await stopAll(1);
  }
}

function printBanner(editorUrl: string, crm: SangamCrmStandIn | undefined, exotel: ExotelStandIn | undefined, settings: DemoSettings): void {
  const lines = [
    '',
    `Node-RED editor:  ${editorUrl}/   (tabs 01-05 and 07-10 are the package's examples)`,
    '  open the debug sidebar (the bug icon, top right) to see call logs, pop-ups, placed calls and',
    '  status callbacks (the second delivery of each shows as {"skipped": true, "reason": "repeated status callback"})',
    crm
      ? `SangamCRM stand-in: ${crm.url}/__control/stats   (${crm.url}/__control/call-logs, ${crm.url}/__control/notifies)`
      : `SangamCRM:         ${'domain' in settings.crm ? settings.crm.domain : ''} (real)`,
    exotel ? `Exotel stand-in:    ${exotel.url}/__control/stats   (${exotel.url}/__control/calls)` : 'Exotel:            real account',
    `MQTT broker:        mqtt://${settings.mqtt.host}:${settings.mqtt.port}${settings.mqtt.external ? '' : ' (aedes, in this process)'}`,
    settings.traffic
      ? `traffic: an ended call every 0.7 s, a ringing call every 2 s${settings.trafficClickToCalls ? ', a click-to-call every 5 s' : ''}, and every 3 s one request from\n  Asterisk, FreeSWITCH, Twilio or Exotel Passthru in its own format (examples 07-10) (DEMO_TRAFFIC=0 turns it off)`
      : 'traffic generator off: publish to pbx/calls/ended or pbx/calls/ringing, POST /sangam/call-log or /sangam/click2call',
    `shared secret of the HTTP endpoints (SANGAM_WEBHOOK_SECRET${settings.webhookSecretGenerated ? ', made for this run' : ''}): ${settings.webhookSecret}`,
    '  e.g. curl -H "Authorization: Bearer <secret>" -H "Content-Type: application/json" \\',
    `         -d '{"direction":"Inbound","enjay_lat_source_number":"+919812345678","enjay_lat_destination_number":"2001","call_status":"Held","date_start":"${new Date().toISOString()}","date_end":"${new Date().toISOString()}","logged_by":"IVR"}' \\`,
    `         ${editorUrl}/sangam/call-log`,
    '  (or ?token=<secret> in the URL; without it: 401)',
    'Ctrl-C stops everything.   (npm start -- --help lists the environment variables)',
    '',
  ];
  console.log(lines.join('\n'));
}

let previous = '';
let quietSeconds = 0;
function printSummary(crm: SangamCrmStandIn | undefined, exotel: ExotelStandIn | undefined, traffic: TrafficGenerator | undefined): void {
  const parts: string[] = [];
  if (crm) {
    parts.push(`CRM: ${crm.stats.records} call logs in ${crm.stats.callLogRequests} POSTs, ${crm.notifies.length} pop-ups, ${crm.stats.rejected} refused`);
  }
  if (exotel) {
    parts.push(`Exotel: ${exotel.stats.placed} calls placed, ${exotel.stats.callbacksDelivered} callbacks answered 200, ${exotel.stats.callbacksFailed} not`);
  }
  if (traffic) {
    const { endedPublished, ringingPublished, clickToCallsPosted, nativePosted, nativeRefused } = traffic.counts;
    parts.push(`sent: ${endedPublished} ended, ${ringingPublished} ringing, ${clickToCallsPosted} click-to-calls, ${nativePosted} native (${nativeRefused} refused)`);
  }
  const line = parts.join(' | ');
  quietSeconds++;
  // A line when something moved, and now and then when nothing did.
  if (line !== previous || quietSeconds >= 10) {
    console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
    previous = line;
    quietSeconds = 0;
  }
}

if (require.main === module) {
  void main();
}
