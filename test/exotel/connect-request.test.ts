import * as assert from 'node:assert/strict';
import { ConfigError, ValidationError } from '../../src/lib/errors';
import {
  basicAuthorization,
  buildConnectForm,
  connectUrl,
  parseAccountSid,
  resolveConnectParams,
} from '../../src/exotel/connect-request';
import { parsePhoneNumber } from '../../src/exotel/phone';

function rejects(fn: () => unknown, field: string, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ValidationError, String(error));
    assert.equal(error.field, field);
    assert.match(error.message, message);
    return true;
  });
}

describe('parsePhoneNumber', () => {
  it('keeps digits with an optional +, stripping spaces, dashes and dots', () => {
    assert.equal(parsePhoneNumber('+91 98123-45678', 'payload.to'), '+919812345678');
    assert.equal(parsePhoneNumber('080.4711.2233', 'payload.to'), '08047112233');
    assert.equal(parsePhoneNumber(9812345678, 'payload.to'), '9812345678');
    assert.equal(parsePhoneNumber('123456', 'payload.to'), '123456');
    assert.equal(parsePhoneNumber('+1234567890123456', 'payload.to'), '+1234567890123456');
  });

  it('refuses letters, parentheses, wrong lengths and non-strings, naming the field', () => {
    rejects(() => parsePhoneNumber('98AB', 'payload.to'), 'payload.to', /^payload\.to: "98AB" is not a phone number/);
    rejects(() => parsePhoneNumber('(080) 4711 2233', 'payload.from'), 'payload.from', /is not a phone number/);
    rejects(() => parsePhoneNumber('12345', 'payload.to'), 'payload.to', /not a phone number/);
    rejects(() => parsePhoneNumber('12345678901234567', 'payload.to'), 'payload.to', /not a phone number/);
    rejects(() => parsePhoneNumber('98123\r\n45678', 'payload.to'), 'payload.to', /not a phone number/);
    rejects(() => parsePhoneNumber('++9812345678', 'payload.to'), 'payload.to', /not a phone number/);
    rejects(() => parsePhoneNumber(undefined, 'payload.to'), 'payload.to', /payload\.to is missing/);
    rejects(() => parsePhoneNumber({}, 'payload.to'), 'payload.to', /must be a string/);
    rejects(() => parsePhoneNumber(98.5, 'payload.to'), 'payload.to', /not a phone number/);
  });
});

