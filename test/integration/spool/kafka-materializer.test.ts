/**
 * The Kafka spool under the real materializer and Iceberg table: the table's snapshot summary holds
 * the whole topic's position, and it (not the consumer group) decides where reading resumes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Admin, Producer } from '@platformatic/kafka';
import { parseConfig } from '../../../src/config/load.ts';
import { createSpanTable } from '../../../src/lake/factory.ts';
import { Materializer, SPOOL_POSITION_KEY } from '../../../src/materialize/materializer.ts';
import { createSpool } from '../../../src/spool/factory.ts';
import { KafkaSpool } from '../../../src/spool/kafka/kafka-spool.ts';
import { partitionForKey } from '../../../src/spool/kafka/partitioner.ts';
import { parsePosition } from '../../../src/spool/kafka/position.ts';
import type { Spool } from '../../../src/spool/spool.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { infraEnv } from '../../support/infra.ts';
import { makeTrace, toProtobuf } from '../../support/traces.ts';

const request = (traces: number) =>
  toProtobuf([{ service: 'svc', scope: { name: 's' }, spans: Array.from({ length: traces }, () => makeTrace({ n: 3, startMs: 1_700_000_000_000, durationMs: 5 })).flat() }]);

async function committedSpans(metrics: Metrics): Promise<number> {
  return (await metrics.committedSpans.get()).values.reduce((n, v) => n + v.value, 0);
}

const sum = (m: ReadonlyMap<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const OPTS = { commitIntervalMs: 3_600_000, maxCommitBytes: 8 << 20 };

/**
 * A fresh topic (and group) of `partitions` partitions and an embedded span table; `cleanup` closes
 * the table and deletes the directory and the topic.
 */
async function setup(name: string, partitions: number) {
  const brokers = infraEnv('kafka').TAILSAMPLER_KAFKA_BROKERS!;
  const dir = await mkdtemp(join(tmpdir(), `tailsampler-kafka-${name}-`));
  const topic = `${name}-${randomBytes(4).toString('hex')}`;
  const config = parseConfig(
    `spool: { type: kafka, kafka: { brokers: [${brokers}], topic: ${topic}, group_id: ${topic}, partitions: ${partitions} } }
storage: { catalog: { uri: ${join(dir, 'catalog.db')}, warehouse: ${join(dir, 'warehouse')} } }`,
    'test',
    {},
  );
  const logger = silentLogger();
  const { table, close } = await createSpanTable(config.storage, { logger });
  const cleanup = async (): Promise<void> => {
    await close();
    await rm(dir, { recursive: true, force: true });
    const admin = new Admin({ clientId: 'tailsampler-test', bootstrapBrokers: brokers.split(',') });
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.close();
  };
  return { brokers, topic, config, logger, table, cleanup };
}

test('the table records the topic position; after a crash before the group commit nothing is materialized twice', async () => {
  const { topic, config, logger, table, cleanup } = await setup('mat', 3);
  const opts = OPTS;
  const spools: Spool[] = [];
  const materializers: Materializer[] = [];
  try {
    // First life: the table commit lands, then the process "dies" before the offsets reach the group.
    const metrics1 = new Metrics();
    const spool1 = await createSpool(config.spool, { metrics: metrics1, logger });
    assert.ok(spool1 instanceof KafkaSpool);
    spools.push(spool1);
    await spool1.start();
    const crashing: Spool = {
      start: () => spool1.start(),
      shutdown: () => spool1.shutdown(),
      append: (p) => spool1.append(p),
      read: (from, max) => spool1.read(from, max),
      pendingBytes: () => spool1.pendingBytes(),
      commitPosition: (committed, from, to) => spool1.commitPosition(committed, from, to),
      release: async () => {
        throw new Error('crashed before committing offsets to the group');
      },
    };
    // Not started: start() schedules a background commit that would race the explicit one below.
    const m1 = new Materializer(crashing, table, opts, { metrics: metrics1, logger });
    await spool1.append([request(4)]);
    await spool1.append([request(3)]);
    await assert.rejects(m1.commitOnce(), /crashed before committing/);
    const first = (await table.currentSnapshot())!;
    assert.equal(first.summary['total-records'], '21');
    const position = first.summary[SPOOL_POSITION_KEY]!;
    const p = parsePosition(position, topic);
    assert.deepEqual([...p.offsets.keys()], [0, 1, 2], 'one snapshot summary holds every partition');
    assert.equal(sum(p.offsets), 7, 'seven messages, one per trace');
    // Every row carries the record it came in, as AutoMQ's table topics do.
    const records = new Set<string>();
    for (const file of (await table.changesSince(0)).files) {
      const rows = await table.read(file, ['trace_id', '_kafka_metadata']);
      for (let i = 0; i < rows.length; i++) {
        const meta = rows._kafka_metadata![i]!;
        assert.ok(meta !== null, 'a row of a Kafka record has its metadata');
        assert.equal(meta.partition, partitionForKey(rows.trace_id![i]!, 3), 'the partition its trace id keys to');
        assert.ok(meta.offset >= 0n && meta.offset < BigInt(p.offsets.get(meta.partition)!), 'an offset the position covers');
        assert.ok(Math.abs(Number(meta.timestamp) - Date.now()) < 3_600_000, 'the record timestamp (ms)');
        records.add(`${meta.partition}/${meta.offset}`);
      }
    }
    assert.equal(records.size, 7, 'the spans of each of the seven messages share its record');
    await spool1.shutdown();

    // Second life, same group: the group has no offsets, the table has the position.
    const metrics2 = new Metrics();
    const spool2 = await createSpool(config.spool, { metrics: metrics2, logger });
    spools.push(spool2);
    await spool2.start();
    const m2 = new Materializer(spool2, table, opts, { metrics: metrics2, logger });
    materializers.push(m2);
    await m2.start(); // takes the position from the table and releases it to the group
    // Stopping waits for the commit start() scheduled (and drains): afterwards nothing runs in the
    // background, so the explicit drains below are the only readers.
    await m2.shutdown();
    assert.equal(await committedSpans(metrics2), 0, 'nothing the table already holds is read again');
    assert.equal(spool2.pendingBytes(), 0);
    await spool2.append([request(2)]);
    await m2.drain();
    assert.equal(await committedSpans(metrics2), 6, 'only the new spans');
    const last = (await table.currentSnapshot())!;
    assert.equal(last.summary['total-records'], '27');
    assert.equal(sum(parsePosition(last.summary[SPOOL_POSITION_KEY]!).offsets), 9);
    await spool2.shutdown();
  } finally {
    for (const m of materializers) await m.shutdown().catch(() => undefined);
    for (const s of spools) await s.shutdown().catch(() => undefined);
    await cleanup();
  }
});

