import type { SpoolConfig } from '../config/schema.ts';
import type { EvaluatorShard } from '../evaluate/shard.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { KafkaDecisionLog } from './kafka/decision-log.ts';
import { KafkaSpool, type KafkaRecordFormat } from './kafka/kafka-spool.ts';
import { LocalSpool } from './local/local-spool.ts';
import type { Spool } from './spool.ts';

/** Builds the configured spool: segment files on local disk, or a Kafka topic (records in `recordFormat`, default otlp_proto). */
export function createSpool(config: SpoolConfig, deps: { metrics: Metrics; logger: Logger; recordFormat?: KafkaRecordFormat }): Spool {
  switch (config.type) {
    case 'local':
      return new LocalSpool(config.local, deps);
    case 'kafka':
      return new KafkaSpool(config.kafka, deps);
  }
}

/**
 * The evaluator's share of the traces when replicas share the spool (Kafka: the partitions the
 * consumer group assigns, with a decisions changelog topic), or null when one evaluator sees them all.
 * Start it after the spool.
 */
export function createEvaluatorShard(spool: Spool, config: SpoolConfig, decisionTtlMs: number, deps: { logger: Logger }): EvaluatorShard | null {
  return config.type === 'kafka' && spool instanceof KafkaSpool ? new KafkaDecisionLog(spool, config.kafka, decisionTtlMs, deps) : null;
}