describe('resolveConnectParams', () => {
  it('takes msg.payload over the node\'s settings over the account\'s callerId', () => {
    const node = { callerId: '08047110000', timeLimit: '600', record: true, recordingChannels: 'dual', callType: '' };
    assert.deepEqual(resolveConnectParams({ from: '9812345678', to: '9876543210' }, node, '08047119999'), {
      from: '9812345678',
      to: '9876543210',
      callerId: '08047110000',
      timeLimit: 600,
      record: true,
      recordingChannels: 'dual',
    });
    const fromMsg = resolveConnectParams(
      { phone: '9812345678', to: '9876543210', callerId: '08047112233', timeLimit: 30, record: false },
      node,
      '08047119999',
    );
    assert.equal(fromMsg.from, '9812345678', 'phone is accepted for from');
    assert.equal(fromMsg.callerId, '08047112233');
    assert.equal(fromMsg.timeLimit, 30);
    assert.equal(fromMsg.record, false);
    assert.equal(resolveConnectParams({ from: '9812345678', to: '9876543210' }, {}, '08047119999').callerId, '08047119999');
  });

  it('reads every optional setting and the events as an array or a comma string', () => {
    const params = resolveConnectParams(
      {
        from: '9812345678',
        to: '9876543210',
        callerId: '08047112233',
        callType: 'trans',
        timeLimit: 14_400,
        timeOut: '45',
        waitUrl: 'https://example.com/wait.wav',
        record: 'true',
        recordingFormat: 'mp3-hq',
        customField: 'x'.repeat(128),
        statusCallback: 'http://127.0.0.1:1880/exotel',
        statusCallbackEvents: ['terminal', 'answered', 'terminal'],
        statusCallbackContentType: 'application/json',
      },
      {},
    );
    assert.deepEqual(params.statusCallbackEvents, ['terminal', 'answered']);
    assert.equal(params.timeOut, 45);
    assert.equal(params.record, true);
    const fromNode = resolveConnectParams({ from: '9812345678', to: '9876543210' }, {
      callerId: '08047112233',
      statusCallbackEvents: 'terminal,answered',
    });
    assert.deepEqual(fromNode.statusCallbackEvents, ['terminal', 'answered']);
    const none = resolveConnectParams({ from: '9812345678', to: '9876543210' }, { callerId: '08047112233', statusCallbackEvents: '' });
    assert.equal(none.statusCallbackEvents, undefined);
  });

  it('refuses each bad value, naming where it came from', () => {
    const ok = { from: '9812345678', to: '9876543210', callerId: '08047112233' };
    rejects(() => resolveConnectParams('call me', {}), 'payload', /payload must be an object/);
    rejects(() => resolveConnectParams({ to: '9876543210' }, {}), 'payload.from', /payload\.from is missing/);
    rejects(() => resolveConnectParams({ from: '9812345678', to: '98AB' }, {}), 'payload.to', /payload\.to: "98AB" is not a phone number/);
    rejects(() => resolveConnectParams({ phone: 'abc', to: '9876543210' }, {}), 'payload.phone', /not a phone number/);
    rejects(() => resolveConnectParams({ from: '9812345678', to: '9876543210' }, {}), 'callerId', /callerId is missing/);
    rejects(() => resolveConnectParams({ from: '9812345678', to: '9876543210' }, {}, 'EXO'), 'callerId (exotel-config)', /not a phone number/);
    rejects(() => resolveConnectParams({ ...ok, timeLimit: 14_401 }, {}), 'payload.timeLimit', /from 1 to 14400/);
    rejects(() => resolveConnectParams({ ...ok, timeLimit: 1.5 }, {}), 'payload.timeLimit', /whole number/);
    rejects(() => resolveConnectParams(ok, { timeLimit: 'soon' }), 'timeLimit (node setting)', /"soon" must be a whole number/);
    rejects(() => resolveConnectParams({ ...ok, timeOut: 0 }, {}), 'payload.timeOut', /at least 1/);
    rejects(() => resolveConnectParams({ ...ok, customField: 'x'.repeat(129) }, {}), 'payload.customField', /129 characters long; Exotel accepts at most 128/);
    rejects(() => resolveConnectParams({ ...ok, customField: 'a\r\nInjected: 1' }, {}), 'payload.customField', /line break/);
    rejects(() => resolveConnectParams({ ...ok, statusCallback: 'ftp://example.com/x' }, {}), 'payload.statusCallback', /http or https/);
    rejects(() => resolveConnectParams({ ...ok, waitUrl: 'not a url' }, {}), 'payload.waitUrl', /is not a URL/);
    rejects(() => resolveConnectParams({ ...ok, statusCallback: 'http://x/\nHost: evil' }, {}), 'payload.statusCallback', /line break/);
    rejects(() => resolveConnectParams({ ...ok, callType: 'promo' }, {}), 'payload.callType', /"promo" is not one of trans/);
    rejects(() => resolveConnectParams({ ...ok, recordingChannels: 'stereo' }, {}), 'payload.recordingChannels', /single, dual/);
    rejects(() => resolveConnectParams({ ...ok, recordingFormat: 'wav' }, {}), 'payload.recordingFormat', /mp3, mp3-hq/);
    rejects(() => resolveConnectParams({ ...ok, record: 'yes' }, {}), 'payload.record', /true or false/);
    rejects(() => resolveConnectParams({ ...ok, statusCallbackEvents: ['terminal', 'ringing'] }, {}), 'payload.statusCallbackEvents[1]', /"ringing"/);
    rejects(() => resolveConnectParams({ ...ok, statusCallbackEvents: 5 }, {}), 'payload.statusCallbackEvents', /array or a comma/);
    rejects(() => resolveConnectParams({ ...ok, statusCallbackContentType: 'text/xml' }, {}), 'payload.statusCallbackContentType', /multipart\/form-data, application\/json/);
  });
});

describe('buildConnectForm and the request parts', () => {
  it('writes Exotel\'s parameter names, Record=true only when recording, events as StatusCallbackEvents[i]', () => {
    const form = buildConnectForm({
      from: '+919812345678',
      to: '09876543210',
      callerId: '08047112233',
      callType: 'trans',
      timeLimit: 600,
      timeOut: 30,
      waitUrl: 'https://example.com/w.wav',
      record: true,
      recordingChannels: 'dual',
      recordingFormat: 'mp3',
      customField: 'lead 42&x=1',
      statusCallback: 'http://127.0.0.1:1880/cb?x=1',
      statusCallbackEvents: ['terminal', 'answered'],
      statusCallbackContentType: 'application/json',
    });
    assert.deepEqual([...form.entries()], [
      ['From', '+919812345678'],
      ['To', '09876543210'],
      ['CallerId', '08047112233'],
      ['CallType', 'trans'],
      ['TimeLimit', '600'],
      ['TimeOut', '30'],
      ['WaitUrl', 'https://example.com/w.wav'],
      ['Record', 'true'],
      ['RecordingChannels', 'dual'],
      ['RecordingFormat', 'mp3'],
      ['CustomField', 'lead 42&x=1'],
      ['StatusCallback', 'http://127.0.0.1:1880/cb?x=1'],
      ['StatusCallbackEvents[0]', 'terminal'],
      ['StatusCallbackEvents[1]', 'answered'],
      ['StatusCallbackContentType', 'application/json'],
    ]);
    const minimal = buildConnectForm({ from: '9812345678', to: '9876543210', callerId: '8047112233', record: false });
    assert.equal(minimal.toString(), 'From=9812345678&To=9876543210&CallerId=8047112233');
  });

  it('checks the account SID and encodes it in the path; Basic auth from key and token', () => {
    assert.equal(parseAccountSid(' acme_1-x '), 'acme_1-x');
    assert.throws(() => parseAccountSid('acme/../x'), ConfigError);
    assert.throws(() => parseAccountSid(''), /accountSid is missing/);
    assert.equal(connectUrl('https://api.exotel.com', 'acme_1'), 'https://api.exotel.com/v1/Accounts/acme_1/Calls/connect.json');
    assert.equal(basicAuthorization('k', 't'), `Basic ${Buffer.from('k:t').toString('base64')}`);
  });
});
