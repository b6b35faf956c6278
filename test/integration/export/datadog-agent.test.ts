/**
 * The Datadog exporter against Datadog's own test agent (ddapm-test-agent, from PyPI), with its
 * payload checks on: requests go out as the exporter sends them in production (v0.4 msgpack, PUT, cut
 * at max_request_bytes), the test agent decodes them with its msgpack and checks them, and what it
 * received is read back and compared field by field, 64-bit integers exactly.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { datadogExporterSchema } from '../../../src/export/datadog/config.ts';
import { DatadogExporter } from '../../../src/export/datadog/exporter.ts';
import { mapRequest } from '../../../src/export/datadog/mapping.ts';
import { buildV04Payloads } from '../../../src/export/datadog/payloads.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { assertDbSpanTags, keepErrorsAndSlow, keptTracesRequest, T0, TRACE_A, TRACE_B } from '../../support/datadog-scenario.ts';
import { DD_CHECKS, startDdAgent, type DdJsonSpan, type RunningDdAgent } from '../../support/ddagent.ts';
import { waitFor } from '../../support/otelcol.ts';
import { decodeV04, type V04Span } from '../../unit/export/datadog-support.ts';


describe('Datadog exporter → ddapm-test-agent (v0.4, checks on)', { timeout: 120_000 }, () => {
  let agent: RunningDdAgent;
  before(async () => {
    agent = await startDdAgent();
  });
  after(async () => {
    await agent?.stop();
  });

  it('delivers every span, mapped as the Agent maps OTLP, with the kept-trace marks, and no check fails', async () => {
    const { bytes, spans } = keptTracesRequest(40);
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
    assertDbSpanTags(db);
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
    const { failed, slow, pipeline: p } = await keepErrorsAndSlow(t, exporter, { metrics });

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
