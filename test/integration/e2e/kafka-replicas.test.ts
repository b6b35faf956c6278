/**
 * The production path with two replicas: OTLP → Kafka spool (one consumer group) → Iceberg through the
 * REST catalog, files on Garage (the harness's REST catalog keeps its warehouse there) → sharded
 * evaluators → OTLP out. One replica is killed mid-load; its partitions move to
 * the other, which finishes their traces. Every trace is decided exactly once (the decisions
 * changelog holds one decision per trace), kept traces arrive complete with no span twice, and the
 * table (read by pyiceberg through the REST catalog) holds every acknowledged span once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Admin, Consumer, ListOffsetTimestamps } from '@platformatic/kafka';
import { garageS3Config, infraEnv } from '../../support/infra.ts';
import { startOtelcol } from '../../support/otelcol.ts';
import { runPython, startService, waitFor, type ServiceProcess } from '../../support/service.ts';
import { canonical, jsonSpan, makeTrace, toProtobuf, type TestSpan } from '../../support/traces.ts';
import { partitionForKey } from '../../../src/spool/kafka/partitioner.ts';

const REST_READER = fileURLToPath(new URL('../lake/rest-catalog-reader.py', import.meta.url));
const PARTITIONS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const withoutTraceState = (s: Record<string, unknown>) => {
  const { traceState: _ignored, ...rest } = s;
  return canonical(rest);
};

/** The error-level log lines of a replica (pino level 50+), for failure messages. */
function errorLines(svc: ServiceProcess): string {
  return svc.output().split('\n').filter((l) => /"level":(5|6)0/.test(l)).slice(-5).join('\n');
}