test('two replicas that read the same records: the table takes one commit and refuses the other', async () => {
  const { config, logger, table, cleanup } = await setup('fence', 2);
  const metrics = new Metrics();
  const spool = await createSpool(config.spool, { metrics, logger });
  try {
    await spool.start();
    await spool.append([request(5)]);
    // Both reads finish before either returns, as when a rebalance hands partitions over mid-batch.
    let reads = 0;
    let bothRead!: () => void;
    const barrier = new Promise<void>((r) => (bothRead = r));
    const racing: Spool = {
      start: () => spool.start(),
      shutdown: () => spool.shutdown(),
      append: (p) => spool.append(p),
      pendingBytes: () => spool.pendingBytes(),
      commitPosition: (committed, from, to) => spool.commitPosition(committed, from, to),
      release: (upTo) => spool.release(upTo),
      read: async (from, max) => {
        const records = await spool.read(from, max);
        if (++reads === 2) bothRead();
        await barrier;
        return records;
      },
    };
    const a = new Materializer(racing, table, OPTS, { metrics, logger });
    const b = new Materializer(racing, table, OPTS, { metrics, logger });
    await Promise.all([a.commitOnce(), b.commitOnce()]);
    const snapshot = (await table.currentSnapshot())!;
    assert.equal(snapshot.summary['total-records'], '15', 'five traces of three spans, once');
    assert.equal(snapshot.sequenceNumber, 1, 'one commit');
    assert.equal((await metrics.materializerConflicts.get()).values[0]!.value, 1);
    assert.equal(await committedSpans(metrics), 15);
    // The refused one takes the table's position and carries on from there.
    await spool.append([request(1)]);
    await a.drain();
    await b.drain();
    assert.equal((await table.currentSnapshot())!.summary['total-records'], '18');
    assert.equal(await committedSpans(metrics), 18, 'the new spans once, and nothing read again');
  } finally {
    await spool.shutdown().catch(() => undefined);
    await cleanup();
  }
});

test('a message that is not OTLP protobuf is logged and left out; the spans around it reach the table', async () => {
  const { brokers, topic, config, logger, table, cleanup } = await setup('poison', 1);
  const metrics = new Metrics();
  const spool = await createSpool(config.spool, { metrics, logger });
  const producer = new Producer({ clientId: 'tailsampler-test', bootstrapBrokers: brokers.split(',') });
  try {
    await spool.start();
    await spool.append([request(2)]);
    // What a Collector with `encoding: otlp_json` would write into the topic.
    await producer.send({ messages: [{ topic, partition: 0, value: Buffer.from('{"resourceSpans":[]}') }] });
    await spool.append([request(3)]);
    const m = new Materializer(spool, table, OPTS, { metrics, logger });
    await m.drain();
    assert.equal((await table.currentSnapshot())!.summary['total-records'], '15', 'five traces of three spans');
    assert.equal((await metrics.rejectedRecords.get()).values[0]!.value, 1);
    assert.equal(spool.pendingBytes(), 0, 'the position moved past the bad message');
  } finally {
    await producer.close();
    await spool.shutdown().catch(() => undefined);
    await cleanup();
  }
});
