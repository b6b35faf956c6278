import { TailsamplerError } from '../errors.ts';

/**
 * One attempt to deliver a request failed. `retryable` follows the destination's transient statuses
 * (the OTLP spec's table; for Datadog, the Agent's: 408, 429, 5xx); `retryAfterMs` carries the
 * server's throttling hint (HTTP Retry-After, gRPC RetryInfo).
 */
export class ExportSendError extends TailsamplerError {
  readonly retryAfterMs: number | undefined;
  /** HTTP status or gRPC status code, when the destination answered at all. */
  readonly status: number | undefined;

  constructor(
    message: string,
    options: { retryable: boolean; retryAfterMs?: number; status?: number; cause?: unknown },
  ) {
    super('TS_EXPORT_SEND', message, { retryable: options.retryable, cause: options.cause });
    this.name = 'ExportSendError';
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
  }
}

/** An attempt took longer than `timeout_ms`; transient, like gRPC DEADLINE_EXCEEDED. */
export class ExportTimeoutError extends TailsamplerError {
  constructor(timeoutMs: number) {
    super('TS_EXPORT_TIMEOUT', `export attempt timed out after ${timeoutMs} ms`);
    this.name = 'ExportTimeoutError';
  }
}

/** Retrying stopped because the next wait would pass `max_elapsed_time_ms`. */
export class ExportRetriesExhaustedError extends TailsamplerError {
  constructor(attempts: number, cause: unknown) {
    super('TS_EXPORT_RETRIES_EXHAUSTED', `export failed after ${attempts} attempts: ${messageOf(cause)}`, { cause });
    this.name = 'ExportRetriesExhaustedError';
  }
}

/** The exporter was shut down before the request could be delivered. */
export class ExporterShutdownError extends TailsamplerError {
  constructor(exporterId: string) {
    super('TS_EXPORT_SHUTDOWN', `exporter ${exporterId} is shut down; request not delivered`);
    this.name = 'ExporterShutdownError';
  }
}

/** The exporter's configuration cannot work (bad endpoint and the like). */
export class ExporterConfigError extends TailsamplerError {
  constructor(message: string) {
    super('TS_EXPORT_CONFIG', message);
    this.name = 'ExporterConfigError';
  }
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A request cannot be turned into what the destination takes (it is not a valid ExportTraceServiceRequest): permanent. */
export class ExportEncodeError extends TailsamplerError {
  constructor(message: string, cause?: unknown) {
    super('TS_EXPORT_ENCODE', message, { cause });
    this.name = 'ExportEncodeError';
  }
}
