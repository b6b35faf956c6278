/**
 * The Datadog exporter agentless (`api: { key, endpoint }`): what it POSTs to the intake is captured by
 * a local HTTP server standing in for it and decoded as Datadog decodes it, with Datadog's own
 * generated Go code (pbgo/trace.AgentPayload from datadog-agent/pkg/proto, test/infra/dd-agentpayload;
 * the module proxy serves no Collector datadogreceiver to run instead). Every body must decode (with
 * both of Datadog's unmarshallers, strings valid UTF-8, no field number Datadog does not know), and the
 * spans in it must be the ones the mapping made, 64-bit integers exact, each chunk marked kept by a user.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { gunzipSync, gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { datadogExporterSchema } from '../../../src/export/datadog/config.ts';
import { DatadogExporter, VERSION } from '../../../src/export/datadog/exporter.ts';
import { mapRequest, type DdSpan } from '../../../src/export/datadog/mapping.ts';
import { buildAgentPayloads } from '../../../src/export/datadog/payloads.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { ddAgentPayloadBinary, decodeWithDatadog, runDecoder, type DdPbAgentPayload, type DdPbSpan } from '../../support/dd-agentpayload.ts';
import { SCENARIO_POLICIES, T0, TRACE_A, assertDbSpanTags, keepErrorsAndSlow, keptTracesRequest } from '../../support/datadog-scenario.ts';
import { counterValue, startHttpServer, type Received } from '../../unit/export/support.ts';
import { decodeAgentPayload, type PbSpan } from '../../unit/export/datadog-support.ts';

const API_KEY = 'dd-test-api-key-0123456789abcdef';
const MAX_REQUEST_BYTES = 6_000;

/** A logger writing every line, at every level, into `lines`. */
function capturingLogger(lines: string[]) {
  return pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
}

/** The fields both decoders and the mapping have, in one shape: integers as decimal strings. */
type Comparable = Pick<DdPbSpan, 'service' | 'name' | 'resource' | 'type' | 'trace_id' | 'span_id' | 'parent_id' | 'start' | 'duration' | 'error' | 'meta' | 'metrics'>;

const fromDatadog = (s: DdPbSpan): Comparable => ({
  service: s.service, name: s.name, resource: s.resource, type: s.type, trace_id: s.trace_id, span_id: s.span_id, parent_id: s.parent_id,
  start: s.start, duration: s.duration, error: s.error, meta: s.meta, metrics: s.metrics,
});
const fromMapping = (s: DdSpan): Comparable => ({
  service: s.service, name: s.name, resource: s.resource, type: s.type, trace_id: String(s.traceId), span_id: String(s.spanId), parent_id: String(s.parentId),
  start: String(s.start), duration: String(s.duration), error: s.error, meta: Object.fromEntries(s.meta), metrics: Object.fromEntries(s.metrics),
});
const fromOurProto = (s: PbSpan): Comparable => ({
  service: s.service ?? '', name: s.name ?? '', resource: s.resource ?? '', type: s.type ?? '', trace_id: s.traceID ?? '0', span_id: s.spanID ?? '0',
  parent_id: s.parentID ?? '0', start: s.start ?? '0', duration: s.duration ?? '0', error: s.error ?? 0, meta: { ...s.meta }, metrics: { ...s.metrics },
});

