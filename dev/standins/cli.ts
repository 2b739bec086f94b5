/**
 * What the stand-in CLIs (sangam-crm-cli.ts, exotel-cli.ts) share: reading `--flag value` and
 * `--switch` arguments, the port rule, and running a stand-in until SIGTERM or SIGINT.
 */

export interface ParsedFlags<V extends string, S extends string> {
  /** The last value given for each value flag (absent when not given). */
  values: Partial<Record<V, string>>;
  /** The switches given. */
  switches: Set<S>;
}

/**
 * Reads the command line: each of `valueFlags` takes the next argument as its value (a later one
 * wins), each of `switchFlags` stands alone. Throws a RangeError naming an unknown argument or a
 * flag without its value.
 */
export function readFlags<V extends string, S extends string>(
  argv: ReadonlyArray<string>,
  valueFlags: ReadonlyArray<V>,
  switchFlags: ReadonlyArray<S>,
): ParsedFlags<V, S> {
  const parsed: ParsedFlags<V, S> = { values: {}, switches: new Set() };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if ((valueFlags as ReadonlyArray<string>).includes(arg)) {
      const next = argv[++index];
      if (next === undefined) throw new RangeError(`${arg} needs a value`);
      parsed.values[arg as V] = next;
    } else if ((switchFlags as ReadonlyArray<string>).includes(arg)) {
      parsed.switches.add(arg as S);
    } else {
      throw new RangeError(`unknown argument ${arg}`);
    }
  }
  return parsed;
}

/** A listening port from a flag or the environment: 0 (a free port) when absent or empty. */
export function parsePort(text: string | undefined): number {
  const port = text === undefined || text === '' ? 0 : Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be 0-65535, got ${text ?? ''}`);
  return port;
}

/** What a CLI's parser returns: the stand-in's options and whether to keep its request log quiet. */
export interface StandInCliSettings<O extends { log?: (line: string) => void }> {
  options: O;
  quiet: boolean;
}

export interface StandInCli<O extends { log?: (line: string) => void }, T extends { url: string; close(): Promise<void> }> {
  /** As in messages: 'sangam-crm stand-in'. */
  name: string;
  usage: string;
  parse(argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): StandInCliSettings<O>;
  start(options: O): Promise<T>;
  /** The one line printed once it listens (callers wait for "listening on <url>"). */
  listening(standIn: T, options: O): string;
}

/**
 * Runs a stand-in as this process: a bad command line prints the message and the usage and
 * exits 2; otherwise it logs each request (unless quiet), prints the listening line, and on
 * SIGTERM or SIGINT closes the stand-in and exits 0 (1 when closing failed, or it did not start).
 */
export function runStandInCli<O extends { log?: (line: string) => void }, T extends { url: string; close(): Promise<void> }>(
  cli: StandInCli<O, T>,
): void {
  const main = async (): Promise<void> => {
    let settings: StandInCliSettings<O>;
    try {
      settings = cli.parse(process.argv.slice(2), process.env);
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n${cli.usage}\n`);
      process.exitCode = 2;
      return;
    }
    const { options, quiet } = settings;
    if (!quiet) options.log = (line) => process.stdout.write(`${line}\n`);
    const standIn = await cli.start(options);
    process.stdout.write(`${cli.listening(standIn, options)}\n`);
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      standIn.close().then(
        () => process.exit(0),
        (error: Error) => {
          process.stderr.write(`close failed: ${error.message}\n`);
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  };
  main().catch((error: Error) => {
    process.stderr.write(`${cli.name} failed: ${error.message}\n`);
    process.exit(1);
  });
}
