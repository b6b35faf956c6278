/** Encodings of OTLP export responses and google.rpc.Status bodies, in protobuf or OTLP/JSON. */
import type Long from 'long';
import { google, opentelemetry } from '../../otlp/gen/otlp.js';

const ExportTraceServiceResponse = opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

export function exportResponseProtobuf(rejected: number, message: string): Uint8Array {
  if (rejected === 0 && message === '') return ExportTraceServiceResponse.encode({}).finish();
  return ExportTraceServiceResponse.encode({
    partialSuccess: { rejectedSpans: String(rejected) as unknown as Long, errorMessage: message },
  }).finish();
}

export function exportResponseJson(rejected: number, message: string): string {
  if (rejected === 0 && message === '') return '{}';
  return JSON.stringify({ partialSuccess: { rejectedSpans: String(rejected), errorMessage: message } });
}

function retryInfo(retryAfterMs: number): google.protobuf.Any.$Properties {
  const seconds = Math.floor(retryAfterMs / 1000);
  const nanos = (retryAfterMs % 1000) * 1_000_000;
  return {
    type_url: RETRY_INFO_TYPE,
    value: google.rpc.RetryInfo.encode({
      retryDelay: { seconds: String(seconds) as unknown as Long, nanos },
    }).finish(),
  };
}

/** google.rpc.Status, with RetryInfo in details when the client should come back later. */
export function statusProtobuf(code: number, message: string, retryAfterMs?: number): Uint8Array {
  return google.rpc.Status.encode({
    code,
    message,
    details: retryAfterMs === undefined ? [] : [retryInfo(retryAfterMs)],
  }).finish();
}

export function statusJson(code: number, message: string, retryAfterMs?: number): string {
  const status: Record<string, unknown> = { code, message };
  if (retryAfterMs !== undefined) {
    status.details = [{ '@type': RETRY_INFO_TYPE, retryDelay: `${retryAfterMs / 1000}s` }];
  }
  return JSON.stringify(status);
}
