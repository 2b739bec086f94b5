import * as assert from 'node:assert/strict';
import { ExotelStandIn } from '../../dev/standins/exotel';
import { ConfigError } from '../../src/lib/errors';
import { openExotelAccount } from '../../src/exotel/account';
import { ACCOUNT_SID, API_KEY, API_TOKEN, assertNoSecret } from './support';

const SETTINGS = { accountSid: ACCOUNT_SID, apiKey: API_KEY, apiToken: API_TOKEN };

describe('openExotelAccount', () => {
  it('defaults to api.exotel.com, 200 a minute and 10 s, and takes a full base URL', () => {
    const account = openExotelAccount({ ...SETTINGS, subdomain: '' });
    assert.equal(account.baseUrl, 'https://api.exotel.com');
    assert.equal(account.rateLimitPerMinute, 200);
    assert.equal(account.timeoutMs, 10_000);
    account.close();
    const mumbai = openExotelAccount({ ...SETTINGS, subdomain: 'api.in.exotel.com', rateLimit: '60', timeout: '2500', callerId: ' 08047112233 ' });
    assert.equal(mumbai.baseUrl, 'https://api.in.exotel.com');
    assert.equal(mumbai.rateLimitPerMinute, 60);
    assert.equal(mumbai.timeoutMs, 2500);
    assert.equal(mumbai.callerId, '08047112233');
    mumbai.close();
    const local = openExotelAccount({ ...SETTINGS, subdomain: 'http://127.0.0.1:8090' });
    assert.equal(local.baseUrl, 'http://127.0.0.1:8090');
    local.close();
  });

  it('refuses settings that cannot work, naming the setting and no secret', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...SETTINGS, accountSid: '' }, /accountSid is missing/],
      [{ ...SETTINGS, accountSid: 'a b' }, /accountSid "a b" may only contain/],
      [{ ...SETTINGS, subdomain: 'http://exotel.example.com' }, /subdomain .* plain http/],
      [{ ...SETTINGS, subdomain: 'https://api.exotel.com/v1' }, /without a path/],
      [{ ...SETTINGS, rateLimit: 'many' }, /rateLimit \(requests per minute\) must be a positive number/],
      [{ ...SETTINGS, rateLimit: 0 }, /rateLimit/],
      [{ ...SETTINGS, timeout: -1 }, /timeout \(ms\)/],
      [{ ...SETTINGS, apiKey: '' }, /the API key is missing/],
      [{ ...SETTINGS, apiToken: undefined }, /the API token is missing/],
      [{ ...SETTINGS, apiToken: `${API_TOKEN}\r\n` }, /the API token contains a line break/],
    ];
    for (const [settings, message] of cases) {
      assert.throws(() => openExotelAccount(settings), (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, message);
        assertNoSecret(error.message, 'a config error');
        return true;
      });
    }
    const insecure = openExotelAccount({ ...SETTINGS, subdomain: 'http://exotel.example.com', allowInsecure: true });
    assert.equal(insecure.baseUrl, 'http://exotel.example.com');
    insecure.close();
  });

  it('places calls through its client; close rejects requests waiting for the pacer', async () => {
    const standIn = await ExotelStandIn.start({ accountSid: ACCOUNT_SID, apiKey: API_KEY, apiToken: API_TOKEN });
    const account = openExotelAccount({ ...SETTINGS, subdomain: standIn.url, rateLimit: 1 });
    try {
      const call = await account.client.connect({ from: '9812345678', to: '9876543210', callerId: '08047112233' });
      assert.equal(call.Sid, standIn.calls[0]?.sid);
      const waiting = account.client.connect({ from: '9812345678', to: '9876543210', callerId: '08047112233' });
      account.close();
      await assert.rejects(waiting, /closed before the request could be sent/);
      assert.equal(standIn.requests.length, 1);
    } finally {
      account.close();
      await standIn.close();
    }
  });
});
