import * as assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { safeEqual, twilioSignature, verifyTwilioSignature } from '../../src/lib/webhook-auth';

/**
 * Twilio's documented example: auth token 12345, a voice webhook to this URL with these parameters.
 * The signature with Caller/From +14158675310 is the one on Twilio's "Secure webhooks" page
 * (twilio.com/docs/usage/webhooks/webhooks-security); the one with +14158675309 is the fixture of
 * Twilio's own helper library (twilio/twilio-node, spec/validation.spec.js).
 */
const DOC_TOKEN = '12345';
const DOC_URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const docParams = (caller: string) => ({ CallSid: 'CA1234567890ABCDE', Caller: caller, Digits: '1234', From: caller, To: '+18005551212' });

describe('lib/webhook-auth', () => {
  describe('Twilio request signatures', () => {
    it("computes Twilio's documented signatures", () => {
      assert.equal(twilioSignature(DOC_TOKEN, DOC_URL, docParams('+14158675310')), 'GvWf1cFY/Q7PnoempGyD5oXAezc=');
      assert.equal(twilioSignature(DOC_TOKEN, DOC_URL, docParams('+14158675309')), 'RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    });

    it('accepts the documented request and refuses it when a parameter, the URL or the token differs', () => {
      const params = docParams('+14158675310');
      const signature = 'GvWf1cFY/Q7PnoempGyD5oXAezc=';
      assert.equal(verifyTwilioSignature(DOC_TOKEN, signature, DOC_URL, params), true);
      assert.equal(verifyTwilioSignature(DOC_TOKEN, signature, DOC_URL, { ...params, Digits: '9999' }), false);
      assert.equal(verifyTwilioSignature(DOC_TOKEN, signature, DOC_URL, { ...params, Extra: '' }), false);
      assert.equal(verifyTwilioSignature(DOC_TOKEN, signature, 'https://mycompany.com/myapp.php?foo=1&bar=3', params), false);
      assert.equal(verifyTwilioSignature('54321', signature, DOC_URL, params), false);
      assert.equal(verifyTwilioSignature(DOC_TOKEN, undefined, DOC_URL, params), false);
      assert.equal(verifyTwilioSignature(DOC_TOKEN, '', DOC_URL, params), false);
      assert.equal(verifyTwilioSignature('', signature, DOC_URL, params), false);
    });

    it('accepts a signature made over the URL with or without its default port', () => {
      const params = { CallSid: 'CA1', CallStatus: 'completed' };
      const withPort = twilioSignature('secret-token', 'https://pbx.example.com:443/twilio/status', params);
      assert.equal(verifyTwilioSignature('secret-token', withPort, 'https://pbx.example.com/twilio/status', params), true);
      const withoutPort = twilioSignature('secret-token', 'https://pbx.example.com/twilio/status', params);
      assert.equal(verifyTwilioSignature('secret-token', withoutPort, 'https://pbx.example.com:443/twilio/status', params), true);
      assert.equal(verifyTwilioSignature('secret-token', withoutPort, 'https://pbx.example.com:8443/twilio/status', params), false);
    });

    it('signs a repeated parameter as each distinct value in order', () => {
      const base = 'https://x.example/hook';
      const expected = twilioSignature('t', base, { A: '1', B: 'x' });
      // By hand: url + "A" + "1" + "A" + "2" + "B" + "x", as a second implementation.
      const byHand = createHmac('sha1', 't').update(`${base}A1A2Bx`).digest('base64');
      assert.equal(twilioSignature('t', base, { B: 'x', A: ['2', '1', '2'] }), byHand);
      assert.notEqual(byHand, expected);
    });
  });

  describe('safeEqual', () => {
    it('is true only for the same text', () => {
      assert.equal(safeEqual('s3cret-token', 's3cret-token'), true);
      assert.equal(safeEqual('s3cret-token', 's3cret-tokem'), false);
      assert.equal(safeEqual('s3cret', 's3cret-token'), false);
      assert.equal(safeEqual('', 'x'), false);
      assert.equal(safeEqual('é', 'é'), true);
    });
  });
});
