import { TailsamplerError } from '../errors.ts';

/** The client sent something that is not a valid OTLP trace export request; retrying it cannot help. */
export class InvalidRequestError extends TailsamplerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('TS_RECEIVER_INVALID_REQUEST', message, options);
    this.name = 'InvalidRequestError';
  }
}

/**
 * Bytes the codec produced or stored itself (spool payloads, table cells) do not decode. This means
 * corruption or a bug, not a client mistake, so it has its own code.
 */
export class CorruptPayloadError extends TailsamplerError {
  /** Which of the payloads decoded together it is, where the decoder was given several. */
  readonly payload: number | undefined;

  constructor(message: string, options: { cause?: unknown; payload?: number } = {}) {
    super('TS_OTLP_CORRUPT_PAYLOAD', message, { cause: options.cause });
    this.name = 'CorruptPayloadError';
    this.payload = options.payload;
  }
}
