/**
 * The Kafka spool against a real Kafka broker (KRaft, from `bash scripts/infra.sh up kafka`).
 * Every test uses its own topic and consumer group.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, Consumer, Producer } from '@platformatic/kafka';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import type { SpoolRecord } from '../../../src/spool/spool.ts';
import { kafkaSpoolSchema, type KafkaSpoolConfig } from '../../../src/spool/kafka/config.ts';
import { KafkaPositionError, KafkaUnavailableError } from '../../../src/spool/kafka/errors.ts';
import { KafkaSpool, type KafkaAssignment } from '../../../src/spool/kafka/kafka-spool.ts';
import { parsePosition } from '../../../src/spool/kafka/position.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { makeTrace, toProtobuf, type TestSpan } from '../../support/traces.ts';
import { kafkaTestScope, rawMessages } from '../../support/kafka.ts';

const TracesData = opentelemetry.proto.trace.v1.TracesData;
const Span = opentelemetry.proto.trace.v1.Span;
const Resource = opentelemetry.proto.resource.v1.Resource;
const Scope = opentelemetry.proto.common.v1.InstrumentationScope;
const MIB = 1024 * 1024;

const kafka = kafkaTestScope();

function config(overrides: Partial<KafkaSpoolConfig> = {}): KafkaSpoolConfig {
  const id = randomBytes(4).toString('hex');
  const c = kafkaSpoolSchema.parse({ brokers: kafka.brokers, topic: `spool-test-${id}`, group_id: `spool-test-${id}`, partitions: 4, ...overrides });
  kafka.topics.push(c.topic);
  return c;
}

async function open(c: KafkaSpoolConfig): Promise<KafkaSpool> {
  const s = new KafkaSpool(c, { metrics: new Metrics(), logger: silentLogger() });
  kafka.spools.push(s);
  await s.start();
  return s;
}

/** Reads until `count` records came back (a fetch returns what the broker has at that moment). */
async function readAll(s: KafkaSpool, from: string | null, count: number): Promise<SpoolRecord[]> {
  const out: SpoolRecord[] = [];
  let position = from;
  for (let i = 0; out.length < count && i < 200; i++) {
    const batch = await s.read(position, MIB);
    if (batch.length === 0) {
      await sleep(50);
      continue;
    }
    out.push(...batch);
    position = batch[batch.length - 1]!.next;
  }
  return out;
}

interface SeenSpan {
  trace: string;
  /** The span, resource and scope, each as protobuf bytes (hex). */
  span: string;
  resource: string;
  scope: string;
}

/** Every span of a TracesData / ExportTraceServiceRequest, by span id. */
function spansOf(payload: Uint8Array): Map<string, SeenSpan> {
  const out = new Map<string, SeenSpan>();
  for (const rs of TracesData.decode(payload).resourceSpans) {
    const resource = Buffer.from(Resource.encode(rs.resource ?? {}).finish()).toString('hex');
    for (const ss of rs.scopeSpans ?? []) {
      const scope = Buffer.from(Scope.encode(ss.scope ?? {}).finish()).toString('hex');
      for (const sp of ss.spans ?? []) {
        const id = Buffer.from(sp.spanId!).toString('hex');
        assert.ok(!out.has(id), `span ${id} twice in one payload`);
        out.set(id, { trace: Buffer.from(sp.traceId!).toString('hex'), span: Buffer.from(Span.encode(sp).finish()).toString('hex'), resource, scope });
      }
    }
  }
  return out;
}

function collect(records: readonly SpoolRecord[]): Map<string, SeenSpan> {
  const all = new Map<string, SeenSpan>();
  for (const r of records) {
    for (const [id, s] of spansOf(r.payload)) {
      assert.ok(!all.has(id), `span ${id} read twice`);
      all.set(id, s);
    }
  }
  return all;
}

/** Requests of several traces each, over two resources; `traces` traces of `spans` spans. */
function requests(count: number, tracesPerRequest: number, spans: number): { payloads: Uint8Array[]; traces: TestSpan[][] } {
  const payloads: Uint8Array[] = [];
  const traces: TestSpan[][] = [];
  for (let i = 0; i < count; i++) {
    const mine = Array.from({ length: tracesPerRequest }, () => makeTrace({ n: spans, startMs: 1_700_000_000_000 + i, durationMs: 20, rich: i === 0 }));
    traces.push(...mine);
    // Each trace's spans are spread over both resources, interleaved with the other traces'.
    const front = mine.flatMap((t) => t.filter((_, k) => k % 2 === 0));
    const back = mine.flatMap((t) => t.filter((_, k) => k % 2 === 1));
    payloads.push(
      toProtobuf([
        { service: 'checkout', scope: { name: 'http', version: '1.0' }, schemaUrl: 'https://opentelemetry.io/schemas/1.30.0', spans: front },
        { service: 'payments', extra: [['host.name', { s: 'pay-1' }]], scope: { name: 'grpc' }, spans: back },
      ]),
    );
  }
  return { payloads, traces };
}

