import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EvaluatorOptions } from '../../../src/evaluate/evaluator.ts';
import { MIN_SPILL } from '../../../src/evaluate/summary-spill.ts';
import type { DeliveryOptions, ExportResult, TraceExporter } from '../../../src/export/exporter.ts';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { localPipeline } from '../../support/local-pipeline.ts';
import { makeTrace } from '../../support/traces.ts';

const Request = opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/** Collects what the evaluator exports, decoded: the span ids per trace and their tracestate. */
class Collecting implements TraceExporter {
  readonly id = 'collect';
  readonly delivery: DeliveryOptions = { maxBatchSpans: 3, capacity: 4, maxBacklogTraces: 100, retryIntervalMs: { initial: 1, max: 1 } };
  readonly spans = new Map<string, Map<string, string>>();
  async start(): Promise<void> {}
  async shutdown(): Promise<void> {}
  async export(request: Uint8Array): Promise<ExportResult> {
    for (const rs of Request.decode(request).resourceSpans) {
      for (const ss of rs.scopeSpans!) {
        for (const s of ss.spans!) {
          const t = Buffer.from(s.traceId!).toString('hex');
          if (!this.spans.has(t)) this.spans.set(t, new Map());
          this.spans.get(t)!.set(Buffer.from(s.spanId!).toString('hex'), s.traceState ?? '');
        }
      }
    }
    return { ok: true, rejectedSpans: 0 };
  }
}

async function pipeline(t: TestContext, dir: string, clock: { now: number }, overrides: Partial<EvaluatorOptions> = {}) {
  const exporter = new Collecting();
  const p = await localPipeline(t, dir, { exporters: [exporter], clock, evaluator: overrides });
  /** One evaluator scan, then every kept trace it handed on is delivered. */
  const scan = async () => {
    await p.evaluator.scan();
    await p.emitter.settled();
  };
  return { ...p, scan, exporter };
}

test('decides when inactive, exports complete kept traces once, follows decisions for late spans, and resumes after restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-evaluator-'));
  const clock = { now: Date.now() };
  let p = await pipeline(t, dir, clock);
  const error = makeTrace({ n: 4, startMs: clock.now, durationMs: 5, error: true });
  const plain = makeTrace({ n: 3, startMs: clock.now, durationMs: 5 });
  const gold = makeTrace({ n: 3, startMs: clock.now, durationMs: 5 });
  gold[1]!.attributes.push(['tier', { s: 'gold' }]);
  await p.send([...error.slice(0, 2), ...plain, ...gold]);
  await p.scan();
  assert.equal(p.evaluator.liveTraces, 3);
  assert.equal(p.exporter.spans.size, 0, 'nothing decided before the inactivity threshold');

  // The rest of the error trace arrives in a later commit; then the service restarts before deciding.
  clock.now += 5_000;
  await p.send(error.slice(2));
  await p.scan();
  await p.stop();
  p = await pipeline(t, dir, clock);
  assert.equal(p.evaluator.liveTraces, 3, 'summaries survive the restart');

  clock.now += 6_000; // plain and gold inactive for 11 s; error only 6 s
  await p.scan();
  assert.deepEqual([...p.exporter.spans.keys()], [gold[0]!.traceId], 'the attribute policy read the rows it needed');
  clock.now += 5_000;
  await p.scan();
  assert.deepEqual(new Set(p.exporter.spans.keys()), new Set([gold[0]!.traceId, error[0]!.traceId]));
  assert.deepEqual(new Set(p.exporter.spans.get(error[0]!.traceId)!.keys()), new Set(error.map((s) => s.spanId)), 'complete across commits');
  for (const ts of p.exporter.spans.get(error[0]!.traceId)!.values()) assert.equal(ts, 'ot=th:0');
  assert.equal(p.evaluator.liveTraces, 0);

  // Late spans follow the stored decision.
  const lateKept = { ...error[1]!, spanId: 'c'.repeat(16) };
  const lateDropped = { ...plain[1]!, spanId: 'd'.repeat(16) };
  await p.send([lateKept, lateDropped]);
  await p.scan();
  assert.ok(p.exporter.spans.get(error[0]!.traceId)!.has(lateKept.spanId));
  assert.ok(!p.exporter.spans.has(plain[0]!.traceId));
  assert.equal(p.evaluator.liveTraces, 0, 'late spans do not start new traces');
  await p.stop();
});

