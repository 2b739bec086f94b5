import { ConfigError, ValidationError } from '../lib/errors';

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
 * A checked phone number (digits, optionally after +, no separators: parsePhoneNumber's output)
 * in E.164 form: `+` kept, `00` (international access) becomes `+`, a leading 0 or 10 bare digits
 * are national Indian numbers; any other bare digits already start with their country code.
 */
export function toE164(number: string): string {
  if (number.startsWith('+')) return number;
  if (number.startsWith('00')) return `+${number.slice(2)}`;
  if (number.startsWith('0')) return `+${HOME_COUNTRY_CODE}${number.slice(1)}`;
  if (number.length === 10) return `+${HOME_COUNTRY_CODE}${number}`;
  return `+${number}`;
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
    throw new ValidationError(
      `${field}: a number with prefix ${countryCode(e164)} (${e164.slice(0, 6)}…) may not be dialled: ` +
        `it is outside allowedPrefixes (${this.setting}); add its prefix to the node's allowedPrefixes to allow it`,
      field,
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
    if (setting === undefined || setting === null || setting === '') {
      return new AgentCallCap(DEFAULT_MAX_CALLS_PER_AGENT_PER_MINUTE, now);
    }
    const value = typeof setting === 'string' ? Number(setting.trim()) : setting;
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
      throw new ValidationError(
        `${field}: ${this.maxPerMinute} call(s) were already placed for this agent in the last minute ` +
          `(maxCallsPerAgentPerMinute); the next is allowed in ${waitS} s`,
        field,
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
