/** What the example tests share: the examples, the environment they read, traffic helpers. */
import mqtt, { type MqttClient } from 'mqtt';
import type { SangamCrmStandIn } from '../../dev/standins/sangam-crm';
import type { ExotelStandIn } from '../../dev/standins/exotel';
import {
  EXOTEL_CONFIG_ID,
  SANGAM_CONFIG_ID,
  type ExampleFile,
  type FlowNode,
  exampleByPrefix,
  mergeExamples,
  readExamples,
} from '../../dev/demo/example-flows';
import { type NodeCredentials, type NodeRedProcess, packageRoot } from '../support/node-red-process';
import { join } from 'node:path';

export const EXAMPLES_DIR = join(packageRoot(), 'examples');

/** Distinctive values, so a leak into a file, log or answer would be found. */
export const CRM_TOKEN = 'Tk-examples-7c1d-SECRET-93fa';
/** The examples' shared secret (SANGAM_WEBHOOK_SECRET): what the telephony systems send. */
export const WEBHOOK_SECRET = 'whs-examples-4b9e-SECRET-0d6c2a71';
/** The Twilio account's auth token, typed into example 09's nodes (credential twilioAuthToken). */
export const TWILIO_AUTH_TOKEN = 'twilio-auth-examples-SECRET-5e3f';
export const EXOTEL_ACCOUNT = {
  sid: 'sangamexamples1',
  apiKey: 'key-examples-51a0',
  apiToken: 'tok-examples-SECRET-e2b7',
  callerId: '+918047112233',
};

export function examples(): ExampleFile[] {
  return readExamples(EXAMPLES_DIR);
}

/** The examples with these prefixes (e.g. '04', '05') as one flow configuration. */
export function flowsOf(...prefixes: string[]): FlowNode[] {
  const all = examples();
  return mergeExamples(prefixes.map((prefix) => exampleByPrefix(all, prefix)));
}

/** Credentials as a user types them into the config nodes (only those the flows contain). */
export function credentialsFor(flows: ReadonlyArray<FlowNode>): NodeCredentials {
  const credentials: NodeCredentials = {};
  if (flows.some((node) => node.id === SANGAM_CONFIG_ID)) credentials[SANGAM_CONFIG_ID] = { token: CRM_TOKEN };
  for (const node of flows) {
    if ((node.type === 'sangam-call-log' || node.type === 'sangam-notify') && node.inputFormat === 'twilio') {
      credentials[node.id] = { twilioAuthToken: TWILIO_AUTH_TOKEN };
    }
  }
  if (flows.some((node) => node.id === EXOTEL_CONFIG_ID)) {
    credentials[EXOTEL_CONFIG_ID] = { apiKey: EXOTEL_ACCOUNT.apiKey, apiToken: EXOTEL_ACCOUNT.apiToken };
  }
  return credentials;
}

export interface ExampleServices {
  crm: SangamCrmStandIn;
  mqttPort?: number;
  exotel?: ExotelStandIn;
  ivrName?: string;
  /** SANGAM_WEBHOOK_SECRET; default WEBHOOK_SECRET, null: not set at all. */
  webhookSecret?: string | null;
}

/**
 * The environment variables the examples' `${...}` properties read, pointed at the stand-ins.
 * TZ fixes the host zone, in which the config (timezone left empty) writes dates.
 */
export function exampleEnv(services: ExampleServices, nodeRedPort: number): Record<string, string> {
  const secret = services.webhookSecret === undefined ? WEBHOOK_SECRET : services.webhookSecret;
  const env: Record<string, string> = {
    TZ: 'Asia/Kolkata',
    SANGAM_DOMAIN: services.crm.url,
    SANGAM_IVR_NAME: services.ivrName ?? 'examples-ivr',
    // Exotel cannot send a header: example 05 takes the secret from the URL it calls back.
    EXOTEL_STATUS_CALLBACK_URL: `http://127.0.0.1:${nodeRedPort}/exotel/status-callback?token=${encodeURIComponent(secret ?? '')}`,
  };
  if (secret !== null) env.SANGAM_WEBHOOK_SECRET = secret;
  // Example 09: the URLs as typed into Twilio's console, which Twilio signs.
  env.TWILIO_STATUS_CALLBACK_URL = `http://127.0.0.1:${nodeRedPort}/twilio/status-callback`;
  env.TWILIO_VOICE_URL = `http://127.0.0.1:${nodeRedPort}/twilio/voice`;
  if (services.mqttPort !== undefined) {
    env.MQTT_HOST = '127.0.0.1';
    env.MQTT_PORT = String(services.mqttPort);
  }
  if (services.exotel) {
    env.EXOTEL_SID = EXOTEL_ACCOUNT.sid;
    env.EXOTEL_SUBDOMAIN = services.exotel.url;
    env.EXOTEL_CALLER_ID = EXOTEL_ACCOUNT.callerId;
  }
  return env;
}