async function post(svc: ServiceProcess, spans: TestSpan[]): Promise<void> {
  const body = toProtobuf([{ service: 'shop', scope: { name: 'replicas' }, spans }]);
  const res = await fetch(`${svc.http}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
  assert.equal(res.status, 200, `export answered ${res.status}: ${await res.text()}`);
}

/** Every record of a topic: key → values in offset order. */
async function readTopic(brokers: string[], topic: string): Promise<Map<string, unknown[]>> {
  const consumer = new Consumer({ clientId: 'tailsampler-test', bootstrapBrokers: brokers, groupId: `reader-${randomBytes(4).toString('hex')}` });
  try {
    const partitions = Array.from({ length: PARTITIONS }, (_, p) => p);
    const latest = (await consumer.listOffsets({ topics: [topic], partitions: { [topic]: partitions } })).get(topic)!;
    const earliest = (await consumer.listOffsets({ topics: [topic], partitions: { [topic]: partitions }, timestamp: ListOffsetTimestamps.EARLIEST })).get(topic)!;
    const total = partitions.reduce((n, p) => n + Number(latest[p]! - earliest[p]!), 0);
    const out = new Map<string, unknown[]>();
    if (total === 0) return out;
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 200 });
    let seen = 0;
    for await (const m of stream) {
      const key = Buffer.from(m.key).toString('latin1');
      const list = out.get(key) ?? [];
      list.push(JSON.parse(Buffer.from(m.value).toString('utf8')));
      out.set(key, list);
      if (++seen >= total) break;
    }
    await stream.close();
    return out;
  } finally {
    await consumer.close(true);
  }
}

test('two replicas split the partitions; one is killed mid-load and every trace is still decided exactly once', async (t) => {
  const brokers = infraEnv('kafka').TAILSAMPLER_KAFKA_BROKERS!.split(',');
  const rest = infraEnv('iceberg-rest');
  const id = randomBytes(4).toString('hex');
  const topic = `replicas-${id}`;
  const namespace = `replicas_${id}`;
  const otelcol = await startOtelcol();
  t.after(() => otelcol.stop());
  const config = {
    spool: { type: 'kafka', kafka: { brokers, topic, group_id: `replicas-${id}`, partitions: PARTITIONS } },
    storage: {
      catalog: { type: 'rest', uri: rest.TAILSAMPLER_ICEBERG_REST_URI, warehouse: rest.TAILSAMPLER_ICEBERG_REST_WAREHOUSE },
      table: { namespace, name: 'otel_spans' },
      s3: garageS3Config(),
      commit_interval_secs: 1,
    },
    query: { scan_interval_secs: 1, inactivity_threshold_secs: 15, max_trace_age_secs: 600 },
    sampling: { sample_errors: false, sample_latency: false, policies: [{ name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } }] },
    exporters: { otlp: { endpoint: otelcol.httpEndpoint, protocol: 'http/protobuf', retry_on_failure: { initial_interval_ms: 200 } } },
  };
  const a = await startService({ config });
  t.after(() => a.kill());
  const b = await startService({ config });
  t.after(() => b.kill());
  await waitFor('both replicas own partitions', async () =>
    (await a.metric('tailsampler_spool_kafka_assigned_partitions')) > 0 && (await b.metric('tailsampler_spool_kafka_assigned_partitions')) > 0, 60_000);

  // Complete traces first, until replica A has decided some: its decisions must carry over too.
  const traces: TestSpan[][] = Array.from({ length: 20 }, (_, i) => makeTrace({ n: 6, startMs: Date.now(), durationMs: 20, error: i % 4 === 0 }));
  await post(a, traces.flat());
  await waitFor('replica A decided traces', async () => (await a.metric('tailsampler_traces_decided_total')) > 0, 60_000);
  // Then 12 rounds of 15 traces; each trace's spans go out in two halves a round apart (well within
  // the inactivity threshold), through either replica, so traces are half-received or pending when
  // replica A is killed.
  let pendingHalves: TestSpan[][] = [];
  for (let round = 0; round < 12; round++) {
    const fresh = Array.from({ length: 15 }, (_, i) => makeTrace({ n: 6, startMs: Date.now(), durationMs: 20, error: i % 4 === 0 }));
    traces.push(...fresh);
    const alive = round < 6 ? [a, b] : [b];
    await post(alive[round % alive.length]!, [...pendingHalves.flat(), ...fresh.map((s) => s.slice(0, 3)).flat()]);
    pendingHalves = fresh.map((s) => s.slice(3));
    if (round === 5) await a.kill();
    await sleep(700);
  }
  await post(b, pendingHalves.flat());

  const kept = traces.filter((s) => s.some((x) => x.status?.code === 2));
  assert.ok(kept.length > 10 && kept.length < traces.length);
  await waitFor('B took over every partition', async () => (await b.metric('tailsampler_spool_kafka_assigned_partitions')) === PARTITIONS, 90_000);
  const decisions = await waitFor('every trace decided', async () => {
    const log = await readTopic(brokers, `${topic}-decisions`);
    const decided = traces.filter((s) => log.has(s[0]!.traceId)).length;
    if (decided === traces.length) return log;
    throw new Error(`${decided} of ${traces.length} decided`);
  }, 120_000, 1000);
  await waitFor('kept traces exported', async () => {
    const got = await otelcol.received();
    const missing = kept.filter((s) => (got.find((r) => r.traceId === s[0]!.traceId)?.spans.length ?? 0) < s.length);
    if (missing.length === 0) return true;
    const detail = missing.map((s) => `#${traces.indexOf(s)} got ${got.find((r) => r.traceId === s[0]!.traceId)?.spans.length ?? 0}, decided ${JSON.stringify(decisions.get(s[0]!.traceId))}`);
    throw new Error(`${missing.length} of ${kept.length} kept traces not complete yet: ${detail.join('; ')}\nreplica B's errors:\n${errorLines(b)}`);
  }, 60_000);
  await sleep(3000); // anything exported twice or wrongly would have arrived by now

  // Exactly once: one decision per trace in the changelog (later records only mark the export).
  for (const s of traces) {
    const records = decisions.get(s[0]!.traceId)! as { keep: boolean; exported: boolean }[];
    const made = records.filter((r) => !r.exported || !r.keep);
    assert.equal(made.length, 1, `trace ${s[0]!.traceId} decided ${made.length} times`);
    assert.equal(made[0]!.keep, kept.includes(s));
  }
  const received = await otelcol.received();
  assert.deepEqual(new Set(received.map((r) => r.traceId)), new Set(kept.map((s) => s[0]!.traceId)), 'exactly the kept traces');
  for (const s of kept) {
    const got = received.find((r) => r.traceId === s[0]!.traceId)!;
    assert.deepEqual(got.spans.map((x) => x.span.spanId).sort(), s.map((x) => x.spanId).sort(), 'complete, each span once');
    for (const sent of s) {
      const span = got.spans.find((x) => x.span.spanId === sent.spanId)!.span as Record<string, unknown>;
      assert.deepEqual(withoutTraceState(span), withoutTraceState(jsonSpan(sent)), `span ${sent.spanId} identical`);
      assert.match(typeof span.traceState === 'string' ? span.traceState : '', /(^|,)ot=([^,]*;)?th:0(;|,|$)/, 'kept span carries its sampling threshold');
    }
  }
  assert.ok((await b.metric('tailsampler_s3_requests_total')) > 0, 'table files go to Garage');

  // Every acknowledged span is in the table once, as pyiceberg reads it through the REST catalog.
  await b.stop();
  const table = (await runPython(REST_READER, [rest.TAILSAMPLER_ICEBERG_REST_URI!, rest.TAILSAMPLER_ICEBERG_REST_WAREHOUSE!, namespace, 'otel_spans', kept[0]![0]!.traceId], infraEnv('garage'))) as {
    count: number;
    span_ids: string[];
    trace_span_ids: string[];
    kafka_metadata: Record<string, { partition: string; offset: string; timestamp: string } | null>;
  };
  const sent = traces.flat();
  assert.equal(table.count, sent.length);
  assert.deepEqual(table.span_ids, sent.map((s) => s.spanId).sort());
  for (const s of sent) {
    // Rows carry their Kafka record in AutoMQ's `_kafka_metadata` shape, read back by pyiceberg.
    assert.equal(table.kafka_metadata[s.spanId]?.partition, String(partitionForKey(s.traceId, PARTITIONS)), `span ${s.spanId} partition`);
  }
  assert.deepEqual(table.trace_span_ids, kept[0]!.map((s) => s.spanId).sort());

  const admin = new Admin({ clientId: 'tailsampler-test', bootstrapBrokers: brokers });
  await admin.deleteTopics({ topics: [topic, `${topic}-decisions`] }).catch(() => undefined);
  await admin.close();
});
