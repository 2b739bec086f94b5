import assert from 'node:assert/strict';
import { AbortedError, ConfigError, RemoteError, ValidationError, excerpt, redact, statusReason } from '../../src/lib/errors';

describe('lib/errors', () => {
  describe('error classes', () => {
    it('carry their names, fields and remote details', () => {
      const validation = new ValidationError('payload[3].direction must be Inbound or Outbound', 'direction');
      assert.equal(validation.name, 'ValidationError');
      assert.equal(validation.field, 'direction');
      assert.ok(validation instanceof Error);
      assert.equal(new ConfigError('x').name, 'ConfigError');
      assert.equal(new AbortedError('x').name, 'AbortedError');

      const remote = new RemoteError('HTTP 429', { statusCode: 429, code: 'E429', retryable: true, retryAfterMs: 1500, mayHaveReachedServer: true });
      assert.equal(remote.name, 'RemoteError');
      assert.equal(remote.statusCode, 429);
      assert.equal(remote.code, 'E429');
      assert.equal(remote.retryable, true);
      assert.equal(remote.retryAfterMs, 1500);
      assert.equal(remote.options.mayHaveReachedServer, true);
      const bare = new RemoteError('down', { retryable: false });
      assert.equal(bare.statusCode, undefined);
      assert.equal(bare.code, undefined);
      assert.equal(bare.retryAfterMs, undefined);
    });
  });

  describe('statusReason', () => {
    it('names the HTTP status, else the network code, else the start of the message', () => {
      assert.equal(statusReason(new RemoteError('x', { statusCode: 503, retryable: true })), 'HTTP 503');
      assert.equal(statusReason(Object.assign(new Error('kept'), { statusCode: 429 })), 'HTTP 429');
      assert.equal(statusReason(new RemoteError('x', { code: 'ECONNRESET', retryable: true })), 'ECONNRESET');
      assert.equal(statusReason(new ValidationError(`payload[3].direction: ${'x'.repeat(100)}`)).length, 60);
      assert.match(statusReason(new ValidationError('payload.cli must be a string')), /^payload\.cli must be a string$/);
    });
  });

  describe('redact', () => {
    it('replaces every occurrence of every secret', () => {
      assert.equal(redact('token abcd1234 again abcd1234, key wxyz9', ['abcd1234', 'wxyz9']), 'token *** again ***, key ***');
    });

    it('treats secrets literally, not as patterns', () => {
      assert.equal(redact('a.*b+c? and axxb', ['a.*b+c?']), '*** and axxb');
      assert.equal(redact('cost $& $1 here', ['$& $1']), 'cost *** here');
    });

    it('ignores missing and very short secrets', () => {
      assert.equal(redact('abc is fine', [undefined, '', 'abc']), 'abc is fine');
      assert.equal(redact('abcd is not', ['abcd']), '*** is not');
    });

    it('hides a long secret wholly even when a shorter secret is a part of it, whatever their order', () => {
      const short = 'Bearer';
      const long = 'Bearer-9f8e7d6c5b4a';
      for (const secrets of [[short, long], [long, short]]) {
        const out = redact(`echo: ${long}`, secrets);
        assert.ok(!out.includes('9f8e7d6c5b4a'), `${JSON.stringify(secrets)} -> ${out}`);
        assert.equal(out, 'echo: ***');
      }
    });
  });

  describe('excerpt', () => {
    it('folds whitespace to one line and trims', () => {
      assert.equal(excerpt('  line one\r\n\tline two  \n'), 'line one line two');
    });

    it('keeps text up to max and shortens longer text to exactly max characters with an ellipsis', () => {
      assert.equal(excerpt('x'.repeat(200)), 'x'.repeat(200));
      const long = excerpt('y'.repeat(201));
      assert.equal(long.length, 200);
      assert.ok(long.endsWith('…'));
      assert.equal(excerpt('abcdefghij', 5), 'abcd…');
    });

    it('does not cut a character made of a surrogate pair in half', () => {
      const out = excerpt(`abc\u{1F600}defgh`, 5);
      assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(out), JSON.stringify(out));
      assert.ok(out.length <= 5);
      assert.ok(out.endsWith('…'));
    });
  });
});
