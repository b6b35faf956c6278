import { findErrorBy } from '@platformatic/kafka';
import { PipelineBusyError, TailsamplerError } from '../../errors.ts';
import { SpoolClosedError } from '../local/errors.ts';

/**
 * Kafka did not answer in time or could not be reached (brokers down, network, leader elections that
 * outlast the timeout). Nothing of the operation is known to have been acknowledged, so the client
 * retries: receivers answer 503/UNAVAILABLE. A retried append may duplicate messages Kafka did write
 * after all (at-least-once); spans are keyed by trace and span id downstream.
 */
export class KafkaUnavailableError extends TailsamplerError {
  constructor(message: string, cause?: unknown) {
    super('TS_SPOOL_KAFKA_UNAVAILABLE', message, { cause, retryable: true });
    this.name = 'KafkaUnavailableError';
  }
}

/** Kafka refused the operation for a reason retrying cannot fix (authorization, a message too large, config). */
export class KafkaSpoolError extends TailsamplerError {
  constructor(message: string, cause?: unknown) {
    super('TS_SPOOL_KAFKA', message, { cause });
    this.name = 'KafkaSpoolError';
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
 * Our own errors pass through.
 */
export function kafkaError(e: unknown, context: string): Error {
  if (e instanceof KafkaUnavailableError || e instanceof KafkaSpoolError || e instanceof KafkaPositionError) return e;
  if (e instanceof SpoolClosedError || e instanceof PipelineBusyError) return e;
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
