import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export const ACCOUNT_SID = 'sangam_test-1';
/** Distinctive, so that a leak is found wherever it appears. */
export const API_KEY = 'Key-7d1e0c-EXOKEY-44aa';
export const API_TOKEN = 'Tok-51b9f2-EXOTOKEN-93cc';
export const BASIC_AUTH = `Basic ${Buffer.from(`${API_KEY}:${API_TOKEN}`).toString('base64')}`;
/** Every form of the secrets that must never show up in a message, status or log line. */
export const SECRETS = [API_KEY, API_TOKEN, BASIC_AUTH.slice('Basic '.length)];

export function assertNoSecret(text: string, where: string): void {
  for (const secret of SECRETS) {
    if (text.includes(secret)) throw new Error(`a secret leaked into ${where}`);
  }
}

export interface ReceivedCallback {
  contentType: string;
  body: string;
}

/** A local server standing in for the flow's http-in endpoint that Exotel calls back. */
export async function startCallbackReceiver(status = 200): Promise<{
  url: string;
  received: ReceivedCallback[];
  close(): Promise<void>;
}> {
  const received: ReceivedCallback[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ contentType: req.headers['content-type'] ?? '', body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/exotel/status`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Just enough of a multipart/form-data parser for the stand-in's text fields. */
export function parseMultipart(contentType: string, body: string): Record<string, string> {
  const boundary = /boundary=(.+)$/.exec(contentType)?.[1];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const fields: Record<string, string> = {};
  for (const part of body.split(`--${boundary}`)) {
    const match = /^\r\nContent-Disposition: form-data; name="([^"]+)"\r\n\r\n([\s\S]*)\r\n$/.exec(part);
    if (match) fields[match[1] as string] = match[2] as string;
  }
  return fields;
}
