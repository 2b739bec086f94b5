/**
 * Runs the Exotel stand-in as its own process (for `npm start` and the benchmark):
 *   node .build/dev/standins/exotel-cli.js --sid SID --key KEY --token TOKEN [--port 8090]
 *        [--host 127.0.0.1] [--auto-end MS] [--rate-limit N] [--twice] [--quiet]
 * Prints one line, `exotel stand-in listening on <url> (account <sid>)`, and exits on SIGTERM.
 * Environment fallbacks: EXOTEL_STANDIN_PORT, EXOTEL_STANDIN_SID, EXOTEL_STANDIN_KEY, EXOTEL_STANDIN_TOKEN.
 */
import { parsePort, readFlags, runStandInCli, type StandInCliSettings } from './cli';
import { ExotelStandIn, type ExotelStandInOptions } from './exotel';

export type ExotelCliSettings = StandInCliSettings<ExotelStandInOptions>;

const USAGE =
  'usage: exotel-cli --sid SID --key KEY --token TOKEN [--port 8090] [--host 127.0.0.1] [--auto-end MS]\n' +
  '                  [--rate-limit N] [--twice] [--quiet]\n' +
  '       (or env EXOTEL_STANDIN_SID, EXOTEL_STANDIN_KEY, EXOTEL_STANDIN_TOKEN, EXOTEL_STANDIN_PORT)';

/** Parses the command line; throws a RangeError naming the bad argument. */
export function parseExotelCliArgs(argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): ExotelCliSettings {
  const { values, switches } = readFlags(
    argv,
    ['--sid', '--key', '--token', '--port', '--host', '--auto-end', '--rate-limit'],
    ['--twice', '--quiet'],
  );
  const accountSid = values['--sid'] ?? env.EXOTEL_STANDIN_SID;
  const apiKey = values['--key'] ?? env.EXOTEL_STANDIN_KEY;
  const apiToken = values['--token'] ?? env.EXOTEL_STANDIN_TOKEN;
  if (!accountSid) throw new RangeError('an account SID is required (--sid or EXOTEL_STANDIN_SID)');
  if (!apiKey) throw new RangeError('an API key is required (--key or EXOTEL_STANDIN_KEY)');
  if (!apiToken) throw new RangeError('an API token is required (--token or EXOTEL_STANDIN_TOKEN)');
  const port = parsePort(values['--port'] ?? env.EXOTEL_STANDIN_PORT);
  const options: ExotelStandInOptions = { accountSid, apiKey, apiToken, port, deliverCallbacksTwice: switches.has('--twice') };
  const host = values['--host'];
  if (host !== undefined) options.host = host;
  const autoEndText = values['--auto-end'];
  if (autoEndText !== undefined) {
    const autoEndMs = Number(autoEndText);
    if (!Number.isFinite(autoEndMs) || autoEndMs < 0) throw new RangeError(`--auto-end must be milliseconds >= 0, got ${autoEndText}`);
    options.autoEndMs = autoEndMs;
  }
  const rateLimitText = values['--rate-limit'];
  if (rateLimitText !== undefined) {
    const rateLimit = Number(rateLimitText);
    if (!Number.isInteger(rateLimit) || rateLimit < 1) throw new RangeError(`--rate-limit must be a whole number >= 1, got ${rateLimitText}`);
    options.rateLimit = rateLimit;
  }
  return { options, quiet: switches.has('--quiet') };
}

if (require.main === module) {
  runStandInCli({
    name: 'exotel stand-in',
    usage: USAGE,
    parse: parseExotelCliArgs,
    start: (options) => ExotelStandIn.start(options),
    listening: (standIn, options) => `exotel stand-in listening on ${standIn.url} (account ${options.accountSid})`,
  });
}
