import type { OtlpExporterConfig } from './config.ts';
import { retryWithBackoff } from '../retry.ts';
import { ExportRetriesExhaustedError, ExportTimeoutError } from './errors.ts';

export { sleep } from '../retry.ts';

export type RetryConfig = OtlpExporterConfig['retry_on_failure'];

export interface RetryOptions {
  retry: RetryConfig;
  /** Bound of one attempt. */
  timeoutMs: number;
  /** Aborted on shutdown: the current attempt and any backoff wait end at once. */
  signal: AbortSignal;
  /** For tests; defaults to Math.random. */
  random?: () => number;
  /** Told before each backoff wait (for logs). */
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
}

/**
 * The shared retry (src/retry.ts) as the exporters use it, with `retry_on_failure` as the Collector's
 * exporterhelper reads it: waits grow 1.5× from `initial_interval_ms` up to `max_interval_ms`, ±50%
 * jitter. Runs `attempt` until it succeeds, fails permanently (an error whose `retryable` is false),
 * or the next wait would pass `max_elapsed_time_ms` (0: no limit, as in the Collector). An attempt
 * longer than `timeoutMs` fails with the retryable ExportTimeoutError. A server's throttling hint
 * (Retry-After, RetryInfo) lengthens the wait but never shortens it. Throws the attempt's own error
 * when it is permanent, ExportRetriesExhaustedError when time ran out (at once when retrying is
 * disabled), and the abort reason when `signal` fired.
 */
export function runWithRetry<T>(attempt: (signal: AbortSignal) => Promise<T>, options: RetryOptions): Promise<T> {
  const { retry } = options;
  return retryWithBackoff(attempt, {
    backoff: { initialIntervalMs: retry.initial_interval_ms, maxIntervalMs: retry.max_interval_ms },
    maxAttempts: retry.enabled ? undefined : 1,
    maxElapsedMs: retry.max_elapsed_time_ms,
    timeout: { ms: options.timeoutMs, error: (ms) => new ExportTimeoutError(ms) },
    exhausted: (attempts, error) => new ExportRetriesExhaustedError(attempts, error),
    signal: options.signal,
    random: options.random,
    onRetry: options.onRetry,
  });
}
