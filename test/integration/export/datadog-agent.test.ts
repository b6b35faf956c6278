/**
 * The Datadog exporter against Datadog's own test agent (ddapm-test-agent, from PyPI), with its
 * payload checks on: requests go out as the exporter sends them in production (v0.4 msgpack, PUT, cut
 * at max_request_bytes), the test agent decodes them with its msgpack and checks them, and what it
 * received is read back and compared field by field, 64-bit integers exactly.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Long from 'long';
import { datadogExporterSchema } from '../../../src/export/datadog/config.ts';
import { DatadogExporter } from '../../../src/export/datadog/exporter.ts';
import { mapRequest } from '../../../src/export/datadog/mapping.ts';
import { buildV04Payloads } from '../../../src/export/datadog/payloads.ts';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DD_CHECKS, startDdAgent, type DdJsonSpan, type RunningDdAgent } from '../../support/ddagent.ts';
import { localPipeline } from '../../support/local-pipeline.ts';
import { waitFor } from '../../support/otelcol.ts';
import { makeTrace } from '../../support/traces.ts';
import { decodeV04, type V04Span } from '../../unit/export/datadog-support.ts';

const { ExportTraceServiceRequest } = opentelemetry.proto.collector.trace.v1;
const { SpanKind } = opentelemetry.proto.trace.v1.Span;
const { StatusCode } = opentelemetry.proto.trace.v1.Status;
type KeyValue = opentelemetry.proto.common.v1.KeyValue.$Properties;

const TRACE_A = 'fedcba98765432100123456789abcdef';
const TRACE_B = '000000000000000000000000000000ff';
const T0 = 1_764_620_000_123_456_789n;

const u64 = (v: bigint): Long => Long.fromString(v.toString(), true);
const id = (hex: string): Buffer => Buffer.from(hex, 'hex');
const str = (key: string, v: string): KeyValue => ({ key, value: { stringValue: v } });
const int = (key: string, v: bigint): KeyValue => ({ key, value: { intValue: Long.fromString(v.toString()) } });

/**
 * Two resources; trace A (128-bit id) an HTTP server root that failed with an exception, a database
 * client child with every attribute kind and a link, and `extra` internal spans; trace B a consumer
 * span of the other service with a 64-bit id.
 */
function richRequest(extra: number): { bytes: Uint8Array; spans: number } {
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
    ],
    links: [{ traceId: id(TRACE_B), spanId: id('00000000000000b1'), traceState: 'vendor=1', attributes: [str('link.reason', 'retry')] }],
    status: { code: StatusCode.STATUS_CODE_OK },
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
        scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0' }, spans: [root, db, ...internals] }],
      },
      { resource: { attributes: [str('service.name', 'billing-worker')] }, scopeSpans: [{ scope: { name: 'kafkajs' }, spans: [consumer] }] },
    ],
  }).finish();
  return { bytes, spans: 3 + extra };
}

