import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decode } from '@msgpack/msgpack';
import protobuf from 'protobufjs';
import { BUCKET_NS, StatsConcentrator, encodeStatsPayload, type GroupStats } from '../../../src/export/datadog/stats/concentrator.ts';
import { DurationSketch, RELATIVE_ACCURACY, indexOf, trimDuration, valueOf } from '../../../src/export/datadog/stats/ddsketch.ts';
import { DatadogStatsExporter } from '../../../src/export/datadog/stats/stats-exporter.ts';
import { datadogExporterSchema } from '../../../src/export/datadog/config.ts';
import type { Sender } from '../../../src/export/sender.ts';
import { requestsToColumns } from '../../../src/otlp/to-columns.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { hex, toProtobuf, type TestSpan, type TestValue } from '../../support/traces.ts';

/** sketches-go's ddsketch.proto, to read our sketches back with an independent decoder. */
const SKETCH = protobuf.parse(`syntax = "proto3";
message DDSketch { IndexMapping mapping = 1; Store positiveValues = 2; Store negativeValues = 3; double zeroCount = 4; }
message IndexMapping { double gamma = 1; double indexOffset = 2; int32 interpolation = 3; }
message Store { map<sint32, double> binCounts = 1; repeated double contiguousBinCounts = 2 [packed = true]; sint32 contiguousBinIndexOffset = 3; }`).root.lookupType('DDSketch');

interface PbSketch {
  mapping: { gamma: number };
  positiveValues?: { contiguousBinCounts: number[]; contiguousBinIndexOffset: number };
  zeroCount: number;
}
const readSketch = (b: Uint8Array): PbSketch => SKETCH.toObject(SKETCH.decode(b), { defaults: true }) as PbSketch;
const sketchCount = (s: PbSketch): number => s.zeroCount + (s.positiveValues?.contiguousBinCounts ?? []).reduce((a, b) => a + b, 0);

const S = 1_000_000_000n;
const T0 = 1_700_000_000n * S; // a multiple of 10 s

function span(o: { start: bigint; end: bigint; kind: number; parent?: string; error?: boolean; attrs?: [string, TestValue][]; name?: string }): TestSpan {
  return {
    traceId: hex(16),
    spanId: hex(8),
    ...(o.parent === undefined ? {} : { parentSpanId: o.parent }),
    name: o.name ?? 'op',
    kind: o.kind,
    startNs: o.start,
    endNs: o.end,
    attributes: o.attrs ?? [],
    ...(o.error ? { status: { code: 2, message: 'boom' } } : {}),
  };
}

const HTTP: [string, TestValue][] = [
  ['http.request.method', { s: 'GET' }],
  ['http.route', { s: '/cart' }],
  ['http.response.status_code', { i: 200n }],
];

function columns(spans: TestSpan[], service = 'web') {
  return requestsToColumns([toProtobuf([{ service, extra: [['deployment.environment.name', { s: 'prod' }], ['service.version', { s: '1.2' }]], scope: { name: 's' }, spans }])]);
}

const byKey = (groups: GroupStats[]) => new Map(groups.map((g) => [`${g.service}|${g.name}|${g.resource}|${g.spanKind}|${g.httpStatusCode}`, g]));

