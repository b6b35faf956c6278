import {
  Consumer,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  ProduceAcks,
  Producer,
  type ConsumerGroupJoinPayload,
} from '@platformatic/kafka';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { SpoolClosedError } from '../local/errors.ts';
import type { Spool, SpoolPosition, SpoolRecord } from '../spool.ts';
import { kafkaClientOptions } from './client-options.ts';
import type { KafkaSpoolConfig } from './config.ts';
import { DEFAULT_MAX_QUEUED_BYTES, KafkaAppender, type MessageEncoder } from './appender.ts';
import { KafkaSpoolConfigError, kafkaCall, kafkaError, withTimeout } from './errors.ts';
import { EMPTY, fetchPartitions } from './fetch.ts';
import { SchemaRegistryClient } from './schema-registry.ts';
import { SPAN_RECORD_PROTO, spanRecordEncoder } from './span-record.ts';
import { ensureTopic } from './topics.ts';
import { commitRange, formatPosition, parsePosition } from './position.ts';

/** Average message size assumed by pendingBytes() before any message was seen. */
const DEFAULT_MESSAGE_BYTES = 1024;
/** Group membership: a dead replica's partitions move after this long without heartbeats. */
const SESSION_TIMEOUT_MS = 30_000;
const HEARTBEAT_INTERVAL_MS = 3_000;
const REBALANCE_TIMEOUT_MS = 60_000;
/**
 * How often membership is checked. The client rejoins by itself after group errors, but when that
 * rejoin fails (brokers still away) it stops heartbeating for good. Inactive for longer than any
 * legitimate rejoin can take (rebalance plus session timeout) → the spool joins again itself.
 */
const MEMBERSHIP_CHECK_MS = 5_000;
const MEMBERSHIP_LOST_CHECKS = Math.ceil((REBALANCE_TIMEOUT_MS + SESSION_TIMEOUT_MS) / MEMBERSHIP_CHECK_MS);

/**
 * What append() produces: `otlp_proto`, one OTLP TracesData per trace (the Collector kafkaexporter's
 * encoding); `span_record`, one SpanRecord per span in the Confluent wire format (span-record.ts).
 */
export type KafkaRecordFormat = 'otlp_proto' | 'span_record';

export interface KafkaSpoolDeps {
  metrics: Metrics;
  logger: Logger;
  /** Overrides DEFAULT_MAX_QUEUED_BYTES (tests). */
  maxQueuedBytes?: number;
  /** Default `otlp_proto`. */
  recordFormat?: KafkaRecordFormat;
}

