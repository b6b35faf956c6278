import { TailsamplerError } from '../errors.ts';

/** The object or file a FileIO was asked for does not exist (S3 NoSuchKey / 404). */
export class FileNotFoundError extends TailsamplerError {
  readonly uri: string;
  constructor(uri: string, options: { cause?: unknown } = {}) {
    super('TS_FILEIO_NOT_FOUND', `${uri}: not found`, options);
    this.name = 'FileNotFoundError';
    this.uri = uri;
  }
}

/** A URI no FileIO can address (unknown scheme, missing bucket or key, malformed). */
export class InvalidFileUriError extends TailsamplerError {
  readonly uri: string;
  constructor(uri: string, reason: string) {
    super('TS_FILEIO_INVALID_URI', `${JSON.stringify(uri)}: ${reason}`);
    this.name = 'InvalidFileUriError';
    this.uri = uri;
  }
}

/**
 * An object store request failed for another reason than a missing object (denied, throttled,
 * unreachable, server error) after the client's own bounded retries. `retryable` says whether the
 * same request may succeed later; `cause` is the client's error.
 */
export class ObjectStoreRequestError extends TailsamplerError {
  readonly operation: string;
  readonly uri: string;
  /** HTTP status of the last attempt, when a response came back. */
  readonly status: number | undefined;
  /** The store's error code (e.g. `AccessDenied`, `SlowDown`), or the client's error name. */
  readonly storeCode: string;
  constructor(
    operation: string,
    uri: string,
    details: { status: number | undefined; storeCode: string; retryable: boolean; cause: unknown },
  ) {
    const status = details.status === undefined ? 'no response' : `HTTP ${details.status}`;
    super('TS_FILEIO_REQUEST_FAILED', `${operation} ${uri} failed: ${details.storeCode} (${status})`, {
      cause: details.cause,
      retryable: details.retryable,
    });
    this.name = 'ObjectStoreRequestError';
    this.operation = operation;
    this.uri = uri;
    this.status = details.status;
    this.storeCode = details.storeCode;
  }
}

export function isFileNotFound(e: unknown): e is FileNotFoundError {
  return e instanceof FileNotFoundError;
}
