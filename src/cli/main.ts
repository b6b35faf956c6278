import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import { isTailsamplerError } from '../errors.ts';
import { listDeadLetters } from '../export/delivery-store.ts';
import { flushCompileCache } from 'node:module';
import { startService } from '../pipeline/service.ts';
import { createLogger } from '../telemetry/logger.ts';
import { runLoadgen, LOADGEN_OPTIONS } from './loadgen.ts';
import { runRules } from './rules.ts';
import { runRescue } from './rescue.ts';

const USAGE = `usage:
  tailsampler start [--config FILE]      run the service (embedded defaults without a file)
  tailsampler validate --config FILE     check a config file and print every problem with its path
  tailsampler loadgen [options]          send synthetic traces over OTLP (see --help)
  tailsampler dead-letters [--config FILE] [--limit N]
                                         print the kept traces exporters gave up on, one JSON line each
  tailsampler rules add|list|get|delete|extend|enable|disable [options]
                                         force rules through the admin API (see rules --help)
  tailsampler rescue TRACE_ID… | --service S --from T --to T --errors --attr k=v [--limit N] [--wait]
                                         export traces from the lake whatever their decision (see --help)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return start(rest);
    case 'validate':
      return validate(rest);
    case 'dead-letters':
      return deadLetters(rest);
    case 'rules':
      return runRules(rest);
    case 'rescue':
      return runRescue(rest);
    case 'loadgen':
      return runLoadgen(parseArgs({ args: rest, options: LOADGEN_OPTIONS, strict: true }).values);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

function configArg(args: string[]): string | undefined {
  return parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true }).values.config;
}

async function validate(args: string[]): Promise<number> {
  const file = configArg(args);
  if (file === undefined) {
    process.stderr.write('validate needs --config FILE\n');
    return 2;
  }
  await loadConfig(file);
  process.stdout.write(`${file}: valid\n`);
  return 0;
}

async function deadLetters(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, limit: { type: 'string', default: '1000' } }, strict: true });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit <= 0) {
    process.stderr.write(`--limit must be a positive whole number (got ${values.limit})\n`);
    return 2;
  }
  const config = await loadConfig(values.config);
  for (const d of listDeadLetters(config.query.state_dir, limit)) process.stdout.write(`${JSON.stringify(d)}\n`);
  return 0;
}

async function start(args: string[]): Promise<number> {
  const config = await loadConfig(configArg(args));
  const logger = createLogger(config.telemetry.log_level);
  // Signals are handled from the start: one that comes while the pipeline is still starting (an
  // orchestrator stopping a slow pod) shuts it down cleanly once it is up, instead of killing it.
  let requested: ((signal: string) => void) | null = null;
  let pending: string | null = null;
  const onSignal = (signal: string): void => {
    if (requested !== null) requested(signal);
    else pending ??= signal;
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  const service = await startService(config, logger);
  // Saves the modules compiled so far (bin/tailsampler.js enabled the cache) for the next start.
  flushCompileCache();
  return new Promise<number>((resolve) => {
    requested = (signal: string): void => {
      requested = () => {};
      logger.info({ signal }, 'shutting down');
      service.shutdown().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    if (pending !== null) requested(pending);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Errors of ours carry a message meant for the user; anything else is a bug worth its stack.
    process.stderr.write(isTailsamplerError(err) ? `${err.code}: ${err.message}\n` : `${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