describe('datadog APM stats: concentrator', () => {
  it('counts hits, errors and top-level hits per key; internal children only when measured', () => {
    const c = new StatsConcentrator();
    const parent = hex(8);
    const r = c.addColumns(
      columns([
        span({ start: T0, end: T0 + 100_000_000n, kind: 2, attrs: HTTP }),
        span({ start: T0, end: T0 + 200_000_000n, kind: 2, attrs: HTTP }),
        span({ start: T0, end: T0 + 300_000_000n, kind: 2, attrs: HTTP, error: true }),
        span({ start: T0, end: T0 + 1_000n, kind: 3, parent, attrs: [['http.request.method', { s: 'GET' }]] }),
        span({ start: T0, end: T0 + 1_000n, kind: 1, parent, name: 'internal' }),
        span({ start: T0, end: T0 + 1_000n, kind: 1, parent, name: 'measured', attrs: [['_dd.measured', { i: 1n }]] }),
        span({ start: T0, end: T0 + 1_000n, kind: 1, name: 'root-internal' }),
      ]),
    );
    assert.deepEqual(r, { counted: 6, notEligible: 1 });
    const [p, ...rest] = c.takeClosed(null);
    assert.equal(rest.length, 0);
    assert.deepEqual(p!.key, { hostname: '', env: 'prod', version: '1.2', containerId: '' });
    assert.equal(p!.buckets.length, 1);
    assert.equal(p!.buckets[0]!.start, T0);
    const g = byKey(p!.buckets[0]!.groups);
    const server = g.get('web|http.server.request|GET /cart|server|200')!;
    assert.deepEqual([server.hits, server.errors, server.topLevelHits, server.duration], [3, 1, 3, 600_000_000]);
    assert.equal(server.okSummary.count, 2);
    assert.equal(server.errorSummary.count, 1);
    const client = g.get('web|http.client.request|GET|client|0')!;
    assert.deepEqual([client.hits, client.errors, client.topLevelHits], [1, 0, 0], 'a client child is measured, not top-level');
    const measured = g.get('web|Internal|measured|internal|0')!;
    assert.deepEqual([measured.hits, measured.topLevelHits], [1, 0]);
    assert.equal(g.get('web|Internal|root-internal|internal|0')!.topLevelHits, 1, 'a root span is top-level whatever its kind');
    assert.equal(g.has('web|Internal|internal|internal|0'), false);
    assert.ok(c.empty);
  });

  it('buckets by end time, aligned to 10 s; takeClosed leaves open buckets', () => {
    const c = new StatsConcentrator();
    c.addColumns(
      columns([
        span({ start: T0 - 5n * S, end: T0 - 1n, kind: 2 }), // ends in the bucket before T0
        span({ start: T0 - 5n * S, end: T0, kind: 2 }), // ends exactly at T0: bucket T0
        span({ start: T0 + 1n * S, end: T0 + 12n * S, kind: 2 }), // started in T0's bucket, ends in the next
      ]),
    );
    const closed = c.takeClosed(T0 + 10n * S);
    assert.deepEqual(
      closed[0]!.buckets.map((b) => [b.start, b.groups[0]!.hits]),
      [
        [T0 - BUCKET_NS, 1],
        [T0, 1],
      ],
    );
    const rest = c.takeClosed(null);
    assert.deepEqual(rest[0]!.buckets.map((b) => [b.start, b.groups[0]!.hits]), [[T0 + BUCKET_NS, 1]]);
  });

  it('weights hits by the sampling probability from ot=th (1 / _sample_rate), sketches unweighted', () => {
    const c = new StatsConcentrator();
    const s = span({ start: T0, end: T0 + 1_000n, kind: 2 });
    s.traceState = 'ot=th:c'; // keeps 25 %
    c.addColumns(columns([s]));
    const g = c.takeClosed(null)[0]!.buckets[0]!.groups[0]!;
    assert.deepEqual([g.hits, g.topLevelHits, g.okSummary.count], [4, 4, 1]);
  });

  it('payloads are split by env/version/host as the Agent keys them', () => {
    const c = new StatsConcentrator();
    c.addColumns(columns([span({ start: T0, end: T0 + 1n, kind: 2 })], 'a'));
    c.addColumns(requestsToColumns([toProtobuf([{ service: 'b', scope: { name: 's' }, spans: [span({ start: T0, end: T0 + 1n, kind: 2 })] }])]));
    assert.deepEqual(c.takeClosed(null).map((p) => p.key.env).sort(), ['', 'prod']);
  });
});

