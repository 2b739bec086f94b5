/** Small checks and renderings of values, shared by the SangamCRM and Exotel modules. */

/** A JSON object (not null, not an array): what an API answer must be before its fields are read. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A user's value for an error message: as a JSON string, cut at 60 characters. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}
