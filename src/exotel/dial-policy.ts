import { ConfigError, ValidationError } from '../lib/errors';
import type { Agent } from '../sangam/agent-directory';
import { parsePhoneNumber, quote } from './phone';

/**
 * What click-to-call may dial. A leaked click-to-call endpoint is toll fraud waiting to happen
 * (premium-rate and international numbers on the company's Exotel bill), so the node refuses any
 * destination outside a list of E.164 prefixes, and caps the calls placed for one agent a minute.
 * Both are checked before anything is sent.
 */

/** Exotel's home: a number written nationally (leading 0, or 10 bare digits) is Indian. */
export const HOME_COUNTRY_CODE = '91';
export const DEFAULT_ALLOWED_PREFIXES = '+91';
export const DEFAULT_MAX_CALLS_PER_AGENT_PER_MINUTE = 10;

/**
 * Two-digit country calling codes (ITU-T E.164). With the one-digit codes 1 and 7, every other
 * code is three digits long, so these are enough to name any number's country code.
 */
const TWO_DIGIT_CODES = new Set([
  '20', '27', '30', '31', '32', '33', '34', '36', '39', '40', '41', '43', '44', '45', '46', '47', '48', '49',
  '51', '52', '53', '54', '55', '56', '57', '58', '60', '61', '62', '63', '64', '65', '66', '81', '82', '84',
  '86', '90', '91', '92', '93', '94', '95', '98',
]);

/**
 * Indian toll-free (1800) and shared-cost (1860) numbers are written nationally without a 0:
 * 1800 plus 6 or 7 digits. Read as E.164 they would be North American (+1 800 ...), but an
 * Indian Exotel account dials them in India, so that is how the policy must read them.
 */
const INDIAN_NON_GEOGRAPHIC = /^18[06]0\d{6,7}$/;

/**
 * A checked phone number (digits, optionally after +, no separators: parsePhoneNumber's output)
 * in E.164 form, read the way an Indian Exotel account dials it: `+` kept, `00` (international
 * access) becomes `+`; a leading 0, 10 bare digits, or a 1800/1860 number of 10 or 11 digits are
 * national Indian numbers; any other bare digits already start with their country code. A North
 * American 1-800 number must be written with +1 (or 001).
 */
export function toE164(number: string): string {
  if (number.startsWith('+')) return number;
  if (number.startsWith('00')) return `+${number.slice(2)}`;
  if (number.startsWith('0')) return `+${HOME_COUNTRY_CODE}${number.slice(1)}`;
  if (number.length === 10 || INDIAN_NON_GEOGRAPHIC.test(number)) return `+${HOME_COUNTRY_CODE}${number}`;
  return `+${number}`;
}

/**
 * A call the dial policy or the cap refuses: a ValidationError (so Catch reads `ValidationError:
 * ...`) that also says why in a few words, for the node's status.
 */
export class CallRefusedError extends ValidationError {
  constructor(
    message: string,
    field: string,
    readonly refusal: { kind: 'prefix'; prefix: string } | { kind: 'cap'; max: number },
  ) {
    super(message, field);
  }
}

/** The country calling code of an E.164 number, with its +. */
export function countryCode(e164: string): string {
  const digits = e164.slice(1);
  if (digits.startsWith('1') || digits.startsWith('7')) return `+${digits[0]}`;
  const two = digits.slice(0, 2);
  return TWO_DIGIT_CODES.has(two) ? `+${two}` : `+${digits.slice(0, 3)}`;
}

/** The destinations click-to-call may dial, from the node's `allowedPrefixes` setting. */
export class DialPolicy {
  private constructor(
    /** E.164 prefixes such as `+91` or `+9180`; empty when any destination is allowed (`*`). */
    readonly prefixes: readonly string[],
    readonly setting: string,
  ) {}

  /**
   * Reads the setting: E.164 prefixes separated by commas, spaces or semicolons (`+91, +1800`);
   * `*` allows any destination. Unset or empty means the default, `+91`: a node saved before the
   * setting existed must not start dialling the world.
   */
  static parse(setting: unknown): DialPolicy {
    if (setting === undefined || setting === null || (typeof setting === 'string' && setting.trim() === '')) {
      return new DialPolicy([DEFAULT_ALLOWED_PREFIXES], DEFAULT_ALLOWED_PREFIXES);
    }
    if (typeof setting !== 'string') {
      throw new ConfigError(`allowedPrefixes must be text such as "+91, +1", not a ${typeof setting}`);
    }
    const text = setting.trim();
    if (text === '*') return new DialPolicy([], '*');
    const prefixes: string[] = [];
    for (const part of text.split(/[\s,;]+/)) {
      if (part === '') continue;
      if (!/^\+\d{1,15}$/.test(part)) {
        throw new ConfigError(`allowedPrefixes: ${JSON.stringify(part.slice(0, 20))} is not an E.164 prefix (a + and 1 to 15 digits, e.g. +91)`);
      }
      if (!prefixes.includes(part)) prefixes.push(part);
    }
    return new DialPolicy(prefixes, prefixes.join(', '));
  }

  get allowsAny(): boolean {
    return this.prefixes.length === 0;
  }

  /** Throws a ValidationError naming the number's country code and the setting when `to` is not allowed. */
  check(to: string, field = 'payload.to'): void {
    if (this.allowsAny) return;
    const e164 = toE164(to);
    for (const prefix of this.prefixes) if (e164.startsWith(prefix)) return;
    const prefix = countryCode(e164);
    throw new CallRefusedError(
      `${field}: a number with prefix ${prefix} (${e164.slice(0, 6)}…) may not be dialled: ` +
        `it is outside allowedPrefixes (${this.setting}); add its prefix to the node's allowedPrefixes to allow it`,
      field,
      { kind: 'prefix', prefix },
    );
  }
}

