import assert from 'node:assert/strict';
import { ConfigError } from '../../src/lib/errors';
import { isLoopbackHost, parseServiceUrl } from '../../src/lib/service-url';
import { SERVICE_URL_CASES } from '../cases/service-url-cases';

/** Asserts a ConfigError whose message matches `pattern`. */
function refuses(input: unknown, pattern: RegExp, options?: Parameters<typeof parseServiceUrl>[1]): ConfigError {
  let caught: unknown;
  try {
    parseServiceUrl(input, options);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${JSON.stringify(input)}, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  return caught;
}

describe('lib/service-url', () => {
  describe('isLoopbackHost', () => {
    it('accepts 127.0.0.0/8, ::1 (bracketed or not, long form) and localhost names', () => {
      for (const host of ['127.0.0.1', '127.255.3.4', 'localhost', 'LOCALHOST', 'api.localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
        assert.equal(isLoopbackHost(host), true, host);
      }
    });

    it('refuses other hosts, including names that only look like loopback', () => {
      for (const host of ['128.0.0.1', '10.0.0.1', '127.0.0.1.nip.io', 'localhost.example.com', 'mylocalhost', '::2', '::ffff:10.0.0.1', '', 'example.com']) {
        assert.equal(isLoopbackHost(host), false, host);
      }
    });
  });

  describe('parseServiceUrl', () => {
    it('gives the verdict of the shared table (test/cases, also run against the editor validator) for every case', () => {
      const wrong: string[] = [];
      for (const { input, allowInsecure, problem } of SERVICE_URL_CASES) {
        let verdict = 'valid';
        try {
          parseServiceUrl(input, { allowInsecure });
        } catch (error) {
          verdict = error instanceof ConfigError ? 'refused' : `threw ${String(error)}`;
        }
        if (verdict !== (problem === null ? 'valid' : 'refused')) wrong.push(`${JSON.stringify(input)} allowInsecure=${String(allowInsecure)}: ${verdict}`);
      }
      assert.deepEqual(wrong, []);
    });

    it('turns a bare host into https', () => {
      assert.equal(parseServiceUrl('acme.sangamcrm.com'), 'https://acme.sangamcrm.com');
    });

    it('keeps a port given as host:port, with https', () => {
      assert.equal(parseServiceUrl('acme.sangamcrm.com:8443'), 'https://acme.sangamcrm.com:8443');
    });

    it('accepts full https URLs, drops a trailing slash and the default port, lower-cases the host', () => {
      assert.equal(parseServiceUrl('https://crm.example.com'), 'https://crm.example.com');
      assert.equal(parseServiceUrl('https://crm.example.com/'), 'https://crm.example.com');
      assert.equal(parseServiceUrl('HTTPS://CRM.Example.COM:443/'), 'https://crm.example.com');
      assert.equal(parseServiceUrl('  https://crm.example.com:9443  '), 'https://crm.example.com:9443');
    });

    it('allows plain http to loopback hosts', () => {
      assert.equal(parseServiceUrl('http://127.0.0.1:8080'), 'http://127.0.0.1:8080');
      assert.equal(parseServiceUrl('http://127.9.9.9'), 'http://127.9.9.9');
      assert.equal(parseServiceUrl('http://localhost:3000/'), 'http://localhost:3000');
      assert.equal(parseServiceUrl('http://[::1]:8080'), 'http://[::1]:8080');
      assert.equal(parseServiceUrl('http://[0:0:0:0:0:0:0:1]'), 'http://[::1]');
    });

    it('allows plain http to an IPv4-mapped loopback address (URL normalises it to hex)', () => {
      // new URL() rewrites [::ffff:127.0.0.1] as [::ffff:7f00:1].
      assert.equal(parseServiceUrl('http://[::ffff:127.0.0.1]:8080'), 'http://[::ffff:7f00:1]:8080');
    });

    it('refuses plain http elsewhere unless allowInsecure, naming the option', () => {
      refuses('http://crm.example.com', /plain http.*not loopback.*allow insecure/);
      refuses('http://10.1.2.3:8080', /plain http/);
      refuses('http://127.0.0.1.nip.io', /plain http/);
      refuses('http://[::ffff:10.0.0.1]', /plain http/);
      assert.equal(parseServiceUrl('http://crm.example.com', { allowInsecure: true }), 'http://crm.example.com');
      assert.equal(parseServiceUrl('http://10.1.2.3:8080/', { allowInsecure: true }), 'http://10.1.2.3:8080');
    });

    it('accepts IPv6 literals with https', () => {
      assert.equal(parseServiceUrl('https://[2001:db8::1]:8443'), 'https://[2001:db8::1]:8443');
      assert.equal(parseServiceUrl('[2001:db8::1]'), 'https://[2001:db8::1]');
      refuses('http://[2001:db8::1]', /plain http/);
    });

    it('refuses paths, queries and fragments', () => {
      refuses('https://crm.example.com/api', /host \(and port\) only/);
      refuses('crm.example.com/api/v1', /host \(and port\) only/);
      refuses('https://crm.example.com//', /host \(and port\) only/);
      refuses('https://crm.example.com?x=1', /without a path, query or fragment/);
      refuses('https://crm.example.com/#top', /without a path, query or fragment/);
    });

    it('refuses user info without echoing it', () => {
      const error = refuses('https://admin:s3cr3t-pass@crm.example.com', /user name or password/);
      assert.ok(!error.message.includes('s3cr3t-pass'), error.message);
      refuses('https://admin@crm.example.com', /user name or password/);
    });

    it('refuses control characters and inner spaces, printing them as ?', () => {
      const error = refuses('crm.example.com\r\nX-Injected: 1', /spaces or control characters/);
      assert.ok(!/[\r\n]/.test(error.message), JSON.stringify(error.message));
      refuses('crm.exa mple.com', /spaces or control characters/);
      refuses('crm.example.com\u0000', /spaces or control characters/);
      refuses('crm.example.com\u007f', /spaces or control characters/);
    });

    it('refuses other schemes, non-hosts and missing values, using `what` in the message', () => {
      refuses('ftp://crm.example.com', /must use https/);
      refuses('javascript://crm.example.com', /must use https/);
      refuses('crm.example.com:99999', /not a host name or URL/);
      refuses('https://', /not a host name or URL|has no host/);
      refuses('', /domain is missing/);
      refuses('   ', /domain is missing/);
      refuses(undefined, /domain is missing/);
      refuses(42, /domain is missing/);
      refuses('http://exotel.example.com', /^subdomain "http:\/\/exotel.example.com" uses plain http/, { what: 'subdomain' });
    });

    it('shortens a very long value in the message', () => {
      const error = refuses(`https://crm.example.com/${'a'.repeat(1000)}`, /host \(and port\) only/);
      assert.ok(error.message.length < 400, `message is ${error.message.length} characters`);
    });
  });
});
