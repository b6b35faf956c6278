import { Client, Metadata, credentials, status as Status, type ServiceError } from '@grpc/grpc-js';
import { ExportSendError, ExporterConfigError } from './errors.ts';
import { decodeExportResponse, decodeStatus } from './otlp-response.ts';
import type { Sender, SendResult } from './sender.ts';

const EXPORT_METHOD = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
/** grpc-js's number for gzip in 'grpc.default_compression_algorithm'. */
const GZIP = 2;

/**
 * Transient codes per the OTLP/gRPC spec. RESOURCE_EXHAUSTED is transient only when the server
 * attached RetryInfo (it promises capacity later); without it the request would fail the same way.
 */
const RETRYABLE_CODES = new Set([
  Status.CANCELLED,
  Status.DEADLINE_EXCEEDED,
  Status.ABORTED,
  Status.OUT_OF_RANGE,
  Status.UNAVAILABLE,
  Status.DATA_LOSS,
]);

export interface OtlpGrpcSenderOptions {
  endpoint: string;
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
}

/** `http://host:port`, `https://host:port` or bare `host:port` → grpc-js target and whether to use TLS. */
export function grpcTarget(endpoint: string): { target: string; tls: boolean } {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/]+)\/?$/i.exec(endpoint);
  if (m) {
    const scheme = m[1]!.toLowerCase();
    if (scheme !== 'http' && scheme !== 'https') {
      throw new ExporterConfigError(`otlp grpc endpoint must be http://, https:// or host:port, got ${endpoint}`);
    }
    return { target: withPort(m[2]!, scheme === 'https' ? 443 : 80), tls: scheme === 'https' };
  }
  if (/^[^\s/]+:\d+$/.test(endpoint)) return { target: endpoint, tls: false };
  throw new ExporterConfigError(`otlp grpc endpoint must be http://host:port or host:port, got ${endpoint}`);
}

function withPort(authority: string, port: number): string {
  return /:\d+$/.test(authority) ? authority : `${authority}:${port}`;
}

/** OTLP/gRPC TraceService/Export with the request bytes passed through as they are (no re-encoding). */
export class OtlpGrpcSender implements Sender {
  readonly description: string;
  readonly #client: Client;
  readonly #headers: Record<string, string>;

  constructor(options: OtlpGrpcSenderOptions) {
    const { target, tls } = grpcTarget(options.endpoint);
    this.description = `grpc ${target}`;
    this.#client = new Client(
      target,
      tls ? credentials.createSsl() : credentials.createInsecure(),
      options.compression === 'gzip' ? { 'grpc.default_compression_algorithm': GZIP } : {},
    );
    this.#headers = options.headers;
  }

  send(body: Uint8Array, signal: AbortSignal): Promise<SendResult> {
    signal.throwIfAborted();
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(this.#headers)) metadata.set(k.toLowerCase(), v);
    return new Promise<SendResult>((resolve, reject) => {
      const call = this.#client.makeUnaryRequest<Uint8Array, Buffer>(
        EXPORT_METHOD,
        (req) => Buffer.from(req.buffer, req.byteOffset, req.byteLength),
        (res) => res,
        body,
        metadata,
        {},
        (err, response) => {
          signal.removeEventListener('abort', onAbort);
          if (err) {
            if (signal.aborted) reject(signal.reason);
            else reject(toSendError(err));
          } else {
            resolve(decodeExportResponse(response ?? new Uint8Array()));
          }
        },
      );
      const onAbort = (): void => call.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {
    this.#client.close();
  }
}

function toSendError(err: ServiceError): ExportSendError {
  const detailsBin = err.metadata?.get('grpc-status-details-bin')[0];
  const status = Buffer.isBuffer(detailsBin) ? decodeStatus(detailsBin) : undefined;
  const retryAfterMs = status?.retryDelayMs;
  const retryable =
    RETRYABLE_CODES.has(err.code) || (err.code === Status.RESOURCE_EXHAUSTED && retryAfterMs !== undefined);
  return new ExportSendError(`grpc Export failed: ${Status[err.code] ?? err.code}: ${err.details}`, {
    retryable,
    status: err.code,
    cause: err,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}
