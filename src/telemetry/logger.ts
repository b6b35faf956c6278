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
  'config.exporters.*.headers',
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
