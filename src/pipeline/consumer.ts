/**
 * What a receiver hands validated spans to. `consume` resolves once the request is durable;
 * it rejects with PipelineBusyError (retryable) when the pipeline is behind.
 */
export interface TracesConsumer {
  /** `request`: an ExportTraceServiceRequest in protobuf, holding only valid spans. */
  consume(request: Uint8Array, spanCount: number): Promise<void>;
}
