/**
 * Splits a span batch into the table's partitions (day(timestamp), bucket[16](trace_id)) and orders
 * each partition's rows by trace_id then start time, so every data file is sorted the way the
 * table's sort order (id 1) says and trace_id row-group statistics stay tight.
 */
import { TRACE_ID_BUCKETS } from '../span-schema.ts';
import type { WriteSpanColumns } from '../span-schema.ts';
import type { PartitionValues } from '../table.ts';
import { bucketString, dayFromMicros, MICROS_PER_DAY } from '../transforms.ts';
import { compareLongs, longWords } from '../long-words.ts';

export interface PartitionSlice {
  partition: PartitionValues;
  /** Indices into the batch, sorted by trace_id then start_time_unix_nano. */
  rows: Int32Array;
}

/** The day of row i's microseconds, from its words while the value is within ±2^53 (as {@link dayFromMicros} does). */
function dayOfWords(w: Int32Array, i: number, column: ArrayLike<bigint>): number {
  const hi = w[2 * i + 1]!;
  if (hi >= 0x200000 || hi < -0x200000) return dayFromMicros(column[i]!);
  return Math.floor((hi * 0x1_0000_0000 + (w[2 * i]! >>> 0)) / MICROS_PER_DAY);
}

export function partitionBatch(batch: WriteSpanColumns): PartitionSlice[] {
  const n = batch.length;
  if (n === 0) return [];
  const traceIds = batch.trace_id;
  const timestamps = batch.timestamp;
  const starts = batch.start_time_unix_nano;

  // Rank distinct trace ids once (a trace has many spans), so the row sort compares integers,
  // and hash each distinct id only once.
  const rankOf = new Map<string, number>();
  const distinct: string[] = [];
  const traceSlot = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = traceIds[i]!;
    let slot = rankOf.get(t);
    if (slot === undefined) {
      slot = distinct.length;
      distinct.push(t);
      rankOf.set(t, slot);
    }
    traceSlot[i] = slot;
  }
  const order = new Int32Array(distinct.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  // Plain `<` on lowercase hex is byte order, which is what Iceberg/Parquet stats compare.
  order.sort((a, b) => (distinct[a]! < distinct[b]! ? -1 : distinct[a]! > distinct[b]! ? 1 : 0));
  const rankBySlot = new Int32Array(distinct.length);
  const bucketBySlot = new Int32Array(distinct.length);
  for (let r = 0; r < order.length; r++) rankBySlot[order[r]!] = r;
  for (let s = 0; s < distinct.length; s++) bucketBySlot[s] = bucketString(distinct[s]!, TRACE_ID_BUCKETS);

  // Partition key per row: day * buckets + bucket, grouped through a small map of keys.
  const keyIndex = new Map<number, number>();
  const keys: { day: number; bucket: number; count: number }[] = [];
  const rowKey = new Int32Array(n);
  const rank = new Int32Array(n);
  const tsWords = longWords(timestamps);
  for (let i = 0; i < n; i++) {
    const day = dayOfWords(tsWords, i, timestamps);
    const slot = traceSlot[i]!;
    const bucket = bucketBySlot[slot]!;
    rank[i] = rankBySlot[slot]!;
    const key = day * TRACE_ID_BUCKETS + bucket;
    let k = keyIndex.get(key);
    if (k === undefined) {
      k = keys.length;
      keys.push({ day, bucket, count: 0 });
      keyIndex.set(key, k);
    }
    keys[k]!.count++;
    rowKey[i] = k;
  }

  const slices: PartitionSlice[] = keys.map((k) => ({
    partition: { timestamp_day: k.day, trace_id_bucket: k.bucket },
    rows: new Int32Array(k.count),
  }));
  const fill = new Int32Array(keys.length);
  for (let i = 0; i < n; i++) {
    const k = rowKey[i]!;
    slices[k]!.rows[fill[k]!++] = i;
  }
  const startWords = longWords(starts);
  for (const slice of slices) {
    slice.rows.sort((a, b) => {
      const d = rank[a]! - rank[b]!;
      if (d !== 0) return d;
      return compareLongs(startWords, a, b) || a - b;
    });
  }
  // Stable output order (by day, then bucket) so callers and tests see deterministic file order.
  slices.sort((x, y) => x.partition.timestamp_day - y.partition.timestamp_day || x.partition.trace_id_bucket - y.partition.trace_id_bucket);
  return slices;
}
