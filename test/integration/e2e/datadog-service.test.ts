import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDdAgent } from '../../support/ddagent.ts';
import { startService, waitFor } from '../../support/service.ts';
import { makeTrace, toProtobuf } from '../../support/traces.ts';

interface Payload { Stats: { Stats: { Hits: number; Errors: number }[] }[] }

/** The service as users run it: `exporters.datadog` with `apm_stats`, wired by the service itself. */
test('the service sends kept traces and APM stats of every span to a Datadog Agent', async (t) => {
  const agent = await startDdAgent();
  t.after(() => agent.stop());
  const svc = await startService({
    config: {
      query: { scan_interval_secs: 1, inactivity_threshold_secs: 2 },
      sampling: { sample_errors: false, sample_latency: false, policies: [{ name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } }] },
      exporters: { datadog: { endpoint: agent.url, apm_stats: true } },
    },
  });
  t.after(() => svc.kill());
  const traces = Array.from({ length: 10 }, (_, i) => makeTrace({ n: 3, startMs: Date.now() - 1_000, durationMs: 5, error: i % 5 === 0 }));
  const body = toProtobuf([{ service: 'svc', scope: { name: 'dd' }, spans: traces.flat() }]);
  const res = await fetch(`${svc.http}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
  assert.equal(res.status, 200);

  const kept = await waitFor('the kept traces at the agent', async () => {
    const got = await agent.traces();
    return got.length >= 2 ? got : undefined;
  });
  assert.equal(kept.length, 2, 'only the error traces');
  // Shutdown flushes every open stats bucket.
  assert.equal(await svc.stop(), 0);
  const stats = await waitFor('stats at the agent', async () => {
    const list = (await (await fetch(`${agent.url}/test/session/stats`)).json()) as Payload[];
    return list.length > 0 ? list : undefined;
  });
  let hits = 0;
  let errors = 0;
  for (const g of stats.flatMap((p) => p.Stats.flatMap((b) => b.Stats))) {
    hits += g.Hits;
    errors += g.Errors;
  }
  assert.equal(hits, 30, 'every span sent counts, kept or not');
  assert.equal(errors, traces.flat().filter((s) => s.status?.code === 2).length);
});
