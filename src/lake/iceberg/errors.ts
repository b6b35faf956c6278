import { TailsamplerError } from '../../errors.ts';

/**
 * Another writer committed first (the metadata pointer moved, or a requirement no longer holds).
 * Retryable: reload the table and commit again on top of the new state.
 */
export class CommitConflictError extends TailsamplerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('TS_CATALOG_COMMIT_CONFLICT', message, { ...options, retryable: true });
    this.name = 'CommitConflictError';
  }
}

export class NoSuchTableError extends TailsamplerError {
  constructor(message: string) {
    super('TS_CATALOG_NO_SUCH_TABLE', message);
    this.name = 'NoSuchTableError';
  }
}

export class TableAlreadyExistsError extends TailsamplerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('TS_CATALOG_TABLE_EXISTS', message, options);
    this.name = 'TableAlreadyExistsError';
  }
}

/** An Avro manifest or manifest list could not be read (corrupt, truncated or of an unknown layout). */
export class InvalidManifestError extends TailsamplerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('TS_ICEBERG_INVALID_MANIFEST', message, options);
    this.name = 'InvalidManifestError';
  }
}

/** Table metadata is not something this writer can work with, or an update makes no sense on it. */
export class InvalidMetadataError extends TailsamplerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('TS_ICEBERG_INVALID_METADATA', message, options);
    this.name = 'InvalidMetadataError';
  }
}

/** Commits kept losing races; the caller may try the whole append again later. */
export class CommitRetriesExhaustedError extends TailsamplerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('TS_CATALOG_COMMIT_RETRIES_EXHAUSTED', message, { ...options, retryable: true });
    this.name = 'CommitRetriesExhaustedError';
  }
}
