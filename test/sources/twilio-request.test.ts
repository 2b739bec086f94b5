import * as assert from 'node:assert/strict';
import { twilioSignature } from '../../src/lib/webhook-auth';
import { checkTwilioRequest, requestUrl, TwilioRequestError } from '../../src/sources/twilio-request';

/*
 * Twilio's documented example ("Secure your webhooks", twilio.com/docs/usage/webhooks/webhooks-security):
 * auth token 12345, this URL and parameters, this signature.
 */
const DOC_URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const DOC_PARAMS = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675310', Digits: '1234', From: '+14158675310', To: '+18005551212' };
const DOC_SIGNATURE = 'GvWf1cFY/Q7PnoempGyD5oXAezc=';

const post = (signature?: string): Record<string, unknown> => ({
  method: 'POST',
  originalUrl: '/myapp.php?foo=1&bar=2',
  headers: signature === undefined ? { host: 'mycompany.com' } : { host: 'mycompany.com', 'x-twilio-signature': signature },
});

describe('checkTwilioRequest', () => {
  it('accepts Twilio\'s documented request and refuses it with a changed parameter', () => {
    checkTwilioRequest('12345', DOC_URL, post(DOC_SIGNATURE), DOC_PARAMS);
    assert.throws(() => checkTwilioRequest('12345', DOC_URL, post(DOC_SIGNATURE), { ...DOC_PARAMS, Digits: '9999' }), TwilioRequestError);
  });

  it('refuses a msg without msg.req or without the header, and never puts the token in the message', () => {
    const token = 'tok-SECRET-1';
    for (const [req, pattern] of [[undefined, /no msg\.req/], [post(), /no X-Twilio-Signature header/], [post('bad'), /does not match/]] as const) {
      assert.throws(() => checkTwilioRequest(token, DOC_URL, req, DOC_PARAMS), (error: Error) => pattern.test(error.message) && !error.message.includes(token));
    }
  });

  it('checks a GET webhook over the URL with its query and no body parameters', () => {
    const base = 'https://pbx.example.com/exo';
    const query = { CallSid: 'CA1', CallStatus: 'ringing' };
    const signature = twilioSignature('t', `${base}?CallSid=CA1&CallStatus=ringing`, {});
    checkTwilioRequest('t', base, { method: 'GET', originalUrl: '/exo?CallSid=CA1&CallStatus=ringing', headers: { 'x-twilio-signature': signature } }, query);
  });

  it('rebuilds the URL Node-RED was called at', () => {
    assert.equal(requestUrl({ protocol: 'http', originalUrl: '/twilio/status', headers: { host: '127.0.0.1:1880' } }), 'http://127.0.0.1:1880/twilio/status');
    assert.equal(requestUrl(undefined), undefined);
  });
});