/** The intake's checks on one request, and its body as Datadog decoded it. */
async function acceptedAsDatadog(bin: string, r: Received): Promise<DdPbAgentPayload> {
  assert.equal(r.method, 'POST');
  assert.equal(r.url, '/api/v0.2/traces');
  assert.equal(r.headers['dd-api-key'], API_KEY, 'the API key is sent');
  assert.equal(r.headers['content-type'], 'application/x-protobuf');
  assert.equal(r.headers['content-encoding'], 'gzip');
  const p = await decodeWithDatadog(bin, r.body);
  assert.equal(p.gzip, true);
  assert.ok(p.bytes <= MAX_REQUEST_BYTES, `${p.bytes} protobuf bytes`);
  assert.deepEqual(p.unknown_fields, [], 'every field number is one pbgo/trace declares');
  assert.equal(p.idx_tracer_payloads, 0);
  assert.equal(p.host_name, hostname());
  assert.equal(p.agent_version, `tailsampler-${VERSION}`);
  assert.equal(p.target_tps, 0);
  assert.equal(p.error_tps, 0);
  for (const tp of p.tracer_payloads) {
    for (const c of tp.chunks) {
      assert.equal(c.priority, 2, 'USER_KEEP');
      assert.equal(c.tags['_dd.p.dm'], '-4', 'decided by a user (manual)');
      assert.equal(c.dropped_trace, false);
      assert.equal(c.origin, '');
      assert.equal(new Set(c.spans.map((s) => s.trace_id)).size, 1, 'a chunk is one trace');
      assert.equal(c.spans.filter((s) => s.metrics['_sampling_priority_v1'] === 2 && s.meta['_dd.p.dm'] === '-4').length, 1, 'one marked span per chunk');
    }
  }
  // Our own reading of the same bytes (test/fixtures/datadog/agent-payload.proto) agrees with Datadog's.
  const ours = decodeAgentPayload(gunzipSync(r.body));
  assert.deepEqual(
    ours.tracerPayloads.flatMap((tp) => tp.chunks.flatMap((c) => c.spans.map(fromOurProto))),
    p.tracer_payloads.flatMap((tp) => tp.chunks.flatMap((c) => c.spans.map(fromDatadog))),
  );
  return p;
}