/** The partitions this replica owns after a group (re)join; `assigned`/`revoked` relative to the last change. */
export interface KafkaAssignment {
  generation: number;
  partitions: readonly number[];
  assigned: readonly number[];
  revoked: readonly number[];
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * The spool as a Kafka topic (`spool.type: kafka`).
 *
 * append: each ExportTraceServiceRequest becomes messages keyed by hex trace id (partition as the
 * Collector's kafkaexporter computes it), produced by an idempotent producer with acks=all; the
 * promise resolves once Kafka acknowledged every message. The record format decides the messages:
 * `otlp_proto` (default) one TracesData per trace; `span_record` one SpanRecord per span, framed with
 * the schema id that start() takes from `schema_registry.schema_id` or gets by registering the
 * SpanRecord schema (for a broker that materializes the topic itself). Appends waiting while a
 * produce is in flight are sent together next (group commit), in produce requests of at most
 * max_message_bytes.
 *
 * read/release: this process is one member of the consumer group `group_id` and reads only the
 * partitions the group assigns it, with explicit fetches from the offsets in the position (so a
 * read can start anywhere, e.g. again from the table's position after a failed commit). Message
 * values are returned untouched: messages written by the Collector's kafkaexporter (a TracesData with
 * any number of traces) read the same as ours in `otlp_proto`; span records come back as they are,
 * not as OTLP requests. `release` commits the offsets to the group. Positions: see position.ts.
 */
export class KafkaSpool implements Spool {
  readonly #config: KafkaSpoolConfig;
  readonly #topic: string;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #maxQueuedBytes: number;
  readonly #recordFormat: KafkaRecordFormat;

  #state: State = 'new';
  #partitionCount = 0;
  #producer: Producer | null = null;
  #appender: KafkaAppender | null = null;
  #consumer: Consumer | null = null;

  // group membership
  #generation = -1;
  #assigned: number[] = [];
  /** Bumped on every assignment change, so a read can tell that one happened while it fetched. */
  #assignmentEpoch = 0;
  readonly #listeners = new Set<(a: KafkaAssignment) => void>();
  /** Where reading a partition starts when the position does not name it (committed, else earliest). */
  readonly #groupStarts = new Map<number, number>();

  // pendingBytes() estimate
  readonly #highWatermarks = new Map<number, number>();
  readonly #released = new Map<number, number>();
  #sizeSum = 0;
  #sizeCount = 0;

  /** Which owned partition a read starts with, rotated so none starves. */
  #rotation = 0;

  #watchdog: NodeJS.Timeout | null = null;
  #inactiveChecks = 0;
  #rejoining = false;

  constructor(config: KafkaSpoolConfig, deps: KafkaSpoolDeps) {
    this.#config = config;
    this.#topic = config.topic;
    this.#metrics = deps.metrics;
    this.#logger = deps.logger.child({ component: 'spool', spool: 'kafka', topic: config.topic, group: config.group_id });
    this.#maxQueuedBytes = deps.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.#recordFormat = deps.recordFormat ?? 'otlp_proto';
  }

  // --- lifecycle ---------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new SpoolClosedError('start twice');
    this.#state = 'starting';
    try {
      const encode = this.#recordFormat === 'span_record' ? await this.#spanRecordEncoder() : undefined;
      const options = await kafkaClientOptions(this.#config);
      this.#partitionCount = await ensureTopic(options, this.#topic, this.#config.partitions, {}, this.#logger);
      const producer = new Producer({
        ...options,
        idempotent: true,
        acks: ProduceAcks.ALL,
        compression: this.#config.compression,
      });
      this.#producer = producer;
      producer.on('error', (err: unknown) => this.#logger.warn({ err }, 'kafka producer error'));
      await producer.initIdempotentProducer({});
      this.#appender = new KafkaAppender(producer, this.#config, {
        metrics: this.#metrics,
        logger: this.#logger,
        maxQueuedBytes: this.#maxQueuedBytes,
        onProduced: (partition, offset) => this.#noteHighWatermark(partition, offset),
        onMessage: (bytes) => this.#noteSize(bytes),
        encode,
      });
      const consumer = new Consumer({
        ...options,
        groupId: this.#config.group_id,
        autocommit: false,
        sessionTimeout: SESSION_TIMEOUT_MS,
        heartbeatInterval: HEARTBEAT_INTERVAL_MS,
        rebalanceTimeout: REBALANCE_TIMEOUT_MS,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      });
      this.#consumer = consumer;
      // Without a listener an 'error' event (e.g. a failed rejoin) would throw and end the process.
      consumer.on('error', (err: unknown) => this.#logger.warn({ err }, 'kafka consumer error'));
      consumer.on('consumer:group:join', (p) => this.#onJoin(p));
      consumer.on('consumer:group:rebalance', () => this.#onRebalance());
      consumer.on('consumer:heartbeat:error', (p) => this.#logger.warn({ err: p.error }, 'kafka group heartbeat failed'));
      consumer.topics.track(this.#topic);
      await consumer.joinGroup({});
      await this.#loadGroupOffsets(this.#assigned);
    } catch (e) {
      await this.#closeClients();
      this.#state = 'stopped';
      throw kafkaError(e, `cannot start the Kafka spool (brokers ${this.#config.brokers.join(',')}, topic ${this.#topic})`);
    }
    this.#state = 'running';
    this.#watchdog = setInterval(() => this.#checkMembership(), MEMBERSHIP_CHECK_MS);
    this.#watchdog.unref();
    this.#updateGauge();
    this.#logger.info({ partitions: this.#assigned, generation: this.#generation }, 'kafka spool started');
  }

  /** The span-record encoder, with the configured schema id or the one the registry gives the SpanRecord schema. */
  async #spanRecordEncoder(): Promise<MessageEncoder> {
    const registry = this.#config.schema_registry;
    if (registry?.schema_id != null) return spanRecordEncoder(registry.schema_id);
    if (registry?.url == null) {
      throw new KafkaSpoolConfigError('the span_record format needs spool.kafka.schema_registry with a url (to register the schema) or a schema_id');
    }
    const subject = registry.subject ?? `${this.#topic}-value`;
    const client = new SchemaRegistryClient({
      url: registry.url,
      username: registry.username,
      password: registry.password,
      timeoutMs: this.#config.timeout_ms,
    });
    const schemaId = await client.register(subject, SPAN_RECORD_PROTO);
    this.#logger.info({ registry: registry.url, subject, schemaId }, 'span record schema registered');
    return spanRecordEncoder(schemaId);
  }

  async shutdown(): Promise<void> {
    if (this.#state === 'new' || this.#state === 'stopped') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    this.#watchdog = null;
    // Appends already accepted finish (each is bounded by timeout_ms); new ones are refused.
    await this.#appender?.drain();
    await this.#closeClients();
    this.#state = 'stopped';
  }

  async #closeClients(): Promise<void> {
    const clients = [this.#consumer, this.#producer];
    this.#consumer = null;
    this.#producer = null;
    for (const c of clients) {
      if (c === null) continue;
      try {
        // The consumer leaves the group here, so its partitions move at once instead of after the session timeout.
        await withTimeout(c.close(), this.#config.timeout_ms, 'closing the Kafka client');
      } catch (err) {
        this.#logger.warn({ err }, 'kafka client did not close cleanly');
      }
    }
  }

  // --- group membership --------------------------------------------------------------------------

  /** Partitions of the topic (known once started). */
  get partitionCount(): number {
    return this.#partitionCount;
  }

  /** The partitions of the topic this replica currently owns (empty while the group rebalances). */
  get assignedPartitions(): readonly number[] {
    return this.#assigned;
  }

  /** The group generation of the current assignment (-1 before the first join). */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Calls `listener` on every assignment change: once with everything revoked when a rebalance
   * starts, once with the new partitions when it ends. Returns the unsubscribe function.
   */
  onAssignmentChange(listener: (a: KafkaAssignment) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #checkMembership(): void {
    const consumer = this.#consumer;
    if (this.#state !== 'running' || consumer === null || this.#rejoining) return;
    if (consumer.isActive()) {
      this.#inactiveChecks = 0;
      return;
    }
    if (++this.#inactiveChecks < MEMBERSHIP_LOST_CHECKS) return;
    this.#rejoining = true;
    if (this.#assigned.length > 0) this.#setAssignment([], this.#generation);
    this.#logger.warn('kafka group membership lost; joining again');
    consumer
      .joinGroup({})
      .catch((err: unknown) => this.#logger.warn({ err }, 'joining the kafka consumer group failed; will try again'))
      .finally(() => {
        this.#rejoining = false;
        this.#inactiveChecks = 0;
      });
  }

  #onRebalance(): void {
    if (this.#assigned.length === 0) return;
    this.#setAssignment([], this.#generation);
  }

  #onJoin(p: ConsumerGroupJoinPayload): void {
    const mine = (p.assignments ?? this.#consumer?.assignments ?? []).find((a) => a.topic === this.#topic);
    const partitions = [...(mine?.partitions ?? [])].sort((a, b) => a - b);
    this.#setAssignment(partitions, p.generationId ?? this.#consumer?.generationId ?? -1);
    // Another member may have committed while it owned these partitions; learn the group's offsets again.
    this.#groupStarts.clear();
    if (this.#state === 'running') {
      this.#loadGroupOffsets(partitions).catch((err: unknown) =>
        this.#logger.warn({ err }, 'could not read the group offsets after a rebalance; reads will retry'),
      );
    }
  }

  #setAssignment(partitions: number[], generation: number): void {
    const before = new Set(this.#assigned);
    const after = new Set(partitions);
    const change: KafkaAssignment = {
      generation,
      partitions,
      assigned: partitions.filter((p) => !before.has(p)),
      revoked: this.#assigned.filter((p) => !after.has(p)),
    };
    this.#assigned = partitions;
    this.#generation = generation;
    if (change.assigned.length === 0 && change.revoked.length === 0) return;
    this.#assignmentEpoch++;
    this.#logger.info({ generation, partitions, assigned: change.assigned, revoked: change.revoked }, 'kafka partitions assigned');
    this.#updateGauge();
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch (err) {
        this.#logger.error({ err }, 'kafka assignment listener failed');
      }
    }
  }

  /** Committed offsets (else the earliest retained) and end offsets of `partitions`. */
  async #loadGroupOffsets(partitions: readonly number[]): Promise<void> {
    const consumer = this.#consumer;
    if (consumer === null || partitions.length === 0) return;
    const topic = this.#topic;
    const committed = (await consumer.listCommittedOffsets({ topics: [{ topic, partitions: [...partitions] }] })).get(topic) ?? [];
    const list = { topics: [topic], partitions: { [topic]: [...partitions] } };
    const earliest = (await consumer.listOffsets({ ...list, timestamp: ListOffsetTimestamps.EARLIEST })).get(topic) ?? [];
    const latest = (await consumer.listOffsets(list)).get(topic) ?? [];
    for (const p of partitions) {
      const c = committed[p];
      const start = c !== undefined && c >= 0n ? c : (earliest[p] ?? 0n);
      this.#groupStarts.set(p, Number(start));
      if (!this.#released.has(p) || this.#released.get(p)! < Number(start)) this.#released.set(p, Number(start));
      const end = latest[p];
      if (end !== undefined) this.#noteHighWatermark(p, Number(end));
    }
    this.#updateGauge();
  }

  // --- append / read / release -------------------------------------------------------------------

  append(payloads: readonly Uint8Array[]): Promise<void> {
    if (this.#state !== 'running' || this.#appender === null) return Promise.reject(new SpoolClosedError('append'));
    return this.#appender.append(payloads);
  }

  async read(from: SpoolPosition | null, maxBytes: number): Promise<SpoolRecord[]> {
    if (this.#state !== 'running' && this.#state !== 'stopping') throw new SpoolClosedError('read');
    const base = from === null ? null : parsePosition(from, this.#topic);
    const partitions = this.#assigned;
    const epoch = this.#assignmentEpoch;
    if (partitions.length === 0) return [];
    const starts = new Map<number, number>();
    const unknown = partitions.filter((p) => base?.offsets.get(p) === undefined && !this.#groupStarts.has(p));
    if (unknown.length > 0) await this.#call(() => this.#loadGroupOffsets(unknown), 'reading the group offsets');
    for (const p of partitions) {
      const start = base?.offsets.get(p) ?? this.#groupStarts.get(p);
      if (start !== undefined) starts.set(p, start);
    }
    const consumer = this.#consumer;
    if (consumer === null) throw new SpoolClosedError('read');
    const fetched = await this.#call(
      () => fetchPartitions(consumer, this.#topic, starts, maxBytes, { logger: this.#logger, onHighWatermark: (p, o) => this.#noteHighWatermark(p, o) }),
      'fetching from Kafka',
    );
    // A rebalance during the fetch: what was fetched for partitions now owned by another member is dropped.
    const owned = epoch === this.#assignmentEpoch ? null : new Set(this.#assigned);

    const offsets = new Map(base?.offsets ?? []);
    for (const [p, o] of starts) offsets.set(p, o);
    const order = [...fetched.keys()];
    const rotate = order.length > 0 ? this.#rotation++ % order.length : 0;
    const out: SpoolRecord[] = [];
    let bytes = 0;
    outer: for (let i = 0; i < order.length; i++) {
      const p = order[(i + rotate) % order.length]!;
      if (owned !== null && !owned.has(p)) continue;
      const f = fetched.get(p)!;
      for (const r of f.records) {
        if (out.length > 0 && bytes + r.payload.length > maxBytes) break outer;
        offsets.set(p, r.offset + 1);
        out.push({
          next: formatPosition({ topic: this.#topic, offsets }),
          payload: r.payload,
          kafka: { partition: p, offset: BigInt(r.offset), timestamp: r.timestamp },
        });
        bytes += r.payload.length;
        this.#noteSize(r.payload.length);
      }
      // Only control or aborted batches after the last record: an empty record carries the position past them.
      if (f.end > offsets.get(p)!) {
        offsets.set(p, f.end);
        out.push({ next: formatPosition({ topic: this.#topic, offsets }), payload: EMPTY });
      }
    }
    this.#updateGauge();
    return out;
  }

  commitPosition(committed: SpoolPosition | null, from: SpoolPosition | null, to: SpoolPosition): SpoolPosition {
    const parse = (p: SpoolPosition | null) => (p === null ? null : parsePosition(p, this.#topic));
    return formatPosition(commitRange(parse(committed), parse(from), parsePosition(to, this.#topic)));
  }

  async release(upTo: SpoolPosition): Promise<void> {
    if (this.#state !== 'running' && this.#state !== 'stopping') throw new SpoolClosedError('release');
    const position = parsePosition(upTo, this.#topic);
    const consumer = this.#consumer!;
    // Only partitions this replica owns: another member advances its own.
    const offsets: { topic: string; partition: number; offset: bigint; leaderEpoch: number }[] = [];
    for (const p of this.#assigned) {
      const o = position.offsets.get(p);
      if (o !== undefined && o > (this.#released.get(p) ?? -1)) {
        offsets.push({ topic: this.#topic, partition: p, offset: BigInt(o), leaderEpoch: -1 });
      }
    }
    if (offsets.length === 0) return;
    await this.#call(() => consumer.commit({ offsets }), 'committing offsets to the consumer group');
    for (const o of offsets) {
      this.#released.set(o.partition, Number(o.offset));
      if (this.#groupStarts.has(o.partition)) this.#groupStarts.set(o.partition, Number(o.offset));
    }
    this.#updateGauge();
  }

  /**
   * An estimate: for each owned partition, messages between the released (committed) offset and the
   * high watermark last seen (from fetches, produce acknowledgements and group offset look-ups), times
   * the average size of the messages this process produced or read (1 KiB before any).
   */
  pendingBytes(): number {
    const avg = this.#sizeCount === 0 ? DEFAULT_MESSAGE_BYTES : this.#sizeSum / this.#sizeCount;
    let messages = 0;
    for (const p of this.#assigned) {
      const end = this.#highWatermarks.get(p);
      const released = this.#released.get(p);
      if (end !== undefined && released !== undefined && end > released) messages += end - released;
    }
    return Math.round(messages * avg);
  }

  // --- helpers -----------------------------------------------------------------------------------

  #call<T>(fn: () => Promise<T>, what: string): Promise<T> {
    return kafkaCall(fn, this.#config.timeout_ms * 2, 'kafka spool', what);
  }


  #noteHighWatermark(partition: number, offset: number): void {
    const known = this.#highWatermarks.get(partition);
    if (known === undefined || offset > known) this.#highWatermarks.set(partition, offset);
  }

  #noteSize(bytes: number): void {
    // Keeps the average recent-ish without a timer: halve both sums now and then.
    if (this.#sizeCount >= 1 << 20) {
      this.#sizeSum /= 2;
      this.#sizeCount /= 2;
    }
    this.#sizeSum += bytes;
    this.#sizeCount++;
  }

  #updateGauge(): void {
    this.#metrics.spoolPendingBytes.set(this.pendingBytes());
    this.#metrics.spoolKafkaAssignedPartitions.set(this.#assigned.length);
  }
}
