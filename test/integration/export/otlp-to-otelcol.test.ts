import { describe, it, before, after } from 'node:test';
import Long from 'long';
import assert from 'node:assert/strict';
import { createExporters } from '../../../src/export/factory.ts';
import type { TraceExporter } from '../../../src/export/exporter.ts';
import type { OtlpExporterConfig } from '../../../src/config/schema.ts';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { startOtelcol, waitFor, type RunningOtelcol, type ReceivedTrace } from '../../support/otelcol.ts';

const { ExportTraceServiceRequest } = opentelemetry.proto.collector.trace.v1;
const { SpanKind } = opentelemetry.proto.trace.v1.Span;
const { StatusCode } = opentelemetry.proto.trace.v1.Status;

/** A request with two traces of `perTrace` spans, every attribute type OTLP has. */
function buildRequest(tag: number, perTrace: number): { bytes: Uint8Array; traceIds: string[]; spanCount: number } {
  const traceIds = [1, 2].map((t) => Buffer.alloc(16, tag * 16 + t));
  const spans = traceIds.flatMap((traceId, t) =>
    Array.from({ length: perTrace }, (_, i) => ({
      traceId,
      spanId: Buffer.from([tag, t, 0, 0, 0, 0, 0, i + 1]),
      parentSpanId: i === 0 ? Buffer.alloc(0) : Buffer.from([tag, t, 0, 0, 0, 0, 0, 1]),
      name: `op-${tag}-${t}-${i}`,
      kind: SpanKind.SPAN_KIND_CLIENT,
      startTimeUnixNano: Long.fromString('1700000000000000000', true),
      endTimeUnixNano: Long.fromString((1_700_000_000_000_000_000n + BigInt(i + 1) * 1_000_000n).toString(), true),
      attributes: [
        { key: 'str', value: { stringValue: `v${i}` } },
        { key: 'int', value: { intValue: Long.fromString('9007199254740993') } },
        { key: 'dbl', value: { doubleValue: 1.5 } },
        { key: 'bool', value: { boolValue: true } },
        { key: 'arr', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: Long.fromNumber(2) }] } } },
        { key: 'kv', value: { kvlistValue: { values: [{ key: 'nested', value: { boolValue: false } }] } } },
        { key: 'bytes', value: { bytesValue: Buffer.from([0xde, 0xad]) } },
      ],
      status: i === 0 ? { code: StatusCode.STATUS_CODE_ERROR, message: 'boom' } : { code: StatusCode.STATUS_CODE_OK },
    })),
  );
  const bytes = ExportTraceServiceRequest.encode({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: `svc-${tag}` } }] },
        schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
        scopeSpans: [{ scope: { name: 'tailsampler-it', version: '1.0' }, schemaUrl: 'https://scope/schema', spans }],
      },
    ],
  }).finish();
  return { bytes, traceIds: traceIds.map((b) => b.toString('hex')), spanCount: spans.length };
}

function config(endpoint: string, protocol: OtlpExporterConfig['protocol'], compression: OtlpExporterConfig['compression']): OtlpExporterConfig {
  return {
    endpoint,
    protocol,
    headers: { 'x-test': 'yes' },
    compression,
    timeout_ms: 10_000,
    retry_on_failure: { enabled: true, initial_interval_ms: 100, max_interval_ms: 1_000, max_elapsed_time_ms: 20_000 },
    sending_queue: { queue_size: 10, num_consumers: 2, max_backlog_traces: 1000 },
    max_batch_spans: 8192,
  };
}

