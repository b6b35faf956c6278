import { isTailsamplerError } from './errors.ts';

/**
 * Retry with backoff, one implementation for the service (exporters, Iceberg commits and the reloads
 * that reconcile them). The shape is the OpenTelemetry Collector's (its exporterhelper's backoff):
 * the interval starts at `initialIntervalMs` and grows by `multiplier` after each retry up to
 * `maxIntervalMs`; each wait is that interval randomised by ±`randomization`, so that senders that
 * failed together do not retry in step.
 */
export interface BackoffPolicy {
  initialIntervalMs: number;
  /** Cap of the interval (before randomisation). */
  maxIntervalMs: number;
  /** Growth of the interval per retry; default 1.5, as the Collector. */
  multiplier?: number;
  /** Each wait is interval × (1 ± randomization): default 0.5, as the Collector; 0 none; 1 anywhere in [0, 2 × interval). */
  randomization?: number;
}

export const DEFAULT_MULTIPLIER = 1.5;
export const DEFAULT_RANDOMIZATION = 0.5;

/** The interval before retry number `retry` (1: the first retry), before randomisation. */
export function backoffInterval(policy: BackoffPolicy, retry: number): number {
  const multiplier = policy.multiplier ?? DEFAULT_MULTIPLIER;
  return Math.min(policy.initialIntervalMs * multiplier ** (retry - 1), policy.maxIntervalMs);
}

/** The wait before retry number `retry` (1: the first retry): its interval, randomised with `random()` ∈ [0, 1). */
export function nextBackoff(policy: BackoffPolicy, retry: number, random: () => number = Math.random): number {
  const r = policy.randomization ?? DEFAULT_RANDOMIZATION;
  return backoffInterval(policy, retry) * (1 - r + 2 * r * random());
}

export interface RetryOptions {
  backoff: BackoffPolicy;
  /** Attempts at most, the first included (default: no limit). */
  maxAttempts?: number;
  /** Stop when the next wait would end later than this after the first attempt began (0 or absent: no limit). */
  maxElapsedMs?: number;
  /** Whether a failure may be retried (default: a TailsamplerError whose `retryable` is true). */
  retryable?: (error: unknown) => boolean;
  /**
   * Bound of one attempt: its signal aborts after `ms`, and whatever it then fails with becomes
   * `error(ms)` (which `retryable` then judges).
   */
  timeout?: { ms: number; error: (ms: number) => Error };
  /** What to throw when retrying stops on a retryable failure (limits reached); default: that failure. */
  exhausted?: (attempts: number, lastError: unknown) => Error;
  /** Ends the current attempt and any wait at once; its reason is thrown. */
  signal?: AbortSignal;
  /** For tests; default Math.random. */
  random?: () => number;
  /** Told before each wait (for logs). */
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
}

/**
 * Runs `attempt` until it succeeds, fails with an error `retryable` refuses (thrown as it is), or
 * the limits are reached (`exhausted`). A failure's own hint (`retryAfterMs`: HTTP Retry-After, gRPC
 * RetryInfo, a busy pipeline) lengthens the wait but never shortens it.
 */
export async function retryWithBackoff<T>(attempt: (signal: AbortSignal) => Promise<T>, options: RetryOptions): Promise<T> {
  const signal = options.signal ?? new AbortController().signal;
  const random = options.random ?? Math.random;
  const retryable = options.retryable ?? isRetryableError;
  const started = Date.now();
  for (let n = 1; ; n++) {
    signal.throwIfAborted();
    let error: unknown;
    try {
      return await attemptWithTimeout(attempt, options.timeout, signal);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      error = e;
    }
    if (!retryable(error)) throw error;
    const giveUp = (): unknown => (options.exhausted ? options.exhausted(n, error) : error);
    if (options.maxAttempts !== undefined && n >= options.maxAttempts) throw giveUp();

    let delay = nextBackoff(options.backoff, n, random);
    const hint = retryAfterOf(error);
    if (hint !== undefined) delay = Math.max(delay, hint);
    const maxElapsed = options.maxElapsedMs ?? 0;
    if (maxElapsed > 0 && Date.now() - started + delay > maxElapsed) throw giveUp();
    options.onRetry?.(n, delay, error);
    await sleep(delay, signal);
  }
}

async function attemptWithTimeout<T>(
  attempt: (signal: AbortSignal) => Promise<T>,
  timeout: RetryOptions['timeout'],
  outer: AbortSignal,
): Promise<T> {
  if (timeout === undefined) return attempt(outer);
  const timer = AbortSignal.timeout(timeout.ms);
  try {
    return await attempt(AbortSignal.any([outer, timer]));
  } catch (e) {
    // Attempts may surface the abort as their own error; that the time ran out is what matters.
    if (timer.aborted && !outer.aborted) throw timeout.error(timeout.ms);
    throw e;
  }
}

/** The default judgement: our own errors say whether they are retryable; anything else is a bug or unknown, so not. */
export function isRetryableError(e: unknown): boolean {
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
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
