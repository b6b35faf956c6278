import { Consumer, ListOffsetTimestamps, ProduceAcks, Producer } from '@platformatic/kafka';
import type { StoredDecision } from '../../evaluate/decision-store.ts';
import type { EvaluatorShard, RestoredPartition, ShardChange, ShardProgress } from '../../evaluate/shard.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { SpoolClosedError } from '../local/errors.ts';
import { kafkaClientOptions } from './client-options.ts';
import type { KafkaSpoolConfig } from './config.ts';
import { KafkaSpoolError, kafkaCall, kafkaError } from './errors.ts';
import { fetchPartitions } from './fetch.ts';
import type { KafkaSpool } from './kafka-spool.ts';
import { partitionForKey } from './partitioner.ts';
import { ensureTopic } from './topics.ts';

/** Key of the progress record in each partition (trace ids are 32 hex digits, so it cannot clash). */
const PROGRESS_KEY = 'progress';
/** Messages per produce request. */
const SEND_CHUNK = 2000;
const RESTORE_FETCH_BYTES = 4 << 20;
/** Fetch rounds in a row that move no partition forward before a restore gives up (no leader, say). */
const RESTORE_STALLED_ROUNDS = 20;

/** A changelog record's value: the decision without its trace id (the record's key). */
type DecisionValue = Omit<StoredDecision, 'traceId'>;

function decode(b: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
}

function isDecision(v: unknown): v is DecisionValue {
  const d = v as DecisionValue;
  return (
    typeof d === 'object' && d !== null && typeof d.keep === 'boolean' && typeof d.policy === 'string' &&
    (d.threshold === null || typeof d.threshold === 'string') && Number.isSafeInteger(d.decidedAtMs) &&
    Number.isSafeInteger(d.firstSeq) && Number.isSafeInteger(d.lastSeq) && typeof d.exported === 'boolean'
  );
}

function isProgress(v: unknown): v is ShardProgress {
  const p = v as ShardProgress;
  return typeof p === 'object' && p !== null && Number.isSafeInteger(p.seq) && Number.isSafeInteger(p.low);
}

/**
 * The evaluator's shard on Kafka: ownership is the spool's consumer-group assignment, and decisions
 * and progress go to a changelog topic (`spool.kafka.decisions_topic`) with as many partitions as
 * the spool topic, each decision in its trace's partition (key: hex trace id; compacted, and deleted
 * after the decision TTL). A replica taking a partition over reads that partition of the changelog
 * back, as Kafka Streams restores a state store.
 */
export class KafkaDecisionLog implements EvaluatorShard {
  readonly #spool: KafkaSpool;
  readonly #config: KafkaSpoolConfig;
  readonly #topic: string;
  readonly #ttlMs: number;
  readonly #logger: Logger;
  #producer: Producer | null = null;
  #consumer: Consumer | null = null;
  #partitions = 0;

  constructor(spool: KafkaSpool, config: KafkaSpoolConfig, decisionTtlMs: number, deps: { logger: Logger }) {
    this.#spool = spool;
    this.#config = config;
    this.#topic = config.decisions_topic ?? `${config.topic}-decisions`;
    this.#ttlMs = decisionTtlMs;
    this.#logger = deps.logger.child({ component: 'decision-log', topic: this.#topic });
  }