/**
 * Caps the calls placed for one agent (the `from` number) in any 60-second window, so that a leaked
 * endpoint cannot run up a bill even to allowed numbers. Memory is bounded by the agents active in
 * the last minute: an agent's entry goes once its last call is a minute old.
 */
export class AgentCallCap {
  /** Per agent, the times of its calls in the last minute, oldest first. */
  private readonly calls = new Map<string, number[]>();
  private lastSweep = 0;
  private readonly now: () => number;

  constructor(
    /** 0 turns the cap off. */
    readonly maxPerMinute: number,
    now: () => number = Date.now,
  ) {
    this.now = now;
  }

  /** Reads the node's `maxCallsPerAgentPerMinute` setting: unset means 10; 0 means no cap. */
  static parse(setting: unknown, now?: () => number): AgentCallCap {
    if (setting === undefined || setting === null || (typeof setting === 'string' && setting.trim() === '')) {
      return new AgentCallCap(DEFAULT_MAX_CALLS_PER_AGENT_PER_MINUTE, now);
    }
    // Only digits: Number() would read '  ' as 0 (no cap) and '0x10' as 16.
    const value = typeof setting === 'string' ? (/^\s*\d+\s*$/.test(setting) ? Number(setting) : NaN) : setting;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 10_000) {
      throw new ConfigError(`maxCallsPerAgentPerMinute must be a whole number from 0 (no cap) to 10000, not ${JSON.stringify(setting)}`);
    }
    return new AgentCallCap(value, now);
  }

  /**
   * Counts a call for `from` and returns; throws a ValidationError (nothing counted) when the agent
   * already placed `maxPerMinute` calls in the last 60 s, saying when the next one is allowed.
   */
  take(from: string, field = 'payload.from'): void {
    if (this.maxPerMinute === 0) return;
    const now = this.now();
    this.sweep(now);
    const key = toE164(from);
    let times = this.calls.get(key);
    if (times) {
      let expired = 0;
      while (expired < times.length && now - times[expired] >= 60_000) expired++;
      if (expired > 0) times.splice(0, expired);
    } else {
      times = [];
      this.calls.set(key, times);
    }
    if (times.length >= this.maxPerMinute) {
      const waitS = Math.max(1, Math.ceil((times[0] + 60_000 - now) / 1000));
      throw new CallRefusedError(
        `${field}: ${this.maxPerMinute} call(s) were already placed for this agent (${toE164(from)}) in the last minute ` +
          `(maxCallsPerAgentPerMinute ${this.maxPerMinute}); the next is allowed in ${waitS} s`,
        field,
        { kind: 'cap', max: this.maxPerMinute },
      );
    }
    times.push(now);
  }

  /** Agents with calls in the last minute (for tests and the status). */
  get agents(): number {
    return this.calls.size;
  }

  /** Drops agents idle for a minute; at most once a second, so a busy node does not scan per call. */
  private sweep(now: number): void {
    if (now - this.lastSweep < 1_000) return;
    this.lastSweep = now;
    for (const [key, times] of this.calls) {
      if (times.length === 0 || now - times[times.length - 1] >= 60_000) this.calls.delete(key);
    }
  }
}

/** What click-to-call needs of a sangam-config's agent directory. */
export interface AgentLookup {
  resolve(reference: string): Agent | undefined;
}

/**
 * Click-to-call's `from` (or `phone`) when the node names a sangam-config: an agent's extension,
 * userId or email (or one of the directory's phones) is replaced by that agent's phone; a phone
 * number that is no agent's is dialled as given. Returns the payload to check and send (a copy when
 * `from` changed, so the msg's own payload is left alone). Throws a ValidationError naming the
 * field for a reference that is neither an agent nor a phone number, or an agent without a phone.
 * `unavailable` says why there is no directory (the sangam-config's problem), when there is none.
 */
export function resolveAgentFrom(payload: unknown, directory: AgentLookup | undefined, unavailable?: string): unknown {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return payload;
  const input = payload as Record<string, unknown>;
  const field = isUnset(input.from) && !isUnset(input.phone) ? 'phone' : 'from';
  const reference = input[field];
  if (typeof reference !== 'string' && typeof reference !== 'number') return payload;
  const text = String(reference);
  const agent = directory?.resolve(text);
  if (!agent) {
    if (isPhoneNumber(text)) return payload;
    const why = directory
      ? 'neither a phone number nor the extension, userId or email of an agent in the sangam-config\'s directory'
      : `not a phone number, and the sangam-config's agent directory is not available${unavailable ? ` (${unavailable})` : ''}`;
    throw new ValidationError(`payload.${field}: ${quote(text)} is ${why}`, `payload.${field}`);
  }
  if (agent.phone === '') {
    throw new ValidationError(
      `payload.${field}: agent ${quote(agent.name || text)} has no phone in the sangam-config's directory`,
      `payload.${field}`,
    );
  }
  // `phone` is read only when `from` is unset: the resolved number goes to `from`.
  return { ...input, from: agent.phone, phone: undefined };
}

function isUnset(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

function isPhoneNumber(text: string): boolean {
  try {
    parsePhoneNumber(text, 'from');
    return true;
  } catch {
    return false;
  }
}