test('append → read → release: every span comes back byte for byte, each trace in one partition', async () => {
  const c = config();
  const spool = await open(c);
  assert.deepEqual(spool.assignedPartitions, [0, 1, 2, 3], 'the only member owns every partition of the topic it created');

  const { payloads, traces } = requests(6, 5, 4);
  await spool.append(payloads.slice(0, 2));
  await Promise.all(payloads.slice(2).map((p) => spool.append([p])));
  const expected = new Map<string, SeenSpan>();
  for (const p of payloads) for (const [id, s] of spansOf(p)) expected.set(id, s);
  assert.equal(expected.size, 6 * 5 * 4);
  assert.ok(spool.pendingBytes() > 0, 'acknowledged but unreleased messages count as pending');

  const records = await readAll(spool, null, 6 * 5);
  assert.equal(records.length, 6 * 5, 'one message per trace and request');
  assert.deepEqual(collect(records), expected, 'spans, resources and scopes exactly as appended');

  // Each message holds one trace, keyed by it, and all messages of a trace are in one partition.
  const raw = await rawMessages(kafka.brokers, c.topic, records.length);
  const partitionOfTrace = new Map<string, number>();
  for (const m of raw) {
    const ids = new Set([...spansOf(m.value).values()].map((x) => x.trace));
    assert.equal(ids.size, 1, 'a message holds one trace');
    const [trace] = ids;
    assert.equal(m.key, trace, 'keyed by the lowercase hex trace id');
    const known = partitionOfTrace.get(trace!);
    assert.ok(known === undefined || known === m.partition, `trace ${trace} in partitions ${known} and ${m.partition}`);
    partitionOfTrace.set(trace!, m.partition);
  }
  assert.equal(partitionOfTrace.size, traces.length);
  assert.ok(new Set(partitionOfTrace.values()).size > 1, 'traces spread over partitions');

  // Reading again from an earlier position (a failed table commit) gives the same records.
  const again = await readAll(spool, records[9]!.next, records.length - 10);
  assert.deepEqual(
    again.map((r) => Buffer.from(r.payload).toString('hex')).sort(),
    records.slice(10).map((r) => Buffer.from(r.payload).toString('hex')).sort(),
  );

  const last = records[records.length - 1]!.next;
  assert.deepEqual([...parsePosition(last).offsets.keys()], [0, 1, 2, 3], 'one position covers every partition');
  await spool.release(last);
  assert.equal(spool.pendingBytes(), 0);
  assert.deepEqual(await spool.read(last, MIB), [], 'nothing after the end');

  // The group's committed offsets are the released position.
  const consumer = new Consumer({ clientId: 'tailsampler-test', groupId: c.group_id, bootstrapBrokers: kafka.brokers });
  try {
    const committed = (await consumer.listCommittedOffsets({ topics: [{ topic: c.topic, partitions: [0, 1, 2, 3] }] })).get(c.topic)!;
    // A partition no trace hashed to (random ids) has nothing to commit: no committed offset (-1) means the same as 0.
    assert.deepEqual(
      committed.map((o) => Math.max(0, Number(o))),
      [0, 1, 2, 3].map((p) => parsePosition(last).offsets.get(p)),
    );
  } finally {
    await consumer.close();
  }
});

test('a spool reopened in the same group resumes after the released position: nothing lost, nothing twice', async () => {
  const c = config();
  const first = await open(c);
  const { payloads } = requests(8, 3, 3);
  for (const p of payloads) await first.append([p]);
  const records = await readAll(first, null, 24);
  assert.equal(records.length, 24);
  const cut = 10;
  await first.release(records[cut - 1]!.next);
  await first.shutdown();

  const second = await open(c);
  assert.deepEqual(second.assignedPartitions, [0, 1, 2, 3]);
  // From the group's committed offsets (read(null)), and from the table's position: the same rest.
  const rest = await readAll(second, null, 24 - cut);
  const restFromPosition = await readAll(second, records[cut - 1]!.next, 24 - cut);
  const hexes = (rs: readonly SpoolRecord[]) => rs.map((r) => Buffer.from(r.payload).toString('hex')).sort();
  assert.deepEqual(hexes(rest), hexes(records.slice(cut)));
  assert.deepEqual(hexes(restFromPosition), hexes(records.slice(cut)));
  assert.equal((await second.read(rest[rest.length - 1]!.next, MIB)).length, 0);
  // Together exactly what was appended.
  const expected = new Map<string, SeenSpan>();
  for (const p of payloads) for (const [id, s] of spansOf(p)) expected.set(id, s);
  assert.deepEqual(collect([...records.slice(0, cut), ...rest]), expected);
  // Appends made after the reopen follow.
  await second.append([payloads[0]!]);
  const more = await readAll(second, rest[rest.length - 1]!.next, 3);
  assert.equal(more.length, 3);
  assert.deepEqual(collect(more), spansOf(payloads[0]!));
});

