import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Who sent a webhook. Twilio signs each request (X-Twilio-Signature); the other systems cannot
 * sign, so their webhooks carry a shared secret that is compared in constant time.
 */

/** Parameters as an `http in` node parses a form body: a repeated name gives an array. */
export type WebhookParams = Readonly<Record<string, unknown>>;

/**
 * Twilio's signature of a request: base64 HMAC-SHA1, keyed with the account's auth token, of the
 * URL Twilio called followed by every POST parameter's name and value, sorted by name (a repeated
 * parameter's distinct values sorted too), with no separators.
 */
export function twilioSignature(authToken: string, url: string, params: WebhookParams): string {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    const value = params[name];
    if (Array.isArray(value)) {
      for (const item of [...new Set(value.map(String))].sort()) data += name + item;
    } else if (value !== undefined && value !== null) {
      data += name + String(value);
    }
  }
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/**
 * True when `signature` is Twilio's for this URL and these parameters. Twilio computes it over the
 * URL as configured, and is known to sign https URLs with and without the default port: both are
 * tried, as its own helper library does.
 */
export function verifyTwilioSignature(authToken: string, signature: unknown, url: string, params: WebhookParams): boolean {
  if (typeof signature !== 'string' || signature === '' || authToken === '') return false;
  for (const candidate of urlVariants(url)) {
    if (safeEqual(signature, twilioSignature(authToken, candidate, params))) return true;
  }
  return false;
}

/** Compares two secrets in time that does not depend on where they differ. */
export function safeEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  // Unequal lengths are refused without comparing; the length of a token is not the secret.
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The URL as given, and with its default port added or removed. */
function urlVariants(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [url];
  }
  const variants = new Set<string>([url]);
  const defaultPort = parsed.protocol === 'https:' ? '443' : parsed.protocol === 'http:' ? '80' : '';
  // URL drops a default port whether or not it was written, so the port-less form is its text.
  if (parsed.port === '' && defaultPort !== '') {
    variants.add(parsed.toString());
    const auth = parsed.username || parsed.password ? `${parsed.username}${parsed.password ? `:${parsed.password}` : ''}@` : '';
    variants.add(`${parsed.protocol}//${auth}${parsed.hostname}:${defaultPort}${parsed.pathname}${parsed.search}${parsed.hash}`);
  }
  return [...variants];
}
