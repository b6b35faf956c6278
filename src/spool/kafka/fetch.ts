import { FetchIsolationLevels, IS_CONTROL, ListOffsetTimestamps, findErrorBy, type Consumer } from '@platformatic/kafka';
import type { Logger } from '../../telemetry/logger.ts';
import { KafkaPositionError, KafkaSpoolError } from './errors.ts';

/** The read side of the Kafka spool: explicit fetches from given offsets, outside the group's own fetch loop. */

export const EMPTY = Buffer.alloc(0);

export interface FetchedRecord {
  offset: number;
  key: Uint8Array | null;
  payload: Uint8Array;
  /** Record timestamp, milliseconds since epoch. */
  timestamp: bigint;
}

/** Per partition: what one read fetched, and where reading it may continue when all of it is taken. */
export interface FetchedPartition {
  records: FetchedRecord[];
  /** Offset just past the last batch returned (control and aborted batches included). */
  end: number;
}

export interface FetchDeps {
  logger: Logger;
  /** The broker reported `offset` as the partition's high watermark. */
  onHighWatermark(partition: number, offset: number): void;
}

/**
 * Fetches from every partition in `starts` (grouped by leader), following offsets that retention
 * already deleted up to the earliest retained one. Returns partitions in request order.
 */
export async function fetchPartitions(
  consumer: Consumer,
  topicName: string,
  starts: Map<number, number>,
  maxBytes: number,
  deps: FetchDeps,
): Promise<Map<number, FetchedPartition>> {
  for (let attempt = 0; ; attempt++) {
    const metadata = await consumer.metadata({ topics: [topicName] });
    const topic = metadata.topics.get(topicName);
    if (topic === undefined) throw new KafkaSpoolError(`kafka topic ${topicName} is gone`);
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
          collect(response.responses, topic.id, starts, result, deps);
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
    await clampOutOfRange(consumer, topicName, outOfRange, starts, deps);
  }
}

function collect(
  responses: readonly FetchTopicLike[],
  topicId: string,
  starts: Map<number, number>,
  into: Map<number, FetchedPartition>,
  deps: FetchDeps,
): void {
  for (const t of responses) {
    if (t.topicId !== topicId) continue;
    for (const part of t.partitions) {
      const p = part.partitionIndex;
      const start = starts.get(p);
      if (start === undefined) continue; // lingering in the fetch session, not asked for
      if (part.highWatermark >= 0n) deps.onHighWatermark(p, Number(part.highWatermark));
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
          records.push({ offset, key: r.key, payload: r.value ?? EMPTY, timestamp: batch.firstTimestamp + r.timestampDelta });
        }
      }
      into.set(p, { records, end });
    }
  }
}

/** Moves starts that retention deleted to the earliest retained offset; a start past the end is an error. */
async function clampOutOfRange(consumer: Consumer, topic: string, partitions: readonly number[], starts: Map<number, number>, deps: FetchDeps): Promise<void> {
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
      deps.logger.error(
        { partition: p, position: start, earliest: first, lost: first - start },
        'kafka retention deleted messages before they reached the table; continuing at the earliest retained offset',
      );
      starts.set(p, first);
    }
  }
}

/** The parts of the client's fetch response the spool reads. */
interface FetchBatchLike {
  firstOffset: bigint;
  firstTimestamp: bigint;
  lastOffsetDelta: number;
  attributes: number;
  records: { offsetDelta: number; timestampDelta: bigint; key: Buffer | null; value: Buffer | null }[];
}

interface FetchTopicLike {
  topicId: string;
  partitions: { partitionIndex: number; errorCode: number; highWatermark: bigint; records?: FetchBatchLike[] | null }[];
}

interface FetchResponseLike {
  responses?: FetchTopicLike[];
}

