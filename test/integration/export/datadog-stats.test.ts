/**
 * APM stats from 100 % of spans against Datadog's test agent (ddapm-test-agent, checks on): spans go
 * through the real in-process pipeline (spool → materializer → table → evaluator → emitter → Datadog
 * exporter), only the error traces are kept, and the stats the materializer's observer sent to
 * `/v0.6/stats` count every span SENT, kept or not.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { datadogExporterSchema } from '../../../src/export/datadog/config.ts';
import { DatadogExporter } from '../../../src/export/datadog/exporter.ts';
import { DatadogStatsExporter } from '../../../src/export/datadog/stats/stats-exporter.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { startDdAgent, type RunningDdAgent } from '../../support/ddagent.ts';
import { localPipeline } from '../../support/local-pipeline.ts';
import { waitFor } from '../../support/otelcol.ts';
import { makeTrace, type TestSpan } from '../../support/traces.ts';

interface Group { Service: string; Name: string; Resource: string; Hits: number; Errors: number; TopLevelHits: number; OkSummary: number; ErrorSummary: number }
interface Payload { Stats: { Start: number; Duration: number; Stats: Group[] }[] }

describe('Datadog APM stats → ddapm-test-agent (/v0.6/stats, checks on)', { timeout: 120_000 }, () => {
  let agent: RunningDdAgent;
  before(async () => {
    agent = await startDdAgent();
  });
  after(async () => {
    await agent?.stop();
  });

  it('hits and errors per service/name/resource equal what was sent, kept or not; traces say stats are client-computed', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ddstats-'));
    const metrics = new Metrics();
    const config = datadogExporterSchema.parse({ endpoint: agent.url, apm_stats: true, retry_on_failure: { initial_interval_ms: 100, max_elapsed_time_ms: 10_000 } });
    const exporter = new DatadogExporter({ id: 'datadog', config, metrics, logger: silentLogger() });
    const stats = new DatadogStatsExporter({ id: 'datadog', config, metrics, logger: silentLogger(), closeAfterMs: 3_600_000 });
    await exporter.start();
    await stats.start();
    t.after(() => stats.shutdown());
    const clock = { now: Date.now() };
    const p = await localPipeline(t, dir, { exporters: [exporter], clock, observers: [stats], metrics });

    const traces: TestSpan[][] = [];
    for (let i = 0; i < 12; i++) traces.push(makeTrace({ n: 3, startMs: clock.now - 1_000, durationMs: 5 + i, error: i % 4 === 0 }));
    await p.send(traces.slice(0, 6).flat());
    await p.send(traces.slice(6).flat());
    await p.evaluator.scan();
    clock.now += 30_000; // every trace inactive: decided on the next scan
    await p.evaluator.scan();
    await p.emitter.settled();
    await stats.flush(true);

    // What was sent, by the names the Agent gives these spans (makeTrace: a server root, client children).
    const expected = new Map<string, { hits: number; errors: number; topLevel: number }>();
    for (const s of traces.flat()) {
      const key = `svc|${s.kind === 2 ? 'http.server.request' : 'http.client.request'}|GET`;
      const e = expected.get(key) ?? { hits: 0, errors: 0, topLevel: 0 };
      e.hits++;
      if (s.status?.code === 2) e.errors++;
      if (s.parentSpanId === undefined) e.topLevel++;
      expected.set(key, e);
    }
    const received = await waitFor(async () => {
      const r = await fetch(`${agent.url}/test/session/stats`);
      assert.equal(r.status, 200);
      const list = (await r.json()) as Payload[];
      return list.length > 0 ? list : null;
    });
    const got = new Map<string, { hits: number; errors: number; topLevel: number }>();
    for (const payload of received) {
      for (const bucket of payload.Stats) {
        assert.equal(bucket.Duration, 10_000_000_000);
        assert.equal(bucket.Start % 10_000_000_000, 0);
        for (const g of bucket.Stats) {
          // The test agent parsed both sketches with sketches' protobuf (it answers the bytes parsed).
          assert.ok(g.OkSummary > 0 && g.ErrorSummary > 0);
          const key = `${g.Service}|${g.Name}|${g.Resource}`;
          const e = got.get(key) ?? { hits: 0, errors: 0, topLevel: 0 };
          e.hits += g.Hits;
          e.errors += g.Errors;
          e.topLevel += g.TopLevelHits;
          got.set(key, e);
        }
      }
    }
    assert.deepEqual(Object.fromEntries(got), Object.fromEntries(expected));

    // Only the error traces were kept and exported, with the header telling the Agent not to count them again.
    const kept = await waitFor(async () => {
      const tr = await agent.traces();
      return tr.length >= 3 ? tr : null;
    });
    assert.equal(kept.length, 3);
    const puts = (await agent.requests()).filter((r) => new URL(r.url).pathname === '/v0.4/traces');
    assert.ok(puts.length > 0 && puts.every((r) => r.headers['datadog-client-computed-stats'] === 'yes'));
    const statsPuts = (await agent.requests()).filter((r) => new URL(r.url).pathname === '/v0.6/stats');
    assert.ok(statsPuts.length > 0 && statsPuts.every((r) => r.method === 'PUT' && r.headers['content-type'] === 'application/msgpack'));
    const failures = await agent.failures();
    assert.equal(failures.status, 200, failures.text);
    await exporter.shutdown();
  });
});
