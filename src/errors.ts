/**
 * The project's error base: every error that crosses a module boundary is a TailsamplerError with a
 * stable `code` (TS_<AREA>_<WHAT>) and says whether retrying the same operation can succeed.
 */
export interface ErrorOptions {
  cause?: unknown;
  retryable?: boolean;
}

export class TailsamplerError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TailsamplerError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** The pipeline cannot take more right now (spool or materializer behind); the client should retry later. */
export class PipelineBusyError extends TailsamplerError {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super('TS_PIPELINE_BUSY', message, { retryable: true });
    this.name = 'PipelineBusyError';
    this.retryAfterMs = retryAfterMs;
  }
}

export function isTailsamplerError(e: unknown): e is TailsamplerError {
  return e instanceof TailsamplerError;
}

/**
 * Something is larger than a limit allows (codes ending in `_TOO_LARGE`, e.g. TS_SPOOL_RECORD_TOO_LARGE,
 * TS_SPOOL_KAFKA_RECORD_TOO_LARGE): the same input fails the same way however often it is retried.
 * Receivers answer RESOURCE_EXHAUSTED/413 and count the spans as `too_large`.
 */
export function isTooLargeError(e: unknown): e is TailsamplerError {
  return e instanceof TailsamplerError && e.code.endsWith('_TOO_LARGE');
}
