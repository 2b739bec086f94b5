import * as assert from 'node:assert/strict';
import { ConfigError } from '../../src/lib/errors';
import { hostTimeZone } from '../../src/sangam/dates';
import { openSangamConnection } from '../../src/sangam/sangam-connection';
import { countFormatters } from '../support/intl';

describe('sangam/sangam-connection', () => {
  const properties = { domain: 'http://127.0.0.1:9', allowInsecure: true, ivrName: 'ivr' };

  it('opens without building an Intl formatter, and looks the host zone up at the first use of timeZone', () => {
    let connection: ReturnType<typeof openSangamConnection> | undefined;
    assert.equal(countFormatters(() => (connection = openSangamConnection({ ...properties, timezone: '' }, 'token'))), 0);
    try {
      assert.equal(connection!.timeZone, hostTimeZone());
      assert.equal(connection!.timeZone, hostTimeZone());
    } finally {
      connection!.close();
    }
  });

  it('keeps a configured zone as given and refuses one Intl does not know, when it opens', () => {
    const connection = openSangamConnection({ ...properties, timezone: ' Asia/Kolkata ' }, 'token');
    connection.close();
    assert.equal(connection.timeZone, 'Asia/Kolkata');
    assert.throws(() => openSangamConnection({ ...properties, timezone: 'Mars/Olympus' }, 'token'), (error: unknown) =>
      error instanceof ConfigError && /timezone "Mars\/Olympus" is not an IANA time zone/.test(error.message));
  });
});
