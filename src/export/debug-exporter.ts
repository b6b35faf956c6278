import type { DebugExporterConfig } from './config.ts';
import { opentelemetry } from '../otlp/gen/otlp.js';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { DeliveryOptions, ExportResult, TraceExporter } from './exporter.ts';
import { ExportSendError, messageOf } from './errors.ts';
import { hexOf } from '../otlp/hex.ts';

const { ExportTraceServiceRequest } = opentelemetry.proto.collector.trace.v1;

export interface DebugExporterOptions {
  id?: string;
  config: DebugExporterConfig;
  metrics: Metrics;
  logger: Logger;
}

/**
 * Like the Collector's debug exporter: writes what would be exported to the log instead of sending
 * it. basic: one line per request (span and trace counts); normal: plus one line per span (ids and
 * name); detailed: plus each span in full, as JSON with hex ids. Meant for trying the service out,
 * which is why per-span lines are acceptable here and nowhere else.
 */
export class DebugExporter implements TraceExporter {
  readonly id: string;
  /** Writing a log line never waits for a destination: no queue to bound, nothing to retry. */
  readonly delivery: DeliveryOptions = {
    maxBatchSpans: 8192,
    capacity: 16,
    maxBacklogTraces: 1_000_000,
    retryIntervalMs: { initial: 1_000, max: 30_000 },
  };
  readonly #verbosity: DebugExporterConfig['verbosity'];
  readonly #metrics: Metrics;
  readonly #logger: Logger;

  constructor(options: DebugExporterOptions) {
    this.id = options.id ?? 'debug';
    this.#verbosity = options.config.verbosity;
    this.#metrics = options.metrics;
    this.#logger = options.logger.child({ exporter: this.id });
  }

  async start(): Promise<void> {}

  async export(request: Uint8Array, spanCount: number): Promise<ExportResult> {
    let decoded: ReturnType<typeof ExportTraceServiceRequest.decode>;
    try {
      decoded = ExportTraceServiceRequest.decode(request);
    } catch (e) {
      this.#metrics.exporterFailedSpans.inc({ exporter: this.id, outcome: 'permanent' }, spanCount);
      return { ok: false, retryable: false, error: new ExportSendError(`debug exporter cannot decode request: ${messageOf(e)}`, { retryable: false, cause: e }) };
    }
    const traces = new Set<string>();
    let spans = 0;
    for (const rs of decoded.resourceSpans) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const span of ss.spans ?? []) {
          spans++;
          const traceId = hexOf(span.traceId);
          traces.add(traceId);
          if (this.#verbosity === 'normal') {
            this.#logger.info({ traceId, spanId: hexOf(span.spanId), name: span.name }, 'span');
          } else if (this.#verbosity === 'detailed') {
            this.#logger.info(
              { resource: toJson(rs.resource), scope: toJson(ss.scope), span: toJson(span) },
              'span',
            );
          }
        }
      }
    }
    this.#logger.info({ resourceSpans: decoded.resourceSpans.length, spans, traces: traces.size }, 'Traces');
    this.#metrics.exporterSentSpans.inc({ exporter: this.id }, spans);
    return { ok: true, rejectedSpans: 0 };
  }

  async shutdown(): Promise<void> {}
}


/** Decoded protobuf → plain JSON: bytes as hex, int64 (Long) as decimal strings, no internal fields. */
export function toJson(value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (value instanceof Uint8Array) return hexOf(value);
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object') {
    // protobufjs Long: its toString() is the decimal value.
    if (typeof (value as { toNumber?: unknown }).toNumber === 'function') return (value as { toString(): string }).toString();
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k.startsWith('$')) continue;
      out[k] = toJson(v);
    }
    return out;
  }
  return value;
}
