import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { DatadogExporterConfig, DebugExporterConfig, ExporterConfig, ExporterType, OtlpExporterConfig } from './config.ts';
import { DatadogExporter } from './datadog/exporter.ts';
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

type Factory<C> = (id: string, config: C, deps: ExporterDeps) => TraceExporter;

function createOtlp(id: string, c: OtlpExporterConfig, deps: ExporterDeps): TraceExporter {
  const transport = { endpoint: c.endpoint, headers: c.headers, compression: c.compression };
  const sender = c.protocol === 'grpc' ? new OtlpGrpcSender(transport) : new OtlpHttpSender(transport);
  return new QueuedExporter({
    id,
    sender,
    config: c,
    metrics: deps.metrics,
    logger: deps.logger,
    ...(deps.shutdownDrainMs === undefined ? {} : { shutdownDrainMs: deps.shutdownDrainMs }),
  });
}

function createDatadog(id: string, c: DatadogExporterConfig, deps: ExporterDeps): TraceExporter {
  return new DatadogExporter({
    id,
    config: c,
    metrics: deps.metrics,
    logger: deps.logger,
    ...(deps.shutdownDrainMs === undefined ? {} : { shutdownDrainMs: deps.shutdownDrainMs }),
  });
}

function createDebug(id: string, c: DebugExporterConfig, deps: ExporterDeps): TraceExporter {
  return new DebugExporter({ id, config: c, metrics: deps.metrics, logger: deps.logger });
}

/** One factory per exporter type, as the Collector's components: each builds from its own section. */
const FACTORIES: { [T in ExporterType]: Factory<Extract<ExporterConfig, { type: T }>['config']> } = {
  otlp: createOtlp,
  datadog: createDatadog,
  debug: createDebug,
};

/** Builds the configured exporters, each under its component id (the metrics' `exporter` label). */
export function createExporters(config: readonly ExporterConfig[], deps: ExporterDeps): TraceExporter[] {
  return config.map((e) => (FACTORIES[e.type] as Factory<typeof e.config>)(e.id, e.config, deps));
}
