import { opentelemetry } from '../../src/otlp/gen/otlp.js';
import { RESCUE_ID_ATTRIBUTE, RESCUED_ATTRIBUTE } from '../../src/rescue/mark.ts';
import { startHttpServer, type Received } from '../unit/export/support.ts';

const { ExportTraceServiceRequest } = opentelemetry.proto.collector.trace.v1;
export type DecodedSpan = opentelemetry.proto.trace.v1.ISpan;

/** One span as an OTLP destination received it, with its ids in hex and its rescue mark, if any. */
export interface SinkSpan {
  traceId: string;
  spanId: string;
  span: DecodedSpan;
  /** `tailsampler.rescue_id` when the span carries `tailsampler.rescued=true`, else null. */
  rescueId: string | null;
}

/** Every span in the OTLP/HTTP protobuf requests, in arrival order (a span sent twice is there twice). */
export function sinkSpans(requests: readonly Received[]): SinkSpan[] {
  const out: SinkSpan[] = [];
  for (const r of requests) {
    for (const rs of ExportTraceServiceRequest.decode(r.body).resourceSpans) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const span of ss.spans ?? []) {
          const attr = (key: string) => span.attributes?.find((kv) => kv.key === key)?.value;
          const rescued = attr(RESCUED_ATTRIBUTE)?.boolValue === true;
          out.push({
            traceId: Buffer.from(span.traceId!).toString('hex'),
            spanId: Buffer.from(span.spanId!).toString('hex'),
            span,
            rescueId: rescued ? (attr(RESCUE_ID_ATTRIBUTE)?.stringValue ?? '') : null,
          });
        }
      }
    }
  }
  return out;
}

/** Every span a destination received, by trace id then span id. */
export function spansOf(requests: readonly Received[]): Map<string, Map<string, DecodedSpan>> {
  const out = new Map<string, Map<string, DecodedSpan>>();
  for (const s of sinkSpans(requests)) {
    if (!out.has(s.traceId)) out.set(s.traceId, new Map());
    out.get(s.traceId)!.set(s.spanId, s.span);
  }
  return out;
}

/** An OTLP/HTTP destination in the test process that accepts everything (uncompressed protobuf). */
export async function startOtlpSink(): Promise<{ url: string; spans: () => SinkSpan[]; close: () => Promise<void> }> {
  const server = await startHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  return { url: server.url, spans: () => sinkSpans(server.requests), close: server.close };
}
