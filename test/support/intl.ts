/**
 * Counting what Intl builds: the first Intl.DateTimeFormat of a process loads ICU's data (about
 * 8 MB of RSS), so code that need not format a date yet must not build one.
 */

/** How many Intl.DateTimeFormat objects `run` builds (the global is swapped for a counting wrapper meanwhile). */
export function countFormatters(run: () => void): number {
  const original = Intl.DateTimeFormat;
  let built = 0;
  const Counting = function (this: unknown, ...args: ConstructorParameters<typeof Intl.DateTimeFormat>) {
    built++;
    return new original(...args);
  } as unknown as typeof Intl.DateTimeFormat;
  Counting.supportedLocalesOf = original.supportedLocalesOf;
  Intl.DateTimeFormat = Counting;
  try {
    run();
  } finally {
    Intl.DateTimeFormat = original;
  }
  return built;
}

