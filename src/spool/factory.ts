import type { SpoolConfig } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { KafkaSpool } from './kafka/kafka-spool.ts';
import { LocalSpool } from './local/local-spool.ts';
import type { Spool } from './spool.ts';

/** Builds the configured spool: segment files on local disk, or a Kafka topic. */
export function createSpool(config: SpoolConfig, deps: { metrics: Metrics; logger: Logger }): Spool {
  switch (config.type) {
    case 'local':
      return new LocalSpool(config.local, deps);
    case 'kafka':
      return new KafkaSpool(config.kafka, deps);
  }
}
