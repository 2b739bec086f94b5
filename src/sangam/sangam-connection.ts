import { ConfigError } from '../lib/errors';
import { KeepAliveAgents, createKeepAliveAgents } from '../lib/http';
import { parseServiceUrl } from '../lib/service-url';
import { readBoolean, readInteger } from '../lib/settings';
import { hostTimeZone, isValidTimeZone } from './dates';
import { SangamClient, checkToken } from './sangam-client';

/** The sangam-config node's properties as stored in flows.json. */
export interface SangamConfigProperties {
  domain?: unknown;
  allowInsecure?: unknown;
  ivrName?: unknown;
  timezone?: unknown;
  timeout?: unknown;
  maxSockets?: unknown;
}

/** One CRM connection: the client over keep-alive agents every node of the config shares (pop-ups have their own), and the settings nodes need. */
export interface SangamConnection {
  client: SangamClient;
  baseUrl: string;
  ivrName: string;
  /** The config's zone, or the host's (looked up at first use). */
  readonly timeZone: string;
  /** How long one request may take: what a close lets a request on the wire finish in. */
  timeoutMs: number;
  close(): void;
}

/** Validates a sangam-config node's settings and opens its connection; throws ConfigError. */
export function openSangamConnection(properties: SangamConfigProperties, token: unknown): SangamConnection {
  const baseUrl = parseServiceUrl(properties.domain, {
    allowInsecure: readBoolean(properties.allowInsecure, false),
    what: 'domain',
  });
  const checkedToken = checkToken(token);
  const zone = typeof properties.timezone === 'string' && properties.timezone.trim() !== '' ? properties.timezone.trim() : '';
  if (zone && !isValidTimeZone(zone)) {
    throw new ConfigError(`timezone "${zone.slice(0, 60)}" is not an IANA time zone such as Asia/Kolkata`);
  }
  const ivrName = typeof properties.ivrName === 'string' ? properties.ivrName.trim() : '';
  const timeoutMs = readInteger(properties.timeout, { name: 'timeout', min: 100, max: 300_000, fallback: 10_000 });
  const maxSockets = readInteger(properties.maxSockets, { name: 'maxSockets', min: 1, max: 256, fallback: 16 });
  const agents: KeepAliveAgents = createKeepAliveAgents(maxSockets);
  // Made at the first pop-up, like every agent: a config that only logs calls never has them.
  const popupAgents: KeepAliveAgents = createKeepAliveAgents(maxSockets);
  const client = new SangamClient({ baseUrl, token: checkedToken, timeoutMs, agents, popupAgents, maxInFlight: maxSockets });
  // The host's zone is asked of Intl at the first date, not now: Intl's first use costs ~8 MB.
  let timeZone = zone;
  return {
    client,
    baseUrl,
    ivrName,
    get timeZone() {
      timeZone ||= hostTimeZone();
      return timeZone;
    },
    timeoutMs,
    close: () => {
      agents.destroy();
      popupAgents.destroy();
    },
  };
}
