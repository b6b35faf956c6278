import { randomBytes } from 'node:crypto';
import Long from 'long';
import { opentelemetry } from '../otlp/gen/otlp.js';

const ExportRequest = opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const STATUS_ERROR = 2;
const SERVICES = ['checkout', 'cart', 'payment', 'inventory', 'frontend'];

export interface SyntheticOptions {
  traces: number;
  spansPerTrace: number;
  /** Fraction of traces with one span in status ERROR. */
  errorRatio: number;
  /** Fraction of traces lasting `slowMs`. */
  slowRatio: number;
  slowMs: number;
}

/** One synthetic trace's id and what makes it interesting, for callers that check outcomes. */
export interface SyntheticTrace {
  traceId: string;
  error: boolean;
  slow: boolean;
}

function str(key: string, value: string) {
  return { key, value: { stringValue: value } };
}

/**
 * An ExportTraceServiceRequest (protobuf) of `options.traces` complete traces: a server root span and
 * children with a handful of typical attributes, like an instrumented service sends.
 */
export function syntheticRequest(options: SyntheticOptions, nowMs = Date.now()): { bytes: Uint8Array; traces: SyntheticTrace[] } {
  const traces: SyntheticTrace[] = [];
  const spans = [];
  for (let t = 0; t < options.traces; t++) {
    const traceId = randomBytes(16);
    const error = Math.random() < options.errorRatio;
    const slow = Math.random() < options.slowRatio;
    traces.push({ traceId: traceId.toString('hex'), error, slow });
    const durationMs = slow ? options.slowMs : 5 + Math.floor(Math.random() * 200);
    const startNs = BigInt(nowMs - durationMs) * 1_000_000n;
    const rootId = randomBytes(8);
    for (let s = 0; s < options.spansPerTrace; s++) {
      const root = s === 0;
      const spanStart = startNs + BigInt(s) * 1000n;
      const spanEnd = root ? startNs + BigInt(durationMs) * 1_000_000n : spanStart + 1_000_000n;
      spans.push({
        traceId,
        spanId: root ? rootId : randomBytes(8),
        parentSpanId: root ? undefined : rootId,
        name: root ? 'GET /api/orders' : `SELECT orders ${s}`,
        kind: root ? 2 : 3,
        startTimeUnixNano: Long.fromString(spanStart.toString(), true),
        endTimeUnixNano: Long.fromString(spanEnd.toString(), true),
        attributes: [
          str('http.request.method', 'GET'),
          str('url.path', '/api/orders'),
          { key: 'http.response.status_code', value: { intValue: Long.fromNumber(error && root ? 500 : 200) } },
          str('db.system', 'postgresql'),
          { key: 'retry', value: { boolValue: false } },
        ],
        status: error && s === options.spansPerTrace - 1 ? { code: STATUS_ERROR, message: 'upstream failed' } : {},
      });
    }
  }
  const service = SERVICES[Math.floor(Math.random() * SERVICES.length)]!;
  const bytes = ExportRequest.encode({
    resourceSpans: [
      {
        resource: { attributes: [str('service.name', service), str('deployment.environment', 'bench')] },
        scopeSpans: [{ scope: { name: 'tailsampler-loadgen', version: '1' }, spans }],
      },
    ],
  }).finish();
  return { bytes, traces };
}
