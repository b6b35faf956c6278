/**
 * The Kafka spool in the span_record format against a real Kafka broker (KRaft, from
 * `bash scripts/infra.sh up kafka`): what a table-topic broker (AutoMQ, `by_schema_id`) would read.
 * Every test uses its own topic and consumer group.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Admin, ListOffsetTimestamps } from '@platformatic/kafka';
import protobuf from 'protobufjs';
import { kafkaSpoolSchema, type KafkaSpoolConfig } from '../../../src/spool/kafka/config.ts';
import { KafkaSpool } from '../../../src/spool/kafka/kafka-spool.ts';
import { partitionForKey } from '../../../src/spool/kafka/partitioner.ts';
import { CONFLUENT_HEADER_BYTES, SPAN_RECORD_MESSAGE, SPAN_RECORD_PROTO, confluentHeader } from '../../../src/spool/kafka/span-record.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { canonical, jsonSpan, makeTrace, toProtobuf, type TestSpan } from '../../support/traces.ts';
import { kafkaTestScope, rawMessages, type RawMessage } from '../../support/kafka.ts';

const PARTITIONS = 4;

const kafka = kafkaTestScope();

function config(schemaRegistry: Record<string, unknown>): KafkaSpoolConfig {
  const id = randomBytes(4).toString('hex');
  const c = kafkaSpoolSchema.parse({ brokers: kafka.brokers, topic: `span-record-test-${id}`, group_id: `span-record-test-${id}`, partitions: PARTITIONS, schema_registry: schemaRegistry });
  kafka.topics.push(c.topic);
  return c;
}

async function open(c: KafkaSpoolConfig): Promise<KafkaSpool> {
  const s = new KafkaSpool(c, { metrics: new Metrics(), logger: silentLogger(), recordFormat: 'span_record' });
  kafka.spools.push(s);
  await s.start();
  return s;
}

/** SpanRecord from the generated .proto text, by protobufjs (not our encoder's code). */
function spanRecordType(): protobuf.Type {
  const root = new protobuf.Root();
  root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')!.nested!);
  protobuf.parse(SPAN_RECORD_PROTO, root, { keepCase: true });
  root.resolveAll();
  return root.lookupType(SPAN_RECORD_MESSAGE);
}
const SpanRecord = spanRecordType();

/** Messages in the topic: how many the brokers hold (end minus start offsets of every partition). */
async function messageCount(topic: string): Promise<number> {
  const admin = new Admin({ clientId: 'tailsampler-test', bootstrapBrokers: kafka.brokers });
  try {
    const partitions = Array.from({ length: PARTITIONS }, (_, p) => ({ partitionIndex: p, timestamp: ListOffsetTimestamps.LATEST }));
    const ends = await admin.listOffsets({ topics: [{ name: topic, partitions }] });
    const starts = await admin.listOffsets({ topics: [{ name: topic, partitions: partitions.map((p) => ({ ...p, timestamp: ListOffsetTimestamps.EARLIEST })) }] });
    const sum = (r: typeof ends) => r.flatMap((t) => t.partitions).reduce((n, p) => n + Number(p.offset), 0);
    return sum(ends) - sum(starts);
  } finally {
    await admin.close();
  }
}

/** Requests of `traces` traces of `spans` spans each, split over two resources. */
function requests(count: number, traces: number, spans: number): { payloads: Uint8Array[]; sent: Map<string, { span: TestSpan; service: string }> } {
  const payloads: Uint8Array[] = [];
  const sent = new Map<string, { span: TestSpan; service: string }>();
  for (let i = 0; i < count; i++) {
    const all = Array.from({ length: traces }, (_, t) => makeTrace({ n: spans, startMs: 1_700_000_000_000 + i * 1000 + t, durationMs: 20, rich: t === 0, error: t === 1 }));
    const front = all.flatMap((t) => t.filter((_, k) => k % 2 === 0));
    const back = all.flatMap((t) => t.filter((_, k) => k % 2 === 1));
    for (const s of front) sent.set(s.spanId, { span: s, service: 'checkout' });
    for (const s of back) sent.set(s.spanId, { span: s, service: 'payments' });
    payloads.push(
      toProtobuf([
        { service: 'checkout', scope: { name: 'http', version: '1.0' }, spans: front },
        { service: 'payments', scope: { name: 'grpc' }, spans: back },
      ]),
    );
  }
  return { payloads, sent };
}

/** Checks one message against the span it must hold; returns its span id. */
function checkMessage(m: RawMessage, schemaId: number, sent: ReadonlyMap<string, { span: TestSpan; service: string }>): string {
  assert.deepEqual(m.value.subarray(0, CONFLUENT_HEADER_BYTES), confluentHeader(schemaId), 'Confluent framing with the schema id');
  const r = SpanRecord.toObject(SpanRecord.decode(m.value.subarray(CONFLUENT_HEADER_BYTES)), { longs: String }) as Record<string, unknown>;
  const expected = sent.get(r.span_id as string);
  assert.ok(expected, `unknown span ${String(r.span_id)}`);
  const s = expected.span;
  assert.equal(m.key, s.traceId, 'keyed by the hex trace id');
  assert.equal(m.partition, partitionForKey(s.traceId, PARTITIONS), 'partition of the trace id');
  assert.equal(r.trace_id, s.traceId);
  assert.equal(r.parent_span_id ?? null, s.parentSpanId ?? null);
  assert.equal(r.operation_name, s.name);
  assert.equal(r.start_time_unix_nano, String(s.startNs));
  assert.equal(r.end_time_unix_nano, String(s.endNs));
  assert.equal(r.status_code ?? 0, s.status?.code ?? 0);
  assert.equal(r.service_name, expected.service);
  assert.deepEqual(canonical(JSON.parse(r.attributes as string)), canonical(jsonSpan(s).attributes));
  return s.spanId;
}

test('span records: every span exactly once, framed with the configured schema id, in its trace id partition', async () => {
  const schemaId = 4242;
  const c = config({ schema_id: schemaId });
  const spool = await open(c);
  const { payloads, sent } = requests(5, 4, 3);
  // One append of several requests, and concurrent appends (sent together by the group commit).
  await spool.append(payloads.slice(0, 2));
  await Promise.all(payloads.slice(2).map((p) => spool.append([p])));

  assert.equal(await messageCount(c.topic), sent.size, 'one message per span, none more');
  const raw = await rawMessages(kafka.brokers, c.topic, sent.size);
  const seen = new Set<string>();
  for (const m of raw) {
    const id = checkMessage(m, schemaId, sent);
    assert.ok(!seen.has(id), `span ${id} twice`);
    seen.add(id);
  }
  assert.equal(seen.size, sent.size);
  assert.ok(new Set(raw.map((m) => m.partition)).size > 1, 'traces spread over partitions');
});