describe('Datadog exporter → ddapm-test-agent (v0.4, checks on)', { timeout: 120_000 }, () => {
  let agent: RunningDdAgent;
  before(async () => {
    agent = await startDdAgent();
  });
  after(async () => {
    await agent?.stop();
  });

  it('delivers every span, mapped as the Agent maps OTLP, with the kept-trace marks, and no check fails', async () => {
    const { bytes, spans } = richRequest(40);
    const maxRequestBytes = 6_000;
    const metrics = new Metrics();
    const exporter = new DatadogExporter({
      id: 'datadog',
      config: datadogExporterSchema.parse({ endpoint: agent.url, max_request_bytes: maxRequestBytes, retry_on_failure: { initial_interval_ms: 100, max_elapsed_time_ms: 10_000 } }),
      metrics,
      logger: silentLogger(),
    });
    await exporter.start();
    try {
      const policies = new Map([[TRACE_A, 'errors'], [TRACE_B, 'sample-10pct']]);
      const result = await exporter.export(bytes, spans, { policies });
      assert.deepEqual(result, { ok: true, rejectedSpans: 0 });
    } finally {
      await exporter.shutdown();
    }

    const received = await waitFor(async () => {
      const traces = await agent.traces();
      return traces.flat().length >= spans ? traces : null;
    });
    const all = received.flat();
    assert.equal(all.length, spans, 'every span once');
    const bySpan = new Map(all.map((s) => [s.span_id, s]));
    assert.equal(bySpan.size, spans);

    assert.equal(received.length, 2, 'two traces');
    // The request was cut: several PUTs, each under the limit, each with its trace count; every chunk
    // in them carries the decision once, however the trace was cut.
    const requests = (await agent.requests()).filter((r) => new URL(r.url).pathname === '/v0.4/traces');
    assert.ok(requests.length > 1, `${requests.length} requests`);
    let chunks = 0;
    for (const r of requests) {
      assert.equal(r.method, 'PUT');
      assert.ok(r.body.length <= maxRequestBytes, `${r.body.length} bytes`);
      const sent = decodeV04(r.body);
      assert.equal(r.headers['x-datadog-trace-count'], String(sent.length));
      assert.equal(r.headers['content-type'], 'application/msgpack');
      for (const chunk of sent) {
        chunks++;
        assert.equal(chunk.filter((s) => s.metrics._sampling_priority_v1 === 2 && s.meta['_dd.p.dm'] === '-4').length, 1, 'one marked span per chunk');
        assert.equal(new Set(chunk.map((s) => s.trace_id)).size, 1);
      }
    }
    assert.ok(chunks > 2, `trace A was cut into pieces: ${chunks} chunks`);

    const root = bySpan.get(0xffffffffffffffffn)!;
    assert.ok(root, 'the root, span id 2^64-1, exact');
    assert.equal(root.trace_id, 0x0123456789abcdefn, 'low 64 bits');
    assert.equal(root.meta['_dd.p.tid'], 'fedcba9876543210', 'high 64 bits');
    assert.equal(root.meta['otel.trace_id'], TRACE_A);
    assert.equal(root.parent_id, 0n);
    assert.equal(root.start, T0, 'nanoseconds above 2^53, exact');
    assert.equal(root.duration, 250_000_001n);
    assert.equal(root.service, 'shop-api');
    assert.equal(root.name, 'http.server.request');
    assert.equal(root.resource, 'GET /cart/:id');
    assert.equal(root.type, 'web');
    assert.equal(root.error, 1n);
    assert.equal(root.meta['error.msg'], 'cart 7 is locked');
    assert.equal(root.meta['error.type'], 'CartError');
    assert.match(root.meta['error.stack']!, /at lock \(cart\.js:1:1\)/);
    assert.equal(root.meta['otel.status_code'], 'Error');
    assert.equal(root.meta['otel.status_description'], 'internal error');
    assert.equal(root.meta['span.kind'], 'server');
    assert.equal(root.meta['http.method'], 'GET');
    assert.equal(root.meta['http.url'], 'https://shop.example/cart/7');
    assert.equal(root.metrics['http.status_code'], 500);
    assert.equal(root.meta['env'], 'staging');
    assert.equal(root.meta['version'], '4.2.0');
    assert.equal(root.meta['otel.library.name'], '@opentelemetry/instrumentation-http');
    assert.equal(root.meta['otel.library.version'], '0.57.0');
    assert.equal(root.meta['w3c.tracestate'], 'ot=th:c;rv:0123456789abcd');
    assert.equal(root.metrics['_sample_rate'], 0.25);
    assert.equal(root.meta['_dd.span_events.has_exception'], 'true');
    const events = JSON.parse(root.meta['events']!) as { name: string; time_unix_nano: number; attributes: Record<string, string> }[];
    assert.equal(events[0]!.name, 'exception');
    assert.equal(events[0]!.attributes['exception.message'], 'cart 7 is locked');
    assert.match(root.meta['events']!, new RegExp(`"time_unix_nano":${T0 + 1n}[,}]`), 'event time exact in the JSON text');
    // Kept by a user decision, with the deciding policy.
    assert.equal(root.metrics['_sampling_priority_v1'], 2);
    assert.equal(root.meta['_dd.p.dm'], '-4');
    assert.equal(root.meta['tailsampling.policy'], 'errors');

    const db = bySpan.get(0x8000000000000001n)!;
    assert.equal(db.parent_id, 0xffffffffffffffffn);
    assert.equal(db.duration, 9_007_199_254_740_993n);
    assert.equal(db.name, 'postgresql.query');
    assert.equal(db.resource, 'SELECT * FROM carts WHERE id = $1');
    assert.equal(db.type, 'sql');
    assert.equal(db.error, 0n);
    assert.equal(db.meta['db.name'], 'shop');
    assert.equal(db.meta['flag'], 'true');
    assert.equal(db.metrics['rows'], 9007199254740992, 'as the Agent: a double');
    assert.equal(db.metrics['ratio'], 0.25);
    assert.equal(db.meta['tags'], '["a",2]');
    assert.equal(db.meta['kv'], '{"a":"x","z":false}');
    assert.equal(db.meta['raw'], '3q2+7w==');
    assert.deepEqual(JSON.parse(db.meta['_dd.span_links']!), [{ trace_id: TRACE_B, span_id: '00000000000000b1', tracestate: 'vendor=1', attributes: { 'link.reason': 'retry' } }]);
    assert.equal(db.meta['tailsampling.policy'], 'errors');
    assert.equal(db.meta['_dd.p.dm'], undefined, 'the decision is on the chunk root');

    const consumer = bySpan.get(0xb1n)!;
    assert.equal(consumer.trace_id, 0xffn);
    assert.equal(consumer.meta['_dd.p.tid'], undefined, 'a 64-bit trace id has no high half');
    assert.equal(consumer.service, 'billing-worker');
    assert.equal(consumer.name, 'kafka.process');
    assert.equal(consumer.resource, 'process orders');
    assert.equal(consumer.type, 'custom');
    assert.equal(consumer.metrics['_sampling_priority_v1'], 2);
    assert.equal(consumer.meta['tailsampling.policy'], 'sample-10pct');

    // Field for field, what went through the test agent is what the mapping produced.
    const expected = buildV04Payloads(mapRequest(bytes, { policies: new Map([[TRACE_A, 'errors'], [TRACE_B, 'sample-10pct']]) }), maxRequestBytes);
    const want = new Map<bigint, DdJsonSpan>();
    for (const p of expected) {
      for (const chunk of decodeV04(p.body)) {
        for (const s of chunk) want.set(BigInt(s.span_id), normalize(s));
      }
    }
    for (const [spanId, got] of bySpan) assert.deepEqual(normalize(got), want.get(spanId), `span ${spanId.toString(16)}`);

    // The checks ran and none failed.
    const failures = await agent.failures();
    assert.equal(failures.status, 200, failures.text);
    const summary = await agent.summary();
    for (const check of ['trace_count_header', 'meta_tracer_version_header', 'trace_content_length', 'meta_events_is_valid_json']) {
      assert.ok(DD_CHECKS.includes(check));
      assert.ok((summary[check]?.Passed_Checks ?? 0) > 0, `${check} ran: ${JSON.stringify(summary[check])}`);
      assert.equal(summary[check]?.Failed_Checks, 0, check);
    }
    assert.equal(await counterValue(metrics, 'datadog'), spans);
  });
});

