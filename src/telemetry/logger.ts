import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths whose values never reach a log line. */
const REDACT = [
  '*.password',
  '*.token',
  '*.secret',
  '*.api_key',
  '*.apiKey',
  '*.authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  '*.client_secret',
  '*.secret_access_key',
  '*.session_token',
  'config.storage.s3.secret_access_key',
  'config.storage.s3.session_token',
  'storage.s3.secret_access_key',
  'storage.s3.session_token',
  'config.exporters.*.headers',
  // The parsed `exporters` section is a list of { id, type, config }.
  'config.exporters[*].config.headers',
  'exporters[*].config.headers',
  '*.config.headers',
  // Datadog agentless API key (exporters.datadog.api.key), and the header that carries it.
  '*.api.key',
  'api.key',
  'config.exporters[*].config.api.key',
  'exporters[*].config.api.key',
  '*.config.api.key',
  '*.headers["dd-api-key"]',
  '*.credential',
  'catalog.token',
  'catalog.credential',
  'catalog.headers',
  'storage.catalog.token',
  'storage.catalog.credential',
  'storage.catalog.headers',
  'config.storage.catalog.token',
  'config.storage.catalog.credential',
  'config.storage.catalog.headers',
  '*.sasl.password',
  'spool.kafka.sasl.password',
  'config.spool.kafka.sasl.password',
  // The admin API's static bearer token.
  'admin.token',
  'config.admin.token',
];

export function createLogger(level: string = process.env.TAILSAMPLER_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'tailsampler' },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that writes nothing, for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
