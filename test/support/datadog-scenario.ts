/** The kept traces the Datadog tests send (Agent and agentless): every shape the mapping handles. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import Long from 'long';
import type { TraceExporter } from '../../src/export/exporter.ts';
import { opentelemetry } from '../../src/otlp/gen/otlp.js';
import type { Logger } from '../../src/telemetry/logger.ts';
import type { Metrics } from '../../src/telemetry/metrics.ts';
import { localPipeline } from './local-pipeline.ts';
import { makeTrace } from './traces.ts';

const { ExportTraceServiceRequest } = opentelemetry.proto.collector.trace.v1;
const { SpanKind } = opentelemetry.proto.trace.v1.Span;
const { StatusCode } = opentelemetry.proto.trace.v1.Status;
type KeyValue = opentelemetry.proto.common.v1.KeyValue.$Properties;

/** A 128-bit trace id (high half non-zero, shown as `_dd.p.tid`) and a 64-bit one. */
export const TRACE_A = 'fedcba98765432100123456789abcdef';
export const TRACE_B = '000000000000000000000000000000ff';
/** Nanoseconds above 2^53: a double would round them. */
export const T0 = 1_764_620_000_123_456_789n;
export const SCENARIO_POLICIES: ReadonlyMap<string, string> = new Map([
  [TRACE_A, 'errors'],
  [TRACE_B, 'sample-10pct'],
]);

const u64 = (v: bigint): Long => Long.fromString(v.toString(), true);
const id = (hex: string): Buffer => Buffer.from(hex, 'hex');
const str = (key: string, v: string): KeyValue => ({ key, value: { stringValue: v } });
const int = (key: string, v: bigint): KeyValue => ({ key, value: { intValue: Long.fromString(v.toString()) } });

/**
 * Two resources. Trace A (128-bit id): an HTTP server root that failed with an exception event, a
 * database client child with an attribute of every kind and a span link, an HTTP client child, and
 * `extra` internal spans (to make the request big enough to cut); trace B (64-bit id): a Kafka consumer
 * span of the other service.
 */
