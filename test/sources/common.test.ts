import * as assert from 'node:assert/strict';
import { AgentDirectory } from '../../src/sangam/agent-directory';
import { channelPeer, directionFromCaller, Fields, isExtension } from '../../src/sources/common';

describe('sources/common', () => {
  it('channelPeer takes the phone or extension out of Asterisk and FreeSWITCH channel names', () => {
    // Channel name forms from the Asterisk AMI docs (SIP/1310-asfe, PJSIP/...-<seq>, Local/...;1)
    // and FreeSWITCH CDRs (sofia/<profile>/<user>@<host>).
    assert.equal(channelPeer('PJSIP/202-00000013'), '202');
    assert.equal(channelPeer('SIP/1310-asfe'), '1310');
    assert.equal(channelPeer('PJSIP/my-trunk-0000001a'), 'my-trunk');
    assert.equal(channelPeer('Local/201@from-queue-00000001;1'), '201');
    assert.equal(channelPeer('sofia/internal/1001@192.168.56.74'), '1001');
    assert.equal(channelPeer('sofia/internal/sip:1002@192.168.56.1:5060'), '1002');
    assert.equal(channelPeer(undefined), undefined);
  });

  it('an extension is a number of at most 6 digits; a caller who is one, or an agent, makes the call Outbound', () => {
    assert.equal(isExtension('201'), true);
    assert.equal(isExtension('123456'), true);
    assert.equal(isExtension('1234567'), false);
    assert.equal(isExtension('+201'), false);
    const agents = new AgentDirectory([{ phone: '09876543210' }]);
    assert.equal(directionFromCaller('201'), 'Outbound');
    assert.equal(directionFromCaller('+919876543210', agents), 'Outbound');
    assert.equal(directionFromCaller('+919876543211', agents), 'Inbound');
    assert.equal(directionFromCaller(undefined, agents), 'Inbound');
  });

  it('Fields reads names in any case, treats "", "null" and missing alike, and takes the first of a repeated form field', () => {
    const fields = new Fields('Test', { CallSid: ' CA1 ', from: ['+1', '+2'], To: 'null', Empty: '', Duration: 12 });
    assert.equal(fields.text('callsid'), 'CA1');
    assert.equal(fields.text('From'), '+1');
    assert.equal(fields.text('To'), undefined);
    assert.equal(fields.text('Empty'), undefined);
    assert.equal(fields.seconds('Duration'), 12);
    assert.throws(() => fields.required('Missing', 'something'), /Test: Missing is missing; expected something/);
  });
});
