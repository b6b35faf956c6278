import { TailsamplerError } from '../../errors.ts';

/**
 * Another writer committed first (the metadata pointer moved, or a requirement no longer holds).
 * Retryable: reload the table and commit again on top of the new state.
 */
export class CommitConflictError extends TailsamplerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('TS_CATALOG_COMMIT_CONFLICT', message, options);
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
    super('TS_CATALOG_COMMIT_RETRIES_EXHAUSTED', message, options);
    this.name = 'CommitRetriesExhaustedError';
  }
}

/**
 * The catalog may or may not have applied a commit (a 5xx from the commit endpoint, a network failure
 * or a timeout while it ran). Never re-send blindly: reload the table and look for the snapshot.
 */
export class CommitStateUnknownError extends TailsamplerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('TS_CATALOG_COMMIT_STATE_UNKNOWN', message, options);
    this.name = 'CommitStateUnknownError';
  }
}

/** The catalog service could not be reached or answered 5xx (outside a commit); retry later. */
export class CatalogUnavailableError extends TailsamplerError {
  readonly status: number | null;
  constructor(message: string, options: { cause?: unknown; status?: number | null } = {}) {
    super('TS_CATALOG_UNAVAILABLE', message, { cause: options.cause });
    this.name = 'CatalogUnavailableError';
    this.status = options.status ?? null;
  }
}

/** The catalog refused our credentials (401/403/419), or the OAuth2 token endpoint refused them. */
export class CatalogAuthError extends TailsamplerError {
  readonly status: number;
  constructor(message: string, status: number) {
    super('TS_CATALOG_AUTH', message);
    this.name = 'CatalogAuthError';
    this.status = status;
  }
}

/** The catalog rejected a request (4xx other than the ones with a meaning of their own); carries its error. */
export class CatalogRequestError extends TailsamplerError {
  readonly status: number;
  /** The server's error type (e.g. `ValidationException`), when it sent one. */
  readonly type: string | null;
  constructor(message: string, status: number, type: string | null) {
    super('TS_CATALOG_REQUEST_REJECTED', message);
    this.name = 'CatalogRequestError';
    this.status = status;
    this.type = type;
  }
}

/** An external table (`storage.materializer: external`) lacks a column the evaluator needs, or has it in a type it cannot read. */
export class ExternalTableLayoutError extends TailsamplerError {
  constructor(message: string) {
    super('TS_ICEBERG_EXTERNAL_LAYOUT', message);
    this.name = 'ExternalTableLayoutError';
  }
}

/** Something tried to write a table this service only reads (external mode: another writer owns it). */
export class TableReadOnlyError extends TailsamplerError {
  constructor(message: string) {
    super('TS_ICEBERG_TABLE_READ_ONLY', message);
    this.name = 'TableReadOnlyError';
  }
}
