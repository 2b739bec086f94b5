import * as assert from 'node:assert/strict';
import { ValidationError } from '../../src/lib/errors';
import { AgentDirectory } from '../../src/sangam/agent-directory';
import { exotelCallbackToCallRecord, exotelCallLog, exotelPopup } from '../../src/sources/exotel';
import type { MappedCall } from '../../src/sources/common';
import { EXOTEL_PASSTHRU } from '../sangam-call-log-samples';

/*
 * Samples:
 * - status callback: the parameters of https://developer.exotel.com/api/statuscallback (CallSid,
 *   DateUpdated, Status, RecordingUrl; with StatusCallbackEvents: EventType, DateCreated, To, From,
 *   PhoneNumberSid, StartTime, EndTime, ConversationDuration, Direction, CustomField, Legs), times
 *   'YYYY-MM-DD HH:mm:ss' as documented there; see also ../shared/reference/exotel-connect-api.md.
 * - Passthru: EXOTEL_PASSTHRU of ../sangam-call-log-samples.ts, the query parameters of
 *   https://support.exotel.com/support/solutions/articles/48283-working-with-passthru-applet
 */

const agents = new AgentDirectory([
  { name: 'Asha', extension: '201', phone: '+91 98123 45678', userId: 'u-asha', email: 'asha@example.com' },
  { name: 'Ravi', extension: '202', phone: '09876543210', userId: 'u-ravi', email: 'ravi@example.com' },
]);
const IST = { timeZone: 'Asia/Kolkata', agents };

function terminal(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const fields: Record<string, string | undefined> = {
    CallSid: 'b6cfaf0e2d4b0e8a4c16b9a1d2f4c9e1',
    Status: 'completed',
    DateUpdated: '2024-05-02 10:21:40',
    RecordingUrl: 'https://recordings.exotel.com/exotelrecordings/acme/b6cfaf0e2d4b0e8a4c16b9a1d2f4c9e1.mp3',
    EventType: 'terminal',
    DateCreated: '2024-05-02 10:20:00',
    To: '09900011122',
    From: '09812345678',
    PhoneNumberSid: '08047112233',
    StartTime: '2024-05-02 10:20:05',
    EndTime: '2024-05-02 10:21:39',
    ConversationDuration: '71',
    Direction: 'outbound-api',
    CustomField: 'lead-42',
    Legs: '[{"OnCallDuration":80,"Status":"completed"},{"OnCallDuration":71,"Status":"completed"}]',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

function mapped(body: unknown, options = IST): MappedCall {
  const result = exotelCallLog(body, options);
  assert.equal(result.skipped, false, JSON.stringify(result));
  return result as MappedCall;
}

describe('exotelCallLog', () => {
  it('maps a terminal callback of a click-to-call: the agent dialled first (From) is the user', () => {
    const call = mapped(terminal());
    assert.deepEqual(call.record, {
      enjay_lat_source_number: '09812345678',
      enjay_lat_destination_number: '09900011122',
      direction: 'Outbound',
      duration: 71,
      call_status: 'Held',
      synapse_recording_link: 'https://recordings.exotel.com/exotelrecordings/acme/b6cfaf0e2d4b0e8a4c16b9a1d2f4c9e1.mp3',
      logged_by: 'IVR',
      exotel_call_sid: 'b6cfaf0e2d4b0e8a4c16b9a1d2f4c9e1',
      exotel_custom_field: 'lead-42',
      date_start: '2024-05-02 10:20:05',
      date_end: '2024-05-02 10:21:39',
      assigned_user_id: 'u-asha',
    });
    assert.equal(call.callKey, 'exotel:b6cfaf0e2d4b0e8a4c16b9a1d2f4c9e1');
    assert.equal(call.legId, 'b6cfaf0e2d4b0e8a4c16b9a1d2f4c9e1:terminal');
  });

  it('converts Exotel\'s IST times into another CRM zone (Europe/London in BST)', () => {
    const call = mapped(terminal(), { timeZone: 'Europe/London', agents });
    assert.equal(call.record.date_start, '2024-05-02 05:50:05');
    assert.equal(call.record.date_end, '2024-05-02 05:51:39');
  });

  it('maps busy and no-answer to Not Held with no talk time', () => {
    for (const status of ['busy', 'no-answer', 'failed']) {
      const call = mapped(terminal({ Status: status, ConversationDuration: undefined }));
      assert.equal(call.record.call_status, 'Not Held');
      assert.equal(call.record.duration, 0);
    }
  });

  it('skips the answered event with its CallSid and EventType', () => {
    assert.deepEqual(exotelCallLog(terminal({ EventType: 'answered' }), IST), {
      skipped: true, reason: 'answered event: only terminal events are logged', CallSid: 'b6cfaf0e2d4b0e8a4c16b9a1d2f4c9e1', EventType: 'answered',
    });
  });

  it('rejects a callback without CallSid, naming it', () => {
    assert.throws(() => exotelCallLog(terminal({ CallSid: undefined }), IST), (error: unknown) => error instanceof ValidationError && error.field === 'CallSid');
  });
});

describe('exotelPopup', () => {
  const passthru = EXOTEL_PASSTHRU;
  const options = { ...IST, eventCode: 'TC', now: () => 0 };

  it('turns an incoming call into a pop-up for the agent being dialled (DialWhomNumber), at CurrentTime', () => {
    assert.deepEqual(exotelPopup(passthru, options), {
      skipped: false,
      event: { cli: '09901320691', event: 'TC', uniqueid: '9953099079d70b89bbc1aa43ae6d1893', time: '2024-09-03 11:44:56', nm: 'ravi@example.com', to: '09876543210' },
    });
  });

  it('falls back to CallTo when no agent is chosen yet, and to Created for the time (in the CRM zone)', () => {
    const { DialWhomNumber: _d, CurrentTime: _c, ...early } = passthru;
    const result = exotelPopup({ ...early, DialWhomNumber: '' }, { ...options, timeZone: 'UTC' });
    assert.ok(!result.skipped);
    assert.equal(result.event.to, '08069891522');
    assert.equal(result.event.nm, '');
    assert.equal(result.event.time, '2024-09-03 06:14:54');
  });

  it('skips outgoing calls and calls that have ended', () => {
    assert.equal(exotelPopup({ ...passthru, Direction: 'outbound-dial' }, options).skipped, true);
    assert.equal(exotelPopup({ ...passthru, CallType: 'completed' }, options).skipped, true);
  });

  it('rejects parameters without CallSid or CallFrom, naming the field', () => {
    assert.throws(() => exotelPopup({ ...passthru, CallSid: '' }, options), (error: unknown) => error instanceof ValidationError && error.field === 'CallSid');
    const { CallFrom: _f, From: _g, ...noCaller } = passthru;
    assert.throws(() => exotelPopup(noCaller, options), (error: unknown) => error instanceof ValidationError && error.field === 'CallFrom');
  });
});
