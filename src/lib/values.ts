/** Small checks and renderings of values, shared by the SangamCRM and Exotel modules. */

/** A JSON object (not null, not an array): what an API answer must be before its fields are read. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A user's value for an error message: as a JSON string, cut at 60 characters. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

/**
 * A function that is made at its first call: what making it costs (loading a module, asking Intl
 * for the host's zone) is paid only by a node that is used.
 */
export function madeAtFirstCall<A, R>(make: () => (arg: A) => R): (arg: A) => R {
  let made: ((arg: A) => R) | undefined;
  return (arg) => (made ??= make())(arg);
}
