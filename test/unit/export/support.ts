import Long from 'long';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Counter, Gauge } from 'prom-client';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import type { OtlpExporterConfig } from '../../../src/config/schema.ts';

const { ExportTraceServiceRequest } = opentelemetry.proto.collector.trace.v1;

/** An ExportTraceServiceRequest with `spans` spans in one trace (ids derived from `seed`). */
export function buildRequest(spans: number, seed = 1): Uint8Array {
  const traceId = Buffer.alloc(16, seed);
  return ExportTraceServiceRequest.encode({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'unit' } }] },
        scopeSpans: [
          {
            scope: { name: 'unit-test' },
            spans: Array.from({ length: spans }, (_, i) => ({
              traceId,
              spanId: Buffer.from([seed, 0, 0, 0, 0, 0, 0, i + 1]),
              name: `span-${i}`,
              kind: opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER,
              attributes: [{ key: 'i', value: { intValue: Long.fromNumber(i) } }],
            })),
          },
        ],
      },
    ],
  }).finish();
}

export function otlpConfig(endpoint: string, overrides: Partial<OtlpExporterConfig> = {}): OtlpExporterConfig {
  return {
    endpoint,
    protocol: 'http/protobuf',
    headers: {},
    compression: 'none',
    timeout_ms: 5_000,
    retry_on_failure: { enabled: true, initial_interval_ms: 1, max_interval_ms: 5, max_elapsed_time_ms: 10_000 },
    sending_queue: { queue_size: 10, num_consumers: 2, max_backlog_traces: 1000 },
    max_batch_spans: 8192,
    ...overrides,
  };
}

export async function counterValue(metric: Counter<string> | Gauge<string>, labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
  return hit?.value ?? 0;
}

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export type Handler = (req: Received, res: ServerResponse, n: number) => void;

/** A real HTTP server on 127.0.0.1:0 that records requests and lets each test script the answers. */
export async function startHttpServer(handler: Handler): Promise<{ url: string; requests: Received[]; close: () => Promise<void> }> {
  const requests: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(r);
      handler(r, res, requests.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Lets pending promise callbacks and I/O callbacks run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}
