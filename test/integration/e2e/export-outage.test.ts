import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startOtelcol, type ReceivedTrace } from '../../support/otelcol.ts';
import { BIN, freePort, startService, waitFor, type ServiceProcess } from '../../support/service.ts';
import { makeTrace, toProtobuf, type TestSpan } from '../../support/traces.ts';
import { startHttpServer } from '../../unit/export/support.ts';

const isError = (trace: TestSpan[]) => trace.some((s) => s.status?.code === 2);

/** Four error traces (kept) and four plain ones (dropped), sent in one request; resolves once acknowledged. */
async function sendBatch(svc: ServiceProcess, tag: string): Promise<TestSpan[][]> {
  const traces = Array.from({ length: 8 }, (_, i) => makeTrace({ n: 3, startMs: Date.now(), durationMs: 5, error: i % 2 === 0 }));
  const body = toProtobuf([{ service: `outage-${tag}`, scope: { name: 'outage' }, spans: traces.flat() }]);
  const res = await fetch(`${svc.http}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
  assert.equal(res.status, 200, await res.text());
  return traces;
}

function complete(received: readonly ReceivedTrace[], traces: readonly TestSpan[][]): boolean {
  const got = new Map(received.map((r) => [r.traceId, new Set(r.spans.map((s) => s.span.spanId as string))]));
  return traces.every((tr) => tr.every((s) => got.get(s.traceId)?.has(s.spanId)));
}

test('a destination down past the retry budget: deciding goes on, a kill -9 loses nothing, every kept trace arrives once; a 400 destination dead-letters', async (t) => {
  const collectorPorts = { grpc: await freePort(), http: await freePort() };
  let otelcol = await startOtelcol({ ports: collectorPorts });
  t.after(() => otelcol.stop());
  const strict = await startHttpServer((_req, res) => res.writeHead(400, { 'content-type': 'text/plain' }).end('invalid'));
  t.after(strict.close);
  const config = {
    query: { scan_interval_secs: 1, inactivity_threshold_secs: 2, max_trace_age_secs: 120 },
    sampling: { sample_errors: false, sample_latency: false, policies: [{ name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } }] },
    exporters: {
      // A retry budget of 2 s, far shorter than the outage.
      otlp: { endpoint: otelcol.httpEndpoint, timeout_ms: 1_000, retry_on_failure: { initial_interval_ms: 200, max_interval_ms: 1_000, max_elapsed_time_ms: 2_000 } },
      'otlp/strict': { endpoint: strict.url, retry_on_failure: { enabled: false } },
    },
  };
  const ports = { grpc: await freePort(), http: await freePort(), telemetry: await freePort() };
  let svc = await startService({ config, ports });
  t.after(() => svc.kill());
  const dir = svc.dir;
  assert.equal(spawnSync(process.execPath, [BIN, 'dead-letters', '--config', svc.configPath], { encoding: 'utf8' }).stdout, '', 'no dead letters yet');

  // Up: the first batch's kept traces arrive.
  const a = await sendBatch(svc, 'a');
  await waitFor('batch a at the collector', async () => complete(await otelcol.received(), a.filter(isError)), 60_000);
  await waitFor('nothing owed', async () => (await svc.metric('tailsampler_exporter_backlog_traces', { exporter: 'otlp' })) === 0, 30_000);
  const beforeOutage = await otelcol.received();
  await otelcol.stop();

  // Down for longer than the retry budget: traces are still decided, and owed.
  const b = await sendBatch(svc, 'b');
  await waitFor('batch b decided while the destination is down', async () => (await svc.metric('tailsampler_traces_decided_total', { outcome: 'sampled' })) >= 8, 60_000);
  await waitFor('a failed delivery retried past the budget', async () => (await svc.metric('tailsampler_exporter_retried_traces_total', { exporter: 'otlp' })) > 0, 30_000);
  const ready = (await (await fetch(`${svc.telemetry}/readyz`)).json()) as { status: string; exporters: Record<string, { backlog: number; oldestPendingSecs: number | null }> };
  assert.equal(ready.status, 'ready', 'a destination outage does not make the replica unready');
  assert.equal(ready.exporters.otlp!.backlog, 4, '/readyz shows what the exporter owes');
  assert.ok(ready.exporters.otlp!.oldestPendingSecs !== null);

  // A crash in the middle of the outage, then more traffic.
  await svc.kill();
  svc = await startService({ dir, config, ports });
  const c = await sendBatch(svc, 'c');
  await waitFor('batch c decided after the restart', async () => (await svc.metric('tailsampler_traces_decided_total', { outcome: 'sampled' })) >= 4, 60_000);
  assert.equal(await svc.metric('tailsampler_exporter_backlog_traces', { exporter: 'otlp' }), 8, 'b and c owed after the crash');

  // Back up where it was: everything owed arrives.
  otelcol = await startOtelcol({ ports: collectorPorts });
  const kept = [...b, ...c].filter(isError);
  await waitFor('batches b and c at the restarted collector', async () => complete(await otelcol.received(), kept), 90_000);
  await waitFor('nothing owed any more', async () => (await svc.metric('tailsampler_exporter_backlog_traces', { exporter: 'otlp' })) === 0, 30_000);

  const all = [...beforeOutage, ...(await otelcol.received())];
  const keptIds = new Set([...a, ...b, ...c].filter(isError).map((tr) => tr[0]!.traceId));
  const seen = new Set<string>();
  for (const r of all) {
    assert.ok(keptIds.has(r.traceId), `only kept traces are exported (got ${r.traceId})`);
    for (const s of r.spans) {
      const id = s.span.spanId as string;
      assert.ok(!seen.has(id), `span ${id} of ${r.traceId} arrived once`);
      seen.add(id);
    }
  }
  assert.equal(seen.size, keptIds.size * 3);

  // The 400 destination refused every kept trace: each is on the dead-letter list and was logged.
  await waitFor('batch c dead-lettered for otlp/strict', async () => (await svc.metric('tailsampler_exporter_dead_lettered_traces_total', { exporter: 'otlp/strict', reason: 'rejected' })) >= 4, 30_000);
  // Listed by the CLI while the service runs.
  const cli = spawnSync(process.execPath, [BIN, 'dead-letters', '--config', svc.configPath], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const letters = cli.stdout.trim().split('\n').map((l) => JSON.parse(l) as { exporter: string; traceId: string; reason: string; policy: string });
  assert.deepEqual(new Set(letters.map((l) => `${l.exporter} ${l.reason} ${l.policy}`)), new Set(['otlp/strict rejected errors']));
  assert.deepEqual(new Set(letters.map((l) => l.traceId)), keptIds);
  const cKept = c.filter(isError)[0]![0]!.traceId;
  assert.ok(svc.output().split('\n').some((l) => l.includes('kept trace dead-lettered') && l.includes(cKept)), 'logged once with the trace id');
  assert.equal(await svc.stop(), 0);
});
