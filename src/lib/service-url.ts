import { ConfigError } from './errors';

export interface ServiceUrlOptions {
  /** Allow plain http to a host that is not loopback. */
  allowInsecure?: boolean;
  /** What the value is, for error messages ("domain", "subdomain"). */
  what?: string;
}

/** True for 127.0.0.0/8, ::1 and localhost (and names under .localhost). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  if (/^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return true;
  // new URL() writes an IPv4-mapped address in hex: [::ffff:127.0.0.1] becomes [::ffff:7f00:1].
  if (/^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(host)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Turns what a user typed as a domain (`acme.sangamcrm.com`, `host:port` or a full base URL)
 * into a base URL without a trailing slash. A bare host means https. Plain http is refused
 * unless the host is loopback or allowInsecure is set. Paths, queries, fragments and user info
 * are refused: the API paths are fixed and credentials belong in the credentials store.
 */
export function parseServiceUrl(input: unknown, options: ServiceUrlOptions = {}): string {
  const what = options.what ?? 'domain';
  if (typeof input !== 'string' || input.trim() === '') {
    throw new ConfigError(`${what} is missing`);
  }
  const raw = input.trim();
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) {
    throw new ConfigError(`${what} "${printable(raw)}" contains spaces or control characters`);
  }
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw);
  let url: URL;
  try {
    url = new URL(hasScheme ? raw : `https://${raw}`);
  } catch {
    throw new ConfigError(`${what} "${printable(raw)}" is not a host name or URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(`${what} "${printable(raw)}" must use https (or http to a loopback host)`);
  }
  if (url.username || url.password) {
    throw new ConfigError(`${what} must not contain a user name or password: put secrets in the credentials`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new ConfigError(`${what} "${printable(raw)}" must be a host (and port) only, without a path, query or fragment`);
  }
  if (!url.hostname) throw new ConfigError(`${what} "${printable(raw)}" has no host`);
  if (url.protocol === 'http:' && !options.allowInsecure && !isLoopbackHost(url.hostname)) {
    throw new ConfigError(
      `${what} "${printable(raw)}" uses plain http to a host that is not loopback: use https, or tick "allow insecure http"`,
    );
  }
  return `${url.protocol}//${url.host}`;
}

function printable(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 200);
}