test('messages written in the Collector kafkaexporter format are read back unchanged', async () => {
  const c = config({ partitions: 2 });
  const spool = await open(c);
  const producer = new Producer({ clientId: 'otelcol-like', bootstrapBrokers: kafka.brokers });
  try {
    // otlp_proto with partition_traces_by_id: a TracesData per trace, keyed by hex trace id...
    const keyed = requests(3, 1, 4).payloads;
    const traceId = (p: Uint8Array) => [...spansOf(p).values()][0]!.trace;
    // ...and without it: one TracesData with several traces, no key.
    const mixed = requests(1, 4, 2).payloads[0]!;
    await producer.send({
      messages: [
        ...keyed.map((value) => ({ topic: c.topic, key: Buffer.from(traceId(value)), value: Buffer.from(value) })),
        { topic: c.topic, value: Buffer.from(mixed) },
      ],
    });
    const records = await readAll(spool, null, 4);
    assert.equal(records.length, 4);
    const got = records.map((r) => Buffer.from(r.payload).toString('hex')).sort();
    const sent = [...keyed, mixed].map((p) => Buffer.from(p).toString('hex')).sort();
    assert.deepEqual(got, sent, 'message values passed through untouched');
    assert.equal(new Set([...spansOf(mixed).values()].map((s) => s.trace)).size, 4);
  } finally {
    await producer.close();
  }
});

test('every compression codec round-trips', async () => {
  for (const compression of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
    const spool = await open(config({ compression, partitions: 1 }));
    const { payloads } = requests(2, 3, 3);
    await spool.append(payloads);
    const records = await readAll(spool, null, 6);
    const expected = new Map<string, SeenSpan>();
    for (const p of payloads) for (const [id, x] of spansOf(p)) expected.set(id, x);
    assert.deepEqual(collect(records), expected, compression);
    await spool.shutdown();
  }
});

test('a position behind retention continues at the earliest retained offset; one past the end or of another topic is refused', async () => {
  const c = config({ partitions: 1 });
  const spool = await open(c);
  const { payloads } = requests(5, 1, 2);
  for (const p of payloads) await spool.append([p]);
  const admin = new Admin({ clientId: 'tailsampler-test', bootstrapBrokers: kafka.brokers });
  try {
    await admin.deleteRecords({ topics: [{ name: c.topic, partitions: [{ partition: 0, offset: 3n }] }] });
  } finally {
    await admin.close();
  }
  const start = `{"topic":"${c.topic}","offsets":{"0":0}}`;
  const records = await readAll(spool, start, 2);
  assert.equal(records.length, 2, 'only what retention kept');
  assert.deepEqual(collect(records), new Map([...spansOf(payloads[3]!), ...spansOf(payloads[4]!)]));
  assert.equal(parsePosition(records[1]!.next).offsets.get(0), 5);

  await assert.rejects(spool.read(`{"topic":"${c.topic}","offsets":{"0":99}}`, MIB), (e: unknown) => {
    assert.ok(e instanceof KafkaPositionError, String(e));
    assert.match(e.message, /past the end of the partition \(5\)/);
    return true;
  });
  await assert.rejects(spool.read('{"topic":"some-other-topic","offsets":{"0":1}}', MIB), KafkaPositionError);
  await assert.rejects(spool.read('00000000000000000000:00000000000000000016', MIB), KafkaPositionError);
});

