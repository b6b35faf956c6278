import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { grpcSender } from '../../../src/cli/loadgen.ts';
import { startOtelcol } from '../../support/otelcol.ts';
import { runPython, startService, waitFor } from '../../support/service.ts';
import { canonical, jsonSpan, makeTrace, toJson, toProtobuf, type TestResource, type TestSpan } from '../../support/traces.ts';

const READ_TABLE = fileURLToPath(new URL('./read_table.py', import.meta.url));

function resource(spans: TestSpan[], service = 'checkout'): TestResource {
  return { service, extra: [['host.name', { s: 'node-1' }]], schemaUrl: 'https://opentelemetry.io/schemas/1.26.0', scope: { name: 'e2e', version: '1.0' }, spans };
}

async function postProtobuf(endpoint: string, body: Uint8Array): Promise<void> {
  const res = await fetch(`${endpoint}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
  assert.equal(res.status, 200, `HTTP protobuf export answered ${res.status}`);
}

async function postJson(endpoint: string, body: string): Promise<void> {
  const res = await fetch(`${endpoint}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(res.status, 200, `HTTP JSON export answered ${res.status}: ${await res.text()}`);
}

async function grpcExport(address: string, body: Uint8Array): Promise<void> {
  const client = grpcSender(address);
  try {
    await client.send(body);
  } finally {
    client.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const withoutTraceState = (s: Record<string, unknown>) => {
  const { traceState: _ignored, ...rest } = s;
  return canonical(rest);
};

test('OTLP in over HTTP and gRPC → spool → Iceberg → policies → exactly the kept traces out, complete and identical', async (t) => {
  const otelcol = await startOtelcol();
  t.after(() => otelcol.stop());
  const svc = await startService({
    config: {
      query: { scan_interval_secs: 1, inactivity_threshold_secs: 6, max_trace_age_secs: 120 },
      sampling: {
        sample_errors: false,
        sample_latency: false,
        policies: [
          { name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } },
          { name: 'slow', type: 'latency', latency: { threshold_ms: 2000 } },
          { name: 'vip', type: 'string_attribute', string_attribute: { key: 'customer.tier', values: ['gold'] } },
        ],
      },
      exporters: { otlp: { endpoint: otelcol.httpEndpoint, protocol: 'http/protobuf', retry_on_failure: { initial_interval_ms: 200 } } },
      // The exact-JSON trace below starts in Dec 2025: keep its day partition.
      storage: { retention_days: 0 },
    },
  });
  t.after(() => svc.kill());
  const now = Date.now();

  const errorTrace = makeTrace({ n: 5, startMs: now, durationMs: 20, error: true, rich: true });
  const plainHttp = makeTrace({ n: 4, startMs: now, durationMs: 20 });
  const slowTrace = makeTrace({ n: 3, startMs: now, durationMs: 2500 });
  const plainGrpc = makeTrace({ n: 3, startMs: now, durationMs: 20 });
  const errorJson = makeTrace({ n: 2, startMs: now, durationMs: 20, error: true, traceState: 'vendor=abc' });
  const plainJson = makeTrace({ n: 2, startMs: now, durationMs: 20 });
  const vipTrace = makeTrace({ n: 3, startMs: now, durationMs: 20 });
  vipTrace[2]!.attributes.push(['customer.tier', { s: 'gold' }]);
  const split = makeTrace({ n: 6, startMs: now, durationMs: 30, error: true });
  const bulk = Array.from({ length: 40 }, () => makeTrace({ n: 5, startMs: now, durationMs: 10 }));
  // 64-bit integers sent as JSON numbers (proto3 JSON allows it): through a double the start would be
  // ...456768 and the extremes refused. A kept trace, so both the table and the re-export are checked.
  const exactJson = makeTrace({ n: 2, startMs: now, durationMs: 20, error: true });
  const EXACT_START = 1764620000123456789n;
  exactJson[0]!.startNs = EXACT_START;
  exactJson[0]!.endNs = EXACT_START + 1500n;
  exactJson[1]!.startNs = EXACT_START + 1000n;
  exactJson[1]!.endNs = EXACT_START + 1400n;
  exactJson[0]!.attributes.push(['int.max', { i: 9223372036854775807n }], ['int.min', { i: -9223372036854775808n }]);
  exactJson[0]!.events = [{ timeNs: EXACT_START + 7n, name: 'exact', attributes: [] }];

  await postProtobuf(svc.http, toProtobuf([resource(errorTrace), resource(plainHttp, 'cart')]));
  await grpcExport(svc.grpc, toProtobuf([resource(slowTrace), resource(plainGrpc)]));
  await postJson(svc.http, toJson([resource([...errorJson, ...plainJson], 'payment')]));
  const numbers = toJson([resource(exactJson, 'exact')])
    .replace(`"startTimeUnixNano":"${EXACT_START}"`, `"startTimeUnixNano":${EXACT_START}`)
    .replace(`"endTimeUnixNano":"${EXACT_START + 1500n}"`, `"endTimeUnixNano":${EXACT_START + 1500n}`)
    .replace(`"timeUnixNano":"${EXACT_START + 7n}"`, `"timeUnixNano":${EXACT_START + 7n}`)
    .replace('"intValue":"9223372036854775807"', '"intValue":9223372036854775807')
    .replace('"intValue":"-9223372036854775808"', '"intValue":-9223372036854775808');
  assert.match(numbers, /"startTimeUnixNano":1764620000123456789,.*"intValue":9223372036854775807}.*"intValue":-9223372036854775808}.*"timeUnixNano":1764620000123456796,/);
  await postJson(svc.http, numbers);
  await grpcExport(svc.grpc, toProtobuf([resource(vipTrace), resource(bulk.flat(), 'inventory')]));
  // One trace over three requests, two transports and (with 1 s commits) several snapshots.
  await postProtobuf(svc.http, toProtobuf([resource(split.slice(0, 2))]));
  await sleep(1500);
  await grpcExport(svc.grpc, toProtobuf([resource(split.slice(2, 4))]));
  await sleep(1500);
  await postJson(svc.http, toJson([resource(split.slice(4))]));

  const kept = new Map<string, TestSpan[]>([
    [errorTrace[0]!.traceId, errorTrace],
    [slowTrace[0]!.traceId, slowTrace],
    [errorJson[0]!.traceId, errorJson],
    [vipTrace[0]!.traceId, vipTrace],
    [split[0]!.traceId, split],
    [exactJson[0]!.traceId, exactJson],
  ]);
  const dropped = [plainHttp, plainGrpc, plainJson, ...bulk];

  // Decided and exported: wait for all kept traces at the collector.
  const names = new Map([[errorTrace, 'error'], [slowTrace, 'slow'], [errorJson, 'error-json'], [vipTrace, 'vip'], [split, 'split'], [exactJson, 'exact-json']].map(([t, n]) => [(t as TestSpan[])[0]!.traceId, n as string]));
  await waitFor('kept traces at the collector', async () => {
    const got = await otelcol.received();
    const missing = [...kept].filter(([id, spans]) => got.find((r) => r.traceId === id)?.spans.length !== spans.length);
    if (missing.length === 0) return true;
    throw new Error(`still missing: ${missing.map(([id]) => names.get(id)).join(', ')}; decided so far ${await svc.metric('tailsampler_traces_decided_total')}`);
  }, 60_000);

  // Late spans: one for a kept trace (must follow it out), one for a dropped trace (must not).
  const lateKept = { ...errorTrace[1]!, spanId: 'aaaaaaaaaaaaaaa1', name: 'late-kept' };
  const lateDropped = { ...plainHttp[1]!, spanId: 'bbbbbbbbbbbbbbb1', name: 'late-dropped' };
  await postProtobuf(svc.http, toProtobuf([resource([lateKept]), resource([lateDropped], 'cart')]));
  errorTrace.push(lateKept);
  await waitFor('the late span of a kept trace', async () => {
    const got = await otelcol.received();
    return got.find((r) => r.traceId === lateKept.traceId)?.spans.some((s) => s.span.spanId === lateKept.spanId);
  }, 30_000);
  // Let every remaining trace become ready and be decided, so anything wrongly kept would have arrived.
  await waitFor('all traces decided', async () => {
    const decided = await svc.metric('tailsampler_traces_decided_total');
    return decided >= kept.size + dropped.length;
  }, 30_000);
  await waitFor('the late span of a dropped trace counted', async () => (await svc.metric('tailsampler_late_spans_total', { outcome: 'dropped' })) >= 1, 15_000);
  await sleep(3000);

  const received = await otelcol.received();
  assert.deepEqual(new Set(received.map((r) => r.traceId)), new Set(kept.keys()), 'exactly the kept traces arrive');
  for (const [id, sent] of kept) {
    const got = received.find((r) => r.traceId === id)!;
    assert.equal(got.spans.length, sent.length, `trace ${id} complete, each span once`);
    const bySpan = new Map(got.spans.map((s) => [s.span.spanId as string, s]));
    for (const s of sent) {
      const r = bySpan.get(s.spanId);
      assert.ok(r, `span ${s.spanId} of ${id} arrived`);
      assert.deepEqual(withoutTraceState(r.span as Record<string, unknown>), withoutTraceState(jsonSpan(s)), `span ${s.spanId} identical`);
      const ts = String((r.span as { traceState?: string }).traceState ?? '');
      assert.match(ts, /(^|,)ot=([^,]*;)?th:0(;|,|$)/, `kept span carries its sampling threshold: ${ts}`);
      if (s.traceState) assert.ok(ts.includes(s.traceState), 'other tracestate members kept');
      assert.deepEqual(canonical(r.scope), canonical({ name: 'e2e', version: '1.0' }));
      assert.equal(r.resourceSchemaUrl, 'https://opentelemetry.io/schemas/1.26.0');
    }
  }
  // The exact values at the Collector (its file exporter writes 64-bit integers as strings).
  const exactOut = received.find((r) => r.traceId === exactJson[0]!.traceId)!.spans.find((x) => x.span.spanId === exactJson[0]!.spanId)!.span;
  assert.equal(exactOut.startTimeUnixNano, '1764620000123456789');
  assert.equal(exactOut.endTimeUnixNano, '1764620000123458289');
  assert.equal((exactOut.events as { timeUnixNano: string }[])[0]!.timeUnixNano, '1764620000123456796');
  const outInts = new Map((exactOut.attributes as { key: string; value: { intValue?: string } }[]).map((a) => [a.key, a.value.intValue]));
  assert.equal(outInts.get('int.max'), '9223372036854775807');
  assert.equal(outInts.get('int.min'), '-9223372036854775808');
  assert.ok((await svc.metric('tailsampler_traces_decided_total', { policy: 'errors', outcome: 'sampled' })) >= 4);
  assert.equal(await svc.metric('tailsampler_traces_decided_total', { policy: 'vip', outcome: 'sampled' }), 1);

  // Every received span is in the table exactly once, as independent readers see it.
  const sentSpans = [...kept.values()].reduce((n, s) => n + s.length, 0) + dropped.reduce((n, s) => n + s.length, 0) + 1; // + the late dropped span (the late kept one is in errorTrace)
  const read = (await runPython(READ_TABLE, [
    join(svc.dir, 'catalog.db'), join(svc.dir, 'warehouse'), 'observability', 'otel_spans', errorTrace[0]!.traceId, split[0]!.traceId, exactJson[0]!.traceId,
  ])) as {
    rows: number;
    distinct_span_ids: number;
    duckdb: { rows: number; distinct_span_ids: number };
    traces: Record<string, {
      rows: number;
      span_ids: string[];
      status_codes: number[];
      spans: Record<string, { start_time_unix_nano: string; end_time_unix_nano: string; duration: string; attributes: string; events: string }>;
      duckdb_start_time_unix_nano: Record<string, string>;
    }>;
  };
  assert.equal(read.rows, sentSpans);
  assert.equal(read.distinct_span_ids, sentSpans);
  assert.equal(read.duckdb.rows, sentSpans);
  assert.equal(read.duckdb.distinct_span_ids, sentSpans);
  assert.deepEqual(read.traces[errorTrace[0]!.traceId]!.span_ids, errorTrace.map((s) => s.spanId).sort());
  assert.deepEqual(read.traces[split[0]!.traceId]!.status_codes, [0, 0, 0, 0, 0, 2]);
  // The exact values in the table, as pyiceberg and duckdb read them.
  const exactRow = read.traces[exactJson[0]!.traceId]!.spans[exactJson[0]!.spanId]!;
  assert.equal(exactRow.start_time_unix_nano, '1764620000123456789');
  assert.equal(exactRow.end_time_unix_nano, '1764620000123458289');
  assert.equal(exactRow.duration, '1500', 'the duration a latency policy sees');
  assert.equal(read.traces[exactJson[0]!.traceId]!.duckdb_start_time_unix_nano[exactJson[0]!.spanId], '1764620000123456789');
  const rowInts = new Map((JSON.parse(exactRow.attributes) as { key: string; value: { intValue?: string } }[]).map((a) => [a.key, a.value.intValue]));
  assert.equal(rowInts.get('int.max'), '9223372036854775807');
  assert.equal(rowInts.get('int.min'), '-9223372036854775808');
  assert.equal((JSON.parse(exactRow.events) as { timeUnixNano: string }[])[0]!.timeUnixNano, '1764620000123456796');

  assert.equal(await svc.stop(), 0, 'clean shutdown');
});
