import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { AgentDirectory } from '../../src/sangam/agent-directory';
import { CALL_LOG_SOURCE_FORMATS, callLogMapper, HOLD_MS_BY_FORMAT, POPUP_SOURCE_FORMATS, popupMapper } from '../../src/sources';

// Minimal payloads of each format (see the format's own test for where its fields come from).
const CALL_ENDS: Record<string, unknown> = {
  exotel: { CallSid: 'e1', Status: 'completed', DateUpdated: '2024-05-02 10:21:40', StartTime: '2024-05-02 10:20:05', EndTime: '2024-05-02 10:21:39', ConversationDuration: '71', Direction: 'inbound', From: '09812000001', To: '08047112233' },
  twilio: { CallSid: 'CA1', CallStatus: 'completed', CallDuration: '71', Direction: 'inbound', From: '+919812000001', To: '+918047112233', Timestamp: 'Thu, 02 May 2024 04:51:39 +0000' },
  asterisk: 'Event: Cdr\r\nSource: 9812000001\r\nDestination: 201\r\nStartTime: 2024-05-02 10:20:05\r\nAnswerTime: 2024-05-02 10:20:05\r\nEndTime: 2024-05-02 10:21:39\r\nBillableSeconds: 71\r\nDisposition: ANSWERED\r\nUniqueID: 1.1\r\n\r\n',
  freeswitch: { variables: { uuid: 'u1', start_epoch: '1714625405', answer_epoch: '1714625405', end_epoch: '1714625499', billsec: '71' }, callflow: [{ profile_index: '1', caller_profile: { caller_id_number: '9812000001', destination_number: '201' } }] },
};

describe('sources index', () => {
  it('loads a format\'s module when the first mapper of that format is made, not before', () => {
    // A fresh process: this one has loaded every format's module for the other tests.
    const script = `
      const loaded = () => Object.keys(require.cache).filter((file) => /[\\\\/]sources[\\\\/](asterisk|exotel|freeswitch|twilio)\\.js$/.test(file)).map((file) => file.replace(/.*[\\\\/]/, ''));
      const sources = require(${JSON.stringify(require.resolve('../../src/sources'))});
      const before = loaded();
      sources.callLogMapper('asterisk', { timeZone: 'UTC' });
      const afterAsterisk = loaded();
      sources.popupMapper('twilio', { timeZone: 'UTC', eventCode: 'TC' });
      console.log(JSON.stringify({ before, afterAsterisk, afterTwilio: loaded() }));
    `;
    const answer = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as Record<string, string[]>;
    assert.deepEqual(answer, { before: [], afterAsterisk: ['asterisk.js'], afterTwilio: ['asterisk.js', 'twilio.js'] });
  });

  const agents = new AgentDirectory([{ extension: '201', phone: '08047112233', userId: 'u-201', email: 'a@example.com' }]);

  it('maps each call-log format\'s end of a call to a Held record in the CRM zone (Asterisk\'s PBX zone defaulting to it)', () => {
    for (const format of CALL_LOG_SOURCE_FORMATS) {
      const result = callLogMapper(format, { timeZone: 'Asia/Kolkata', agents })(CALL_ENDS[format]);
      assert.ok(!result.skipped, format);
      assert.equal(result.record.call_status, 'Held', format);
      assert.equal(result.record.date_end, '2024-05-02 10:21:39', format);
      assert.equal(result.record.duration, 71, format);
      assert.equal(result.record.assigned_user_id, 'u-201', format);
      assert.equal(typeof HOLD_MS_BY_FORMAT[format], 'number');
    }
  });

  it('offers a pop-up mapper for exotel, twilio and asterisk', () => {
    assert.deepEqual([...POPUP_SOURCE_FORMATS], ['exotel', 'twilio', 'asterisk']);
    const result = popupMapper('twilio', { timeZone: 'UTC', eventCode: 'TC', now: () => Date.UTC(2024, 4, 2) })({ CallSid: 'CA2', CallStatus: 'ringing', From: '+1', To: '+2' });
    assert.ok(!result.skipped);
    assert.equal(result.event.time, '2024-05-02 00:00:00');
  });
});