describe('the pipeline → Datadog: kept traces carry the policy that kept them', { timeout: 120_000 }, () => {
  it('spans in, decided by otelcol policies, emitted through the Datadog exporter: only kept traces arrive, each tagged with its policy', async (t) => {
    const agent = await startDdAgent();
    t.after(() => agent.stop());
    const metrics = new Metrics();
    const exporter = new DatadogExporter({
      id: 'datadog',
      config: datadogExporterSchema.parse({ endpoint: agent.url, retry_on_failure: { initial_interval_ms: 100 } }),
      metrics,
      logger: silentLogger(),
    });
    const clock = { now: Date.now() };
    const p = await localPipeline(t, mkdtempSync(join(tmpdir(), 'ts-datadog-')), {
      exporters: [exporter],
      clock,
      metrics,
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

    const traces = await waitFor(async () => {
      const got = await agent.traces();
      return got.flat().length >= 5 ? got : null;
    });
    const byTrace = new Map(traces.map((tr) => [tr[0]!.meta['otel.trace_id'], tr]));
    assert.deepEqual(new Set(byTrace.keys()), new Set([failed[0]!.traceId, slow[0]!.traceId]), 'the fast trace without errors was not kept');
    const policyOf = (traceId: string) => new Set(byTrace.get(traceId)!.map((s) => s.meta['tailsampling.policy']));
    assert.deepEqual(policyOf(failed[0]!.traceId), new Set(['errors']));
    assert.deepEqual(policyOf(slow[0]!.traceId), new Set(['slow']));
    for (const tr of traces) {
      const root = tr.find((s) => s.parent_id === 0n)!;
      assert.equal(root.metrics['_sampling_priority_v1'], 2);
      assert.equal(root.meta['_dd.p.dm'], '-4');
      // The emitter's threshold (kept with probability 1) travels as tracestate and sample rate.
      assert.match(root.meta['w3c.tracestate']!, /^ot=th:0/);
      assert.equal(root.metrics['_sample_rate'], 1);
    }
    assert.equal(byTrace.get(failed[0]!.traceId)!.length, 3);
    assert.equal((await agent.failures()).status, 200);
    assert.equal(await counterValue(metrics, 'datadog'), 5);
    assert.equal(p.store.lookup([failed[0]!.traceId]).get(failed[0]!.traceId)!.exported, true, 'delivered: the exporter accepted every span');
  });
});

/** Integers as BigInt, metrics as numbers: the same shape whichever decoder read the span. */
function normalize(s: V04Span | DdJsonSpan): DdJsonSpan {
  return {
    service: s.service,
    name: s.name,
    resource: s.resource,
    type: s.type,
    trace_id: BigInt(s.trace_id),
    span_id: BigInt(s.span_id),
    parent_id: BigInt(s.parent_id),
    start: BigInt(s.start),
    duration: BigInt(s.duration),
    error: BigInt(s.error),
    meta: { ...s.meta },
    metrics: Object.fromEntries(Object.entries(s.metrics).map(([k, v]) => [k, Number(v)])),
  };
}

async function counterValue(metrics: Metrics, exporter: string): Promise<number> {
  const { values } = await metrics.exporterSentSpans.get();
  return values.find((v) => v.labels.exporter === exporter)?.value ?? 0;
}
