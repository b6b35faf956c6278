import {
  Admin,
  Consumer,
  FetchIsolationLevels,
  IS_CONTROL,
  ListOffsetTimestamps,
  ProduceAcks,
  Producer,
  findErrorBy,
  type ConsumerGroupJoinPayload,
  type MessageToProduce,
} from '@platformatic/kafka';
import { PipelineBusyError } from '../../errors.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { SpoolClosedError } from '../local/errors.ts';
import type { Spool, SpoolPosition, SpoolRecord } from '../spool.ts';
import { kafkaClientOptions, type KafkaClientOptions } from './client-options.ts';
import type { KafkaSpoolConfig } from './config.ts';
import { KafkaPositionError, KafkaSpoolError, KafkaUnavailableError } from './errors.ts';
import { partitionForKey } from './partitioner.ts';
import { formatPosition, parsePosition } from './position.ts';
import { splitByTrace, type TraceMessage } from './split.ts';

const MIB = 1024 * 1024;
/** Bytes of appends waiting for Kafka; beyond this appends are refused (busy) so memory stays flat. */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * MIB;
/** Suggested client retry delay when the send queue is full. */
const BUSY_QUEUE_RETRY_MS = 1_000;
/** Room left in a message and in a produce batch for the record and batch headers. */
const RECORD_OVERHEAD = 64;
const BATCH_OVERHEAD = 128;
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
const EMPTY = Buffer.alloc(0);

export interface KafkaSpoolDeps {
  metrics: Metrics;
  logger: Logger;
  /** Overrides DEFAULT_MAX_QUEUED_BYTES (tests). */
  maxQueuedBytes?: number;
}

/** The partitions this replica owns after a group (re)join; `assigned`/`revoked` relative to the last change. */
export interface KafkaAssignment {
  generation: number;
  partitions: readonly number[];
  assigned: readonly number[];
  revoked: readonly number[];
}

