/**
 * The demo's traffic generator: what a small call centre's PBX and CRM would send.
 *   - every `nativeEveryMs`, one request in a telephony system's own format, in turn: an Asterisk
 *     CDR from a CURL() hangup handler (example 07, Basic auth), an AMI DialBegin (07), a
 *     FreeSWITCH JSON CDR (08, Basic auth as mod_json_cdr's cred), a signed Twilio status
 *     callback and incoming call (09) and an Exotel Passthru GET with ?token= (10)
 *   - an ended call on MQTT `pbx/calls/ended` (example 01) every `endedEveryMs`
 *   - a ringing call on MQTT `pbx/calls/ringing` (example 03) every `ringingEveryMs`
 *   - a click-to-call POST to /sangam/click2call (example 04) every `clickToCallEveryMs`;
 *     Exotel (or its stand-in) then calls back example 05, which logs the call.
 * Numbers are Indian mobile numbers from a fixed block; times are "now".
 */
import { createHmac } from 'node:crypto';
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
  /** One request in a native format (examples 07-10) this often; 0: none. */
  nativeEveryMs?: number;
  /** The auth token typed into example 09's nodes: Twilio's requests are signed with it. */
  twilioAuthToken?: string;
  /** Receives a line when something the generator sent was refused. */
  log?: (line: string) => void;
  random?: () => number;
}

export interface TrafficCounts {
  endedPublished: number;
  ringingPublished: number;
  clickToCallsPosted: number;
  clickToCallsRefused: number;
  nativePosted: number;
  nativeRefused: number;
}

const AGENT_PHONES = ['+919800000101', '+919800000102', '+919800000103', '+919800000104'];
const EXTENSIONS = ['2001', '2002', '2003', '2004'];

export class TrafficGenerator {
  readonly counts: TrafficCounts = { endedPublished: 0, ringingPublished: 0, clickToCallsPosted: 0, clickToCallsRefused: 0, nativePosted: 0, nativeRefused: 0 };
  private nativeTurn = 0;
  private readonly refusedFormats = new Set<string>();
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
    this.every(this.options.nativeEveryMs ?? 3_000, () => this.sendNative());
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

  /** One request in the next native format; a format's first refusal is logged (not every one). */
  private async sendNative(): Promise<void> {
    const senders: Array<[string, () => Promise<Response>]> = [
      ['asterisk cdr', () => this.asteriskCdr()],
      ['asterisk ringing', () => this.asteriskRinging()],
      ['freeswitch cdr', () => this.freeswitchCdr()],
      ['twilio status callback', () => this.twilio('/twilio/status-callback', this.twilioCompleted())],
      ['twilio incoming call', () => this.twilio('/twilio/voice', this.twilioRinging())],
      ['exotel passthru', () => this.exotelPassthru()],
    ];
    const [format, send] = senders[this.nativeTurn++ % senders.length]!;
    const response = await send();
    const text = await response.text();
    this.counts.nativePosted++;
    if (!response.ok) {
      this.counts.nativeRefused++;
      if (!this.refusedFormats.has(format)) {
        this.refusedFormats.add(format);
        this.options.log?.(`${format} answered ${response.status}: ${text.slice(0, 200)} (further refusals of this format are counted, not shown)`);
      }
    }
  }

  private basic(user: string): string {
    return `Basic ${Buffer.from(`${user}:${this.options.webhookSecret}`).toString('base64')}`;
  }

