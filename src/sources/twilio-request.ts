import { ValidationError } from '../lib/errors';
import { verifyTwilioSignature, WebhookParams } from '../lib/webhook-auth';
import { isObject } from '../lib/values';
import { isPlainObject } from '../sangam/call-record';

/**
 * Twilio's request validation for a msg from an http in node: the X-Twilio-Signature header
 * against the URL Twilio called (webhookUrl, as set in Twilio's console; a proxy changes what
 * Node-RED sees) and the parameters. Errors never contain the token.
 */

/** The part of an http in node's msg.req that is read. */
export interface RequestLike {
  method?: unknown;
  headers?: unknown;
  originalUrl?: unknown;
  protocol?: unknown;
}

export class TwilioRequestError extends ValidationError {
  override name = 'TwilioRequestError';
}

/**
 * Throws TwilioRequestError unless `req` carries a valid signature for `params`. For a GET
 * webhook Twilio signs the URL with its query and no body; the query is taken from the request.
 */
export function checkTwilioRequest(authToken: string, webhookUrl: string, req: unknown, params: unknown): void {
  if (!isObject(req)) {
    throw new TwilioRequestError('Twilio request validation is on (auth token set) but the msg has no msg.req: wire an http in node straight to this node', 'req');
  }
  const request = req as RequestLike;
  const headers = isObject(request.headers) ? request.headers : {};
  const signature = headers['x-twilio-signature'];
  if (typeof signature !== 'string' || signature === '') {
    throw new TwilioRequestError('Twilio request refused: no X-Twilio-Signature header', 'X-Twilio-Signature');
  }
  let url = webhookUrl;
  let signed: WebhookParams = isPlainObject(params) ? params : {};
  if (String(request.method).toUpperCase() === 'GET') {
    const original = typeof request.originalUrl === 'string' ? request.originalUrl : '';
    const query = original.indexOf('?');
    if (query >= 0 && !url.includes('?')) url += original.slice(query);
    signed = {};
  }
  if (!verifyTwilioSignature(authToken, signature, url, signed)) {
    throw new TwilioRequestError(
      `Twilio request refused: X-Twilio-Signature does not match this request for webhook URL ${url} (check the auth token and that webhookUrl is the URL set in Twilio's console)`,
      'X-Twilio-Signature',
    );
  }
}

/** The URL as Node-RED saw it, when no webhookUrl is set (no proxy between Twilio and Node-RED). */
export function requestUrl(req: unknown): string | undefined {
  if (!isObject(req)) return undefined;
  const request = req as RequestLike;
  const headers = isObject(request.headers) ? request.headers : {};
  const host = headers.host;
  if (typeof host !== 'string' || typeof request.originalUrl !== 'string') return undefined;
  const protocol = typeof request.protocol === 'string' ? request.protocol : 'http';
  return `${protocol}://${host}${request.originalUrl}`;
}
