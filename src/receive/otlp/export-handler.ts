/**
 * What both OTLP transports do with a decoded request body: validate, hand valid spans to the
 * consumer, count, and turn the outcome into a transport-neutral result (gRPC code + HTTP status).
 */
import { PipelineBusyError, isTailsamplerError, isTooLargeError } from '../../errors.ts';
import { InvalidRequestError } from '../../otlp/errors.ts';
import { validateJsonRequest, validateProtobufRequest, type ValidatedRequest } from '../../otlp/validate.ts';
import type { TracesConsumer } from '../../pipeline/consumer.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import type { Logger } from '../../telemetry/logger.ts';

export type Transport = 'grpc' | 'http';
export type Format = 'protobuf' | 'json';
export type RefusalReason = 'invalid' | 'busy' | 'too_large' | 'error';

/** gRPC status codes used here (numerically equal to google.rpc.Code). */
export const GrpcCode = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

export interface ExportSuccess {
  ok: true;
  rejected: number;
  rejectionMessage: string;
}

export interface ExportFailure {
  ok: false;
  grpcCode: number;
  httpStatus: number;
  message: string;
  /** Set for retryable refusals: how long the client should wait. */
  retryAfterMs?: number;
}

export type ExportResult = ExportSuccess | ExportFailure;

export interface HandlerDeps {
  consumer: TracesConsumer;
  metrics: Metrics;
  logger: Logger;
}

const DEFAULT_RETRY_AFTER_MS = 1000;

export function invalid(message: string): ExportFailure {
  return { ok: false, grpcCode: GrpcCode.INVALID_ARGUMENT, httpStatus: 400, message };
}

export function tooLarge(message: string): ExportFailure {
  return { ok: false, grpcCode: GrpcCode.RESOURCE_EXHAUSTED, httpStatus: 413, message };
}

/**
 * Counts a request refused whole: `spans` of it (0 when it was refused before they were known: a
 * malformed body, or one too large to read) and the request itself.
 */
export function countRefused(deps: Pick<HandlerDeps, 'metrics'>, transport: Transport, reason: RefusalReason, spans: number): void {
  const labels = { receiver: 'otlp', transport, reason };
  deps.metrics.receiverRefusedSpans.inc(labels, spans);
  deps.metrics.receiverRefusedRequests.inc(labels);
}

/** A body (JSON: a string, or UTF-8 bytes with `format` 'json') → validated, consumed, counted. */
export async function handleExport(
  body: Uint8Array | string,
  transport: Transport,
  deps: HandlerDeps,
  format: Format = typeof body === 'string' ? 'json' : 'protobuf',
): Promise<ExportResult> {
  let v: ValidatedRequest;
  if (format === 'protobuf' && typeof body === 'string') throw new TypeError('a protobuf body must be bytes');
  try {
    v = format === 'json' ? validateJsonRequest(body) : validateProtobufRequest(body as Uint8Array);
  } catch (e) {
    if (e instanceof InvalidRequestError) {
      countRefused(deps, transport, 'invalid', 0);
      return invalid(e.message);
    }
    throw e;
  }
  if (v.rejected > 0) deps.metrics.receiverRefusedSpans.inc({ receiver: 'otlp', transport, reason: 'invalid' }, v.rejected);
  if (v.accepted === 0) return { ok: true, rejected: v.rejected, rejectionMessage: v.rejectionMessage };
  try {
    await deps.consumer.consume(v.payload, v.accepted);
  } catch (e) {
    return refusal(e, v.accepted, transport, deps);
  }
  deps.metrics.receiverAcceptedSpans.inc({ receiver: 'otlp', transport }, v.accepted);
  return { ok: true, rejected: v.rejected, rejectionMessage: v.rejectionMessage };
}

function refusal(e: unknown, spans: number, transport: Transport, deps: HandlerDeps): ExportFailure {
  if (e instanceof PipelineBusyError) {
    countRefused(deps, transport, 'busy', spans);
    return {
      ok: false,
      grpcCode: GrpcCode.UNAVAILABLE,
      httpStatus: 503,
      message: e.message,
      retryAfterMs: e.retryAfterMs > 0 ? e.retryAfterMs : DEFAULT_RETRY_AFTER_MS,
    };
  }
  // A span or trace bigger than the spool can store: the same request would fail again.
  if (isTooLargeError(e)) {
    countRefused(deps, transport, 'too_large', spans);
    return tooLarge(e.message);
  }
  countRefused(deps, transport, 'error', spans);
  const retryable = isTailsamplerError(e) && e.retryable;
  deps.logger.warn({ err: e, transport, spans, retryable }, 'consumer refused an OTLP export');
  if (retryable) {
    return { ok: false, grpcCode: GrpcCode.UNAVAILABLE, httpStatus: 503, message: (e as Error).message, retryAfterMs: DEFAULT_RETRY_AFTER_MS };
  }
  return { ok: false, grpcCode: GrpcCode.INTERNAL, httpStatus: 500, message: 'internal error storing spans' };
}
