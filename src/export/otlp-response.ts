import { google, opentelemetry } from '../otlp/gen/otlp.js';
import type { SendResult } from './sender.ts';

const { ExportTraceServiceResponse } = opentelemetry.proto.collector.trace.v1;
const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

type LongLike = number | { toNumber(): number } | null | undefined;

export function toNumber(v: LongLike): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** Reads partial_success from an ExportTraceServiceResponse; an empty or unreadable body means full success. */
export function decodeExportResponse(body: Uint8Array): SendResult {
  if (body.length === 0) return { rejectedSpans: 0, errorMessage: '' };
  try {
    const partial = ExportTraceServiceResponse.decode(body).partialSuccess;
    return { rejectedSpans: toNumber(partial?.rejectedSpans), errorMessage: partial?.errorMessage ?? '' };
  } catch {
    // The request was accepted (2xx / OK); a body we cannot read must not turn that into a failure.
    return { rejectedSpans: 0, errorMessage: '' };
  }
}

/** A google.rpc.Status as failing OTLP servers send it: its message and any RetryInfo delay. */
export function decodeStatus(body: Uint8Array): { message: string; retryDelayMs: number | undefined } | undefined {
  if (body.length === 0) return undefined;
  try {
    const status = google.rpc.Status.decode(body);
    let retryDelayMs: number | undefined;
    for (const any of status.details) {
      if (any.type_url === RETRY_INFO_TYPE && any.value) {
        const d = google.rpc.RetryInfo.decode(any.value).retryDelay;
        if (d) retryDelayMs = toNumber(d.seconds) * 1000 + Math.floor((d.nanos ?? 0) / 1e6);
      }
    }
    return { message: status.message, retryDelayMs };
  } catch {
    return undefined;
  }
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
