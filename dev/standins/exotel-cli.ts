/**
 * Runs the Exotel stand-in as its own process (for `npm start` and the benchmark):
 *   node .build/dev/standins/exotel-cli.js --sid SID --key KEY --token TOKEN [--port 8090]
 *        [--host 127.0.0.1] [--auto-end MS] [--rate-limit N] [--twice] [--quiet]
 * Prints one line, `exotel stand-in listening on <url> (account <sid>)`, and exits on SIGTERM.
 * Environment fallbacks: EXOTEL_STANDIN_PORT, EXOTEL_STANDIN_SID, EXOTEL_STANDIN_KEY, EXOTEL_STANDIN_TOKEN.
 */
import { ExotelStandIn, type ExotelStandInOptions } from './exotel';

export interface ExotelCliSettings {
  options: ExotelStandInOptions;
  quiet: boolean;
}

const USAGE =
  'usage: exotel-cli --sid SID --key KEY --token TOKEN [--port 8090] [--host 127.0.0.1] [--auto-end MS]\n' +
  '                  [--rate-limit N] [--twice] [--quiet]\n' +
  '       (or env EXOTEL_STANDIN_SID, EXOTEL_STANDIN_KEY, EXOTEL_STANDIN_TOKEN, EXOTEL_STANDIN_PORT)';

/** Parses the command line; throws a RangeError naming the bad argument. */
export function parseExotelCliArgs(argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): ExotelCliSettings {
  let accountSid = env.EXOTEL_STANDIN_SID;
  let apiKey = env.EXOTEL_STANDIN_KEY;
  let apiToken = env.EXOTEL_STANDIN_TOKEN;
  let portText = env.EXOTEL_STANDIN_PORT;
  let host: string | undefined;
  let autoEndText: string | undefined;
  let rateLimitText: string | undefined;
  let twice = false;
  let quiet = false;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] as string;
    const value = (): string => {
      const next = argv[++index];
      if (next === undefined) throw new RangeError(`${arg} needs a value`);
      return next;
    };
    switch (arg) {
      case '--sid':
        accountSid = value();
        break;
      case '--key':
        apiKey = value();
        break;
      case '--token':
        apiToken = value();
        break;
      case '--port':
        portText = value();
        break;
      case '--host':
        host = value();
        break;
      case '--auto-end':
        autoEndText = value();
        break;
      case '--rate-limit':
        rateLimitText = value();
        break;
      case '--twice':
        twice = true;
        break;
      case '--quiet':
        quiet = true;
        break;
      default:
        throw new RangeError(`unknown argument ${arg}`);
    }
  }
  if (!accountSid) throw new RangeError('an account SID is required (--sid or EXOTEL_STANDIN_SID)');
  if (!apiKey) throw new RangeError('an API key is required (--key or EXOTEL_STANDIN_KEY)');
  if (!apiToken) throw new RangeError('an API token is required (--token or EXOTEL_STANDIN_TOKEN)');
  const port = portText === undefined || portText === '' ? 0 : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be 0-65535, got ${portText ?? ''}`);
  const options: ExotelStandInOptions = { accountSid, apiKey, apiToken, port, deliverCallbacksTwice: twice };
  if (host !== undefined) options.host = host;
  if (autoEndText !== undefined) {
    const autoEndMs = Number(autoEndText);
    if (!Number.isFinite(autoEndMs) || autoEndMs < 0) throw new RangeError(`--auto-end must be milliseconds >= 0, got ${autoEndText}`);
    options.autoEndMs = autoEndMs;
  }
  if (rateLimitText !== undefined) {
    const rateLimit = Number(rateLimitText);
    if (!Number.isInteger(rateLimit) || rateLimit < 1) throw new RangeError(`--rate-limit must be a whole number >= 1, got ${rateLimitText}`);
    options.rateLimit = rateLimit;
  }
  return { options, quiet };
}

async function main(): Promise<void> {
  let settings: ExotelCliSettings;
  try {
    settings = parseExotelCliArgs(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const { options, quiet } = settings;
  if (!quiet) options.log = (line) => process.stdout.write(`${line}\n`);
  const standIn = await ExotelStandIn.start(options);
  process.stdout.write(`exotel stand-in listening on ${standIn.url} (account ${options.accountSid})\n`);
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
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`exotel stand-in failed: ${error.message}\n`);
    process.exit(1);
  });
}
