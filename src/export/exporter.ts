import type { Component } from '../component.ts';

export type ExportResult =
  | {
      ok: true;
      /** Spans the destination took the request for but dropped (OTLP partial success); 0 when all were taken. */
      rejectedSpans: number;
    }
  | { ok: false; retryable: boolean; retryAfterMs?: number; error: Error };

/** How the emitter feeds one exporter: request size, how much it may hand over at once, and its backlog. */
export interface DeliveryOptions {
  /** Spans per request. */
  maxBatchSpans: number;
  /** Requests the exporter holds (queued plus in flight) without making `export` wait for room. */
  capacity: number;
  /** Kept traces that may wait for this exporter before new ones are dead-lettered (`backlog_full`). */
  maxBacklogTraces: number;
  /** Backoff between attempts at a trace whose last delivery failed retryably (the exporter's retry_on_failure). */
  retryIntervalMs: { initial: number; max: number };
}

/** What the emitter knows of the traces in a request beyond their spans, for destinations that carry it. */
export interface ExportContext {
  /** The policy that kept each trace, by trace id (32 lowercase hex characters). */
  policies: ReadonlyMap<string, string>;
}

/**
 * A destination for kept traces (OTLP/HTTP, OTLP/gRPC, Datadog, debug), built by its type's
 * factory from its config section, with a Collector-style component id (`otlp`, `otlp/backup`).
 */
export interface TraceExporter extends Component {
  readonly id: string;
  readonly delivery: DeliveryOptions;
  /**
   * Queues one ExportTraceServiceRequest (protobuf bytes) holding `spanCount` spans. Resolves when the
   * destination accepted it, or with a failure (retryable or permanent) once the exporter's own
   * retries ran out; never rejects. `context` says which policy kept each trace (the Datadog
   * exporter tags it; the others ignore it).
   */
  export(request: Uint8Array, spanCount: number, context?: ExportContext): Promise<ExportResult>;
}