test('a decision stored after the last checkpoint stands after a restart: its trace is not decided or exported again', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-evaluator-'));
  const clock = { now: Date.now() };
  let p = await pipeline(t, dir, clock);
  const error = makeTrace({ n: 3, startMs: clock.now, durationMs: 5, error: true });
  const plain = makeTrace({ n: 2, startMs: clock.now, durationMs: 5 });
  await p.send([...error, ...plain]);
  await p.scan();
  assert.equal(p.evaluator.liveTraces, 2);
  // The checkpoint of this scan is the last one a crash would leave behind.
  const checkpoint = join(dir, 'state', 'live-traces.ckpt');
  copyFileSync(checkpoint, join(dir, 'old.ckpt'));
  clock.now += 11_000;
  await p.scan();
  assert.deepEqual([...p.exporter.spans.keys()], [error[0]!.traceId]);
  await p.stop();
  copyFileSync(join(dir, 'old.ckpt'), checkpoint);

  p = await pipeline(t, dir, clock);
  assert.equal(p.evaluator.liveTraces, 2, 'both summaries are back from the older checkpoint');
  // Both are due at once; a trace first seen after the restart is not.
  const fresh = makeTrace({ n: 2, startMs: clock.now, durationMs: 5, error: true });
  await p.send(fresh);
  await p.scan();
  assert.equal(p.evaluator.liveTraces, 1);
  assert.equal(p.exporter.spans.size, 0, 'the kept trace decided before the restart is not exported again');
  const decidedTotal = async () => (await p.metrics.registry.getSingleMetric('tailsampler_traces_decided_total')!.get()).values.reduce((n, v) => n + v.value, 0);
  assert.equal(await decidedTotal(), 0, 'nor decided again');
  clock.now += 11_000;
  await p.scan();
  assert.equal(p.evaluator.liveTraces, 0);
  assert.deepEqual([...p.exporter.spans.keys()], [fresh[0]!.traceId]);
  const decided = await decidedTotal();
  assert.equal(decided, 1, 'only the new trace was decided');
  await p.stop();
});

test('the decisions a scan made are on disk before its checkpoint leaves their traces out', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-evaluator-'));
  const clock = { now: Date.now() };
  const p = await pipeline(t, dir, clock);
  await p.send([...makeTrace({ n: 2, startMs: clock.now, durationMs: 5 }), ...makeTrace({ n: 3, startMs: clock.now, durationMs: 5 })]);
  await p.scan();
  assert.equal(p.evaluator.liveTraces, 2);
  clock.now += 11_000;
  // Dropped traces only: nothing but the evaluator writes to the state database in this scan.
  await p.evaluator.scan();
  assert.equal(p.evaluator.liveTraces, 0);
  assert.equal(p.store.unsynced, false, 'synced before the checkpoint was written');
  await p.stop();
});

test('a trace over the span cap is decided at once instead of waiting', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-evaluator-'));
  const clock = { now: Date.now() };
  const p = await pipeline(t, dir, clock, { maxSpansPerTrace: 20 });
  const giant = makeTrace({ n: 25, startMs: clock.now, durationMs: 5, error: true });
  const small = makeTrace({ n: 2, startMs: clock.now, durationMs: 5, error: true });
  await p.send([...giant, ...small]);
  await p.scan();
  assert.deepEqual([...p.exporter.spans.keys()], [giant[0]!.traceId]);
  assert.equal(p.exporter.spans.get(giant[0]!.traceId)!.size, 25, 'exported in several requests of maxBatchSpans');
  assert.equal(p.evaluator.liveTraces, 1);
  await p.stop();
});

