import * as assert from 'node:assert/strict';
import { ConfigError, ValidationError } from '../../src/lib/errors';
import { AgentDirectory } from '../../src/sangam/agent-directory';
import { asteriskCallLog, AsteriskCallLogOptions, asteriskPopup, parseAmiText } from '../../src/sources/asterisk';
import type { MappedCall, PopupEvent } from '../../src/sources/common';
import { AMI_CDR_TEXT, AMI_DIAL_BEGIN } from '../sangam-call-log-samples';

/*
 * Samples:
 * - AMI Cdr event (AMI_CDR_TEXT) and DialBegin (AMI_DIAL_BEGIN): ../sangam-call-log-samples.ts,
 *   with the Asterisk docs and cdr_manager.c they follow.
 * - CDR columns / CDR() variables: https://docs.asterisk.org/Configuration/Reporting/Call-Detail-Records-CDR/CDR-Variables/
 *   (src, dst, start, answer, end, duration, billsec, disposition ANSWERED/NO ANSWER/BUSY, uniqueid,
 *   userfield) and the cdr table's calldate, linkedid, recordingfile columns.
 * - DialBegin and Newstate: https://docs.asterisk.org/Asterisk_20_Documentation/API_Documentation/AMI_Events/DialBegin/
 *   and .../AMI_Events/Newstate/ (ChannelStateDesc Ringing).
 */

const agents = new AgentDirectory([
  { name: 'Asha', extension: '201', phone: '+91 98123 45678', userId: 'u-asha', email: 'asha@example.com' },
  { name: 'Ravi', extension: '202', phone: '09876543210', userId: 'u-ravi', email: 'ravi@example.com' },
]);
const OPTIONS: AsteriskCallLogOptions = { timeZone: 'Asia/Kolkata', pbxTimeZone: 'Asia/Kolkata', agents };

function mapped(body: unknown, options = OPTIONS): MappedCall {
  const result = asteriskCallLog(body, options);
  assert.equal(result.skipped, false, JSON.stringify(result));
  return result as MappedCall;
}

