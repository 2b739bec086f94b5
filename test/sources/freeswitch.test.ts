import * as assert from 'node:assert/strict';
import { ValidationError } from '../../src/lib/errors';
import { AgentDirectory } from '../../src/sangam/agent-directory';
import { freeswitchCallLog } from '../../src/sources/freeswitch';
import type { MappedCall } from '../../src/sources/common';
import { freeswitchJsonCdr as jsonCdr } from '../sangam-call-log-samples';

/*
 * Sample: jsonCdr() is freeswitchJsonCdr of ../sangam-call-log-samples.ts, a JSON CDR that
 * mod_json_cdr wrote for a real call (cgrates/cgrates, general_tests/fsevcorelate_test.go), cited there.
 */

const agents = new AgentDirectory([
  { name: 'Asha', extension: '1001', phone: '+91 98123 45678', userId: 'u-asha', email: 'asha@example.com' },
  { name: 'Ravi', extension: '1002', phone: '09876543210', userId: 'u-ravi', email: 'ravi@example.com' },
]);
const IST = { timeZone: 'Asia/Kolkata', agents };

function mapped(body: unknown, options: Parameters<typeof freeswitchCallLog>[1] = IST): MappedCall {
  const result = freeswitchCallLog(body, options);
  assert.equal(result.skipped, false, JSON.stringify(result));
  return result as MappedCall;
}

describe('freeswitchCallLog', () => {
  it('maps the published JSON CDR: numbers from the caller profile, epochs into the CRM zone, billsec as talk time', () => {
    const call = mapped(jsonCdr());
    assert.deepEqual(call.record, {
      enjay_lat_source_number: '1001',
      enjay_lat_destination_number: '1002',
      direction: 'Outbound',
      call_status: 'Held',
      // start_epoch 1396984221 is 19:10:21 UTC (21:10:21 on the +0200 host): 00:40:21 the next day in IST.
      date_start: '2014-04-09 00:40:21',
      date_end: '2014-04-09 00:40:42',
      duration: 15,
      synapse_recording_link: '',
      logged_by: 'IVR',
      assigned_user_id: 'u-asha',
      freeswitch_uuid: '86cfd6e2-dbda-45a3-b59d-f683ec368e8b',
      freeswitch_hangup_cause: 'NORMAL_CLEARING',
    });
    assert.equal(call.callKey, 'freeswitch:86cfd6e2-dbda-45a3-b59d-f683ec368e8b');
    assert.equal(call.answered, true);
  });

  it('reads the *_stamp times in the PBX zone when a CDR has no epochs (same instants as the epochs)', () => {
    const call = mapped(jsonCdr({ start_epoch: '', answer_epoch: '', end_epoch: '' }), { ...IST, pbxTimeZone: 'Europe/Berlin' });
    assert.equal(call.record.date_start, '2014-04-09 00:40:21');
    assert.equal(call.record.date_end, '2014-04-09 00:40:42');
  });

  it('takes the caller from the oldest caller profile of a callflow array (current mod_json_cdr)', () => {
    const profile = (index: string, destination: string) => ({
      profile_index: index,
      caller_profile: { caller_id_number: '+4915112345678', destination_number: destination, uuid: '86cfd6e2-dbda-45a3-b59d-f683ec368e8b' },
    });
    // Newest first, as FreeSWITCH writes it: the call came in for 4930123456 and was transferred to 1002.
    const call = mapped(jsonCdr({ sip_from_user: '+4915112345678', user_name: '' }, [profile('2', '1002'), profile('1', '4930123456')]));
    assert.equal(call.record.enjay_lat_source_number, '+4915112345678');
    assert.equal(call.record.enjay_lat_destination_number, '4930123456');
    assert.equal(call.record.direction, 'Inbound');
    assert.equal(call.record.assigned_user_id, 'u-ravi', 'the user the call was bridged to');
  });

  it('maps an unanswered call (answer_epoch 0, billsec 0) to Not Held with no talk time', () => {
    const call = mapped(jsonCdr({ answer_epoch: '0', answer_stamp: '', billsec: '0', hangup_cause: 'NO_ANSWER' }));
    assert.equal(call.record.call_status, 'Not Held');
    assert.equal(call.record.duration, 0);
    assert.equal(call.record.freeswitch_hangup_cause, 'NO_ANSWER');
    assert.equal(call.answered, false);
  });

  it('follows call_direction where the system states it (FusionPBX)', () => {
    assert.equal(mapped(jsonCdr({ call_direction: 'inbound' })).record.direction, 'Inbound');
  });

  it('files a b-leg under its a-leg (originating_leg_uuid), so both legs are one call', () => {
    const bLeg = mapped(jsonCdr({ uuid: '402f0929-fa14-4a5f-9642-3a1311bb4ddd', call_uuid: '', originating_leg_uuid: '86cfd6e2-dbda-45a3-b59d-f683ec368e8b', direction: 'outbound' }));
    assert.equal(bLeg.callKey, mapped(jsonCdr()).callKey);
    assert.equal(bLeg.legId, '402f0929-fa14-4a5f-9642-3a1311bb4ddd');
  });

  it('reads URL-encoded values (encode-values, the default), a form body {cdr} (encode=true) and its base64', () => {
    const plain = mapped(jsonCdr()).record;
    const encoded = jsonCdr({ start_stamp: '2014-04-08%2021%3A10%3A21', channel_name: 'sofia%2Finternal%2F1001%40192.168.56.74' });
    assert.deepEqual(mapped(encoded).record, plain);
    assert.deepEqual(mapped({ cdr: JSON.stringify(jsonCdr()) }).record, plain);
    assert.deepEqual(mapped({ cdr: Buffer.from(JSON.stringify(jsonCdr())).toString('base64') }).record, plain);
    assert.deepEqual(mapped(JSON.stringify(jsonCdr())).record, plain);
  });

  it('passes a recording URL, or builds one from a file name and the configured prefix', () => {
    assert.equal(mapped(jsonCdr({ recording_url: 'https://fs.example.com/r/1.wav' })).record.synapse_recording_link, 'https://fs.example.com/r/1.wav');
    const withPrefix = mapped(jsonCdr({ record_name: '86cfd6e2.wav' }), { ...IST, recordingUrlPrefix: 'https://fs.example.com/rec' });
    assert.equal(withPrefix.record.synapse_recording_link, 'https://fs.example.com/rec/86cfd6e2.wav');
  });

  it('rejects a payload that is no JSON CDR, naming the field missing', () => {
    assert.throws(() => freeswitchCallLog({ uuid: 'x', billsec: '5' }, IST), (error: unknown) =>
      error instanceof ValidationError && error.field === 'variables' && /variables is missing; expected mod_json_cdr's JSON CDR/.test(error.message));
    const noUuid = jsonCdr({ uuid: '' }, []);
    assert.throws(() => freeswitchCallLog(noUuid, IST), /variables\.uuid is missing/);
    assert.throws(() => freeswitchCallLog(jsonCdr({ start_epoch: '', start_stamp: '' }), IST), /variables\.start_epoch \(or start_stamp\) is missing/);
    assert.throws(() => freeswitchCallLog(jsonCdr({ end_epoch: 'soon' }), IST), /variables\.end_epoch "soon" is not epoch seconds/);
    assert.throws(() => freeswitchCallLog('<cdr></cdr>', IST), /not a JSON object/);
  });
});
