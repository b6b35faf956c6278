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

test('partitionBatch of an empty batch is empty', () => {
  assert.deepEqual(partitionBatch(syntheticBatch({ spans: 0, spansPerTrace: 1 })), []);
});
