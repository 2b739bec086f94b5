import * as assert from 'node:assert/strict';
import { ExotelStandIn } from '../../dev/standins/exotel';
import { ValidationError } from '../../src/lib/errors';
import { ACCOUNT_SID, API_KEY, API_TOKEN, BASIC_AUTH, parseMultipart, startCallbackReceiver } from '../exotel/support';
import { exotelCallbackToCallRecord } from '../../src/sources/exotel';

/** A terminal callback as multipart/form-data arrives through http-in: every field a string. */
function formCallback(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const fields: Record<string, string | undefined> = {
    CallSid: 'b6cfaf0e2d4b0e8a4c16b9a1d2f4c9e1',
    Status: 'completed',
    DateUpdated: '2024-05-02 10:21:40',
    RecordingUrl: 'https://recordings.exotel.example/b6cf.mp3',
    EventType: 'terminal',
    DateCreated: '2024-05-02 10:20:00',
    To: '09876543210',
    From: '+919812345678',
    PhoneNumberSid: '08047112233',
    StartTime: '2024-05-02 10:20:05',
    EndTime: '2024-05-02 10:21:39',
    ConversationDuration: '71',
    Direction: 'outbound-api',
    CustomField: 'lead-42',
    Legs: JSON.stringify([{ OnCallDuration: 80, Status: 'completed', AnsweredBy: 'human' }]),
    ...overrides,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

describe('exotelCallbackToCallRecord', () => {
  it('maps a completed terminal callback onto the guide\'s call-log fields', () => {
    const result = exotelCallbackToCallRecord(formCallback());
    assert.equal(result.kind, 'record');
    assert.ok(result.kind === 'record');
    assert.equal(result.callSid, 'b6cfaf0e2d4b0e8a4c16b9a1d2f4c9e1');
    assert.equal(result.eventType, 'terminal');
    assert.deepEqual(result.record, {
      enjay_lat_source_number: '+919812345678',
      enjay_lat_destination_number: '09876543210',
      direction: 'Outbound',
      date_start: '2024-05-02 10:20:05',
      date_end: '2024-05-02 10:21:39',
      duration: 71,
      call_status: 'Held',
      synapse_recording_link: 'https://recordings.exotel.example/b6cf.mp3',
      logged_by: 'IVR',
      exotel_call_sid: 'b6cfaf0e2d4b0e8a4c16b9a1d2f4c9e1',
      exotel_custom_field: 'lead-42',
    });
  });

  it('maps a JSON callback (numbers as numbers, Legs as an array) the same way', () => {
    const body = {
      ...formCallback(),
      ConversationDuration: 12,
      Legs: [{ OnCallDuration: 20, Status: 'completed' }],
      Direction: 'inbound',
      Status: 'no-answer',
      RecordingUrl: null,
    };
    const result = exotelCallbackToCallRecord(body);
    assert.ok(result.kind === 'record');
    assert.equal(result.record.duration, 12);
    assert.equal(result.record.direction, 'Inbound');
    assert.equal(result.record.call_status, 'Not Held');
    assert.equal(result.record.synapse_recording_link, '');
  });

  it('maps outbound-dial to Outbound, and a raw JSON string body', () => {
    const result = exotelCallbackToCallRecord(JSON.stringify(formCallback({ Direction: 'outbound-dial' })));
    assert.ok(result.kind === 'record');
    assert.equal(result.record.direction, 'Outbound');
  });

  it('treats a missing EventType as terminal and falls back to DateCreated / DateUpdated for times', () => {
    const minimal = { CallSid: 'abc123', Status: 'busy', DateUpdated: '2024-05-02 11:00:00', RecordingUrl: '' };
    const result = exotelCallbackToCallRecord(minimal);
    assert.ok(result.kind === 'record');
    assert.equal(result.eventType, 'terminal');
    assert.equal(result.record.date_start, '2024-05-02 11:00:00');
    assert.equal(result.record.date_end, '2024-05-02 11:00:00');
    assert.equal(result.record.call_status, 'Not Held');
    assert.equal(result.record.synapse_recording_link, '');
    assert.equal('exotel_custom_field' in result.record, false);
    assert.equal('duration' in result.record, false);

    const withCreated = exotelCallbackToCallRecord(formCallback({ StartTime: '0000-00-00 00:00:00', EndTime: '' }));
    assert.ok(withCreated.kind === 'record');
    assert.equal(withCreated.record.date_start, '2024-05-02 10:20:00');
    assert.equal(withCreated.record.date_end, '2024-05-02 10:21:40');
  });

  it('ignores answered events with a reason and keeps the CallSid', () => {
    const result = exotelCallbackToCallRecord(formCallback({ EventType: 'answered' }));
    assert.deepEqual(result, {
      kind: 'ignore',
      reason: 'answered event: only terminal events are logged',
      callSid: 'b6cfaf0e2d4b0e8a4c16b9a1d2f4c9e1',
      eventType: 'answered',
    });
  });

  it('rejects a body without CallSid or Status, naming the field', () => {
    for (const field of ['CallSid', 'Status']) {
      assert.throws(
        () => exotelCallbackToCallRecord(formCallback({ [field]: undefined })),
        (error: unknown) =>
          error instanceof ValidationError && error.field === field && error.message.includes(`${field} is missing`),
      );
    }
    assert.throws(() => exotelCallbackToCallRecord(undefined), ValidationError);
    assert.throws(() => exotelCallbackToCallRecord('not json'), /not JSON/);
    assert.throws(() => exotelCallbackToCallRecord([]), ValidationError);
  });

  it('rejects an unknown Direction and a duration that is not seconds', () => {
    assert.throws(() => exotelCallbackToCallRecord(formCallback({ Direction: 'sideways' })), /Direction "sideways"/);
    assert.throws(
      () => exotelCallbackToCallRecord(formCallback({ ConversationDuration: '1:10' })),
      /ConversationDuration "1:10" is not a number of seconds/,
    );
  });
});

describe('exotelCallbackToCallRecord with callbacks from the Exotel stand-in', () => {
  it('maps a real multipart callback (fields as strings) and a JSON one the same way', async () => {
    const standIn = await ExotelStandIn.start({ accountSid: ACCOUNT_SID, apiKey: API_KEY, apiToken: API_TOKEN });
    const receiver = await startCallbackReceiver();
    try {
      const records: Array<Record<string, unknown>> = [];
      for (const contentType of ['multipart/form-data', 'application/json']) {
        const form = new URLSearchParams({
          From: '+919812345678', To: '09876543210', CallerId: '08047112233', CustomField: 'lead-9', Record: 'true',
          StatusCallback: receiver.url, 'StatusCallbackEvents[0]': 'terminal', StatusCallbackContentType: contentType,
        });
        const answer = await fetch(`${standIn.url}/v1/Accounts/${ACCOUNT_SID}/Calls/connect.json`, {
          method: 'POST', body: form.toString(), headers: { authorization: BASIC_AUTH, 'content-type': 'application/x-www-form-urlencoded' },
        });
        const sid = ((await answer.json()) as { Call: { Sid: string } }).Call.Sid;
        await standIn.endCall(sid, { conversationDuration: 65 });
        const received = receiver.received.at(-1)!;
        const body = contentType === 'application/json' ? (JSON.parse(received.body) as unknown) : parseMultipart(received.contentType, received.body);
        const result = exotelCallbackToCallRecord(body);
        assert.ok(result.kind === 'record');
        assert.equal(result.callSid, sid);
        // Per-call values (sid, recording, times) differ between the two calls; the rest must not.
        records.push({ ...result.record, exotel_call_sid: 'sid', synapse_recording_link: 'url', date_start: 'start', date_end: 'end' });
        assert.match(String(result.record.synapse_recording_link), new RegExp(`/recordings/${sid}\\.mp3$`));
        assert.match(String(result.record.date_start), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
        assert.match(String(result.record.date_end), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      }
      const [fromMultipart, fromJson] = records;
      assert.deepEqual(fromMultipart, fromJson);
      assert.equal(fromMultipart?.duration, 65);
      assert.equal(fromMultipart?.direction, 'Outbound');
      assert.equal(fromMultipart?.call_status, 'Held');
      assert.equal(fromMultipart?.enjay_lat_source_number, '+919812345678');
      assert.equal(fromMultipart?.exotel_custom_field, 'lead-9');
    } finally {
      await receiver.close();
      await standIn.close();
    }
  });
});
