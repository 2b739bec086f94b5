import * as assert from 'node:assert/strict';
import { ValidationError } from '../../src/lib/errors';
import { AgentDirectory } from '../../src/sangam/agent-directory';
import { parseTwilioTime, twilioCallLog, twilioPopup } from '../../src/sources/twilio';
import type { MappedCall } from '../../src/sources/common';
import { TWILIO_INCOMING, twilioStatusCallback as statusCallback } from '../sangam-call-log-samples';

/*
 * Samples: the parameters and their formats are those Twilio documents for
 * - the status callback: statusCallback() is twilioStatusCallback of ../sangam-call-log-samples.ts,
 *   which cites https://www.twilio.com/docs/voice/api/call-resource#statuscallback and
 *   https://www.twilio.com/docs/voice/api/call-resource#call-status-values;
 * - the incoming-call request (TWILIO_INCOMING of ../sangam-call-log-samples.ts):
 *   https://www.twilio.com/docs/usage/webhooks/voice-webhooks
 *   (CallSid, AccountSid, From, To, CallStatus ringing, ApiVersion, Direction inbound, ...).
 * Every value is a string, as Node-RED's http in node parses application/x-www-form-urlencoded.
 */

const agents = new AgentDirectory([
  { name: 'Asha', extension: '201', phone: '+91 98123 45678', userId: 'u-asha', email: 'asha@example.com' },
  { name: 'Ravi', extension: '202', phone: '09876543210', userId: 'u-ravi', email: 'ravi@example.com' },
]);
const IST = { timeZone: 'Asia/Kolkata', agents };

function mapped(body: unknown, options = IST): MappedCall {
  const result = twilioCallLog(body, options);
  assert.equal(result.skipped, false, JSON.stringify(result));
  return result as MappedCall;
}

describe('twilioCallLog', () => {
  it('maps a completed status callback onto the guide\'s fields, times in the CRM zone (UTC -> IST)', () => {
    const call = mapped(statusCallback());
    assert.deepEqual(call.record, {
      enjay_lat_source_number: '+919812345678',
      enjay_lat_destination_number: '+14155552671',
      direction: 'Outbound',
      call_status: 'Held',
      // Timestamp 21:12:56 UTC is the end; the start is 42 s (CallDuration) before it.
      date_start: '2021-03-03 02:42:14',
      date_end: '2021-03-03 02:42:56',
      duration: 42,
      synapse_recording_link: 'https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE0123456789abcdef0123456789abcdef',
      logged_by: 'IVR',
      assigned_user_id: 'u-asha',
      twilio_call_sid: 'CA5f7b1c2e8a1d4e0012c3b4a5d6e7f809',
    });
    assert.equal(call.answered, true);
    assert.equal(call.callKey, 'twilio:CA5f7b1c2e8a1d4e0012c3b4a5d6e7f809');
    assert.equal(call.endMs, Date.UTC(2021, 2, 2, 21, 12, 56));
  });

  it('writes times across a DST change in the CRM zone\'s own offset (America/New_York, 10 Mar 2024)', () => {
    const before = mapped(statusCallback({ Timestamp: 'Sun, 10 Mar 2024 06:30:00 +0000', CallDuration: '0' }), { timeZone: 'America/New_York', agents });
    const after = mapped(statusCallback({ Timestamp: 'Sun, 10 Mar 2024 07:30:00 +0000', CallDuration: '0' }), { timeZone: 'America/New_York', agents });
    assert.equal(before.record.date_end, '2024-03-10 01:30:00', 'EST, UTC-5');
    assert.equal(after.record.date_end, '2024-03-10 03:30:00', 'EDT, UTC-4');
  });

  it('maps inbound to Inbound and finds the agent from the number called', () => {
    const call = mapped(statusCallback({ Direction: 'inbound', From: '+14155552671', To: '+919876543210' }));
    assert.equal(call.record.direction, 'Inbound');
    assert.equal(call.record.assigned_user_id, 'u-ravi', '+919876543210 is Ravi\'s 09876543210');
  });

  it('maps busy, no-answer, failed and canceled to Not Held with no talk time', () => {
    for (const status of ['busy', 'no-answer', 'failed', 'canceled']) {
      const call = mapped(statusCallback({ CallStatus: status, CallDuration: '0', RecordingUrl: undefined }));
      assert.equal(call.record.call_status, 'Not Held', status);
      assert.equal(call.record.duration, 0, status);
      assert.equal(call.answered, false, status);
      assert.equal(call.record.synapse_recording_link, '');
    }
  });

  it('skips the progress callbacks (initiated, ringing, in-progress, queued) with their CallSid', () => {
    for (const status of ['initiated', 'ringing', 'in-progress', 'queued']) {
      assert.deepEqual(twilioCallLog(statusCallback({ CallStatus: status }), IST), {
        skipped: true,
        reason: `CallStatus ${status}: only a call's end is logged`,
        CallSid: 'CA5f7b1c2e8a1d4e0012c3b4a5d6e7f809',
        CallStatus: status,
      });
    }
  });

  it('files a <Dial> child leg under its parent call', () => {
    const child = mapped(statusCallback({ CallSid: 'CAchild', ParentCallSid: 'CAparent', Direction: 'outbound-dial' }));
    assert.equal(child.callKey, 'twilio:CAparent');
    assert.equal(child.legId, 'CAchild');
  });

  it('rejects a payload that is no status callback, naming the missing field', () => {
    assert.throws(() => twilioCallLog(statusCallback({ CallStatus: undefined }), IST), (error: unknown) =>
      error instanceof ValidationError && error.field === 'CallStatus' && /CallStatus is missing; expected Twilio Voice status callback/.test(error.message));
    assert.throws(() => twilioCallLog({ Status: 'completed' }, IST), (error: unknown) =>
      error instanceof ValidationError && error.field === 'CallSid');
    assert.throws(() => twilioCallLog('CallSid=CA1', IST), /not a JSON object; expected Twilio/);
    assert.throws(() => twilioCallLog(statusCallback({ CallStatus: 'done' }), IST), /CallStatus "done" is not a Twilio call status/);
    assert.throws(() => twilioCallLog(statusCallback({ Direction: 'sideways' }), IST), /Direction "sideways"/);
    assert.throws(() => twilioCallLog(statusCallback({ Timestamp: '2021-03-02 21:12:56' }), IST), /Timestamp "2021-03-02 21:12:56" is not a date/);
  });
});

