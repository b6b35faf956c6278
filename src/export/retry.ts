import type { OtlpExporterConfig } from '../config/schema.ts';
import { ExportRetriesExhaustedError, ExportTimeoutError } from './errors.ts';
import { isTailsamplerError } from '../errors.ts';

export type RetryConfig = OtlpExporterConfig['retry_on_failure'];

/** The Collector's backoff shape: each wait grows by 1.5×, randomised ±50% so senders do not march in step. */
const MULTIPLIER = 1.5;
const RANDOMIZATION = 0.5;

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
 * Runs `attempt` until it succeeds, fails permanently (an error whose `retryable` is false), or the
 * next wait would pass `max_elapsed_time_ms` (0: no limit, as in the Collector). A server's throttling
 * hint (Retry-After, RetryInfo) lengthens the wait but never shortens it. Throws the attempt's own
 * error when it is permanent, ExportRetriesExhaustedError when time ran out, and the abort reason
 * when `signal` fired.
 */
export async function runWithRetry<T>(attempt: (signal: AbortSignal) => Promise<T>, options: RetryOptions): Promise<T> {
  const { retry, timeoutMs, signal } = options;
  const random = options.random ?? Math.random;
  const started = Date.now();
  let interval = retry.initial_interval_ms;
  for (let n = 1; ; n++) {
    signal.throwIfAborted();
    let error: unknown;
    try {
      return await attemptWithTimeout(attempt, timeoutMs, signal);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      error = e;
    }
    if (!isRetryable(error)) throw error;
    if (!retry.enabled) throw new ExportRetriesExhaustedError(n, error);

    let delay = interval * (1 - RANDOMIZATION + 2 * RANDOMIZATION * random());
    const hint = retryAfterOf(error);
    if (hint !== undefined) delay = Math.max(delay, hint);
    interval = Math.min(interval * MULTIPLIER, retry.max_interval_ms);
    if (retry.max_elapsed_time_ms > 0 && Date.now() - started + delay > retry.max_elapsed_time_ms) {
      throw new ExportRetriesExhaustedError(n, error);
    }
    options.onRetry?.(n, delay, error);
    await sleep(delay, signal);
  }
}

async function attemptWithTimeout<T>(
  attempt: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  outer: AbortSignal,
): Promise<T> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    return await attempt(AbortSignal.any([outer, timeout]));
  } catch (e) {
    // Senders may surface the abort as their own error; the timeout is what matters to the caller.
    if (timeout.aborted && !outer.aborted) throw new ExportTimeoutError(timeoutMs);
    throw e;
  }
}

function isRetryable(e: unknown): boolean {
  return isTailsamplerError(e) ? e.retryable : false;
}

function retryAfterOf(e: unknown): number | undefined {
  if (typeof e === 'object' && e !== null && 'retryAfterMs' in e) {
    const v = e.retryAfterMs;
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  }
  return undefined;
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
