/**
 * Splits a span batch into the table's partitions (day(timestamp), bucket[16](trace_id)) and orders
 * each partition's rows by trace_id then start time, so every data file is sorted the way the
 * table's sort order (id 1) says and trace_id row-group statistics stay tight.
 */
import { TRACE_ID_BUCKETS } from '../span-schema.ts';
import type { WriteSpanColumns } from '../span-schema.ts';
import type { PartitionValues } from '../table.ts';
import { bucketHexOfBytes, bucketString, dayFromMicros, MICROS_PER_DAY } from '../transforms.ts';
import { compareLongs, longWords, microsOfNanoWords } from '../long-words.ts';

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

/**
 * The partition a span goes to, day * TRACE_ID_BUCKETS + bucket, from its trace id's bytes on the
 * wire (buf[idStart, idStop), idStart -1 when it has none: an empty id) and its start time in
 * nanoseconds as uint32 halves: what {@link partitionBatch} computes from the decoded row (trace_id as
 * lowercase hex, timestamp in microseconds), so spans can be grouped by partition before they are
 * decoded.
 */
export function spanPartitionKey(buf: Uint8Array, idStart: number, idStop: number, startHi: number, startLo: number): number {
  const bucket = idStart < 0 ? bucketString('', TRACE_ID_BUCKETS) : bucketHexOfBytes(buf, idStart, idStop, TRACE_ID_BUCKETS);
  // The decoder's timestamp; times after ~2200 or negative ones only group less well (the writer checks each row).
  return Math.floor(microsOfNanoWords(startHi, startLo) / MICROS_PER_DAY) * TRACE_ID_BUCKETS + bucket;
}

/** A trace's rows up to this many are ordered by insertion (a trace's spans mostly arrive in order). */
const INSERTION_SORT_MAX = 32;

/** Orders rows[a, b) by start time, ties by row (the order they are in), in place. */
function insertionSort(rows: Int32Array, a: number, b: number, startWords: Int32Array): void {
  for (let i = a + 1; i < b; i++) {
    const row = rows[i]!;
    let j = i - 1;
    while (j >= a && compareLongs(startWords, rows[j]!, row) > 0) {
      rows[j + 1] = rows[j]!;
      j--;
    }
    rows[j + 1] = row;
  }
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
  // Rows by trace rank in one counting pass (ranks are dense; row order kept within a rank), dealt
  // to their slices in that order: each slice is then ordered by trace, and only a trace's own
  // rows are left to order by start time. A comparison sort of every slice's rows cost ~2/3 of
  // this function.
  const firstOfRank = new Int32Array(distinct.length + 1);
  for (let i = 0; i < n; i++) firstOfRank[rank[i]! + 1]!++;
  for (let r = 0; r < distinct.length; r++) firstOfRank[r + 1]! += firstOfRank[r]!;
  const byRank = new Int32Array(n);
  for (let i = 0; i < n; i++) byRank[firstOfRank[rank[i]!]!++] = i;
  const fill = new Int32Array(keys.length);
  for (let r = 0; r < n; r++) {
    const i = byRank[r]!;
    const k = rowKey[i]!;
    slices[k]!.rows[fill[k]!++] = i;
  }
  const startWords = longWords(starts);
  const byStart = (a: number, b: number): number => compareLongs(startWords, a, b) || a - b;
  for (const { rows } of slices) {
    for (let a = 0; a < rows.length; ) {
      let b = a + 1;
      while (b < rows.length && rank[rows[b]!] === rank[rows[a]!]) b++;
      if (b - a > INSERTION_SORT_MAX) rows.subarray(a, b).sort(byStart);
      else insertionSort(rows, a, b, startWords);
      a = b;
    }
  }
  // Stable output order (by day, then bucket) so callers and tests see deterministic file order.
  slices.sort((x, y) => x.partition.timestamp_day - y.partition.timestamp_day || x.partition.trace_id_bucket - y.partition.trace_id_bucket);
  return slices;
}
