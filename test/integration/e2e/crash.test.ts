import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOtelcol } from '../../support/otelcol.ts';
import { freePort, runPython, startService, waitFor } from '../../support/service.ts';
import { makeTrace, toProtobuf, type TestSpan } from '../../support/traces.ts';

const READ_TABLE = fileURLToPath(new URL('./read_table.py', import.meta.url));

interface Sent {
  acknowledged: TestSpan[][];
  unacknowledged: TestSpan[][];
}

/** Sends requests of 10 traces (5 spans, every 4th with an error) until `stop()`; records what was acknowledged. */
function sender(endpoint: () => string) {
  const sent: Sent = { acknowledged: [], unacknowledged: [] };
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      const traces = Array.from({ length: 10 }, () => makeTrace({ n: 5, startMs: Date.now(), durationMs: 5, error: n++ % 4 === 0 }));
      const body = toProtobuf([{ service: 'crash', scope: { name: 'crash' }, spans: traces.flat() }]);
      try {
        const res = await fetch(`${endpoint()}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
        await res.arrayBuffer();
        (res.status === 200 ? sent.acknowledged : sent.unacknowledged).push(...traces);
      } catch {
        sent.unacknowledged.push(...traces);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  })();
  return { sent, stop: async () => { running = false; await loop; } };
}

test('kill -9 under load: every acknowledged span is in the table exactly once and every kept trace is exported', async (t) => {
  const otelcol = await startOtelcol();
  t.after(() => otelcol.stop());
  const ports = { grpc: await freePort(), http: await freePort(), telemetry: await freePort() };
  const config = {
    query: { scan_interval_secs: 1, inactivity_threshold_secs: 3, max_trace_age_secs: 120 },
    sampling: { sample_errors: false, sample_latency: false, policies: [{ name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } }] },
    exporters: { otlp: { endpoint: `http://${otelcol.grpcEndpoint}`, protocol: 'grpc', retry_on_failure: { initial_interval_ms: 200 } } },
  };
  let svc = await startService({ config, ports });
  const dir = svc.dir;
  t.after(() => svc.kill());
  const load = sender(() => svc.http);

  // Crash twice: mid-load, once soon after commits begin and once after decisions have started. The
  // restarts encode commits on the encode thread (storage.encode_thread), killed with the process.
  for (const afterMs of [2500, 5000]) {
    await new Promise((r) => setTimeout(r, afterMs));
    await svc.kill();
    svc = await startService({ dir, config: { ...config, storage: { encode_thread: true } }, ports });
  }
  await new Promise((r) => setTimeout(r, 2000));
  await load.stop();
  const { acknowledged, unacknowledged } = load.sent;
  assert.ok(acknowledged.length > 50, `enough load was acknowledged (${acknowledged.length} traces)`);

  const keptAcknowledged = acknowledged.filter((tr) => tr.some((s) => s.status?.code === 2));
  await waitFor('every acknowledged error trace at the collector', async () => {
    const got = new Map((await otelcol.received()).map((r) => [r.traceId, new Set(r.spans.map((s) => s.span.spanId as string))]));
    return keptAcknowledged.every((tr) => tr.every((s) => got.get(s.traceId)?.has(s.spanId)));
  }, 90_000);

  const errorIds = new Set([...acknowledged, ...unacknowledged].filter((tr) => tr.some((s) => s.status?.code === 2)).map((tr) => tr[0]!.traceId));
  for (const r of await otelcol.received()) assert.ok(errorIds.has(r.traceId), `only error traces exported (got ${r.traceId})`);

  await waitFor('spool drained into the table', async () => (await svc.metric('tailsampler_spool_pending_bytes')) === 0, 30_000);
  process.env.READ_TABLE_SPAN_IDS = '1';
  const read = (await runPython(READ_TABLE, [join(dir, 'catalog.db'), join(dir, 'warehouse'), 'observability', 'otel_spans'])) as {
    rows: number;
    distinct_span_ids: number;
    span_ids: string[];
  };
  delete process.env.READ_TABLE_SPAN_IDS;
  assert.equal(read.rows, read.distinct_span_ids, 'no span is in the table twice');
  const inTable = new Set(read.span_ids);
  const missing = acknowledged.flat().filter((s) => !inTable.has(s.spanId));
  assert.equal(missing.length, 0, `${missing.length} acknowledged spans missing from the table`);
  const possible = new Set([...acknowledged, ...unacknowledged].flat().map((s) => s.spanId));
  assert.ok(read.span_ids.every((id) => possible.has(id)), 'nothing in the table that was not sent');
  assert.equal(await svc.stop(), 0);
});