function assertTrace(trace: ReceivedTrace | undefined, tag: number, t: number, perTrace: number): void {
  assert.ok(trace, `trace ${tag}/${t} reached the collector`);
  assert.equal(trace.spans.length, perTrace, 'each span exactly once');
  const byName = new Map(trace.spans.map((s) => [s.span.name as string, s]));
  for (let i = 0; i < perTrace; i++) {
    const got = byName.get(`op-${tag}-${t}-${i}`);
    assert.ok(got, `span op-${tag}-${t}-${i}`);
    const { span, resource, scope } = got;
    assert.equal(span.spanId, Buffer.from([tag, t, 0, 0, 0, 0, 0, i + 1]).toString('hex'));
    assert.equal(span.parentSpanId ?? '', i === 0 ? '' : Buffer.from([tag, t, 0, 0, 0, 0, 0, 1]).toString('hex'));
    assert.equal(span.kind, 3);
    assert.equal(span.startTimeUnixNano, '1700000000000000000');
    assert.equal(span.endTimeUnixNano, String(1_700_000_000_000_000_000n + BigInt(i + 1) * 1_000_000n));
    assert.deepEqual(span.attributes, [
      { key: 'str', value: { stringValue: `v${i}` } },
      { key: 'int', value: { intValue: '9007199254740993' } },
      { key: 'dbl', value: { doubleValue: 1.5 } },
      { key: 'bool', value: { boolValue: true } },
      { key: 'arr', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '2' }] } } },
      { key: 'kv', value: { kvlistValue: { values: [{ key: 'nested', value: { boolValue: false } }] } } },
      { key: 'bytes', value: { bytesValue: Buffer.from([0xde, 0xad]).toString('base64') } },
    ]);
    assert.deepEqual(span.status, i === 0 ? { code: 2, message: 'boom' } : { code: 1 });
    assert.deepEqual(resource.attributes, [{ key: 'service.name', value: { stringValue: `svc-${tag}` } }]);
    assert.deepEqual(scope, { name: 'tailsampler-it', version: '1.0' });
    assert.equal(got.resourceSchemaUrl, 'https://opentelemetry.io/schemas/1.26.0');
    assert.equal(got.scopeSchemaUrl, 'https://scope/schema');
  }
}

describe('OTLP exporters against a real OpenTelemetry Collector', { timeout: 20 * 60_000 }, () => {
  let collector: RunningOtelcol;
  before(async () => {
    collector = await startOtelcol();
  });
  after(async () => {
    await collector?.stop();
  });

  const cases = [
    { tag: 1, protocol: 'http/protobuf', compression: 'gzip', endpoint: () => collector.httpEndpoint },
    { tag: 2, protocol: 'http/protobuf', compression: 'none', endpoint: () => collector.httpEndpoint },
    { tag: 3, protocol: 'grpc', compression: 'gzip', endpoint: () => collector.grpcEndpoint },
    { tag: 4, protocol: 'grpc', compression: 'none', endpoint: () => `http://${collector.grpcEndpoint}` },
  ] as const;

  for (const c of cases) {
    it(`${c.protocol} (${c.compression}) delivers exactly the exported spans`, async () => {
      const metrics = new Metrics();
      const [exporter] = createExporters(
        [{ id: 'otlp', type: 'otlp', config: config(c.endpoint(), c.protocol, c.compression) }],
        { metrics, logger: silentLogger() },
      ) as [TraceExporter];
      await exporter.start();
      const perTrace = 3;
      const req = buildRequest(c.tag, perTrace);
      try {
        assert.deepEqual(await exporter.export(req.bytes, req.spanCount), { ok: true, rejectedSpans: 0 });
      } finally {
        await exporter.shutdown();
      }
      const ours = await waitFor(async () => {
        const traces = (await collector.received()).filter((t) => req.traceIds.includes(t.traceId));
        const spans = traces.reduce((n, t) => n + t.spans.length, 0);
        return spans >= req.spanCount ? traces : undefined;
      }, 15_000);
      assert.equal(ours.length, 2);
      for (const [t, id] of req.traceIds.entries()) assertTrace(ours.find((x) => x.traceId === id), c.tag, t, perTrace);
      const sent = (await metrics.exporterSentSpans.get()).values.find((v) => v.labels.exporter === 'otlp');
      assert.equal(sent?.value, req.spanCount);
    });
  }
});
