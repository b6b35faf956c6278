import type { SpoolConfig } from '../config/schema.ts';
import type { EvaluatorShard } from '../evaluate/shard.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { KafkaRecordFormat } from './kafka/kafka-spool.ts';
import { LocalSpool } from './local/local-spool.ts';
import type { Spool } from './spool.ts';

/**
 * Builds the configured spool: segment files on local disk, or a Kafka topic (records in
 * `recordFormat`, default otlp_proto). The Kafka client is loaded only for a Kafka spool: it costs
 * ~48 MiB of RSS that a local spool never needs.
 */
export async function createSpool(config: SpoolConfig, deps: { metrics: Metrics; logger: Logger; recordFormat?: KafkaRecordFormat }): Promise<Spool> {
  switch (config.type) {
    case 'local':
      return new LocalSpool(config.local, deps);
    case 'kafka': {
      const { KafkaSpool } = await import('./kafka/kafka-spool.ts');
      return new KafkaSpool(config.kafka, deps);
    }
  }
}

/**
 * The evaluator's share of the traces when replicas share the spool (Kafka: the partitions the
 * consumer group assigns, with a decisions changelog topic), or null when one evaluator sees them all.
 * Start it after the spool.
 */
export async function createEvaluatorShard(spool: Spool, config: SpoolConfig, decisionTtlMs: number, deps: { logger: Logger }): Promise<EvaluatorShard | null> {
  if (config.type !== 'kafka') return null;
  const [{ KafkaSpool }, { KafkaDecisionLog }] = await Promise.all([import('./kafka/kafka-spool.ts'), import('./kafka/decision-log.ts')]);
  return spool instanceof KafkaSpool ? new KafkaDecisionLog(spool, config.kafka, decisionTtlMs, deps) : null;
}
