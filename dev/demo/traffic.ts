/**
 * The demo's traffic generator: what a small call centre's PBX and CRM would send.
 *   - an ended call on MQTT `pbx/calls/ended` (example 01) every `endedEveryMs`
 *   - a ringing call on MQTT `pbx/calls/ringing` (example 03) every `ringingEveryMs`
 *   - a click-to-call POST to /sangam/click2call (example 04) every `clickToCallEveryMs`;
 *     Exotel (or its stand-in) then calls back example 05, which logs the call.
 * Numbers are Indian mobile numbers from a fixed block; times are "now".
 */
import mqtt, { type MqttClient } from 'mqtt';

export interface TrafficOptions {
  mqttUrl: string;
  /** Node-RED's base URL, e.g. http://127.0.0.1:1880 */
  nodeRedUrl: string;
  /** SANGAM_WEBHOOK_SECRET: sent as `Authorization: Bearer` to the examples' HTTP endpoints. */
  webhookSecret: string;
  endedEveryMs?: number;
  ringingEveryMs?: number;
  clickToCallEveryMs?: number;
  /** Receives a line when something the generator sent was refused. */
  log?: (line: string) => void;
  random?: () => number;
}

export interface TrafficCounts {
  endedPublished: number;
  ringingPublished: number;
  clickToCallsPosted: number;
  clickToCallsRefused: number;
}

const AGENT_PHONES = ['+919800000101', '+919800000102', '+919800000103', '+919800000104'];
const EXTENSIONS = ['2001', '2002', '2003', '2004'];

export class TrafficGenerator {
  readonly counts: TrafficCounts = { endedPublished: 0, ringingPublished: 0, clickToCallsPosted: 0, clickToCallsRefused: 0 };
  private client: MqttClient | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly random: () => number;
  private sequence = 0;
  private stopped = false;

  constructor(private readonly options: TrafficOptions) {
    this.random = options.random ?? Math.random;
  }

  async start(): Promise<void> {
    this.client = await mqtt.connectAsync(this.options.mqttUrl, { clientId: `sangam-demo-pbx-${process.pid}`, reconnectPeriod: 1_000 });
    this.every(this.options.endedEveryMs ?? 700, () => this.publishEndedCall());
    this.every(this.options.ringingEveryMs ?? 2_000, () => this.publishRinging());
    this.every(this.options.clickToCallEveryMs ?? 5_000, () => this.postClickToCall());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    await this.client?.endAsync();
  }

  private every(ms: number, action: () => Promise<void>): void {
    if (ms <= 0) return;
    this.timers.push(
      setInterval(() => {
        if (this.stopped) return;
        action().catch((error: Error) => this.options.log?.(`traffic: ${error.message}`));
      }, ms),
    );
  }

  private customerNumber(): string {
    return `+9198${String(Math.floor(this.random() * 1e8)).padStart(8, '0')}`;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }

  private async publishEndedCall(): Promise<void> {
    const inbound = this.random() < 0.6;
    const talkedSeconds = Math.floor(this.random() * 300);
    const end = Date.now();
    const customer = this.customerNumber();
    const extension = this.pick(EXTENSIONS);
    const record = {
      direction: inbound ? 'Inbound' : 'Outbound',
      enjay_lat_source_number: inbound ? customer : extension,
      enjay_lat_destination_number: inbound ? extension : customer,
      date_start: new Date(end - talkedSeconds * 1000).toISOString(),
      date_end: new Date(end).toISOString(),
      call_status: talkedSeconds > 5 ? 'Held' : 'Not Held',
      logged_by: 'IVR',
      pbx_call_id: `demo-${process.pid}-${++this.sequence}`,
    };
    await this.client!.publishAsync('pbx/calls/ended', JSON.stringify(record), { qos: 2 });
    this.counts.endedPublished++;
  }

  private async publishRinging(): Promise<void> {
    const event = {
      cli: this.customerNumber(),
      event: 'TC',
      uniqueid: `${Math.floor(Date.now() / 1000)}.${++this.sequence}`,
      nm: 'agent@example.com',
      to: this.pick(EXTENSIONS),
    };
    await this.client!.publishAsync('pbx/calls/ringing', JSON.stringify(event), { qos: 0 });
    this.counts.ringingPublished++;
  }

  private async postClickToCall(): Promise<void> {
    const response = await fetch(`${this.options.nodeRedUrl}/sangam/click2call`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.webhookSecret}` },
      body: JSON.stringify({ from: this.pick(AGENT_PHONES), to: this.customerNumber() }),
    });
    const text = await response.text();
    this.counts.clickToCallsPosted++;
    if (!response.ok) {
      this.counts.clickToCallsRefused++;
      this.options.log?.(`click-to-call answered ${response.status}: ${text.slice(0, 200)}`);
    }
  }
}
