import { ConfigError } from '../lib/errors';
import { type KeepAliveAgents, createKeepAliveAgents } from '../lib/http';
import { parseServiceUrl } from '../lib/service-url';
import { parseAccountSid } from './connect-request';
import { ExotelClient } from './exotel-client';
import { RatePacer } from './rate-pacer';

export const DEFAULT_SUBDOMAIN = 'api.exotel.com';
/** Exotel's documented limit for voice APIs. */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 200;
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Enough parallel connections for a burst; more would only queue inside Exotel. */
const MAX_SOCKETS = 32;

/** An exotel-config's settings as the editor stores them (numbers may come as strings). */
export interface ExotelAccountSettings {
  accountSid?: unknown;
  subdomain?: unknown;
  allowInsecure?: unknown;
  callerId?: unknown;
  rateLimit?: unknown;
  timeout?: unknown;
  apiKey?: unknown;
  apiToken?: unknown;
}

/** One Exotel account: the connections and rate pacer that every node using it shares. */
export interface ExotelAccount {
  readonly accountSid: string;
  readonly baseUrl: string;
  /** Default ExoPhone, unchecked ('' when not set): nodes and msgs may override it. */
  readonly callerId: string;
  readonly rateLimitPerMinute: number;
  readonly timeoutMs: number;
  readonly client: ExotelClient;
  readonly pacer: RatePacer;
  /** Rejects waiting requests and drops the connections. */
  close(): void;
}

/** Checks the settings and opens the account; throws a ConfigError naming the setting. */
export function openExotelAccount(settings: ExotelAccountSettings): ExotelAccount {
  const accountSid = parseAccountSid(settings.accountSid);
  const subdomain = isBlank(settings.subdomain) ? DEFAULT_SUBDOMAIN : settings.subdomain;
  const baseUrl = parseServiceUrl(subdomain, { allowInsecure: settings.allowInsecure === true, what: 'subdomain' });
  const rateLimitPerMinute = positiveNumber(settings.rateLimit, DEFAULT_RATE_LIMIT_PER_MINUTE, 'rateLimit (requests per minute)');
  const timeoutMs = Math.round(positiveNumber(settings.timeout, DEFAULT_TIMEOUT_MS, 'timeout (ms)'));
  const apiKey = requiredSecret(settings.apiKey, 'API key');
  const apiToken = requiredSecret(settings.apiToken, 'API token');
  const callerId = typeof settings.callerId === 'string' ? settings.callerId.trim() : '';

  const agents: KeepAliveAgents = createKeepAliveAgents(MAX_SOCKETS);
  const pacer = new RatePacer({ perMinute: rateLimitPerMinute });
  const client = new ExotelClient({ baseUrl, accountSid, apiKey, apiToken, timeoutMs, agents, pacer });
  return {
    accountSid,
    baseUrl,
    callerId,
    rateLimitPerMinute,
    timeoutMs,
    client,
    pacer,
    close() {
      pacer.close();
      agents.destroy();
    },
  };
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

function positiveNumber(value: unknown, fallback: number, what: string): number {
  if (isBlank(value)) return fallback;
  const number = typeof value === 'string' ? Number(value.trim()) : value;
  if (typeof number !== 'number' || !Number.isFinite(number) || number <= 0) {
    throw new ConfigError(`${what} must be a positive number`);
  }
  return number;
}

function requiredSecret(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(`the ${what} is missing`);
  // A line break would split the Authorization header.
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new ConfigError(`the ${what} contains a line break or control character`);
  return value.trim();
}
