import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { pino } from 'pino';
import type { ExporterConfig, OtlpExporterConfig } from '../../../src/export/config.ts';
import { createExporters } from '../../../src/export/factory.ts';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { localPipeline } from '../../support/local-pipeline.ts';
import { makeTrace, type TestSpan } from '../../support/traces.ts';
import { counterValue, otlpConfig, settle, startHttpServer, type Handler } from '../../unit/export/support.ts';

const Request = opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/** Span ids per trace id in the request bodies a destination received. */
function receivedSpans(bodies: readonly Buffer[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const body of bodies) {
    for (const rs of Request.decode(body).resourceSpans) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          const t = Buffer.from(s.traceId!).toString('hex');
          if (!out.has(t)) out.set(t, []);
          out.get(t)!.push(Buffer.from(s.spanId!).toString('hex'));
        }
      }
    }
  }
  return out;
}

async function destination(t: TestContext, handler: Handler) {
  const server = await startHttpServer(handler);
  t.after(server.close);
  return server;
}

const answer = (status: number): Handler => (_req, res) => res.writeHead(status, { 'content-type': 'application/x-protobuf' }).end();

function otlp(id: string, url: string, overrides: Partial<OtlpExporterConfig> = {}): ExporterConfig {
  return {
    id,
    type: 'otlp',
    config: otlpConfig(url, { retry_on_failure: { enabled: false, initial_interval_ms: 1_000, max_interval_ms: 1_000, max_elapsed_time_ms: 0 }, ...overrides }),
  };
}

const dirOf = () => mkdtempSync(join(tmpdir(), 'ts-emitter-'));
const spanIds = (trace: TestSpan[]) => trace.map((s) => s.spanId).sort();

test('a destination answering 400 dead-letters the kept traces (metric, log with the trace id, list); the other exporter gets them all', async (t) => {
  const ok = await destination(t, answer(200));
  const strict = await destination(t, (_req, res) => res.writeHead(400, { 'content-type': 'text/plain' }).end('bad span'));
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
  const metrics = new Metrics();
  const clock = { now: Date.now() };
  const exporters = createExporters([otlp('otlp', ok.url), otlp('otlp/strict', strict.url)], { metrics, logger });
  const p = await localPipeline(t, dirOf(), { exporters, clock, logger, metrics });
  const kept = [makeTrace({ n: 3, startMs: clock.now, durationMs: 5, error: true }), makeTrace({ n: 2, startMs: clock.now, durationMs: 5, error: true })];
  const dropped = makeTrace({ n: 2, startMs: clock.now, durationMs: 5 });
  await p.send([...kept.flat(), ...dropped]);
  await p.evaluator.scan();
  clock.now += 11_000;
  await p.evaluator.scan();
  await p.emitter.settled();

  const got = receivedSpans(ok.requests.map((r) => r.body));
  assert.deepEqual(new Set(got.keys()), new Set(kept.map((k) => k[0]!.traceId)), 'the healthy exporter got exactly the kept traces');
  for (const k of kept) assert.deepEqual(got.get(k[0]!.traceId)!.sort(), spanIds(k), 'complete');
  assert.ok(strict.requests.length > 0, 'the strict destination was tried');

  const letters = p.store.db.prepare('SELECT exporter, trace_id, reason, error FROM dead_letters ORDER BY trace_id').all() as { exporter: string; trace_id: string; reason: string; error: string }[];
  assert.deepEqual(letters.map((l) => [l.exporter, l.trace_id, l.reason]), kept.map((k) => ['otlp/strict', k[0]!.traceId, 'rejected']).sort((a, b) => a[1]!.localeCompare(b[1]!)));
  assert.match(letters[0]!.error, /400/);
  assert.equal(await counterValue(metrics.exporterDeadLetteredTraces, { exporter: 'otlp/strict', reason: 'rejected' }), 2);
  assert.equal(await counterValue(metrics.exporterDeliveredTraces, { exporter: 'otlp' }), 2);
  for (const k of kept) {
    assert.ok(lines.some((l) => l.includes('kept trace dead-lettered') && l.includes(k[0]!.traceId)), `logged with trace id ${k[0]!.traceId}`);
    assert.equal(p.store.lookup([k[0]!.traceId]).get(k[0]!.traceId)!.exported, true, 'every exporter is done with it');
  }
  assert.deepEqual(p.emitter.status(), {
    otlp: { backlog: 0, oldestPendingSecs: null, full: false },
    'otlp/strict': { backlog: 0, oldestPendingSecs: null, full: false },
  });
});

test('the kept rows of several files go out in one request, up to max_batch_spans', async (t) => {
  const ok = await destination(t, answer(200));
  const clock = { now: Date.now() };
  const exporters = createExporters([otlp('otlp', ok.url)], { metrics: new Metrics(), logger: pino({ level: 'silent' }) });
  const p = await localPipeline(t, dirOf(), { exporters, clock });
  const kept = makeTrace({ n: 6, startMs: clock.now, durationMs: 5, error: true });
  // Two spans a commit: the trace's rows are in three files.
  for (let i = 0; i < 6; i += 2) await p.send(kept.slice(i, i + 2));
  await p.evaluator.scan();
  clock.now += 11_000;
  await p.evaluator.scan();
  await p.emitter.settled();
  assert.equal(ok.requests.length, 1, 'one request for the rows of the three files');
  assert.deepEqual(receivedSpans(ok.requests.map((r) => r.body)).get(kept[0]!.traceId)!.sort(), spanIds(kept), 'complete');
});