describe('parseTwilioTime', () => {
  it('reads RFC 2822 with any offset and ISO 8601 with a zone', () => {
    assert.equal(parseTwilioTime('Tue, 02 Mar 2021 21:12:56 +0000'), Date.UTC(2021, 2, 2, 21, 12, 56));
    assert.equal(parseTwilioTime('Wed, 03 Mar 2021 02:42:56 +0530'), Date.UTC(2021, 2, 2, 21, 12, 56));
    assert.equal(parseTwilioTime('2021-03-02T21:12:56Z'), Date.UTC(2021, 2, 2, 21, 12, 56));
  });
});

describe('twilioPopup', () => {
  const incoming = TWILIO_INCOMING;
  const options = { ...IST, eventCode: 'TC', now: () => Date.UTC(2024, 4, 2, 4, 50, 5) };

  it('turns the incoming-call webhook into a pop-up for the agent whose number rings, at the time it arrived', () => {
    assert.deepEqual(twilioPopup(incoming, options), {
      skipped: false,
      event: { cli: '+14155552671', event: 'TC', uniqueid: 'CA1d2e3f40000000000000000000000001', time: '2024-05-02 10:20:05', nm: 'asha@example.com', to: '+919812345678' },
    });
  });

  it('skips calls that do not ring an agent: other statuses and calls placed through the API', () => {
    const done = twilioPopup({ ...incoming, CallStatus: 'completed' }, options);
    assert.equal(done.skipped, true);
    const api = twilioPopup({ ...incoming, Direction: 'outbound-api' }, options);
    assert.equal(api.skipped, true);
  });

  it('rejects a webhook without From, naming it', () => {
    assert.throws(() => twilioPopup({ ...incoming, From: '' }, options), (error: unknown) => error instanceof ValidationError && error.field === 'From');
  });
});
