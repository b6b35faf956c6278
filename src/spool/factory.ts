import type { SpoolConfig } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { LocalSpool } from './local/local-spool.ts';
import type { Spool } from './spool.ts';

/** Builds the configured spool (only `local` exists today; Kafka would slot in here). */
export function createSpool(config: SpoolConfig, deps: { metrics: Metrics; logger: Logger }): Spool {
  switch (config.type) {
    case 'local':
      return new LocalSpool(config.local, deps);
  }
}
