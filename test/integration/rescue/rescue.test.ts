import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { rescueRoutes } from '../../../src/admin/rescue-routes.ts';
import type { AdminRoute } from '../../../src/admin/route.ts';
import type { ExporterConfig } from '../../../src/export/config.ts';
import { createExporters } from '../../../src/export/factory.ts';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { rescueSchema } from '../../../src/rescue/config.ts';
import { RESCUE_ID_ATTRIBUTE, RESCUED_ATTRIBUTE } from '../../../src/rescue/mark.ts';
import type { RescueJobView } from '../../../src/rescue/rescuer.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { localPipeline } from '../../support/local-pipeline.ts';
import { spansOf, type DecodedSpan } from '../../support/otlp-sink.ts';
import { hex, makeTrace, toProtobuf, type TestSpan } from '../../support/traces.ts';
import { counterValue, otlpConfig, startHttpServer } from '../../unit/export/support.ts';

const { ExportTraceServiceRequest } = opentelemetry.proto.collector.trace.v1;
const { Span } = opentelemetry.proto.trace.v1;

/** The spans as sent, decoded from the protobuf the test encodes itself (not through the code under test). */
function sentSpans(trace: TestSpan[]): Map<string, DecodedSpan> {
  const req = ExportTraceServiceRequest.decode(toProtobuf([{ service: 'svc', scope: { name: 's' }, spans: trace }]));
  return new Map(req.resourceSpans[0]!.scopeSpans![0]!.spans!.map((s) => [Buffer.from(s.spanId!).toString('hex'), s]));
}

/** The test encoder writes an empty Status message where OTLP has none; the exporters leave it out (same meaning). */
function withoutEmptyStatus(s: DecodedSpan): DecodedSpan {
  return s.status != null && !s.status.code && !s.status.message ? { ...s, status: null } : s;
}

/**
 * Each received span is the sent one byte for byte once the mark — the last two attributes,
 * `tailsampler.rescued=true` and `tailsampler.rescue_id=<job>` — is taken off.
 */
function assertRescued(got: Map<string, DecodedSpan> | undefined, trace: TestSpan[], jobId: string): void {
  assert.ok(got !== undefined, `trace ${trace[0]!.traceId} arrived`);
  const sent = sentSpans(trace);
  assert.deepEqual([...got.keys()].sort(), [...sent.keys()].sort(), 'complete: every span, once');
  for (const [spanId, span] of got) {
    const attrs = span.attributes ?? [];
    const mark = attrs.slice(-2).map((kv) => [kv.key, kv.value?.boolValue ?? kv.value?.stringValue]);
    assert.deepEqual(mark, [[RESCUED_ATTRIBUTE, true], [RESCUE_ID_ATTRIBUTE, jobId]], 'marked');
    const unmarked = Span.encode(withoutEmptyStatus({ ...span, attributes: attrs.slice(0, -2) })).finish();
    const original = Span.encode(withoutEmptyStatus(sent.get(spanId)!)).finish();
    assert.deepEqual(Buffer.from(unmarked), Buffer.from(original), `span ${spanId} byte for byte apart from the mark`);
  }
}

function route(routes: AdminRoute[], method: string, path: string): AdminRoute {
  return routes.find((r) => r.method === method && r.path === path)!;
}

async function post(routes: AdminRoute[], body: unknown): Promise<{ status: number; job: RescueJobView }> {
  const res = await route(routes, 'POST', '/v1/rescue').handle({ params: {}, query: new URLSearchParams(), body, principal: 'alice' });
  return { status: res.status, job: res.body as RescueJobView };
}

async function pipeline(t: TestContext, dir: string, exporter: ExporterConfig, clock: { now: number }) {
  const metrics = new Metrics();
  const exporters = createExporters([exporter], { metrics, logger: pino({ level: 'silent' }) });
  const p = await localPipeline(t, dir, { exporters, clock, metrics });
  const config = rescueSchema.parse({ sync_wait_ms: 30_000 });
  return { ...p, routes: rescueRoutes(p.rescuer, config) };
}

