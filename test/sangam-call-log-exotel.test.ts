import assert from 'node:assert/strict';
import { collect, helper, pause } from './support/node-red';
import { loadSangamFlow, useSangamCrm } from './support/sangam-crm';

interface Msg {
  payload: Record<string, unknown>;
  error?: { message: string };
}

/** A terminal status callback as Exotel posts it with StatusCallbackEvents set (exotel-connect-api.md). */
function callback(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    CallSid: 'b6cfaf5a6e1d4c6e9d5d1a8a0f1c2d3e',
    EventType: 'terminal',
    Status: 'completed',
    DateCreated: '2024-05-01 10:00:00',
    DateUpdated: '2024-05-01 10:02:10',
    To: '09876509876',
    From: '08012345678',
    PhoneNumberSid: '08047112233',
    StartTime: '2024-05-01 10:00:05',
    EndTime: '2024-05-01 10:02:05',
    ConversationDuration: 95,
    Direction: 'outbound-api',
    CustomField: 'lead-42',
    RecordingUrl: 'https://recordings.example.com/b6cf.mp3',
    Legs: [{ OnCallDuration: 120, Status: 'completed', AnsweredBy: 'human' }],
    ...overrides,
  };
}

/** The same callback as Node-RED's http-in node parses multipart/form-data: every field a string. */
function asFormFields(body: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(body).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]),
  );
}

describe('sangam-call-log with Exotel status callbacks as input', function () {
  const crm = useSangamCrm();

  beforeEach(async () => {
    await loadSangamFlow({
      domain: crm().url,
      config: { ivrName: 'exotel', timezone: 'Asia/Kolkata' },
      node: { inputFormat: 'exotel', batchWindow: 10 },
    });
  });

  it('maps a JSON callback onto a call record as exotel-connect-api.md describes', async () => {
    const out = collect<Msg>('out', 1);
    helper.getNode('log').receive({ payload: callback() });
    const [msg] = await out;
    assert.equal(crm().callLogs.length, 1);
    assert.deepEqual(crm().callLogs[0].record, {
      duration: '00:01:35',
      enjay_lat_source_number: '08012345678',
      date_start: '2024-05-01 10:00:05',
      date_end: '2024-05-01 10:02:05',
      mobile_call_detect_c: '0',
      name: '09876509876',
      enjay_lat_destination_number: '09876509876',
      direction: 'Outbound',
      call_status: 'Held',
      logged_via: 'Calllog',
      logged_by: 'IVR',
      synapse_recording_link: 'https://recordings.example.com/b6cf.mp3',
      exotel_call_sid: 'b6cfaf5a6e1d4c6e9d5d1a8a0f1c2d3e',
      exotel_custom_field: 'lead-42',
    });
    assert.equal(msg.payload.id, crm().callLogs[0].id);
  });

  it('takes multipart/form-data fields (all strings) the same way, and maps a failed call to Not Held', async () => {
    const out = collect<Msg>('out', 1);
    helper.getNode('log').receive({ payload: asFormFields(callback({ Status: 'no-answer', ConversationDuration: 0, RecordingUrl: '' })) });
    await out;
    const record = crm().callLogs[0].record;
    assert.equal(record.call_status, 'Not Held');
    assert.equal(record.duration, '00:00:00');
    assert.equal(record.synapse_recording_link, '');
  });

  it('logs a callback once when Exotel delivers it twice, and still answers both msgs', async () => {
    const out = collect<Msg>('out', 2);
    helper.getNode('log').receive({ payload: callback() });
    helper.getNode('log').receive({ payload: callback() });
    // The repeat is answered at once, without waiting for the CRM's answer to the first.
    const [repeat, logged] = await out;
    assert.equal(repeat.payload.skipped, true);
    assert.match(String(repeat.payload.reason), /repeat/);
    assert.ok(logged.payload.id);
    await pause(100);
    assert.equal(crm().callLogs.length, 1);
  });

  it('ignores answered events with an explaining output, and logs the terminal one', async () => {
    const out = collect<Msg>('out', 2);
    helper.getNode('log').receive({ payload: callback({ EventType: 'answered' }) });
    helper.getNode('log').receive({ payload: callback() });
    const [answered] = await out;
    assert.equal(answered.payload.skipped, true);
    assert.equal(answered.payload.EventType, 'answered');
    assert.equal(crm().callLogs.length, 1);
  });

  it('sends a callback without CallSid to Catch, naming the field', async () => {
    const caught = collect<Msg>('caught', 1);
    const { CallSid: _omitted, ...withoutSid } = callback();
    helper.getNode('log').receive({ payload: withoutSid });
    const [msg] = await caught;
    assert.match(msg.error!.message, /CallSid/);
    assert.equal(crm().stats.requests, 0);
  });

  it('lets Exotel retry a callback whose record was refused (the repeat is not dropped)', async () => {
    const caught = collect<Msg>('caught', 1);
    const out = collect<Msg>('out', 1);
    crm().failNext(1, { kind: 'status', status: 400, body: '{"status":400,"message":"refused once"}' });
    helper.getNode('log').receive({ payload: callback() });
    await caught;
    helper.getNode('log').receive({ payload: callback() });
    const [msg] = await out;
    assert.ok(msg.payload.id, 'the retried callback is logged, not skipped as a repeat');
    assert.equal(crm().callLogs.length, 1);
  });
});
