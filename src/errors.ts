import { errorCodes, type ErrorCode, type ErrorCodeInfo, type FixedErrorCode, type PerInstanceErrorCode } from './error-codes.ts';

export type { ErrorCode } from './error-codes.ts';

/**
 * The project's error base: every error that crosses a module boundary is a TailsamplerError with a
 * stable `code` from the catalogue in error-codes.ts (TS_<AREA>_<WHAT>) and says whether retrying the
 * same operation can succeed: as the catalogue says for the code, or, for a code catalogued
 * `per instance`, as its constructor was told.
 */
export interface ErrorOptions {
  cause?: unknown;
}

export class TailsamplerError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: FixedErrorCode, message: string, options?: ErrorOptions);
  constructor(code: PerInstanceErrorCode, message: string, options: ErrorOptions & { retryable: boolean });
  constructor(code: ErrorCode, message: string, options: ErrorOptions & { retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TailsamplerError';
    this.code = code;
    // A code outside the catalogue can only come from untyped callers: it decides per instance.
    const catalogued = (errorCodes as Readonly<Record<string, ErrorCodeInfo | undefined>>)[code]?.retryable ?? 'per instance';
    this.retryable = catalogued === 'per instance' ? options.retryable === true : catalogued;
  }
}

/** The pipeline cannot take more right now (spool or materializer behind); the client should retry later. */
export class PipelineBusyError extends TailsamplerError {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super('TS_PIPELINE_BUSY', message);
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
