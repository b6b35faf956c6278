import type { MessageToProduce, Producer } from '@platformatic/kafka';
import { PipelineBusyError } from '../../errors.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import type { KafkaSpoolConfig } from './config.ts';
import { KafkaSpoolError, KafkaUnavailableError, kafkaError } from './errors.ts';
import { partitionForKey } from './partitioner.ts';
import { splitByTrace, type TraceMessage } from './split.ts';

/** Bytes of appends waiting for Kafka; beyond this appends are refused (busy) so memory stays flat. */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** Suggested client retry delay when the send queue is full. */
const BUSY_QUEUE_RETRY_MS = 1_000;
/** Room left in a message and in a produce batch for the record and batch headers. */
const RECORD_OVERHEAD = 64;
const BATCH_OVERHEAD = 128;

interface PendingAppend {
  messages: TraceMessage[];
  bytes: number;
  queued: boolean;
  settled: boolean;
  timer: NodeJS.Timeout;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Turns one ExportTraceServiceRequest into the messages to produce, none with a value above
 * `maxValue` bytes (or it throws: the append is refused).
 */
export type MessageEncoder = (payload: Uint8Array, maxValue: number) => TraceMessage[];

export interface KafkaAppenderDeps {
  metrics: Metrics;
  logger: Logger;
  maxQueuedBytes: number;
  /** A produce acknowledged up to `offset` (exclusive) in `partition`. */
  onProduced(partition: number, offset: number): void;
  /** A message of `bytes` was produced (for the spool's average message size). */
  onMessage(bytes: number): void;
  /** The record format. Default: splitByTrace (one TracesData per trace). */
  encode?: MessageEncoder;
}

/**
 * The write side of the Kafka spool. Each ExportTraceServiceRequest becomes messages keyed by hex
 * trace id through the encoder (default: one TracesData per trace; span-record.ts: one SpanRecord
 * per span), each in the partition the Collector's kafkaexporter computes for its key; an append
 * resolves once Kafka acknowledged every message. Appends waiting while a produce is in flight are
 * sent together next (group commit), in produce requests of at most max_message_bytes. The queue is
 * bounded in bytes (busy beyond it) and every append in time (timeout_ms → retryable error).
 */
export class KafkaAppender {
  readonly #producer: Producer;
  readonly #config: KafkaSpoolConfig;
  readonly #deps: KafkaAppenderDeps;
  readonly #encode: MessageEncoder;
  #queue: PendingAppend[] = [];
  #queuedBytes = 0;
  #sending: Promise<void> | null = null;

  constructor(producer: Producer, config: KafkaSpoolConfig, deps: KafkaAppenderDeps) {
    this.#producer = producer;
    this.#config = config;
    this.#deps = deps;
    this.#encode = deps.encode ?? splitByTrace;
  }

  append(payloads: readonly Uint8Array[]): Promise<void> {
    let messages: TraceMessage[];
    try {
      const maxValue = this.#config.max_message_bytes - BATCH_OVERHEAD - RECORD_OVERHEAD;
      const encode = this.#encode;
      messages = payloads.length === 1 ? encode(payloads[0]!, maxValue) : payloads.flatMap((p) => encode(p, maxValue));
    } catch (e) {
      return Promise.reject(e);
    }
    if (messages.length === 0) return Promise.resolve();
    let bytes = 0;
    for (const m of messages) bytes += m.value.length + m.key.length + RECORD_OVERHEAD;
    // An empty queue always takes one request, so a single large request cannot be refused forever.
    if (this.#queuedBytes > 0 && this.#queuedBytes + bytes > this.#deps.maxQueuedBytes) {
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

  /** Resolves once every accepted append is settled (each is bounded by timeout_ms). */
  async drain(): Promise<void> {
    while (this.#sending !== null) await this.#sending;
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
        this.#deps.logger.warn({ err, appends: batch.length }, 'kafka produce failed; appends refused');
        for (const item of batch) settle(item, err);
        continue;
      }
      for (const item of batch) settle(item, null);
    }
  }

  /** Produces every message of `batch`, in requests of at most max_message_bytes, one at a time (idempotence wants order). */
  async #produce(batch: readonly PendingAppend[]): Promise<void> {
    const producer = this.#producer;
    const topic = this.#config.topic;
    const metadata = await producer.metadata({ topics: [topic] });
    const partitions = metadata.topics.get(topic)?.partitionsCount;
    if (partitions === undefined || partitions < 1) throw new KafkaSpoolError(`kafka topic ${topic} has no partitions`);
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
        if (o.topic === topic) this.#deps.onProduced(o.partition, Number(o.offset) + (counts.get(o.partition) ?? 0));
      }
      this.#deps.metrics.spoolKafkaProducedMessages.inc(messages.length);
    };
    for (const item of batch) {
      if (item.settled) continue; // timed out while waiting: the client was already told to retry
      for (const m of item.messages) {
        const cost = m.value.length + m.key.length + RECORD_OVERHEAD;
        if (chunk.length > 0 && chunkBytes + cost > budget) await send();
        chunk.push({
          topic,
          key: m.key === '' ? undefined : Buffer.from(m.key, 'latin1'),
          value: m.value,
          partition: partitionForKey(m.key, partitions),
        });
        chunkBytes += cost;
        this.#deps.onMessage(m.value.length);
      }
    }
    if (chunk.length > 0) await send();
  }
}

function settle(item: PendingAppend, err: unknown): void {
  if (item.settled) return;
  item.settled = true;
  clearTimeout(item.timer);
  if (err === null) item.resolve();
  else item.reject(err);
}
