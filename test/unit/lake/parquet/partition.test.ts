import { test } from 'node:test';
import assert from 'node:assert/strict';
import { partitionBatch } from '../../../../src/lake/parquet/partition.ts';
import { bucketString, dayFromMicros } from '../../../../src/lake/transforms.ts';
import { syntheticBatch } from './fixtures.ts';

const DAY = 86_400_000_000n;

test('partitionBatch splits by day(timestamp) and bucket[16](trace_id) and covers every row once', () => {
  const batch = syntheticBatch({ spans: 3000, spansPerTrace: 7, startMicros: 3n * DAY - 1_000_000n });
  // Move some spans before the epoch to exercise the negative day path.
  const ts = batch.timestamp as BigInt64Array;
  for (let i = 0; i < 100; i++) ts[i] = -DAY / 2n - BigInt(i);
  const slices = partitionBatch(batch);
  const seen = new Uint8Array(batch.length);
  const days = new Set<number>();
  for (const s of slices) {
    days.add(s.partition.timestamp_day);
    for (const r of s.rows) {
      seen[r]!++;
      assert.equal(dayFromMicros(ts[r]!), s.partition.timestamp_day);
      assert.equal(bucketString(batch.trace_id[r]!, 16), s.partition.trace_id_bucket);
    }
  }
  assert.ok(seen.every((c) => c === 1), 'each row in exactly one slice');
  assert.deepEqual([...days].sort((a, b) => a - b), [-1, 2, 3]);
  // 16 buckets over ~430 traces: every bucket shows up for the big day.
  assert.equal(slices.filter((s) => s.partition.timestamp_day === 3).length, 16);
  // Deterministic output order: by day, then bucket.
  for (let i = 1; i < slices.length; i++) {
    const a = slices[i - 1]!.partition;
    const b = slices[i]!.partition;
    assert.ok(a.timestamp_day < b.timestamp_day || (a.timestamp_day === b.timestamp_day && a.trace_id_bucket < b.trace_id_bucket));
  }
});

test('rows of each slice are ordered by trace_id, then start_time_unix_nano', () => {
  const batch = syntheticBatch({ spans: 2000, spansPerTrace: 9 });
  // Reverse start times within traces so the sort has to reorder them.
  const st = batch.start_time_unix_nano as BigInt64Array;
  for (let i = 0; i < batch.length; i++) st[i] = 10_000_000n - BigInt(i);
  for (const s of partitionBatch(batch)) {
    for (let i = 1; i < s.rows.length; i++) {
      const a = s.rows[i - 1]!;
      const b = s.rows[i]!;
      const ta = batch.trace_id[a]!;
      const tb = batch.trace_id[b]!;
      assert.ok(ta < tb || (ta === tb && st[a]! <= st[b]!), `row order at ${i}`);
    }
  }
});

test('each slice holds its rows in exactly the order of trace_id, start time, then batch row, however the rows of a trace are spread', () => {
  // Traces of 1 to 100 spans, their rows interleaved across the batch, start times with ties and
  // out of order, some spans a day later.
  const batch = syntheticBatch({ spans: 6000, spansPerTrace: 1 });
  const ids = Array.from({ length: 150 }, (_, t) => batch.trace_id[t]!);
  const st = batch.start_time_unix_nano as BigInt64Array;
  const ts = batch.timestamp as BigInt64Array;
  let seed = 7;
  const next = (m: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % m;
  for (let i = 0; i < batch.length; i++) {
    const t = next(4) === 0 ? next(ids.length) : next(8); // eight traces far over the insertion-sort run
    (batch.trace_id as string[])[i] = ids[t]!;
    st[i] = BigInt(next(50)) - 25n; // ties, negative values
    if (next(10) === 0) ts[i] = ts[i]! + DAY;
  }
  const slices = partitionBatch(batch);
  assert.ok(slices.some((s) => s.rows.length > 200));
  let rows = 0;
  for (const s of slices) {
    const want = Int32Array.from(s.rows).sort((a, b) => {
      const ta = batch.trace_id[a]!;
      const tb = batch.trace_id[b]!;
      return ta < tb ? -1 : ta > tb ? 1 : st[a]! < st[b]! ? -1 : st[a]! > st[b]! ? 1 : a - b;
    });
    assert.deepEqual(s.rows, want, `slice ${s.partition.timestamp_day}/${s.partition.trace_id_bucket}`);
    rows += s.rows.length;
  }
  assert.equal(rows, batch.length);
});

test('partitionBatch of an empty batch is empty', () => {
  assert.deepEqual(partitionBatch(syntheticBatch({ spans: 0, spansPerTrace: 1 })), []);
});