export interface HttpAnswer {
  status: number;
  body: unknown;
}

/** How a request presents the shared secret: `bearer` (default: the right one), `none`, or any header. */
export type Auth = { bearer: string } | { query: string } | { basic: [string, string] } | { header: string } | 'none';

/** `url` with the secret as `?token=` when `auth` asks for it. */
export function withAuthQuery(url: string, auth: Auth): string {
  if (typeof auth === 'object' && 'query' in auth) return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(auth.query)}`;
  return url;
}

export function authHeaders(auth: Auth): Record<string, string> {
  if (auth === 'none' || 'query' in auth) return {};
  if ('bearer' in auth) return { authorization: `Bearer ${auth.bearer}` };
  if ('basic' in auth) return { authorization: `Basic ${Buffer.from(`${auth.basic[0]}:${auth.basic[1]}`).toString('base64')}` };
  return { authorization: auth.header };
}

export interface HttpAnswerWithHeaders extends HttpAnswer {
  headers: Headers;
}

/** POSTs JSON, by default with `Authorization: Bearer <WEBHOOK_SECRET>`. */
export async function postJson(url: string, body: unknown, auth: Auth = { bearer: WEBHOOK_SECRET }): Promise<HttpAnswerWithHeaders> {
  return answerOf(
    await fetch(withAuthQuery(url, auth), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeaders(auth) },
      body: JSON.stringify(body),
    }),
  );
}

/** POSTs form fields (application/x-www-form-urlencoded, as Twilio and Asterisk's CURL() do). */
export async function postForm(
  url: string,
  fields: Record<string, string>,
  auth: Auth = { bearer: WEBHOOK_SECRET },
  extraHeaders: Record<string, string> = {},
): Promise<HttpAnswerWithHeaders> {
  return answerOf(
    await fetch(withAuthQuery(url, auth), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...authHeaders(auth), ...extraHeaders },
      body: new URLSearchParams(fields).toString(),
    }),
  );
}

async function answerOf(response: Response): Promise<HttpAnswerWithHeaders> {
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: the test shows the text.
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

export function connectMqtt(port: number, protocolVersion: 4 | 5 = 4): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion, reconnectPeriod: 0, clientId: `test-${process.pid}-${Date.now()}` });
}

/** A caught error as the example's error debug node shows it (msg.error). */
export interface CaughtError {
  message: string;
  source: { id: string; type: string };
}

export function caughtErrors(nodeRed: NodeRedProcess, debugNodeId: string): CaughtError[] {
  return nodeRed.debugMessages(debugNodeId).map((message) => JSON.parse(message.msg) as CaughtError);
}

/**
 * An mqtt in node reports "connected" before its SUBACK, so a message published at that moment
 * can be missed. Instead publish invalid messages (a `probe` field and nothing else: the node
 * refuses them before sending anything) until each runtime's error debug node has shown one
 * from `sourceType`: then the subscription is live on every runtime.
 */
export async function probeUntilSubscribed(
  client: MqttClient,
  topic: string,
  runtimes: ReadonlyArray<NodeRedProcess>,
  errorDebugId: string,
  sourceType: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const probed = (nodeRed: NodeRedProcess): boolean =>
    caughtErrors(nodeRed, errorDebugId).some((error) => error.source.type === sourceType && /probe|payload/.test(error.message));
  for (let probe = 1; !runtimes.every(probed); probe++) {
    if (Date.now() > deadline) {
      throw new Error(`no probe on ${topic} reached every runtime within ${timeoutMs} ms: ${runtimes.map((r) => r.output.slice(-1500)).join('\n----\n')}`);
    }
    await client.publishAsync(topic, JSON.stringify({ probe }), { qos: 0 });
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** 'YYYY-MM-DD HH:mm:ss' in India time (no daylight saving), as the nodes write dates with TZ=Asia/Kolkata. */
export function indiaTime(ms: number): string {
  return new Date(ms + 5.5 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
}