test('num_consumers requests are in flight at once at a slow destination, and deciding goes on meanwhile', async (t) => {
  const held: ServerResponse[] = [];
  const slow = await destination(t, (_req, res) => held.push(res));
  const metrics = new Metrics();
  const clock = { now: Date.now() };
  const config = otlp('otlp', slow.url, { sending_queue: { queue_size: 2, num_consumers: 4, max_backlog_traces: 100 }, max_batch_spans: 1, timeout_ms: 60_000 });
  const exporters = createExporters([config], { metrics, logger: pino({ level: 'silent' }), shutdownDrainMs: 100 });
  const p = await localPipeline(t, dirOf(), { exporters, clock, metrics });
  const big = makeTrace({ n: 10, startMs: clock.now, durationMs: 5, error: true });
  await p.send(big);
  await p.evaluator.scan();
  clock.now += 11_000;
  await p.evaluator.scan();
  // One span per request: ten requests, of which the destination sees exactly num_consumers at once.
  for (let i = 0; i < 200 && held.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
  await settle(20);
  assert.equal(held.length, 4, 'four requests in flight, no more');

  const next = makeTrace({ n: 2, startMs: clock.now, durationMs: 5, error: true });
  await p.send(next);
  await p.evaluator.scan();
  clock.now += 11_000;
  await p.evaluator.scan();
  assert.equal(await counterValue(metrics.tracesDecided, { outcome: 'sampled' }), 2, 'the stuck destination did not hold up deciding');
  assert.equal(p.emitter.status().otlp!.backlog, 2, 'both kept traces are owed');

  // Answer whatever arrives until both traces are through.
  const releaser = setInterval(() => {
    for (const res of held.splice(0)) res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  }, 5);
  t.after(() => clearInterval(releaser));
  await p.emitter.settled();
  clearInterval(releaser);
  const got = receivedSpans(slow.requests.map((r) => r.body));
  assert.deepEqual(got.get(big[0]!.traceId)!.sort(), spanIds(big));
  assert.deepEqual(got.get(next[0]!.traceId)!.sort(), spanIds(next));
  assert.equal(p.emitter.status().otlp!.backlog, 0);
});

test('a trace the destination cannot take stays owed across a restart, is retried with backoff, and arrives once; the backlog is bounded', async (t) => {
  let up = false;
  const dest = await destination(t, (_req, res) => res.writeHead(up ? 200 : 503, { 'content-type': 'application/x-protobuf' }).end());
  const dir = dirOf();
  const clock = { now: Date.now() };
  const build = (metrics: Metrics) =>
    createExporters([otlp('otlp', dest.url, { sending_queue: { queue_size: 10, num_consumers: 2, max_backlog_traces: 2 } })], { metrics, logger: pino({ level: 'silent' }) });
  let metrics = new Metrics();
  let p = await localPipeline(t, dir, { exporters: build(metrics), clock, metrics });
  const traces = [1, 2, 3].map(() => makeTrace({ n: 2, startMs: clock.now, durationMs: 5, error: true }));
  await p.send(traces.flat());
  await p.evaluator.scan();
  clock.now += 11_000;
  await p.evaluator.scan();
  await p.emitter.settled();
  assert.ok(dest.requests.length > 0, 'the destination was tried');
  assert.equal(p.emitter.status().otlp!.backlog, 2, 'two traces owed');
  assert.equal(await counterValue(metrics.exporterDeadLetteredTraces, { exporter: 'otlp', reason: 'backlog_full' }), 1, 'the third did not fit');
  assert.equal(await counterValue(metrics.exporterRetriedTraces, { exporter: 'otlp' }), 2);
  const owed = (p.store.db.prepare('SELECT trace_id, attempts, next_at FROM deliveries').all() as { trace_id: string; attempts: number; next_at: number }[]);
  assert.deepEqual(owed.map((o) => o.attempts), [1, 1]);
  for (const o of owed) assert.ok(o.next_at > clock.now, 'retried after a backoff, not at once');
  const [full] = p.store.db.prepare('SELECT trace_id FROM dead_letters').all() as { trace_id: string }[];
  const owedIds = new Set(owed.map((o) => o.trace_id));

  // Restart while the destination is still down: what is owed is still owed.
  await p.stop();
  metrics = new Metrics();
  p = await localPipeline(t, dir, { exporters: build(metrics), clock, metrics });
  assert.equal(p.emitter.status().otlp!.backlog, 2);
  up = true;
  dest.requests.length = 0;
  clock.now += 5_000; // past the backoff
  await p.emitter.settled();
  const got = receivedSpans(dest.requests.map((r) => r.body));
  assert.deepEqual(new Set(got.keys()), owedIds, 'exactly the owed traces arrive, the dead-lettered one is not sent');
  for (const tr of traces.filter((x) => owedIds.has(x[0]!.traceId))) assert.deepEqual(got.get(tr[0]!.traceId)!.sort(), spanIds(tr), 'once, complete');
  assert.ok(!owedIds.has(full!.trace_id));
  assert.equal(p.emitter.status().otlp!.backlog, 0);
  for (const id of owedIds) assert.equal(p.store.lookup([id]).get(id)!.exported, true);
});

test('two exporters, one dead: the other receives every kept trace while the dead one only builds its own backlog', async (t) => {
  const ok = await destination(t, answer(200));
  const dead = await destination(t, () => {}); // takes requests and never answers
  const metrics = new Metrics();
  const clock = { now: Date.now() };
  const exporters = createExporters(
    [
      otlp('otlp/dead', dead.url, { sending_queue: { queue_size: 1, num_consumers: 1, max_backlog_traces: 100 }, max_batch_spans: 2, timeout_ms: 60_000 }),
      otlp('otlp', ok.url, { max_batch_spans: 2 }),
    ],
    { metrics, logger: pino({ level: 'silent' }), shutdownDrainMs: 100 },
  );
  const p = await localPipeline(t, dirOf(), { exporters, clock, metrics });
  const kept: TestSpan[][] = [];
  // Three rounds of decisions, each handed out while the dead exporter holds everything it took.
  for (let round = 0; round < 3; round++) {
    const batch = [makeTrace({ n: 3, startMs: clock.now, durationMs: 5, error: true }), makeTrace({ n: 2, startMs: clock.now, durationMs: 5, error: true })];
    kept.push(...batch);
    await p.send(batch.flat());
    await p.evaluator.scan();
    clock.now += 11_000;
    await p.evaluator.scan();
    const spansIn = () => [...receivedSpans(ok.requests.map((r) => r.body)).values()].reduce((n, ids) => n + ids.length, 0);
    const want = kept.reduce((n, k) => n + k.length, 0);
    for (let i = 0; i < 200 && spansIn() < want; i++) await new Promise((r) => setTimeout(r, 10));
    const got = receivedSpans(ok.requests.map((r) => r.body));
    for (const k of kept) assert.deepEqual(got.get(k[0]!.traceId)?.sort(), spanIds(k), `round ${round}: ${k[0]!.traceId} complete at the healthy exporter`);
  }
  // The destination has every span; its answers reach the emitter a moment later.
  for (let i = 0; i < 200 && p.emitter.status().otlp!.backlog > 0; i++) await new Promise((r) => setTimeout(r, 10));
  const status = p.emitter.status();
  assert.equal(status.otlp!.backlog, 0);
  assert.equal(status['otlp/dead']!.backlog, kept.length, 'the dead exporter owes every kept trace');
  assert.equal(dead.requests.length, 1, 'the dead destination saw one request: the exporter\'s one consumer, stuck on it');
  assert.equal(await counterValue(metrics.tracesDecided, { outcome: 'sampled' }), kept.length);
});

test('after a restart, delivering what was owed does not drop files that traces still undecided need', async (t) => {
  let up = false;
  // Answers come a moment later, so the owed trace settles after the evaluator restored its state.
  const dest = await destination(t, (_req, res) => {
    setTimeout(() => res.writeHead(up ? 200 : 503, { 'content-type': 'application/x-protobuf' }).end(), 200);
  });
  const dir = dirOf();
  const clock = { now: Date.now() };
  const build = (metrics: Metrics) => createExporters([otlp('otlp', dest.url)], { metrics, logger: pino({ level: 'silent' }) });
  let metrics = new Metrics();
  let p = await localPipeline(t, dir, { exporters: build(metrics), clock, metrics });
  const owedTrace = makeTrace({ n: 2, startMs: clock.now, durationMs: 5, error: true });
  await p.send(owedTrace);
  await p.evaluator.scan();
  clock.now += 11_000;
  await p.evaluator.scan();
  await p.emitter.settled();
  assert.equal(p.emitter.status().otlp!.backlog, 1, 'owed while the destination is down');
  // A trace still undecided when the service stops: its rows are in a later file.
  const undecided = makeTrace({ n: 3, startMs: clock.now, durationMs: 5, error: true });
  await p.send(undecided);
  await p.evaluator.scan();
  await p.stop();

  up = true;
  clock.now += 5_000; // the owed trace's backoff is over: it goes out as soon as the emitter starts
  metrics = new Metrics();
  p = await localPipeline(t, dir, { exporters: build(metrics), clock, metrics });
  await p.emitter.settled();
  assert.equal(p.emitter.status().otlp!.backlog, 0);
  clock.now += 11_000;
  await p.evaluator.scan();
  await p.emitter.settled();
  const got = receivedSpans(dest.requests.filter((r) => r.body.length > 0).map((r) => r.body));
  assert.deepEqual(got.get(undecided[0]!.traceId)?.sort(), spanIds(undecided), 'the trace decided after the restart is delivered, not dead-lettered');
  assert.equal(await counterValue(metrics.exporterDeadLetteredTraces, { exporter: 'otlp', reason: 'not_in_lake' }), 0);
});