test('two spools in one group split the partitions and are told when the assignment changes', async () => {
  const c = config({ partitions: 6 });
  const a = await open(c);
  const changes: KafkaAssignment[] = [];
  a.onAssignmentChange((x) => changes.push(x));
  assert.deepEqual(a.assignedPartitions, [0, 1, 2, 3, 4, 5]);

  const b = await open(c);
  // a learns of the rebalance at its next heartbeat; wait for both to settle on one generation.
  for (let i = 0; i < 300 && !(a.generation === b.generation && a.assignedPartitions.length + b.assignedPartitions.length === 6); i++) {
    await sleep(100);
  }
  assert.equal(a.generation, b.generation);
  assert.deepEqual([...a.assignedPartitions, ...b.assignedPartitions].sort(), [0, 1, 2, 3, 4, 5], 'disjoint and complete');
  assert.ok(a.assignedPartitions.length > 0 && b.assignedPartitions.length > 0);
  const revoked = changes.flatMap((x) => x.revoked);
  assert.ok(revoked.length > 0, 'a was told it lost partitions');
  assert.deepEqual(changes[changes.length - 1]!.partitions, a.assignedPartitions);

  // Each reads only its own partitions; its positions name only those.
  const { payloads } = requests(4, 6, 2);
  for (const p of payloads) await a.append([p]);
  const raw = await rawMessages(kafka.brokers, c.topic, 24);
  const partitionOf = new Map(raw.map((m) => [m.value.toString('hex'), m.partition]));
  const ra = await readAll(a, null, raw.filter((m) => a.assignedPartitions.includes(m.partition)).length);
  const rb = await readAll(b, null, raw.filter((m) => b.assignedPartitions.includes(m.partition)).length);
  assert.equal(ra.length + rb.length, 24, 'between them, every message once');
  for (const r of ra) assert.ok(a.assignedPartitions.includes(partitionOf.get(Buffer.from(r.payload).toString('hex'))!));
  for (const r of rb) assert.ok(b.assignedPartitions.includes(partitionOf.get(Buffer.from(r.payload).toString('hex'))!));
  assert.deepEqual([...parsePosition(ra[ra.length - 1]!.next).offsets.keys()], [...a.assignedPartitions]);
  if (rb.length > 0) assert.deepEqual([...parsePosition(rb[rb.length - 1]!.next).offsets.keys()], [...b.assignedPartitions]);
});

test('start fails with a typed retryable error when no broker answers', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const spool = new KafkaSpool(kafkaSpoolSchema.parse({ brokers: [`127.0.0.1:${port}`], timeout_ms: 1000 }), {
    metrics: new Metrics(),
    logger: silentLogger(),
  });
  await assert.rejects(spool.start(), (e: unknown) => {
    assert.ok(e instanceof KafkaUnavailableError, String(e));
    assert.equal(e.retryable, true);
    assert.match(e.message, new RegExp(`cannot start the Kafka spool \\(brokers 127\\.0\\.0\\.1:${port}`));
    return true;
  });
  await spool.shutdown();
});

/** The broker's process group (scripts/infra/kafka.sh writes its pid file next to the env file). */
function brokerPid(): number {
  const dir = process.env.TAILSAMPLER_INFRA_DIR ?? join(process.env.TAILSAMPLER_CACHE ?? join(homedir(), '.cache', 'tailsampler'), 'run');
  return Number(readFileSync(join(dir, 'kafka', 'kafka.pid'), 'utf8').trim());
}

/** Waits until every thread of `pid` is stopped (SIGSTOP reaches a process's threads one by one). */
async function waitStopped(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const states = readdirSync(`/proc/${pid}/task`).map((t) => {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    });
    if (states.every((st) => st === 'T' || st === 't')) return;
    await sleep(10);
  }
  assert.fail(`broker process ${pid} did not stop`);
}

test('appends while the broker does not answer fail with the retryable error, and work again once it does', async () => {
  const c = config({ timeout_ms: 2000 });
  const spool = await open(c);
  const { payloads } = requests(3, 2, 2);
  await spool.append([payloads[0]!]);

  const pid = brokerPid();
  const resume = () => {
    try {
      process.kill(-pid, 'SIGCONT');
    } catch {
      // already running or gone
    }
  };
  process.once('exit', resume);
  process.kill(-pid, 'SIGSTOP'); // the broker hangs: connections open, no answers
  try {
    await waitStopped(pid);
    await assert.rejects(spool.append([payloads[1]!]), (e: unknown) => {
      assert.ok(e instanceof KafkaUnavailableError, String(e));
      assert.equal(e.code, 'TS_SPOOL_KAFKA_UNAVAILABLE');
      assert.equal(e.retryable, true);
      return true;
    });
  } finally {
    resume();
    process.removeListener('exit', resume);
  }

  // Once the broker answers again, an append succeeds (clients retry on 503).
  let ok = false;
  for (let i = 0; i < 30 && !ok; i++) {
    try {
      await spool.append([payloads[2]!]);
      ok = true;
    } catch (e) {
      assert.ok(e instanceof KafkaUnavailableError, String(e));
      await sleep(500);
    }
  }
  assert.ok(ok, 'appends work again after the broker resumed');
  const records = await readAll(spool, null, 4);
  const traces = new Set(records.flatMap((r) => [...spansOf(r.payload).values()].map((s) => s.trace)));
  for (const p of [payloads[0]!, payloads[2]!]) for (const s of spansOf(p).values()) assert.ok(traces.has(s.trace));
});
