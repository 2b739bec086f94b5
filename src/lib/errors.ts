/** Errors the nodes hand to done(err). Each message names what is wrong and never a secret. */

/** Bad input from a msg or from the node's settings: never retried. */
export class ValidationError extends Error {
  override name = 'ValidationError';
  constructor(message: string, readonly field?: string) {
    super(message);
  }
}

/** A node's settings cannot work (bad domain, missing credential). */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * A request that did not get a usable answer. `retryable` says whether sending the same request
 * again is safe and may help; `retryAfterMs` carries the server's Retry-After when it sent one.
 */
export class RemoteError extends Error {
  override name = 'RemoteError';
  constructor(
    message: string,
    readonly options: {
      statusCode?: number;
      code?: string;
      retryable: boolean;
      retryAfterMs?: number;
      /** The request may have reached the server (timeout, reset, 5xx): matters for non-idempotent calls. */
      mayHaveReachedServer?: boolean;
    },
  ) {
    super(message);
  }
  get statusCode(): number | undefined {
    return this.options.statusCode;
  }
  get code(): string | undefined {
    return this.options.code;
  }
  get retryable(): boolean {
    return this.options.retryable;
  }
  get retryAfterMs(): number | undefined {
    return this.options.retryAfterMs;
  }
}

/** The work was abandoned because the node was closed or the caller gave up. */
export class AbortedError extends Error {
  override name = 'AbortedError';
}

/** Replaces every occurrence of each secret in `text` with `***`. */
export function redact(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  // Longest first: a shorter secret inside a longer one would otherwise leave the rest of it visible.
  const ordered = [...secrets].sort((a, b) => (b?.length ?? 0) - (a?.length ?? 0));
  for (const secret of ordered) {
    // Very short secrets would mangle ordinary text; tokens are long in practice.
    if (secret && secret.length >= 4) out = out.split(secret).join('***');
  }
  return out;
}

/** A failure in a few words for a node status: "HTTP 503", a network code, or the start of the message. */
export function statusReason(error: Error): string {
  const statusCode = (error as { statusCode?: unknown }).statusCode;
  if (typeof statusCode === 'number') return `HTTP ${statusCode}`;
  if (error instanceof RemoteError && error.code) return error.code;
  return excerpt(error.message, 60);
}

/** Shortens a server's message for an error or status line. */
export function excerpt(text: string, max = 200): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  if (oneLine.length <= max) return oneLine;
  let cut = oneLine.slice(0, max - 1);
  // Do not end on the first half of a surrogate pair (an emoji, a rare CJK character).
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** The `code` of a Node.js system error (`ENOENT`, `EEXIST`, ...), or undefined. */
export function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
