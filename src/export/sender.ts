/** What the destination said about an accepted request (OTLP partial success). */
export interface SendResult {
  /** Spans the destination accepted the request for but dropped; 0 when all were taken. */
  rejectedSpans: number;
  errorMessage: string;
}

/**
 * One transport of the OTLP exporter. `send` makes a single attempt: it resolves when the
 * destination accepted the request and throws ExportSendError (retryable or not) otherwise; it must
 * stop as soon as `signal` aborts. Retries, timeouts and queueing live above it.
 */
export interface Sender {
  /** For logs: protocol and URL, never headers. */
  readonly description: string;
  send(body: Uint8Array, signal: AbortSignal): Promise<SendResult>;
  close(): Promise<void>;
}