describe('Datadog exporter agentless → bodies decoded with Datadog\'s pbgo/trace AgentPayload', { timeout: 180_000 }, () => {
  let bin: string;
  before(async () => {
    bin = await ddAgentPayloadBinary();
  });

  it('every request decodes as Datadog decodes it, with the same spans, kept by a user, the API key sent and never logged', async (t) => {
    // The first request is turned away as a busy intake would (retried), the rest accepted.
    const server = await startHttpServer((_req, res, n) => {
      if (n === 1) res.writeHead(503, { 'content-type': 'text/plain' }).end('intake busy');
      else res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
    });
    t.after(server.close);
    const lines: string[] = [];
    const metrics = new Metrics();
    const exporter = new DatadogExporter({
      id: 'datadog',
      config: datadogExporterSchema.parse({
        api: { key: API_KEY, endpoint: server.url },
        max_request_bytes: MAX_REQUEST_BYTES,
        retry_on_failure: { initial_interval_ms: 50, max_elapsed_time_ms: 10_000 },
      }),
      metrics,
      logger: capturingLogger(lines),
    });
    const { bytes, spans } = keptTracesRequest(40);
    await exporter.start();
    try {
      assert.deepEqual(await exporter.export(bytes, spans, { policies: SCENARIO_POLICIES }), { ok: true, rejectedSpans: 0 });
    } finally {
      await exporter.shutdown();
    }

    const requests = server.requests;
    assert.ok(requests.length > 2, `the request was cut and one piece retried: ${requests.length} requests`);
    const retried = requests[0]!.body;
    assert.equal(requests.slice(1).filter((r) => r.body.equals(retried)).length, 1, 'the refused body was sent again, unchanged');
    const payloads: DdPbAgentPayload[] = [];
    for (const r of requests.slice(1)) {
      payloads.push(await acceptedAsDatadog(bin, r));
    }
    const all = payloads.flatMap((p) => p.tracer_payloads.flatMap((tp) => tp.chunks.flatMap((c) => c.spans)));
    const bySpan = new Map(all.map((s) => [s.span_id, s]));
    assert.equal(all.length, spans, 'every span once');
    assert.equal(bySpan.size, spans);

    // One TracerPayload per resource, with what the Agent reads from it.
    const shop = payloads.flatMap((p) => p.tracer_payloads).find((tp) => tp.chunks.some((c) => c.spans[0]!.service === 'shop-api'))!;
    assert.equal(shop.env, 'staging');
    assert.equal(shop.hostname, 'web-1');
    assert.equal(shop.app_version, '4.2.0');
    assert.equal(shop.language_name, 'nodejs');
    const billing = payloads.flatMap((p) => p.tracer_payloads).find((tp) => tp.chunks.some((c) => c.spans[0]!.service === 'billing-worker'))!;
    assert.equal(billing.chunks.length, 1);

    const root = bySpan.get(String(0xffffffffffffffffn))!;
    assert.ok(root, 'the root, span id 2^64-1, exact');
    assert.equal(root.trace_id, String(0x0123456789abcdefn), 'low 64 bits');
    assert.equal(root.meta['_dd.p.tid'], 'fedcba9876543210', 'high 64 bits');
    assert.equal(root.meta['otel.trace_id'], TRACE_A);
    assert.equal(root.parent_id, '0');
    assert.equal(root.start, String(T0), 'nanoseconds above 2^53, exact');
    assert.equal(root.duration, '250000001');
    assert.equal(root.service, 'shop-api');
    assert.equal(root.name, 'http.server.request');
    assert.equal(root.resource, 'GET /cart/:id');
    assert.equal(root.type, 'web');
    assert.equal(root.error, 1);
    assert.equal(root.meta['error.msg'], 'cart 7 is locked');
    assert.equal(root.meta['error.type'], 'CartError');
    assert.match(root.meta['error.stack']!, /at lock \(cart\.js:1:1\)/);
    assert.equal(root.meta['span.kind'], 'server');
    assert.equal(root.meta['http.method'], 'GET');
    assert.equal(root.metrics['http.status_code'], 500);
    assert.equal(root.meta['env'], 'staging');
    assert.equal(root.meta['w3c.tracestate'], 'ot=th:c;rv:0123456789abcd');
    assert.equal(root.metrics['_sample_rate'], 0.25);
    assert.equal(root.metrics['_top_level'], 1);
    assert.match(root.meta['events']!, new RegExp(`"time_unix_nano":${T0 + 1n}[,}]`), 'event time exact in the JSON text');
    assert.equal(root.metrics['_sampling_priority_v1'], 2);
    assert.equal(root.meta['_dd.p.dm'], '-4');
    assert.equal(root.meta['tailsampling.policy'], 'errors');
    assert.deepEqual(root.meta_struct_keys, []);

    const db = bySpan.get(String(0x8000000000000001n))!;
    assert.equal(db.parent_id, String(0xffffffffffffffffn));
    assert.equal(db.duration, '9007199254740993', 'above 2^53, exact');
    assert.equal(db.name, 'postgresql.query');
    assert.equal(db.resource, 'SELECT * FROM carts WHERE id = $1');
    assert.equal(db.type, 'sql');
    assert.equal(db.error, 0);
    assertDbSpanTags(db);
    assert.equal(db.meta['note'], 'ünïcødé ✓ 🚀', 'UTF-8 intact');
    assert.equal(db.span_links, undefined, 'links travel as _dd.span_links, as the Agent maps OTLP');
    assert.equal(db.meta['_dd.p.dm'], undefined, 'the decision is on the chunk root');

    const client = bySpan.get(String(0x8000000000000002n))!;
    assert.equal(client.name, 'http.client.request');
    assert.equal(client.type, 'http');
    assert.equal(client.meta['http.url'], 'http://pricing.internal/v1/price?id=7');
    assert.equal(client.metrics['http.status_code'], 200);

    const consumer = bySpan.get(String(0xb1n))!;
    assert.equal(consumer.trace_id, '255');
    assert.equal(consumer.meta['_dd.p.tid'], undefined, 'a 64-bit trace id has no high half');
    assert.equal(consumer.service, 'billing-worker');
    assert.equal(consumer.name, 'kafka.process');
    assert.equal(consumer.resource, 'process orders');
    assert.equal(consumer.metrics['_sampling_priority_v1'], 2);
    assert.equal(consumer.meta['tailsampling.policy'], 'sample-10pct');

    // Field for field, what Datadog decoded is what the mapping made.
    const mapped = mapRequest(bytes, { policies: SCENARIO_POLICIES });
    buildAgentPayloads(mapped, MAX_REQUEST_BYTES, { hostName: hostname(), agentVersion: `tailsampler-${VERSION}` });
    const want = new Map(mapped.groups.flatMap((g) => g.traces.flatMap((tr) => tr.spans.map((s) => [String(s.spanId), fromMapping(s)] as const))));
    for (const [spanId, got] of bySpan) assert.deepEqual(fromDatadog(got), want.get(spanId), `span ${BigInt(spanId).toString(16)}`);

    assert.equal(await counterValue(metrics.exporterSentSpans, { exporter: 'datadog' }), spans);
    assert.ok(lines.some((l) => l.includes('will retry') && l.includes('503')), 'the refusal was logged');
    assert.ok(lines.length >= 2, `${lines.length} log lines`);
    for (const l of lines) assert.ok(!l.includes(API_KEY), `the API key in a log line: ${l}`);
  });

  it('the decoder rejects bodies Datadog would not decode', async () => {
    const mapped = mapRequest(keptTracesRequest(0).bytes, { policies: SCENARIO_POLICIES });
    const [payload] = buildAgentPayloads(mapped, 3_200_000, { hostName: 'h', agentVersion: 'v' });
    const proto = Buffer.from(payload!.body);
    const gzipped = gzipSync(proto);
    assert.equal((await runDecoder(bin, gzipped)).code, 0, 'the body itself decodes');
    assert.equal((await runDecoder(bin, proto, ['-gzip', 'no'])).code, 0, 'and without gzip');
    const truncated = proto.subarray(0, proto.length - 7);
    const badUtf8 = Buffer.from(proto);
    const at = badUtf8.indexOf(Buffer.from('shop-api'));
    assert.ok(at > 0);
    badUtf8[at] = 0xff;
    const cases: [string, Buffer][] = [
      ['truncated', gzipSync(truncated)],
      ['invalid UTF-8 in a string', gzipSync(badUtf8)],
      ['a cut gzip stream', gzipped.subarray(0, gzipped.length - 12)],
      ['not protobuf', Buffer.from('{"traces":[]}')],
      ['empty', Buffer.alloc(0)],
    ];
    for (const [what, body] of cases) {
      const r = await runDecoder(bin, body);
      assert.notEqual(r.code, 0, `${what}: ${r.stdout}`);
      assert.equal(r.stdout, '', what);
      assert.match(r.stderr, /^dd-agentpayload: /, what);
    }
  });

  it('the pipeline agentless: only the kept traces reach the intake, each with its policy, decoded as Datadog decodes them', async (t) => {
    const server = await startHttpServer((_req, res) => void res.writeHead(202).end('{}'));
    t.after(server.close);
    const lines: string[] = [];
    const logger = capturingLogger(lines);
    const metrics = new Metrics();
    const exporter = new DatadogExporter({
      id: 'datadog',
      config: datadogExporterSchema.parse({ api: { key: API_KEY, endpoint: server.url }, retry_on_failure: { initial_interval_ms: 100 } }),
      metrics,
      logger,
    });
    const { failed, slow, pipeline: p } = await keepErrorsAndSlow(t, exporter, { metrics, logger });

    const spans: DdPbSpan[] = [];
    for (const r of server.requests) {
      const payload = await acceptedAsDatadog(bin, r);
      spans.push(...payload.tracer_payloads.flatMap((tp) => tp.chunks.flatMap((c) => c.spans)));
    }
    const byTrace = Map.groupBy(spans, (s) => s.meta['otel.trace_id']);
    assert.deepEqual(new Set(byTrace.keys()), new Set([failed[0]!.traceId, slow[0]!.traceId]), 'the fast trace without errors was not kept');
    assert.equal(byTrace.get(failed[0]!.traceId)!.length, 3);
    assert.equal(byTrace.get(slow[0]!.traceId)!.length, 2);
    assert.deepEqual(new Set(byTrace.get(failed[0]!.traceId)!.map((s) => s.meta['tailsampling.policy'])), new Set(['errors']));
    assert.deepEqual(new Set(byTrace.get(slow[0]!.traceId)!.map((s) => s.meta['tailsampling.policy'])), new Set(['slow']));
    for (const s of spans) {
      const src = [...failed, ...slow].find((x) => x.spanId === BigInt(s.span_id).toString(16).padStart(16, '0'))!;
      assert.ok(src, `span ${s.span_id} was sent`);
      assert.equal(s.start, String(src.startNs), 'start exact');
      assert.equal(s.duration, String(src.endNs - src.startNs), 'duration exact');
      assert.equal(s.meta['_dd.p.tid'], src.traceId.slice(0, 16));
      assert.equal(BigInt(s.trace_id).toString(16).padStart(16, '0'), src.traceId.slice(16));
    }
    assert.equal(p.store.lookup([failed[0]!.traceId]).get(failed[0]!.traceId)!.exported, true, 'delivered: the exporter accepted every span');
    for (const l of lines) assert.ok(!l.includes(API_KEY), `the API key in a log line: ${l}`);
  });
});
