import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENTRY_BYTES } from '../../../src/evaluate/trace-table.ts';
import type { DeliveryOptions, ExportResult, TraceExporter } from '../../../src/export/exporter.ts';
import type { Metrics } from '../../../src/telemetry/metrics.ts';
import { localPipeline } from '../../support/local-pipeline.ts';
import { makeTrace } from '../../support/traces.ts';

class Accepting implements TraceExporter {
  readonly id = 'accept';
  readonly delivery: DeliveryOptions = { maxBatchSpans: 100, capacity: 4, maxBacklogTraces: 100, retryIntervalMs: { initial: 1, max: 1 } };
  async start(): Promise<void> {}
  async shutdown(): Promise<void> {}
  async export(): Promise<ExportResult> {
    return { ok: true, rejectedSpans: 0 };
  }
}

async function observed(h: Metrics['decisionLag'] | Metrics['exportLag']): Promise<{ sum: number; count: number }> {
  const values = (await h.get()).values;
  return {
    sum: values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0,
    count: values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0,
  };
}

test('decision and export lag count from when the last span reached the service, not from when the evaluator read it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-decision-lag-'));
  const receivedMs = Date.now();
  // The evaluator's clock runs 30 s ahead of the receipt: the spans sat in the spool and the table
  // that long (a slow commit, a scan behind) before it read them.
  const clock = { now: receivedMs + 30_000 };
  const p = await localPipeline(t, dir, { exporters: [new Accepting()], clock });
  await p.send(makeTrace({ n: 3, startMs: receivedMs, durationMs: 5, error: true }));
  await p.evaluator.scan();
  assert.equal(p.evaluator.liveTraces, 1);
  const summaryBytes = (await p.metrics.summaryBytes.get()).values[0]?.value ?? 0;
  assert.ok(summaryBytes >= ENTRY_BYTES, `the live trace's summary is counted: ${summaryBytes} bytes`);
  clock.now += 10_000; // the inactivity wait
  await p.evaluator.scan();
  await p.emitter.settled();
  assert.equal(p.evaluator.liveTraces, 0);
  // 40 s from receipt to decision and delivery (less the moments the append itself took); counting
  // from the read would say 10 s.
  const decision = await observed(p.metrics.decisionLag);
  assert.equal(decision.count, 1);
  assert.ok(decision.sum > 38 && decision.sum <= 40.5, `decision lag ${decision.sum} s`);
  const exported = await observed(p.metrics.exportLag);
  assert.equal(exported.count, 1);
  assert.ok(exported.sum > 38 && exported.sum <= 40.5, `export lag ${exported.sum} s`);
});

test('a nudge (a commit landing) makes the evaluator fold new rows at once, not at the end of its scan interval', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-nudge-'));
  const clock = { now: Date.now() };
  // The pipeline's evaluator scans every hour unless nudged.
  const p = await localPipeline(t, dir, { exporters: [new Accepting()], clock });
  await p.send(makeTrace({ n: 2, startMs: clock.now, durationMs: 5, error: true }));
  assert.equal(p.evaluator.liveTraces, 0, 'committed, not yet scanned');
  p.evaluator.nudge();
  const deadline = Date.now() + 10_000;
  while (p.evaluator.liveTraces === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(p.evaluator.liveTraces, 1, 'folded after the nudge');
  // Past the wait, the next nudge decides it.
  clock.now += 10_000;
  p.evaluator.nudge();
  while (p.evaluator.liveTraces > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(p.evaluator.liveTraces, 0, 'decided after the second nudge');
});
