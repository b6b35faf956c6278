import type { Config } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { DebugExporter } from './debug-exporter.ts';
import type { TraceExporter } from './exporter.ts';
import { OtlpGrpcSender } from './otlp-grpc-sender.ts';
import { OtlpHttpSender } from './otlp-http-sender.ts';
import { QueuedExporter } from './queued-exporter.ts';

export interface ExporterDeps {
  metrics: Metrics;
  logger: Logger;
  /** Bound on shutdown's drain of the sending queue (default DEFAULT_SHUTDOWN_DRAIN_MS). */
  shutdownDrainMs?: number;
}

/** Builds the configured exporters, ids "otlp" and "debug" (the metrics' exporter label). */
export function createExporters(config: Config['exporters'], deps: ExporterDeps): TraceExporter[] {
  const exporters: TraceExporter[] = [];
  if (config.otlp) {
    const c = config.otlp;
    const transport = { endpoint: c.endpoint, headers: c.headers, compression: c.compression };
    const sender = c.protocol === 'grpc' ? new OtlpGrpcSender(transport) : new OtlpHttpSender(transport);
    exporters.push(
      new QueuedExporter({
        id: 'otlp',
        sender,
        config: c,
        metrics: deps.metrics,
        logger: deps.logger,
        ...(deps.shutdownDrainMs === undefined ? {} : { shutdownDrainMs: deps.shutdownDrainMs }),
      }),
    );
  }
  if (config.debug) {
    exporters.push(new DebugExporter({ id: 'debug', config: config.debug, metrics: deps.metrics, logger: deps.logger }));
  }
  return exporters;
}