test('dropped traces are rescued by id and by a query after their decision: complete, marked, counted; kept exports unchanged; an unknown id is not found', async (t) => {
  const dest = await startHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  t.after(dest.close);
  const clock = { now: Date.now() };
  const p = await pipeline(t, mkdtempSync(join(tmpdir(), 'ts-rescue-')), { id: 'otlp', type: 'otlp', config: otlpConfig(dest.url) }, clock);

  const kept = makeTrace({ n: 3, startMs: clock.now, durationMs: 5, error: true });
  const byId = makeTrace({ n: 4, startMs: clock.now, durationMs: 5, rich: true, traceState: 'vendor=abc' });
  const byQuery = makeTrace({ n: 3, startMs: clock.now, durationMs: 5, rich: true });
  byQuery[1]!.attributes.push(['customer', { s: 'acme' }]);
  const other = makeTrace({ n: 2, startMs: clock.now, durationMs: 5 });
  await p.send([...kept, ...byId, ...byQuery, ...other]);
  await p.evaluator.scan();
  clock.now += 11_000;
  await p.evaluator.scan();
  await p.emitter.settled();

  // The policies kept one trace and dropped the rest.
  const before = spansOf(dest.requests);
  assert.deepEqual([...before.keys()], [kept[0]!.traceId]);
  const keptBodies = dest.requests.map((r) => Buffer.from(r.body));
  for (const tr of [byId, byQuery, other]) assert.equal(p.store.lookup([tr[0]!.traceId]).get(tr[0]!.traceId)!.keep, false);
  const decidedBefore = p.store.lookup([byId[0]!.traceId, kept[0]!.traceId]);

  // By id, with one id the table never held: answered at once.
  const unknown = hex(16);
  const first = await post(p.routes, { trace_ids: [byId[0]!.traceId.toUpperCase(), unknown], reason: 'support ticket 42' });
  assert.equal(first.status, 200, 'the search ended within sync_wait_ms');
  assert.equal(first.job.state, 'done');
  assert.equal(first.job.principal, 'alice');
  assert.equal(first.job.reason, 'support ticket 42');
  assert.deepEqual(first.job.traces, [
    { trace_id: byId[0]!.traceId, outcome: 'queued' },
    { trace_id: unknown, outcome: 'not_found' },
  ]);
  assert.deepEqual({ ...first.job.progress, files_total: 0, files_scanned: 0 }, {
    files_total: 0, files_scanned: 0, traces_found: 1, traces_queued: 1, traces_already_owed: 0, traces_not_found: 1,
  });
  await p.emitter.settled();
  let got = spansOf(dest.requests);
  assertRescued(got.get(byId[0]!.traceId), byId, first.job.id);

  // By a query: service, time range and an attribute on one span of the trace; the other dropped trace does not match.
  const second = await post(p.routes, {
    query: {
      service: 'svc',
      from: new Date(clock.now - 3_600_000).toISOString(),
      to: new Date(clock.now + 60_000).toISOString(),
      attributes: [{ key: 'customer', op: 'eq', value: 'acme' }],
    },
    limit: 10,
    reason: 'acme incident',
  });
  assert.equal(second.status, 200);
  assert.deepEqual(second.job.traces, [{ trace_id: byQuery[0]!.traceId, outcome: 'queued' }], 'exactly the matching trace');
  await p.emitter.settled();
  got = spansOf(dest.requests);
  assertRescued(got.get(byQuery[0]!.traceId), byQuery, second.job.id);
  assert.equal(got.has(other[0]!.traceId), false, 'a dropped trace nobody asked for stays dropped');

  // The kept trace went out once, as before, unmarked: the rescues did not touch it.
  assert.deepEqual(dest.requests.slice(0, keptBodies.length).map((r) => r.body), keptBodies);
  for (const span of got.get(kept[0]!.traceId)!.values()) {
    assert.ok(!(span.attributes ?? []).some((kv) => kv.key === RESCUED_ATTRIBUTE), 'kept spans carry no rescue mark');
    assert.match(span.traceState ?? '', /^ot=th:0/, 'and their sampling threshold');
  }
  const keptRequests = dest.requests.filter((r) => spansOf([r]).has(kept[0]!.traceId));
  assert.equal(keptRequests.length, 1, 'the kept trace was sent once');

  // Counted, followed to the end, and the decisions left as they were.
  assert.equal(await counterValue(p.metrics.rescuedTraces, { outcome: 'queued' }), 2);
  assert.equal(await counterValue(p.metrics.rescuedTraces, { outcome: 'not_found' }), 1);
  assert.equal(await counterValue(p.metrics.rescueDeliveries, { exporter: 'otlp', outcome: 'delivered' }), 2);
  assert.equal(await counterValue(p.metrics.rescueJobs, { outcome: 'done' }), 2);
  const status = await route(p.routes, 'GET', '/v1/rescue/{id}').handle({ params: { id: first.job.id }, query: new URLSearchParams(), body: undefined, principal: 'bob' });
  const job = status.body as RescueJobView;
  assert.equal(job.complete, true);
  assert.deepEqual(job.deliveries, { total: 1, pending: 0, delivered: 1, dead_lettered: 0 });
  assert.deepEqual(p.store.lookup([byId[0]!.traceId, kept[0]!.traceId]), decidedBefore, 'a rescue changes no decision');
});