describe('asteriskCallLog', () => {
  it('maps the raw AMI Cdr text of an answered inbound call, the agent from the answering channel', () => {
    const call = mapped(AMI_CDR_TEXT);
    assert.deepEqual(call.record, {
      enjay_lat_source_number: '9812000001',
      enjay_lat_destination_number: '202',
      direction: 'Inbound',
      call_status: 'Held',
      date_start: '2024-05-02 10:20:00',
      date_end: '2024-05-02 10:21:17',
      duration: 71,
      synapse_recording_link: '',
      logged_by: 'IVR',
      assigned_user_id: 'u-ravi',
      asterisk_uniqueid: '1714645200.18',
      asterisk_linkedid: '1714645200.18',
    });
    assert.equal(call.callKey, 'asterisk:1714645200.18');
    assert.equal(call.answered, true);
    assert.equal(call.talkSeconds, 71);
  });

  it('maps the same event as an AMI client hands it on (keys lower-cased, as asterisk-manager does) to the same record', () => {
    const lowerCased = Object.fromEntries(Object.entries(parseAmiText(AMI_CDR_TEXT)).map(([k, v]) => [k.toLowerCase(), v]));
    assert.deepEqual(mapped(lowerCased).record, mapped(AMI_CDR_TEXT).record);
  });

  it('converts the PBX\'s local time into the CRM zone (PBX in IST, CRM in UTC)', () => {
    const call = mapped(AMI_CDR_TEXT, { ...OPTIONS, timeZone: 'UTC' });
    assert.equal(call.record.date_start, '2024-05-02 04:50:00');
    assert.equal(call.record.date_end, '2024-05-02 04:51:17');
  });

  it('reads times across the PBX zone\'s DST change (Europe/Berlin, 31 Mar 2024 02:00 CET -> 03:00 CEST)', () => {
    const text = AMI_CDR_TEXT
      .replace('StartTime: 2024-05-02 10:20:00', 'StartTime: 2024-03-31 01:59:30')
      .replace('AnswerTime: 2024-05-02 10:20:06', 'AnswerTime: 2024-03-31 01:59:40')
      .replace('EndTime: 2024-05-02 10:21:17', 'EndTime: 2024-03-31 03:00:30');
    const call = mapped(text, { ...OPTIONS, pbxTimeZone: 'Europe/Berlin', timeZone: 'UTC' });
    assert.equal(call.record.date_start, '2024-03-31 00:59:30', 'CET is UTC+1');
    assert.equal(call.record.date_end, '2024-03-31 01:00:30', 'CEST is UTC+2: one minute later, not one hour');
  });

  it('maps CDR columns (a hangup handler\'s CURL post or a cdr table row) of a missed call', () => {
    const call = mapped({
      calldate: '2024-05-02 11:00:00', clid: '"Customer" <9812000002>', src: '9812000002', dst: '201', dcontext: 'from-internal',
      channel: 'PJSIP/trunk-00000020', dstchannel: 'PJSIP/201-00000021', lastapp: 'Dial', lastdata: 'PJSIP/201,20',
      duration: '20', billsec: '0', disposition: 'NO ANSWER', amaflags: '3', accountcode: '', uniqueid: '1714647600.32',
      userfield: '', linkedid: '1714647600.32', sequence: '7', recordingfile: '', answer: '0000-00-00 00:00:00', end: '2024-05-02 11:00:20',
    });
    assert.equal(call.record.call_status, 'Not Held');
    assert.equal(call.record.duration, 0);
    assert.equal(call.record.direction, 'Inbound');
    assert.equal(call.record.assigned_user_id, 'u-asha', 'the extension that rang');
    assert.equal(call.record.date_end, '2024-05-02 11:00:20');
    assert.equal(call.legId, '1714647600.32#7');
  });

  it('maps BUSY, FAILED and CONGESTION to Not Held', () => {
    for (const disposition of ['BUSY', 'FAILED', 'CONGESTION']) {
      const call = mapped({ src: '201', dst: '9812000002', start: '2024-05-02 11:00:00', end: '2024-05-02 11:00:05', billsec: '0', disposition, uniqueid: '1.1' });
      assert.equal(call.record.call_status, 'Not Held', disposition);
      assert.equal(call.answered, false, disposition);
    }
  });

  it('takes epoch seconds from CDR(start,u) and ends the call at start + duration when no end is given', () => {
    const call = mapped({ src: '201', dst: '09876500000', start: '1714645200.123456', duration: '30', billsec: '25', disposition: 'ANSWERED', uniqueid: '1714645200.40' });
    assert.equal(call.record.date_start, '2024-05-02 15:50:00');
    assert.equal(call.record.date_end, '2024-05-02 15:50:30');
  });

  it('calls a call from an extension or an agent\'s phone Outbound (the agent made it), and any other caller Inbound', () => {
    const base = { dst: '09876500000', start: '2024-05-02 11:00:00', billsec: '10', disposition: 'ANSWERED', uniqueid: '1.2' };
    const fromExtension = mapped({ ...base, src: '201', channel: 'PJSIP/201-00000001' });
    assert.equal(fromExtension.record.direction, 'Outbound');
    assert.equal(fromExtension.record.assigned_user_id, 'u-asha');
    const fromUnknownExtension = mapped({ ...base, src: '4599' });
    assert.equal(fromUnknownExtension.record.direction, 'Outbound', 'at most 6 digits is an extension');
    assert.equal('assigned_user_id' in fromUnknownExtension.record, false);
    const fromAgentMobile = mapped({ ...base, src: '+919876543210' });
    assert.equal(fromAgentMobile.record.direction, 'Outbound');
    assert.equal(fromAgentMobile.record.assigned_user_id, 'u-ravi');
    assert.equal(mapped({ ...base, src: '1234567' }).record.direction, 'Inbound', '7 digits is no extension');
  });

  it('builds the recording link from the configured prefix, or passes a URL as is', () => {
    const base = { src: '201', dst: '202', start: '2024-05-02 11:00:00', billsec: '10', disposition: 'ANSWERED', uniqueid: '1.3' };
    const withPrefix = mapped({ ...base, recordingfile: 'out-202-201-20240502-110000-1.3.wav' }, { ...OPTIONS, recordingUrlPrefix: 'https://pbx.example.com/rec/' });
    assert.equal(withPrefix.record.synapse_recording_link, 'https://pbx.example.com/rec/out-202-201-20240502-110000-1.3.wav');
    assert.equal(mapped({ ...base, recordingfile: 'x.wav' }).record.synapse_recording_link, '', 'a file name alone is no link');
    assert.equal(mapped({ ...base, recordingfile: 'https://r.example.com/x.wav' }).record.synapse_recording_link, 'https://r.example.com/x.wav');
  });

  it('skips AMI events other than Cdr', () => {
    assert.deepEqual(asteriskCallLog('Event: Hangup\r\nChannel: PJSIP/201-00000001\r\nUniqueid: 1.4\r\nCause: 16\r\n\r\n', OPTIONS), {
      skipped: true, reason: 'AMI Hangup event: only Cdr events are logged', Event: 'Hangup', Uniqueid: '1.4',
    });
  });

  it('rejects a payload that is no CDR, naming what was expected and the field missing', () => {
    assert.throws(() => asteriskCallLog({ src: '201', dst: '202', start: '2024-05-02 11:00:00' }, OPTIONS), (error: unknown) =>
      error instanceof ValidationError && error.field === 'Disposition (disposition)' && /Disposition \(disposition\) is missing; expected an Asterisk CDR/.test(error.message));
    assert.throws(() => asteriskCallLog({ src: '201', disposition: 'ANSWERED' }, OPTIONS), /StartTime \(start or calldate\) is missing/);
    assert.throws(() => asteriskCallLog({ src: '201', disposition: '8', start: '2024-05-02 11:00:00' }, OPTIONS), /Disposition "8" is not ANSWERED/);
    assert.throws(() => asteriskCallLog('just some words', OPTIONS), /neither AMI "Key: Value" lines nor JSON/);
    assert.throws(() => asteriskCallLog('Event: Cdr\r\nthis line has no colon\r\n', OPTIONS), /line 2 of the AMI text is not "Key: Value"/);
    assert.throws(() => asteriskCallLog({ src: '201', disposition: 'ANSWERED', start: '02/05/2024 11:00' }, OPTIONS), /Asterisk: start: "02\/05\/2024 11:00" is not a valid date/);
  });

  it('refuses an unknown PBX zone as a configuration error', () => {
    assert.throws(() => asteriskCallLog(AMI_CDR_TEXT, { ...OPTIONS, pbxTimeZone: 'Mars/Olympus' }), ConfigError);
  });
});