describe('datadog APM stats: DDSketch', () => {
  it('trims durations to 10 mantissa bits, as nsTimestampToFloat', () => {
    assert.equal(trimDuration(1023), 1023);
    assert.equal(trimDuration(1024), 1024);
    assert.equal(trimDuration(1025), 1024);
    assert.equal(trimDuration(123_456_789), 941 * 2 ** 17);
  });

  it('encodes as sketches-go DDSketch protobuf: counts, zeros, gamma, values within 1 %', () => {
    const s = new DurationSketch();
    const values = [0, 1, 1_000, 5_000_000, 5_000_001, 2_000_000_000];
    for (const v of values) s.add(v);
    const pb = readSketch(s.encode());
    assert.equal(sketchCount(pb), values.length);
    assert.equal(pb.zeroCount, 1);
    assert.ok(Math.abs(pb.mapping.gamma - (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)) < 1e-12);
    for (const v of values.slice(1)) {
      const t = trimDuration(v);
      assert.ok(Math.abs(valueOf(indexOf(t)) - t) / t <= RELATIVE_ACCURACY + 1e-9, `value of ${v}`);
    }
    const offset = pb.positiveValues!.contiguousBinIndexOffset;
    assert.equal(offset, indexOf(1));
    assert.equal(pb.positiveValues!.contiguousBinCounts[indexOf(trimDuration(5_000_000)) - offset], 2);
  });

  it('an empty sketch is a valid message with no bins', () => {
    const pb = readSketch(new DurationSketch().encode());
    assert.equal(sketchCount(pb), 0);
  });

  it('collapses the lowest bins beyond 2048, keeping the count', () => {
    const s = new DurationSketch();
    s.add(1);
    s.add(1e300);
    const pb = readSketch(s.encode());
    assert.equal(pb.positiveValues!.contiguousBinCounts.length, 2048);
    assert.equal(sketchCount(pb), 2);
  });
});

describe('datadog APM stats: payload and exporter', () => {
  it('encodes a ClientStatsPayload with the field names the Agent reads', () => {
    const c = new StatsConcentrator();
    c.addColumns(columns([span({ start: T0, end: T0 + 5n, kind: 2, attrs: HTTP, error: true })]));
    const body = encodeStatsPayload(c.takeClosed(null)[0]!, { lang: 'otlp', tracerVersion: 't', runtimeId: 'r', sequence: 7 });
    const p = decode(body, { useBigInt64: true }) as Record<string, unknown> & { Stats: { Start: bigint; Duration: bigint; Stats: Record<string, unknown>[] }[] };
    assert.deepEqual([p.Env, p.Version, p.Sequence, p.RuntimeID, p.Lang], ['prod', '1.2', 7, 'r', 'otlp']);
    const b = p.Stats[0]!;
    assert.deepEqual([b.Start, b.Duration], [T0, BUCKET_NS]);
    const g = b.Stats[0]!;
    assert.deepEqual(
      [g.Service, g.Name, g.Resource, g.Type, g.HTTPStatusCode, g.Hits, g.Errors, g.TopLevelHits, g.Duration, g.SpanKind, g.Synthetics, g.IsTraceRoot],
      ['web', 'http.server.request', 'GET /cart', 'web', 200, 1, 1, 1, 5, 'server', false, 1],
    );
    assert.equal(sketchCount(readSketch(g.ErrorSummary as Uint8Array)), 1);
    assert.equal(sketchCount(readSketch(g.OkSummary as Uint8Array)), 0);
  });

  it('sends closed buckets only, everything at shutdown; counts sent and failed payloads', async () => {
    const sent: Uint8Array[] = [];
    let fail = false;
    const sender: Sender = {
      description: 'test',
      send: async (body) => {
        if (fail) throw Object.assign(new Error('bad'), { retryable: false });
        sent.push(body);
        return { rejectedSpans: 0, errorMessage: '' };
      },
      close: async () => {},
    };
    const metrics = new Metrics();
    const now = { ms: Number((T0 + 24n * S) / 1_000_000n) };
    const config = datadogExporterSchema.parse({ apm_stats: true, retry_on_failure: { enabled: false } });
    const x = new DatadogStatsExporter({ id: 'datadog', config, metrics, logger: silentLogger(), closeAfterMs: 5_000, sender, now: () => now.ms });
    x.committed(columns([span({ start: T0, end: T0 + 1n, kind: 2 }), span({ start: T0 + 15n * S, end: T0 + 16n * S, kind: 2 })]));
    await x.flush(); // cutoff T0+19s: bucket T0 closed, T0+10s not
    assert.equal(sent.length, 1);
    fail = true;
    await x.shutdown();
    assert.equal(sent.length, 1);
    const value = async (name: string, labels: Record<string, string>) =>
      (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
    assert.equal(await value('tailsampler_datadog_stats_sent_payloads_total', { exporter: 'datadog' }), 1);
    assert.equal(await value('tailsampler_datadog_stats_failed_payloads_total', { exporter: 'datadog', outcome: 'permanent' }), 1);
    assert.equal(await value('tailsampler_datadog_stats_spans_total', { exporter: 'datadog', outcome: 'counted' }), 2);
  });
});
