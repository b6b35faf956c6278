/**
 * External mode end to end on real servers: pyiceberg writes spans into an Iceberg table (REST catalog,
 * Garage S3) in AutoMQ's table-topic `flatten` layout — what AutoMQ would build from the span records
 * this service produces — and the service, with `storage.materializer: external`, reads that table,
 * decides and exports the kept traces to a real Collector. Its receivers meanwhile produce span records
 * in the Confluent wire format to the table topic.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { partitionForKey } from '../../../src/spool/kafka/partitioner.ts';
import { garageS3Config, infraEnv } from '../../support/infra.ts';
import { rawMessages } from '../../support/kafka.ts';
import { startOtelcol } from '../../support/otelcol.ts';
import { runPython, startService, waitFor } from '../../support/service.ts';
import { canonical, jsonSpan, makeTrace, toProtobuf, type TestSpan } from '../../support/traces.ts';

const WRITER = fileURLToPath(new URL('../lake/write_flatten_table.py', import.meta.url));
const PARTITIONS = 4;
const SCHEMA_ID = 7;
const RESOURCE = { attributes: [{ key: 'service.name', value: { stringValue: 'shop' } }] };
const SCOPE = { name: 'automq-table-topic' };

/** A span as a row of the flatten table (longs as strings; the writer script types them). */
function row(s: TestSpan, offset: number) {
  return {
    trace_id: s.traceId,
    span_id: s.spanId,
    parent_span_id: s.parentSpanId ?? null,
    name: s.name,
    status_code: s.status?.code ?? 0,
    status_message: s.status?.message ?? null,
    start_time_unix_nano: String(s.startNs),
    end_time_unix_nano: String(s.endNs),
    duration: String(s.endNs - s.startNs),
    service_name: 'shop',
    span_kind: s.kind,
    attributes: JSON.stringify(jsonSpan(s).attributes),
    resource: JSON.stringify(RESOURCE),
    scope: JSON.stringify(SCOPE),
    flags: s.flags ?? 0,
    kafka: { partition: partitionForKey(s.traceId, PARTITIONS), offset, timestamp: Date.now() },
  };
}

test('external mode decides from a table written in AutoMQ flatten layout by pyiceberg', { timeout: 300_000 }, async (t) => {
  const brokers = infraEnv('kafka').TAILSAMPLER_KAFKA_BROKERS!.split(',');
  const rest = infraEnv('iceberg-rest');
  const id = randomBytes(4).toString('hex');
  const topic = `external-${id}`;
  const namespace = `external_${id}`;
  const dir = mkdtempSync(join(tmpdir(), 'tailsampler-external-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  t.after(async () => {
    const admin = new Admin({ clientId: 'tailsampler-test', bootstrapBrokers: brokers });
    await admin.deleteTopics({ topics: [topic, `${topic}-decisions`] }).catch(() => undefined);
    await admin.close();
  });
  const otelcol = await startOtelcol();
  t.after(() => otelcol.stop());

  // Errors and slow traces are kept; the rest dropped. Each trace's spans land in two snapshots.
  const now = Date.now();
  const traces = Array.from({ length: 12 }, (_, i) =>
    makeTrace({ n: 4, startMs: now - 60_000, durationMs: i % 4 === 1 ? 2_500 : 20, error: i % 4 === 0 }),
  );
  const keep = new Set(traces.filter((_, i) => i % 4 <= 1).map((s) => s[0]!.traceId));
  const halves = [traces.flatMap((s) => s.slice(0, 2)), traces.flatMap((s) => s.slice(2))];
  const files = halves.map((spans, k) => {
    const path = join(dir, `rows-${k}.json`);
    writeFileSync(path, JSON.stringify(spans.map((s, i) => row(s, k * 1000 + i))));
    return path;
  });
  const writer = (paths: string[]) => runPython(WRITER, [rest.TAILSAMPLER_ICEBERG_REST_URI!, rest.TAILSAMPLER_ICEBERG_REST_WAREHOUSE!, namespace, 'spans', ...paths], infraEnv('garage'));
  assert.deepEqual(await writer([files[0]!, files[1]!]), { snapshots: 2 });

  const svc = await startService({
    config: {
      spool: { type: 'kafka', kafka: { brokers, topic, group_id: topic, partitions: PARTITIONS, schema_registry: { schema_id: SCHEMA_ID } } },
      storage: {
        materializer: 'external',
        external: { columns: { operation_name: 'name' } },
        catalog: { type: 'rest', uri: rest.TAILSAMPLER_ICEBERG_REST_URI, warehouse: rest.TAILSAMPLER_ICEBERG_REST_WAREHOUSE },
        table: { namespace, name: 'spans' },
        s3: garageS3Config(),
      },
      query: { scan_interval_secs: 1, inactivity_threshold_secs: 2, max_trace_age_secs: 600 },
      sampling: { sample_errors: true, sample_latency: true, latency_threshold_ms: 1_000 },
      exporters: { otlp: { endpoint: otelcol.httpEndpoint, protocol: 'http/protobuf', retry_on_failure: { initial_interval_ms: 200 } } },
    },
  });
  t.after(() => svc.kill());

  await waitFor('every trace decided', async () => (await svc.metric('tailsampler_traces_decided_total')) >= traces.length, 120_000);
  const received = await waitFor('kept traces at the Collector', async () => {
    const got = await otelcol.received();
    return got.length >= keep.size && got.every((g) => g.spans.length === 4) ? got : undefined;
  }, 60_000);
  assert.equal(await svc.metric('tailsampler_traces_decided_total'), traces.length, 'each trace decided once');
  assert.deepEqual(new Set(received.map((g) => g.traceId)), keep, 'exactly the error and slow traces');
  for (const g of received) {
    const sent = traces.find((s) => s[0]!.traceId === g.traceId)!;
    for (const s of sent) {
      const got = g.spans.find((x) => x.span.spanId === s.spanId)!;
      // The name comes through the column mapping; ids, times, kind, status and attributes as written.
      // (traceState: the exported span carries its sampling threshold.)
      const { traceState: _t, ...span } = got.span;
      const { traceState: _t2, ...want } = jsonSpan(s);
      assert.deepEqual(canonical(span), canonical(want), `span ${s.spanId}`);
      assert.deepEqual(canonical(got.resource), canonical(RESOURCE));
      assert.equal(got.scope.name, SCOPE.name);
    }
  }

  // The receivers produce span records for the external writer: framed with the schema id.
  const res = await fetch(`${svc.http}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf' },
    body: toProtobuf([{ service: 'shop', scope: { name: 'in' }, spans: makeTrace({ n: 3, startMs: Date.now(), durationMs: 5 }) }]),
  });
  assert.equal(res.status, 200);
  for (const m of await rawMessages(brokers, topic, 3)) {
    assert.deepEqual([...m.value.subarray(0, 6)], [0, 0, 0, 0, SCHEMA_ID, 0], 'magic byte, schema id, message index 0');
  }
});