test('once every trace is decided and nothing is owed, the file index holds no file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-evaluator-'));
  const clock = { now: Date.now() };
  const p = await pipeline(t, dir, clock);
  // Nothing kept, ever: the emitter owes nothing from its start on.
  await p.send([...makeTrace({ n: 2, startMs: clock.now, durationMs: 5 }), ...makeTrace({ n: 3, startMs: clock.now, durationMs: 5 })]);
  await p.scan();
  assert.ok(p.evaluator.reader.fileCount() > 0, 'the undecided traces keep their files');
  clock.now += 11_000;
  await p.scan();
  assert.equal(p.evaluator.liveTraces, 0);
  assert.equal(p.exporter.spans.size, 0);
  assert.equal(p.evaluator.reader.fileCount(), 0, 'no file is kept for nothing: memory does not grow with commits');
});

test('with a long wait, idle summaries wait on disk across a restart and are decided exactly as in memory, late spans merged in', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-evaluator-'));
  const clock = { now: Date.now() };
  const wait = { inactivityMs: 120_000, maxTraceAgeMs: 3_600_000, spillIdleMs: 10_000, batchSize: 1000 };
  let p = await pipeline(t, dir, clock, wait);
  // Enough idle traces for one spill (MIN_SPILL); every 400th has an error and is kept.
  const traces = Array.from({ length: MIN_SPILL + 16 }, (_, i) => makeTrace({ n: 2, startMs: clock.now, durationMs: 5, error: i % 400 === 0 }));
  await p.send(traces.flat());
  await p.scan();
  const spilledGauge = async () => (await p.metrics.registry.getSingleMetric('tailsampler_evaluator_spilled_traces')!.get()).values[0]!.value;
  assert.equal(await spilledGauge(), 0, 'not idle yet');

  clock.now += 11_000;
  await p.scan();
  assert.equal(await spilledGauge(), traces.length, 'idle for the spill time and not due for as long: on disk');
  assert.equal(p.evaluator.traces.size, 0);
  assert.equal(p.evaluator.liveTraces, traces.length);

  // A late span of a spilled kept trace starts a summary in memory; then the service restarts.
  const kept = traces[400]!;
  const late = { ...kept[1]!, spanId: 'e'.repeat(16) };
  clock.now += 20_000;
  await p.send([late]);
  await p.scan();
  assert.equal(p.evaluator.traces.size, 1);
  await p.stop();
  p = await pipeline(t, dir, clock, wait);
  assert.equal(p.evaluator.liveTraces, traces.length + 1, 'the spilled summaries and the one in memory survive the restart');

  // Past the spilled traces' wait, before the late span's: all but that trace are decided.
  clock.now += 90_000;
  await p.scan();
  const errors = traces.filter((_, i) => i % 400 === 0).map((s) => s[0]!.traceId);
  assert.deepEqual(new Set(p.exporter.spans.keys()), new Set(errors.filter((x) => x !== kept[0]!.traceId)));
  assert.equal(p.evaluator.liveTraces, 1, 'the trace with the late span merged and waits for its own inactivity');
  clock.now += 30_000;
  await p.scan();
  assert.deepEqual(new Set(p.exporter.spans.keys()), new Set(errors));
  assert.deepEqual(new Set(p.exporter.spans.get(kept[0]!.traceId)!.keys()), new Set([...kept.map((s) => s.spanId), late.spanId]), 'spilled and late parts exported as one trace');
  for (const s of errors) assert.equal(p.exporter.spans.get(s)!.size, s === kept[0]!.traceId ? 3 : 2);
  assert.equal(p.evaluator.liveTraces, 0);
  assert.deepEqual(readdirSync(join(dir, 'state', 'spill')), [], 'segment files removed once decided and checkpointed');
  await p.stop();
});
