import { findErrorBy } from '@platformatic/kafka';
import { TailsamplerError } from '../../errors.ts';

/**
 * Kafka did not answer in time or could not be reached (brokers down, network, leader elections that
 * outlast the timeout). Nothing of the operation is known to have been acknowledged, so the client
 * retries: receivers answer 503/UNAVAILABLE. A retried append may duplicate messages Kafka did write
 * after all (at-least-once); spans are keyed by trace and span id downstream.
 */
export class KafkaUnavailableError extends TailsamplerError {
  constructor(message: string, cause?: unknown) {
    super('TS_SPOOL_KAFKA_UNAVAILABLE', message, { cause });
    this.name = 'KafkaUnavailableError';
  }
}

/** Kafka refused the operation for a reason retrying cannot fix (authorization, a message too large, config). */
export class KafkaSpoolError extends TailsamplerError {
  /** `code`: subclasses name their case (TS_SPOOL_KAFKA_<WHAT>). */
  constructor(message: string, cause?: unknown, code: 'TS_SPOOL_KAFKA' | 'TS_SPOOL_KAFKA_RECORD_TOO_LARGE' = 'TS_SPOOL_KAFKA') {
    super(code, message, { cause });
    this.name = 'KafkaSpoolError';
  }
}

/** One span record is larger than a Kafka message may be (spool.kafka.max_message_bytes); it cannot be cut. */
export class KafkaRecordTooLargeError extends KafkaSpoolError {
  readonly bytes: number;
  readonly max: number;
  constructor(message: string, bytes: number, max: number) {
    super(message, undefined, 'TS_SPOOL_KAFKA_RECORD_TOO_LARGE');
    this.name = 'KafkaRecordTooLargeError';
    this.bytes = bytes;
    this.max = max;
  }
}

/** `spool.kafka` cannot work as given for what the spool was asked to do (e.g. span records without a schema id). */
export class KafkaSpoolConfigError extends TailsamplerError {
  constructor(message: string) {
    super('TS_SPOOL_KAFKA_CONFIG', message);
    this.name = 'KafkaSpoolConfigError';
  }
}

/**
 * The Confluent Schema Registry refused a request or could not be reached. `status` is the HTTP
 * status (null: no answer). Retryable when the registry was unreachable, timed out or answered
 * 429/5xx; a 4xx such as 409 (incompatible schema) or 422 (invalid schema) needs a change first.
 */
export class SchemaRegistryError extends TailsamplerError {
  readonly status: number | null;
  constructor(message: string, status: number | null, cause?: unknown) {
    super('TS_SPOOL_KAFKA_SCHEMA_REGISTRY', message, { cause, retryable: status === null || status === 429 || status >= 500 });
    this.name = 'SchemaRegistryError';
    this.status = status;
  }
}

/** A spool position that is not a Kafka position of this topic, or points past the end of a partition. */
export class KafkaPositionError extends TailsamplerError {
  constructor(message: string) {
    super('TS_SPOOL_KAFKA_POSITION', message);
    this.name = 'KafkaPositionError';
  }
}

/** A Kafka call outlasted its deadline (mapped to KafkaUnavailableError by kafkaError). */
class DeadlineError extends Error {}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DeadlineError(`${what} took longer than ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A Kafka client failure as our error: unreachable brokers, timeouts and retryable broker errors
 * become the retryable KafkaUnavailableError; authentication and other refusals KafkaSpoolError.
 * Our own errors (TailsamplerError: closed spool, busy, schema registry, config…) pass through.
 */
export function kafkaError(e: unknown, context: string): Error {
  if (e instanceof TailsamplerError) return e;
  const message = `${context}: ${e instanceof Error ? e.message : String(e)}`;
  if (e instanceof DeadlineError) return new KafkaUnavailableError(message, e);
  if (!(e instanceof Error)) return new KafkaSpoolError(message, e);
  if (findErrorBy(e, 'code', 'PLT_KFK_AUTHENTICATION') !== null) return new KafkaSpoolError(message, e);
  if (findErrorBy(e, 'code', 'PLT_KFK_NETWORK') !== null) return new KafkaUnavailableError(message, e);
  if (findErrorBy(e, 'code', 'PLT_KFK_PROTOCOL') !== null && findErrorBy(e, 'canRetry', false) === null) {
    return new KafkaUnavailableError(message, e);
  }
  return new KafkaSpoolError(message, e);
}

/** Runs one Kafka call with a deadline; any failure comes out as kafkaError with `${context}: ${what} failed`. */
export async function kafkaCall<T>(fn: () => Promise<T>, ms: number, context: string, what: string): Promise<T> {
  try {
    return await withTimeout(fn(), ms, what);
  } catch (e) {
    throw kafkaError(e, `${context}: ${what} failed`);
  }
}