export function keptTracesRequest(extra: number): { bytes: Uint8Array; spans: number } {
  const root = {
    traceId: id(TRACE_A),
    spanId: id('ffffffffffffffff'),
    name: 'GET /cart/:id',
    kind: SpanKind.SPAN_KIND_SERVER,
    startTimeUnixNano: u64(T0),
    endTimeUnixNano: u64(T0 + 250_000_001n),
    traceState: 'ot=th:c;rv:0123456789abcd',
    attributes: [str('http.request.method', 'GET'), str('http.route', '/cart/:id'), int('http.response.status_code', 500n), str('url.full', 'https://shop.example/cart/7')],
    status: { code: StatusCode.STATUS_CODE_ERROR, message: 'internal error' },
    events: [
      {
        timeUnixNano: u64(T0 + 1n),
        name: 'exception',
        attributes: [str('exception.type', 'CartError'), str('exception.message', 'cart 7 is locked'), str('exception.stacktrace', 'CartError: cart 7 is locked\n    at lock (cart.js:1:1)')],
      },
    ],
  };
  const db = {
    traceId: id(TRACE_A),
    spanId: id('8000000000000001'),
    parentSpanId: id('ffffffffffffffff'),
    name: 'SELECT carts',
    kind: SpanKind.SPAN_KIND_CLIENT,
    startTimeUnixNano: u64(T0 + 1_000n),
    endTimeUnixNano: u64(T0 + 1_000n + 9_007_199_254_740_993n),
    attributes: [
      str('db.system', 'postgresql'),
      str('db.statement', 'SELECT * FROM carts WHERE id = $1'),
      str('db.namespace', 'shop'),
      { key: 'flag', value: { boolValue: true } },
      int('rows', 9_007_199_254_740_993n),
      { key: 'ratio', value: { doubleValue: 0.25 } },
      { key: 'tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: Long.fromNumber(2) }] } } },
      { key: 'kv', value: { kvlistValue: { values: [{ key: 'z', value: { boolValue: false } }, { key: 'a', value: { stringValue: 'x' } }] } } },
      { key: 'raw', value: { bytesValue: Buffer.from([0xde, 0xad, 0xbe, 0xef]) } },
      str('note', 'ünïcødé ✓ 🚀'),
    ],
    links: [{ traceId: id(TRACE_B), spanId: id('00000000000000b1'), traceState: 'vendor=1', attributes: [str('link.reason', 'retry')] }],
    status: { code: StatusCode.STATUS_CODE_OK },
  };
  const client = {
    traceId: id(TRACE_A),
    spanId: id('8000000000000002'),
    parentSpanId: id('ffffffffffffffff'),
    name: 'GET',
    kind: SpanKind.SPAN_KIND_CLIENT,
    startTimeUnixNano: u64(T0 + 2_000n),
    endTimeUnixNano: u64(T0 + 2_000n + 3_000_000n),
    attributes: [str('http.request.method', 'GET'), str('url.full', 'http://pricing.internal/v1/price?id=7'), str('server.address', 'pricing.internal'), int('http.response.status_code', 200n)],
  };
  const internals = Array.from({ length: extra }, (_, i) => ({
    traceId: id(TRACE_A),
    spanId: Buffer.from([0x10, 0, 0, 0, 0, 0, (i >> 8) & 0xff, i & 0xff]),
    parentSpanId: id('ffffffffffffffff'),
    name: `step ${i}`,
    kind: SpanKind.SPAN_KIND_INTERNAL,
    startTimeUnixNano: u64(T0 + BigInt(i)),
    endTimeUnixNano: u64(T0 + BigInt(i) + 10n),
    attributes: [str('payload', 'x'.repeat(200))],
  }));
  const consumer = {
    traceId: id(TRACE_B),
    spanId: id('00000000000000b1'),
    name: 'orders process',
    kind: SpanKind.SPAN_KIND_CONSUMER,
    startTimeUnixNano: u64(T0),
    endTimeUnixNano: u64(T0 + 5n),
    attributes: [str('messaging.system', 'kafka'), str('messaging.operation', 'process'), str('messaging.destination.name', 'orders')],
  };
  const bytes = ExportTraceServiceRequest.encode({
    resourceSpans: [
      {
        resource: {
          attributes: [
            str('service.name', 'shop-api'),
            str('deployment.environment.name', 'Staging'),
            str('service.version', '4.2.0'),
            str('host.name', 'web-1'),
            str('telemetry.sdk.language', 'nodejs'),
          ],
        },
        scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0' }, spans: [root, db, client, ...internals] }],
      },
      { resource: { attributes: [str('service.name', 'billing-worker')] }, scopeSpans: [{ scope: { name: 'kafkajs' }, spans: [consumer] }] },
    ],
  }).finish();
  return { bytes, spans: 4 + extra };
}

/**
 * The embedded pipeline with policies `errors` (status ERROR) and `slow` (over 1 s) in front of
 * `exporter`: a failed, a slow and a fine trace are sent and decided, and every kept one delivered.
 */
export async function keepErrorsAndSlow(t: TestContext, exporter: TraceExporter, deps: { metrics: Metrics; logger?: Logger }) {
  const clock = { now: Date.now() };
  const p = await localPipeline(t, mkdtempSync(join(tmpdir(), 'ts-datadog-')), {
    exporters: [exporter],
    clock,
    ...deps,
    policies: `
    - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }
    - { name: slow, type: latency, latency: { threshold_ms: 1000 } }`,
  });
  const failed = makeTrace({ n: 3, startMs: clock.now, durationMs: 5, error: true });
  const slow = makeTrace({ n: 2, startMs: clock.now, durationMs: 2_000 });
  const fine = makeTrace({ n: 2, startMs: clock.now, durationMs: 5 });
  await p.send([...failed, ...slow, ...fine]);
  await p.evaluator.scan();
  clock.now += 11_000;
  await p.evaluator.scan();
  await p.emitter.settled();
  return { failed, slow, fine, pipeline: p };
}

/**
 * The scenario's database client span as the Agent maps it, whoever decoded it: attributes of every
 * kind in meta and metrics (an int above 2^53 as the Agent's double), and its link.
 */
export function assertDbSpanTags(db: { meta: Record<string, string>; metrics: Record<string, number | string> }): void {
  assert.equal(db.meta['db.name'], 'shop');
  assert.equal(db.meta['flag'], 'true');
  assert.equal(db.metrics['rows'], 9007199254740992, 'as the Agent: a double');
  assert.equal(db.metrics['ratio'], 0.25);
  assert.equal(db.meta['tags'], '["a",2]');
  assert.equal(db.meta['kv'], '{"a":"x","z":false}');
  assert.equal(db.meta['raw'], '3q2+7w==');
  assert.deepEqual(JSON.parse(db.meta['_dd.span_links']!), [{ trace_id: TRACE_B, span_id: '00000000000000b1', tracestate: 'vendor=1', attributes: { 'link.reason': 'retry' } }]);
}