interface PendingAppend {
  messages: TraceMessage[];
  bytes: number;
  queued: boolean;
  settled: boolean;
  timer: NodeJS.Timeout;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface FetchedRecord {
  offset: number;
  payload: Uint8Array;
}

/** Per partition: what one read fetched, and where reading it may continue when all of it is taken. */
interface FetchedPartition {
  records: FetchedRecord[];
  /** Offset just past the last batch returned (control and aborted batches included). */
  end: number;
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * The spool as a Kafka topic (`spool.type: kafka`).
 *
 * append: each ExportTraceServiceRequest becomes one TracesData message per trace (key: hex trace
 * id, partition as the Collector's kafkaexporter computes it), produced by an idempotent producer with
 * acks=all; the promise resolves once Kafka acknowledged every message. Appends waiting while a
 * produce is in flight are sent together next (group commit), in produce requests of at most
 * max_message_bytes.
 *
 * read/release: this process is one member of the consumer group `group_id` and reads only the
 * partitions the group assigns it, with explicit fetches from the offsets in the position (so a
 * read can start anywhere, e.g. again from the table's position after a failed commit). Message
 * values are returned untouched: messages written by the Collector's kafkaexporter (a TracesData with
 * any number of traces) read the same as ours. `release` commits the offsets to the group.
 * Positions: see position.ts.
 */
export class KafkaSpool implements Spool {
  readonly #config: KafkaSpoolConfig;
  readonly #topic: string;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #maxQueuedBytes: number;

  #state: State = 'new';
  #producer: Producer | null = null;
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

  // appends
  #queue: PendingAppend[] = [];
  #queuedBytes = 0;
  #sending: Promise<void> | null = null;
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
  }

  // --- lifecycle ---------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new SpoolClosedError('start twice');
    this.#state = 'starting';
    try {
      const options = await kafkaClientOptions(this.#config);
      await this.#ensureTopic(options);
      const producer = new Producer({
        ...options,
        idempotent: true,
        acks: ProduceAcks.ALL,
        compression: this.#config.compression,
      });
      this.#producer = producer;
      producer.on('error', (err: unknown) => this.#logger.warn({ err }, 'kafka producer error'));
      await producer.initIdempotentProducer({});
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

  async shutdown(): Promise<void> {
    if (this.#state === 'new' || this.#state === 'stopped') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    this.#watchdog = null;
    // Appends already accepted finish (each is bounded by timeout_ms); new ones are refused.
    while (this.#sending !== null) await this.#sending;
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

  /** Creates the topic with `partitions` partitions unless it exists. */
  async #ensureTopic(options: KafkaClientOptions): Promise<void> {
    const admin = new Admin(options);
    try {
      const topics = await admin.listTopics();
      if (topics.includes(this.#topic)) return;
      try {
        await admin.createTopics({ topics: [this.#topic], partitions: this.#config.partitions, replicas: -1 });
        this.#logger.info({ partitions: this.#config.partitions }, 'created kafka topic');
      } catch (e) {
        // Another replica may have created it meanwhile (TOPIC_ALREADY_EXISTS): fine if it is there now.
        if (!(await admin.listTopics()).includes(this.#topic)) throw e;
      }
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  // --- group membership --------------------------------------------------------------------------

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

  // --- append ------------------------------------------------------------------------------------

  append(payloads: readonly Uint8Array[]): Promise<void> {
    if (this.#state !== 'running') return Promise.reject(new SpoolClosedError('append'));
    let messages: TraceMessage[];
    try {
      const maxValue = this.#config.max_message_bytes - BATCH_OVERHEAD - RECORD_OVERHEAD;
      messages = payloads.length === 1 ? splitByTrace(payloads[0]!, maxValue) : payloads.flatMap((p) => splitByTrace(p, maxValue));
    } catch (e) {
      return Promise.reject(e);
    }
    if (messages.length === 0) return Promise.resolve();
    let bytes = 0;
    for (const m of messages) bytes += m.value.length + m.key.length + RECORD_OVERHEAD;
    // An empty queue always takes one request, so a single large request cannot be refused forever.
    if (this.#queuedBytes > 0 && this.#queuedBytes + bytes > this.#maxQueuedBytes) {
      return Promise.reject(
        new PipelineBusyError(`kafka spool send queue is full (${this.#queuedBytes} bytes waiting for Kafka)`, BUSY_QUEUE_RETRY_MS),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const item: PendingAppend = {
        messages,
        bytes,
        queued: true,
        settled: false,
        resolve,
        reject,
        timer: setTimeout(() => this.#expire(item), this.#config.timeout_ms),
      };
      this.#queue.push(item);
      this.#queuedBytes += bytes;
      this.#pump();
    });
  }

  #expire(item: PendingAppend): void {
    if (item.queued) {
      this.#queue = this.#queue.filter((i) => i !== item);
      item.queued = false;
      this.#queuedBytes -= item.bytes;
    }
    settle(
      item,
      new KafkaUnavailableError(
        `Kafka did not acknowledge the spans within ${this.#config.timeout_ms} ms (brokers ${this.#config.brokers.join(',')})`,
      ),
    );
  }

  #pump(): void {
    if (this.#sending !== null || this.#queue.length === 0) return;
    this.#sending = this.#sendLoop().finally(() => {
      this.#sending = null;
      this.#pump();
    });
  }

  async #sendLoop(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      for (const item of batch) {
        item.queued = false;
        this.#queuedBytes -= item.bytes;
      }
      try {
        await this.#produce(batch);
      } catch (e) {
        const err = kafkaError(e, 'Kafka did not take the spans');
        this.#logger.warn({ err, appends: batch.length }, 'kafka produce failed; appends refused');
        for (const item of batch) settle(item, err);
        continue;
      }
      for (const item of batch) settle(item, null);
    }
  }

  /** Produces every message of `batch`, in requests of at most max_message_bytes, one at a time (idempotence wants order). */
  async #produce(batch: readonly PendingAppend[]): Promise<void> {
    const producer = this.#producer;
    if (producer === null) throw new SpoolClosedError('append');
    const metadata = await producer.metadata({ topics: [this.#topic] });
    const partitions = metadata.topics.get(this.#topic)?.partitionsCount;
    if (partitions === undefined || partitions < 1) throw new KafkaSpoolError(`kafka topic ${this.#topic} has no partitions`);
    const budget = this.#config.max_message_bytes - BATCH_OVERHEAD;
    let chunk: MessageToProduce<Buffer, Buffer, Buffer, Buffer>[] = [];
    let chunkBytes = 0;
    const send = async (): Promise<void> => {
      const messages = chunk;
      chunk = [];
      chunkBytes = 0;
      const result = await producer.send({ messages });
      const counts = new Map<number, number>();
      for (const m of messages) counts.set(m.partition!, (counts.get(m.partition!) ?? 0) + 1);
      for (const o of result.offsets ?? []) {
        if (o.topic === this.#topic) this.#noteHighWatermark(o.partition, Number(o.offset) + (counts.get(o.partition) ?? 0));
      }
      this.#metrics.spoolKafkaProducedMessages.inc(messages.length);
    };
    for (const item of batch) {
      if (item.settled) continue; // timed out while waiting: the client was already told to retry
      for (const m of item.messages) {
        const cost = m.value.length + m.key.length + RECORD_OVERHEAD;
        if (chunk.length > 0 && chunkBytes + cost > budget) await send();
        chunk.push({
          topic: this.#topic,
          key: m.key === '' ? undefined : Buffer.from(m.key, 'latin1'),
          value: m.value,
          partition: partitionForKey(m.key, partitions),
        });
        chunkBytes += cost;
        this.#noteSize(m.value.length);
      }
    }
    if (chunk.length > 0) await send();
  }

  // --- read / release ----------------------------------------------------------------------------

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
    const fetched = await this.#call(() => this.#fetch(starts, maxBytes), 'fetching from Kafka');
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
        out.push({ next: formatPosition({ topic: this.#topic, offsets }), payload: r.payload });
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

  /**
   * Fetches from every partition in `starts` (grouped by leader), following offsets that retention
   * already deleted up to the earliest retained one. Returns partitions in request order.
   */
  async #fetch(starts: Map<number, number>, maxBytes: number): Promise<Map<number, FetchedPartition>> {
    const consumer = this.#consumer;
    if (consumer === null) throw new SpoolClosedError('read');
    for (let attempt = 0; ; attempt++) {
      const metadata = await consumer.metadata({ topics: [this.#topic] });
      const topic = metadata.topics.get(this.#topic);
      if (topic === undefined) throw new KafkaSpoolError(`kafka topic ${this.#topic} is gone`);
      const byLeader = new Map<number, number[]>();
      for (const p of starts.keys()) {
        const leader = topic.partitions[p]?.leader ?? -1;
        if (leader < 0) continue; // no leader right now: read it next time
        let list = byLeader.get(leader);
        if (list === undefined) byLeader.set(leader, (list = []));
        list.push(p);
      }
      const result = new Map<number, FetchedPartition>();
      const outOfRange: number[] = [];
      await Promise.all(
        [...byLeader].map(async ([node, list]) => {
          try {
            const response = await consumer.fetch({
              node,
              minBytes: 1,
              maxWaitTime: 0,
              maxBytes,
              isolationLevel: FetchIsolationLevels.READ_COMMITTED,
              topics: [
                {
                  topicId: topic.id,
                  partitions: list.map((p) => ({
                    partition: p,
                    fetchOffset: BigInt(starts.get(p)!),
                    partitionMaxBytes: maxBytes,
                    currentLeaderEpoch: -1,
                    lastFetchedEpoch: -1,
                  })),
                },
              ],
            });
            this.#collect(response.responses, topic.id, starts, result);
          } catch (e) {
            const response = (e as { response?: FetchResponseLike }).response;
            if (findErrorBy(e as Error, 'apiId', 'OFFSET_OUT_OF_RANGE') === null || response?.responses === undefined) throw e;
            for (const t of response.responses) {
              for (const part of t.partitions) if (part.errorCode === 1) outOfRange.push(part.partitionIndex);
            }
            if (outOfRange.length === 0) throw e;
          }
        }),
      );
      if (outOfRange.length === 0) {
        // Request order, so the caller's rotation walks partitions fairly.
        const ordered = new Map<number, FetchedPartition>();
        for (const p of starts.keys()) {
          const f = result.get(p);
          if (f !== undefined) ordered.set(p, f);
        }
        return ordered;
      }
      if (attempt > 0) throw new KafkaSpoolError(`offsets of partitions ${outOfRange.join(',')} stay out of range`);
      await this.#clampOutOfRange(outOfRange, starts);
    }
  }

  #collect(responses: readonly FetchTopicLike[], topicId: string, starts: Map<number, number>, into: Map<number, FetchedPartition>): void {
    for (const t of responses) {
      if (t.topicId !== topicId) continue;
      for (const part of t.partitions) {
        const p = part.partitionIndex;
        const start = starts.get(p);
        if (start === undefined) continue; // lingering in the fetch session, not asked for
        if (part.highWatermark >= 0n) this.#noteHighWatermark(p, Number(part.highWatermark));
        const records: FetchedRecord[] = [];
        let end = start;
        for (const batch of part.records ?? []) {
          const batchEnd = Number(batch.firstOffset) + batch.lastOffsetDelta + 1;
          if (batchEnd > end) end = batchEnd;
          if ((batch.attributes & IS_CONTROL) !== 0) continue;
          const first = Number(batch.firstOffset);
          for (const r of batch.records) {
            const offset = first + r.offsetDelta;
            if (offset < start) continue; // a batch starts before the asked offset
            records.push({ offset, payload: r.value ?? EMPTY });
          }
        }
        into.set(p, { records, end });
      }
    }
  }

  /** Moves starts that retention deleted to the earliest retained offset; a start past the end is an error. */
  async #clampOutOfRange(partitions: readonly number[], starts: Map<number, number>): Promise<void> {
    const consumer = this.#consumer!;
    const topic = this.#topic;
    const list = { topics: [topic], partitions: { [topic]: [...partitions] } };
    const earliest = (await consumer.listOffsets({ ...list, timestamp: ListOffsetTimestamps.EARLIEST })).get(topic) ?? [];
    const latest = (await consumer.listOffsets(list)).get(topic) ?? [];
    for (const p of partitions) {
      const start = starts.get(p)!;
      const first = Number(earliest[p] ?? 0n);
      const end = Number(latest[p] ?? 0n);
      if (start > end) {
        throw new KafkaPositionError(
          `position offset ${start} of ${topic}/${p} is past the end of the partition (${end}); ` +
            'the topic was recreated or the table was filled from another cluster',
        );
      }
      if (start < first) {
        this.#logger.error(
          { partition: p, position: start, earliest: first, lost: first - start },
          'kafka retention deleted messages before they reached the table; continuing at the earliest retained offset',
        );
        starts.set(p, first);
      }
    }
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

  async #call<T>(fn: () => Promise<T>, what: string): Promise<T> {
    try {
      return await withTimeout(fn(), this.#config.timeout_ms * 2, what);
    } catch (e) {
      throw kafkaError(e, `kafka spool: ${what} failed`);
    }
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

/** The parts of the client's fetch response the spool reads. */
interface FetchBatchLike {
  firstOffset: bigint;
  lastOffsetDelta: number;
  attributes: number;
  records: { offsetDelta: number; value: Buffer | null }[];
}

interface FetchTopicLike {
  topicId: string;
  partitions: { partitionIndex: number; errorCode: number; highWatermark: bigint; records?: FetchBatchLike[] | null }[];
}

interface FetchResponseLike {
  responses?: FetchTopicLike[];
}

function settle(item: PendingAppend, err: unknown): void {
  if (item.settled) return;
  item.settled = true;
  clearTimeout(item.timer);
  if (err === null) item.resolve();
  else item.reject(err);
}

class DeadlineError extends Error {}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DeadlineError(`${what} took longer than ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A Kafka client failure as our error: unreachable brokers, timeouts and retryable broker errors
 * become the retryable KafkaUnavailableError; authentication and other refusals KafkaSpoolError.
 * Our own errors pass through.
 */
export function kafkaError(e: unknown, context: string): Error {
  if (e instanceof KafkaUnavailableError || e instanceof KafkaSpoolError || e instanceof KafkaPositionError) return e;
  if (e instanceof SpoolClosedError || e instanceof PipelineBusyError) return e;
  const message = `${context}: ${e instanceof Error ? e.message : String(e)}`;
  if (e instanceof DeadlineError) return new KafkaUnavailableError(message, e);
  if (!(e instanceof Error)) return new KafkaSpoolError(message, e);
  if (findErrorBy(e, 'code', 'PLT_KFK_AUTHENTICATION') !== null) return new KafkaSpoolError(message, e);
  if (findErrorBy(e, 'code', 'PLT_KFK_NETWORK') !== null) return new KafkaUnavailableError(message, e);
  if (findErrorBy(e, 'code', 'PLT_KFK_PROTOCOL') !== null && findErrorBy(e, 'canRetry', false) === null) {
    return new KafkaUnavailableError(message, e);
  }
  return new KafkaSpoolError(message, e);
}
