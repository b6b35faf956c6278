import { TailsamplerError } from '../../errors.ts';

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