describe('asteriskPopup', () => {
  const options = { timeZone: 'Asia/Kolkata', agents, eventCode: 'TC', now: () => Date.UTC(2024, 4, 2, 4, 50, 5) };
  const dialBegin = AMI_DIAL_BEGIN;

  it('turns DialBegin into a pop-up for the agent of the dialled channel', () => {
    assert.deepEqual(asteriskPopup(dialBegin, options), {
      skipped: false,
      event: { cli: '9812000001', event: 'TC', uniqueid: '1714645200.18', time: '2024-05-02 10:20:05', nm: 'ravi@example.com', to: '202' } satisfies PopupEvent,
    });
  });

  it('reads a DialBegin from raw AMI text with its Timestamp (timestampevents=yes)', () => {
    const text = `Event: DialBegin\r\nTimestamp: 1714625405.123456\r\n${Object.entries(dialBegin).filter(([k]) => k !== 'Event').map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
    const result = asteriskPopup(text, { ...options, now: () => 0 });
    assert.ok(!result.skipped);
    assert.equal(result.event.time, '2024-05-02 10:20:05');
  });

  it('turns a Ringing Newstate of the agent\'s phone into a pop-up, the caller from its connected line', () => {
    const ringing = {
      Event: 'Newstate', Channel: 'PJSIP/201-00000015', ChannelState: '5', ChannelStateDesc: 'Ringing', CallerIDNum: '201', CallerIDName: 'Asha',
      ConnectedLineNum: '9812000003', ConnectedLineName: 'Customer', Language: 'en', AccountCode: '', Context: 'from-internal', Exten: 's',
      Priority: '1', Uniqueid: '1714645300.21', Linkedid: '1714645300.20',
    };
    assert.deepEqual(asteriskPopup(ringing, options), {
      skipped: false,
      event: { cli: '9812000003', event: 'TC', uniqueid: '1714645300.20', time: '2024-05-02 10:20:05', nm: 'asha@example.com', to: '201' },
    });
    const up = asteriskPopup({ ...ringing, ChannelState: '6', ChannelStateDesc: 'Up' }, options);
    assert.equal(up.skipped, true);
  });

  it('skips other events and rejects a payload without Event', () => {
    assert.equal(asteriskPopup({ Event: 'Hangup', Uniqueid: '1.5' }, options).skipped, true);
    assert.throws(() => asteriskPopup({ CallerIDNum: '201' }, options), (error: unknown) => error instanceof ValidationError && error.field === 'Event');
  });
});