test('a rescue owed to a destination that is down survives a restart and arrives once it is back', async (t) => {
  let up = false;
  const dest = await startHttpServer((_req, res) => res.writeHead(up ? 200 : 503, { 'content-type': 'application/x-protobuf' }).end());
  t.after(dest.close);
  const dir = mkdtempSync(join(tmpdir(), 'ts-rescue-restart-'));
  const clock = { now: Date.now() };
  const exporter: ExporterConfig = {
    id: 'otlp',
    type: 'otlp',
    config: otlpConfig(dest.url, { retry_on_failure: { enabled: false, initial_interval_ms: 1_000, max_interval_ms: 1_000, max_elapsed_time_ms: 0 } }),
  };
  let p = await pipeline(t, dir, exporter, clock);
  const dropped = makeTrace({ n: 3, startMs: clock.now, durationMs: 5, rich: true });
  await p.send(dropped);
  await p.evaluator.scan();
  clock.now += 11_000;
  await p.evaluator.scan();
  const { job } = await post(p.routes, { trace_ids: [dropped[0]!.traceId] });
  await p.emitter.settled();
  assert.ok(dest.requests.length > 0, 'tried while the destination was down');
  assert.deepEqual((await route(p.routes, 'GET', '/v1/rescue/{id}').handle({ params: { id: job.id }, query: new URLSearchParams(), body: undefined, principal: 'x' })).body, {
    ...job,
    complete: false,
    deliveries: { total: 1, pending: 1, delivered: 0, dead_lettered: 0 },
  });

  await p.stop();
  up = true;
  dest.requests.length = 0;
  clock.now += 5_000; // past the backoff
  p = await pipeline(t, dir, exporter, clock);
  await p.emitter.settled();
  assertRescued(spansOf(dest.requests).get(dropped[0]!.traceId), dropped, job.id);
  const after = (await route(p.routes, 'GET', '/v1/rescue/{id}').handle({ params: { id: job.id }, query: new URLSearchParams(), body: undefined, principal: 'x' })).body as RescueJobView;
  assert.equal(after.complete, true, 'the job record outlived the restart');
  assert.deepEqual(after.deliveries, { total: 1, pending: 0, delivered: 1, dead_lettered: 0 });
});
