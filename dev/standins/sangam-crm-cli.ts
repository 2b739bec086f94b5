/**
 * Runs the SangamCRM stand-in as its own process (for `npm start`, the benchmark and crash tests):
 *   node .build/dev/standins/sangam-crm-cli.js --port 8089 --token TOKEN [--host 127.0.0.1] [--fast] [--latency 50] [--quiet]
 * Environment fallbacks: SANGAM_STANDIN_PORT, SANGAM_STANDIN_TOKEN.
 */
import { parsePort, readFlags, runStandInCli, type StandInCliSettings } from './cli';
import { SangamCrmStandIn, type SangamCrmOptions } from './sangam-crm';

export type CliSettings = StandInCliSettings<SangamCrmOptions>;

const USAGE =
  'usage: sangam-crm-cli --token TOKEN [--port 8089] [--host 127.0.0.1] [--fast] [--latency MS] [--quiet]\n' +
  '       (or env SANGAM_STANDIN_TOKEN, SANGAM_STANDIN_PORT)';

/** Parses the command line; throws a RangeError naming the bad argument. */
export function parseCliArgs(argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): CliSettings {
  const { values, switches } = readFlags(argv, ['--token', '--port', '--host', '--latency'], ['--fast', '--quiet']);
  const token = values['--token'] ?? env.SANGAM_STANDIN_TOKEN;
  if (!token) throw new RangeError('a token is required (--token or SANGAM_STANDIN_TOKEN)');
  const port = parsePort(values['--port'] ?? env.SANGAM_STANDIN_PORT);
  const latencyText = values['--latency'];
  const latencyMs = latencyText === undefined ? 0 : Number(latencyText);
  if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new RangeError(`latency must be milliseconds >= 0, got ${latencyText ?? ''}`);
  const fast = switches.has('--fast');
  const options: SangamCrmOptions = { token, port, fast, latencyMs };
  const host = values['--host'];
  if (host !== undefined) options.host = host;
  return { options, quiet: switches.has('--quiet') || fast };
}

if (require.main === module) {
  runStandInCli({
    name: 'sangam-crm stand-in',
    usage: USAGE,
    parse: parseCliArgs,
    start: (options) => SangamCrmStandIn.start(options),
    listening: (standIn) => `sangam-crm stand-in listening on ${standIn.url}`,
  });
}