  /** 'YYYY-MM-DD HH:mm:ss' in the PBX's local time (the demo's PBX runs on India time). */
  private pbxTime(ms: number): string {
    return new Date(ms + 5.5 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
  }

  private asteriskCdr(): Promise<Response> {
    const end = Date.now();
    const billsec = Math.floor(this.random() * 240);
    const answered = this.random() < 0.7;
    const uniqueid = `${Math.floor(end / 1000)}.${++this.sequence}`;
    const form = {
      src: this.customerNumber().replace('+91', '0'),
      dst: this.pick(EXTENSIONS),
      start: this.pbxTime(end - (billsec + 8) * 1000),
      answer: answered ? this.pbxTime(end - billsec * 1000) : '',
      end: this.pbxTime(end),
      duration: String(billsec + 8),
      billsec: answered ? String(billsec) : '0',
      disposition: answered ? 'ANSWERED' : 'NO ANSWER',
      uniqueid,
      linkedid: uniqueid,
    };
    return fetch(`${this.options.nodeRedUrl}/asterisk/cdr`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: this.basic('asterisk') },
      body: new URLSearchParams(form).toString(),
    });
  }

  private asteriskRinging(): Promise<Response> {
    const caller = this.customerNumber().replace('+91', '0');
    const extension = this.pick(EXTENSIONS);
    const uniqueid = `${Math.floor(Date.now() / 1000)}.${++this.sequence}`;
    const event = {
      Event: 'DialBegin', Channel: 'PJSIP/trunk-00000012', ChannelStateDesc: 'Ring', CallerIDNum: caller, CallerIDName: 'Customer',
      Exten: extension, Uniqueid: uniqueid, Linkedid: uniqueid, DestChannel: `PJSIP/${extension}-00000013`, DestChannelStateDesc: 'Down',
      DestCallerIDNum: extension, DestExten: extension, DestUniqueid: `${uniqueid}1`, DestLinkedid: uniqueid, DialString: extension,
    };
    return fetch(`${this.options.nodeRedUrl}/asterisk/ringing`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.webhookSecret}` },
      body: JSON.stringify(event),
    });
  }

  private freeswitchCdr(): Promise<Response> {
    const endSeconds = Math.floor(Date.now() / 1000);
    const billsec = Math.floor(this.random() * 240);
    const uuid = `00000000-0000-4000-8000-${String(process.pid).padStart(6, '0')}${String(++this.sequence).padStart(6, '0')}`;
    const extension = this.pick(EXTENSIONS);
    const customer = this.customerNumber();
    const cdr = {
      channel_data: { state: 'CS_REPORTING', direction: 'inbound' },
      variables: {
        direction: 'inbound', uuid, call_uuid: uuid, hangup_cause: billsec > 0 ? 'NORMAL_CLEARING' : 'NO_ANSWER',
        start_epoch: String(endSeconds - billsec - 6), answer_epoch: billsec > 0 ? String(endSeconds - billsec) : '0',
        end_epoch: String(endSeconds), duration: String(billsec + 6), billsec: String(billsec),
      },
      callflow: [{ caller_profile: { caller_id_number: extension, destination_number: customer, uuid } }],
    };
    return fetch(`${this.options.nodeRedUrl}/freeswitch/cdr`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: this.basic('freeswitch') },
      body: JSON.stringify(cdr),
    });
  }

  private twilioCompleted(): Record<string, string> {
    const talked = Math.floor(this.random() * 240);
    return {
      AccountSid: 'ACdemo', ApiVersion: '2010-04-01', CallSid: `CAdemo${process.pid}x${++this.sequence}`, CallStatus: talked > 0 ? 'completed' : 'no-answer',
      CallDuration: String(talked), Direction: 'inbound', From: this.customerNumber(), To: '+14155552671', Timestamp: new Date().toUTCString().replace('GMT', '+0000'),
      SequenceNumber: '3',
    };
  }

  private twilioRinging(): Record<string, string> {
    return {
      AccountSid: 'ACdemo', ApiVersion: '2010-04-01', CallSid: `CAdemo${process.pid}x${++this.sequence}`, CallStatus: 'ringing',
      Direction: 'inbound', From: this.customerNumber(), To: '+14155552671', Called: '+14155552671',
    };
  }

  /** A Twilio request, signed as Twilio signs it: HMAC-SHA1 of the URL and the sorted parameters. */
  private twilio(path: string, params: Record<string, string>): Promise<Response> {
    const url = `${this.options.nodeRedUrl}${path}`;
    const data = Object.keys(params)
      .sort()
      .reduce((text, key) => text + key + params[key], url);
    const signature = createHmac('sha1', this.options.twilioAuthToken ?? '').update(data, 'utf8').digest('base64');
    return fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: new URLSearchParams(params).toString(),
    });
  }

  private exotelPassthru(): Promise<Response> {
    const now = this.pbxTime(Date.now());
    const caller = this.customerNumber().replace('+91', '0');
    const query = new URLSearchParams({
      CallSid: `demo${process.pid}x${++this.sequence}`, CallFrom: caller, CallTo: '08047112233', Direction: 'incoming',
      CallType: 'call-attempt', DialWhomNumber: this.pick(AGENT_PHONES), From: caller, To: '08047112233', StartTime: now, CurrentTime: now,
      token: this.options.webhookSecret,
    });
    return fetch(`${this.options.nodeRedUrl}/exotel/passthru?${query.toString()}`);
  }
}
