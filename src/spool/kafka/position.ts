import type { SpoolPosition } from '../spool.ts';
import { SpoolPositionConflictError } from '../spool.ts';
import { KafkaPositionError } from './errors.ts';

/**
 * Kafka spool positions: for one topic, partition → the next offset to read (everything before it is
 * covered). Encoded as JSON, partitions in ascending order, so one string in an Iceberg snapshot
 * summary holds the whole topic and equal positions are equal strings:
 *
 *   {"topic":"otel-traces-raw","offsets":{"0":1042,"1":987,"5":12}}
 *
 * A partition that is absent has not been read by anyone yet (start: the group's committed offset,
 * else the earliest retained). Several replicas commit to one table, each advancing the partitions
 * it read (`commitRange`).
 */
export interface KafkaPosition {
  topic: string;
  offsets: ReadonlyMap<number, number>;
}

const PARTITION_RE = /^(0|[1-9]\d{0,9})$/;
const MAX_PARTITION = 0x7fffffff;

export function formatPosition(p: KafkaPosition): SpoolPosition {
  const partitions = [...p.offsets.keys()].sort((a, b) => a - b);
  let out = `{"topic":${JSON.stringify(p.topic)},"offsets":{`;
  for (let i = 0; i < partitions.length; i++) {
    const partition = partitions[i]!;
    out += `${i === 0 ? '' : ','}"${partition}":${p.offsets.get(partition)!}`;
  }
  return out + '}}';
}

/** Parses a position; with `topic`, a position of another topic is refused. */
export function parsePosition(s: SpoolPosition, topic?: string): KafkaPosition {
  let raw: unknown;
  try {
    raw = JSON.parse(s);
  } catch {
    throw new KafkaPositionError(`not a Kafka spool position: ${JSON.stringify(s.slice(0, 200))}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new KafkaPositionError(`not a Kafka spool position: ${JSON.stringify(s.slice(0, 200))}`);
  }
  const { topic: t, offsets: o } = raw as { topic?: unknown; offsets?: unknown };
  if (typeof t !== 'string' || t === '' || o === null || typeof o !== 'object' || Array.isArray(o)) {
    throw new KafkaPositionError(`Kafka spool position needs "topic" and "offsets": ${JSON.stringify(s.slice(0, 200))}`);
  }
  if (topic !== undefined && t !== topic) {
    throw new KafkaPositionError(
      `position belongs to Kafka topic ${JSON.stringify(t)} but the spool reads ${JSON.stringify(topic)}; ` +
        'the table was filled from another topic',
    );
  }
  const offsets = new Map<number, number>();
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    const partition = PARTITION_RE.test(k) ? Number(k) : NaN;
    if (!(partition <= MAX_PARTITION)) throw new KafkaPositionError(`bad partition ${JSON.stringify(k)} in Kafka spool position`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new KafkaPositionError(`bad offset ${JSON.stringify(v)} for partition ${k} in Kafka spool position`);
    }
    offsets.set(partition, v);
  }
  return { topic: t, offsets };
}

/**
 * The position a table commit records for a batch read from `start` up to `end`, on top of the
 * table's current position `base` (null: none yet). Only the partitions the batch moved are taken
 * from `end`; every other partition keeps the table's offset. Fencing between replicas: a moved
 * partition whose table offset is already past where the read started (or known at all when the read
 * started from the group's offset) was committed by another replica, so committing would duplicate
 * rows: SpoolPositionConflictError. A replica that lost a partition in a rebalance and commits late,
 * and a new owner that started from an older table position, are both refused this way.
 */
export function commitRange(base: KafkaPosition | null, start: KafkaPosition | null, end: KafkaPosition): KafkaPosition {
  const offsets = new Map(base?.offsets ?? []);
  for (const [p, o] of end.offsets) {
    const s = start?.offsets.get(p);
    if (s === o) continue;
    const b = base?.offsets.get(p);
    if (b !== undefined && (s === undefined || b > s)) {
      throw new SpoolPositionConflictError(
        `partition ${p} of ${end.topic} was read from offset ${s ?? 'of the group'} but the table is already at ${b}: another replica committed it`,
      );
    }
    offsets.set(p, o);
  }
  return { topic: end.topic, offsets };
}