  async start(): Promise<void> {
    const partitions = this.#spool.partitionCount;
    try {
      const options = await kafkaClientOptions(this.#config);
      const configs = { 'cleanup.policy': 'compact,delete', 'retention.ms': String(Math.max(this.#ttlMs, 60_000)) };
      const count = await ensureTopic(options, this.#topic, partitions, configs, this.#logger);
      if (count !== partitions) {
        throw new KafkaSpoolError(
          `decisions topic ${this.#topic} has ${count} partitions but the spool topic ${this.#config.topic} has ${partitions}; ` +
            'they must match (delete the decisions topic, or name another in spool.kafka.decisions_topic)',
        );
      }
      this.#partitions = partitions;
      this.#producer = new Producer({ ...options, idempotent: true, acks: ProduceAcks.ALL, compression: this.#config.compression });
      this.#producer.on('error', (err: unknown) => this.#logger.warn({ err }, 'kafka producer error'));
      await this.#producer.initIdempotentProducer({});
      // Never joins its group: it only fetches explicitly.
      this.#consumer = new Consumer({ ...options, groupId: `${this.#config.group_id}-decisions-reader` });
      this.#consumer.on('error', (err: unknown) => this.#logger.warn({ err }, 'kafka consumer error'));
    } catch (e) {
      await this.shutdown();
      throw kafkaError(e, `cannot start the decision log (topic ${this.#topic})`);
    }
  }

  async shutdown(): Promise<void> {
    const clients = [this.#producer, this.#consumer];
    this.#producer = null;
    this.#consumer = null;
    for (const c of clients) await c?.close().catch((err: unknown) => this.#logger.warn({ err }, 'kafka client did not close cleanly'));
  }

  partitionOf(traceIdHex: string): number {
    return partitionForKey(traceIdHex, this.#partitions);
  }

  owned(): ReadonlySet<number> {
    return new Set(this.#spool.assignedPartitions);
  }

  onChange(listener: (change: ShardChange) => void): () => void {
    return this.#spool.onAssignmentChange(listener);
  }

  async recordDecisions(decisions: readonly StoredDecision[]): Promise<void> {
    await this.#send(
      decisions.map((d) => {
        const { traceId: _key, ...value } = d;
        return { key: d.traceId, partition: this.partitionOf(d.traceId), value: JSON.stringify(value) };
      }),
    );
  }

  async recordProgress(partitions: Iterable<number>, progress: ShardProgress): Promise<void> {
    const value = JSON.stringify({ seq: progress.seq, low: progress.low });
    await this.#send([...partitions].map((partition) => ({ key: PROGRESS_KEY, partition, value })));
  }

  async #send(messages: { key: string; partition: number; value: string }[]): Promise<void> {
    const producer = this.#producer;
    if (producer === null) throw new SpoolClosedError('record to the decision log');
    for (let i = 0; i < messages.length; i += SEND_CHUNK) {
      const chunk = messages.slice(i, i + SEND_CHUNK).map((m) => ({
        topic: this.#topic,
        partition: m.partition,
        key: Buffer.from(m.key, 'latin1'),
        value: Buffer.from(m.value, 'utf8'),
      }));
      await kafkaCall(() => producer.send({ messages: chunk }), this.#config.timeout_ms, 'decision log', `writing to ${this.#topic}`);
    }
  }

  async restore(partitions: readonly number[]): Promise<Map<number, RestoredPartition>> {
    const consumer = this.#consumer;
    if (consumer === null) throw new SpoolClosedError('restore from the decision log');
    const topic = this.#topic;
    const decisions = new Map<number, Map<string, StoredDecision>>();
    const progress = new Map<number, ShardProgress>();
    const call = <T>(fn: () => Promise<T>, what: string): Promise<T> => kafkaCall(fn, this.#config.timeout_ms * 2, 'decision log', what);
    const list = { topics: [topic], partitions: { [topic]: [...partitions] } };
    const earliest = (await call(() => consumer.listOffsets({ ...list, timestamp: ListOffsetTimestamps.EARLIEST }), 'listing offsets')).get(topic) ?? [];
    const latest = (await call(() => consumer.listOffsets(list), 'listing offsets')).get(topic) ?? [];
    const starts = new Map<number, number>();
    const ends = new Map<number, number>();
    for (const p of partitions) {
      decisions.set(p, new Map());
      const from = Number(earliest[p] ?? 0n);
      const to = Number(latest[p] ?? 0n);
      if (to > from) {
        starts.set(p, from);
        ends.set(p, to);
      }
    }
    const forgetBefore = Date.now() - this.#ttlMs;
    let stalled = 0;
    while (starts.size > 0) {
      const fetched = await call(
        () => fetchPartitions(consumer, topic, starts, RESTORE_FETCH_BYTES, { logger: this.#logger, onHighWatermark: () => undefined }),
        'reading back the decision log',
      );
      let moved = false;
      for (const [p, f] of fetched) {
        for (const r of f.records) {
          if (r.offset >= ends.get(p)! || r.key === null) continue;
          const key = Buffer.from(r.key).toString('latin1');
          const value = r.payload.length === 0 ? null : decode(r.payload);
          if (key === PROGRESS_KEY) {
            if (isProgress(value)) progress.set(p, value);
          } else if (value === null) {
            decisions.get(p)!.delete(key); // a tombstone
          } else if (isDecision(value)) {
            if (value.decidedAtMs >= forgetBefore) decisions.get(p)!.set(key, { traceId: key, ...value });
          } else {
            this.#logger.warn({ partition: p, offset: r.offset }, 'decision log record is not a decision; skipped');
          }
        }
        if (f.end > starts.get(p)!) moved = true;
        if (f.end >= ends.get(p)!) starts.delete(p);
        else starts.set(p, f.end);
      }
      stalled = moved ? 0 : stalled + 1;
      if (stalled >= RESTORE_STALLED_ROUNDS) {
        throw new KafkaSpoolError(`decision log: partitions ${[...starts.keys()].join(',')} of ${topic} cannot be read (no leader?)`);
      }
    }
    const out = new Map<number, RestoredPartition>();
    for (const p of partitions) out.set(p, { decisions: [...decisions.get(p)!.values()], progress: progress.get(p) ?? null });
    return out;
  }
}
