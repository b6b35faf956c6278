import type { Component } from '../component.ts';

export type ExportResult =
  | { ok: true }
  | { ok: false; retryable: boolean; retryAfterMs?: number; error: Error };

/** A destination for kept traces (OTLP/HTTP, OTLP/gRPC, debug; Datadog later). */
export interface TraceExporter extends Component {
  readonly id: string;
  /**
   * Queues one ExportTraceServiceRequest (protobuf bytes) holding `spanCount` spans. Resolves when the
   * destination accepted it, or with a permanent failure after retries ran out; waits while the
   * bounded queue is full (back-pressure to the evaluator, never unbounded memory).
   */
  export(request: Uint8Array, spanCount: number): Promise<ExportResult>;
}
