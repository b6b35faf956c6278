import type { SpoolPosition } from '../spool.ts';
import { KafkaPositionError } from './errors.ts';

/**
 * Kafka spool positions: for one topic, partition → the next offset to read (everything before it is
 * covered). Encoded as JSON, partitions in ascending order, so one string in an Iceberg snapshot
 * summary holds the whole topic and equal positions are equal strings:
 *
 *   {"topic":"otel-traces-raw","offsets":{"0":1042,"1":987,"5":12}}
 *
 * A partition that is absent has not been read by anyone yet (start: the group's committed offset,
 * else the earliest retained). Offsets only grow, and each partition is advanced by exactly one
 * consumer (its owner in the group), so positions from several replicas merge by taking, per
 * partition, the larger offset (`mergePositions`): commutative, associative and idempotent, so the
 * order in which replicas' commits land does not matter.
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

/** Per partition, the larger offset of the two (see the module comment). Both must be of one topic. */
export function mergePositions(a: KafkaPosition, b: KafkaPosition): KafkaPosition {
  if (a.topic !== b.topic) throw new KafkaPositionError(`cannot merge positions of topics ${a.topic} and ${b.topic}`);
  const offsets = new Map(a.offsets);
  for (const [p, o] of b.offsets) {
    const mine = offsets.get(p);
    if (mine === undefined || o > mine) offsets.set(p, o);
  }
  return { topic: a.topic, offsets };
}

/**
 * What a replica owning `partitions` commits on top of the table's current position `base`: its
 * own partitions advanced to `mine`, every other partition exactly as `base` has it (a replica never
 * moves a partition it does not own, even one it owned before a rebalance).
 */
export function advanceOwned(base: KafkaPosition, mine: KafkaPosition, partitions: Iterable<number>): KafkaPosition {
  if (base.topic !== mine.topic) throw new KafkaPositionError(`cannot merge positions of topics ${base.topic} and ${mine.topic}`);
  const offsets = new Map(base.offsets);
  for (const p of partitions) {
    const o = mine.offsets.get(p);
    const b = offsets.get(p);
    if (o !== undefined && (b === undefined || o > b)) offsets.set(p, o);
  }
  return { topic: base.topic, offsets };
}
