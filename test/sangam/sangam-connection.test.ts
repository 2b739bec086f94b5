import * as assert from 'node:assert/strict';
import * as http from 'node:http';
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

  it('sends pop-ups on connections of their own: batches, which take every connection that frees, do not take the one a pop-up kept open', async () => {
    const ports: Array<{ api: string; port: number }> = [];
    const heldBatches: http.ServerResponse[] = [];
    let wake: (() => void) | undefined;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const api = req.url?.startsWith('/api/v1/ivr-call-log') ? 'call-log' : 'notify';
        ports.push({ api, port: req.socket.remotePort ?? 0 });
        res.writeHead(200, { 'content-type': 'application/json' });
        if (api === 'call-log') heldBatches.push(res);
        else res.end('{"message":"success"}');
        wake?.();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const connection = openSangamConnection({ domain: `http://127.0.0.1:${port}`, allowInsecure: true, ivrName: 'ivr', maxSockets: 4 }, 'token');
    try {
      const { client } = connection;
      await client.postNotify('{}', 'ivr');
      // Let the pop-up's connection go back to its pool.
      await new Promise((resolve) => setImmediate(resolve));
      // Two batches, all the slots a config of 4 gives them, held unanswered: in a shared pool the
      // first would take the pop-up's free connection.
      const batches = [client.postCallLogs('[]', 0, 'ivr'), client.postCallLogs('[]', 0, 'ivr')];
      while (heldBatches.length < 2) await new Promise<void>((resolve) => (wake = resolve));
      await client.postNotify('{}', 'ivr');
      for (const res of heldBatches.splice(0)) res.end('{"status":200,"result":[]}');
      await Promise.all(batches);
      assert.deepEqual(
        ports.map((entry) => entry.api),
        ['notify', 'call-log', 'call-log', 'notify'],
      );
      const [first, batch1, batch2, second] = ports.map((entry) => entry.port);
      assert.equal(second, first, 'the second pop-up came on a new connection');
      assert.ok(batch1 !== first && batch2 !== first, 'a batch took the pop-up\'s connection');
    } finally {
      connection.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
