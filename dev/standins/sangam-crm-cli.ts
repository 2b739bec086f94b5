/**
 * Runs the SangamCRM stand-in as its own process (for `npm start`, the benchmark and crash tests):
 *   node .build/dev/standins/sangam-crm-cli.js --port 8089 --token TOKEN [--host 127.0.0.1] [--fast] [--latency 50] [--quiet]
 * Environment fallbacks: SANGAM_STANDIN_PORT, SANGAM_STANDIN_TOKEN.
 */
import { SangamCrmStandIn, type SangamCrmOptions } from './sangam-crm';

export interface CliSettings {
  options: SangamCrmOptions;
  quiet: boolean;
}

const USAGE =
  'usage: sangam-crm-cli --token TOKEN [--port 8089] [--host 127.0.0.1] [--fast] [--latency MS] [--quiet]\n' +
  '       (or env SANGAM_STANDIN_TOKEN, SANGAM_STANDIN_PORT)';

/** Parses the command line; throws a RangeError naming the bad argument. */
export function parseCliArgs(argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): CliSettings {
  let token = env.SANGAM_STANDIN_TOKEN;
  let portText = env.SANGAM_STANDIN_PORT;
  let host: string | undefined;
  let latencyText: string | undefined;
  let fast = false;
  let quiet = false;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    const value = (): string => {
      const next = argv[++index];
      if (next === undefined) throw new RangeError(`${arg} needs a value`);
      return next;
    };
    switch (arg) {
      case '--token':
        token = value();
        break;
      case '--port':
        portText = value();
        break;
      case '--host':
        host = value();
        break;
      case '--latency':
        latencyText = value();
        break;
      case '--fast':
        fast = true;
        break;
      case '--quiet':
        quiet = true;
        break;
      default:
        throw new RangeError(`unknown argument ${arg}`);
    }
  }
  if (!token) throw new RangeError('a token is required (--token or SANGAM_STANDIN_TOKEN)');
  const port = portText === undefined || portText === '' ? 0 : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be 0-65535, got ${portText ?? ''}`);
  const latencyMs = latencyText === undefined ? 0 : Number(latencyText);
  if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new RangeError(`latency must be milliseconds >= 0, got ${latencyText ?? ''}`);
  const options: SangamCrmOptions = { token, port, fast, latencyMs };
  if (host !== undefined) options.host = host;
  return { options, quiet: quiet || fast };
}

async function main(): Promise<void> {
  let settings: CliSettings;
  try {
    settings = parseCliArgs(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const { options, quiet } = settings;
  if (!quiet) options.log = (line) => process.stdout.write(`${line}\n`);
  const standIn = await SangamCrmStandIn.start(options);
  process.stdout.write(`sangam-crm stand-in listening on ${standIn.url}\n`);
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
    process.stderr.write(`sangam-crm stand-in failed: ${error.message}\n`);
    process.exit(1);
  });
}
