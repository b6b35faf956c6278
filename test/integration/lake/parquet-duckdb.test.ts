import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { partitionBatch } from '../../../src/lake/parquet/partition.ts';
import { writeDataFile } from '../../../src/lake/parquet/write.ts';
import { KAFKA_METADATA_FIELDS, SPAN_COLUMNS } from '../../../src/lake/span-schema.ts';
import { syntheticBatch } from '../../unit/lake/parquet/fixtures.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');

function python(): string {
  return execFileSync('bash', [join(root, 'scripts/ensure-python.sh')], { encoding: 'utf8' }).trim();
}

test('DuckDB, pyarrow and pyiceberg read our data files as Iceberg expects', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-parquet-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Spans cross midnight UTC, so files land in two days' partitions.
  const batch = syntheticBatch({ spans: 5000, spansPerTrace: 5, startMicros: 20371n * 86_400_000_000n - 2_000_000n });
  const dur = batch.duration as BigInt64Array;
  dur[0] = 2n ** 62n + 3n; // above 2^53: must survive exactly
  const slices = partitionBatch(batch);
  const paths: string[] = [];
  const expectedPartitions: string[] = [];
  for (const [i, s] of slices.entries()) {
    const { bytes } = writeDataFile(batch, s.rows, { rowGroupSize: 64 });
    const p = join(dir, `part-${i}.parquet`);
    writeFileSync(p, bytes);
    paths.push(p);
    expectedPartitions.push(`${s.partition.timestamp_day}/${s.partition.trace_id_bucket}`);
  }
  const out = JSON.parse(execFileSync(python(), [join(here, 'parquet-readers.py'), ...paths], { encoding: 'utf8', maxBuffer: 64 << 20 })) as {
    count: number; sum_duration: string; nulls_parent: number; rows: unknown[][]; schema: [string, string, number, string, string][];
    compression: string[]; row_groups: number; trace_stats: [string, string][]; arrow_field_ids: Record<string, number>;
    arrow_nullable: Record<string, boolean>; arrow_types: Record<string, string>; iceberg_partitions: string[][];
  };

  assert.equal(out.count, 5000);
  let sum = 0n;
  for (let i = 0; i < batch.length; i++) sum += dur[i]!;
  assert.equal(out.sum_duration, sum.toString());
  let roots = 0;
  for (let i = 0; i < batch.length; i++) if (batch.parent_span_id[i] === null) roots++;
  assert.equal(out.nulls_parent, roots);

  // The five smallest span ids, value by value.
  const order = Array.from({ length: batch.length }, (_, i) => i).sort((a, b) => (batch.span_id[a]! < batch.span_id[b]! ? -1 : 1));
  for (const [k, row] of out.rows.entries()) {
    const i = order[k]!;
    const meta = batch._kafka_metadata[i]!;
    assert.deepEqual(row, [
      batch.trace_id[i], batch.span_id[i], batch.parent_span_id[i], batch.status_code[i], String(batch.duration[i]),
      Number(batch.timestamp[i]), batch.service_name[i], batch.span_kind[i], String(batch.start_time_unix_nano[i]),
      batch.attributes[i], String(batch.flags[i]),
      meta?.partition ?? null, meta === null ? null : String(meta.offset), meta === null ? null : String(meta.timestamp),
    ]);
  }

  // Depth first, as Parquet lists them: the _kafka_metadata group, then its fields.
  const elements = out.schema.slice(1);
  const expected = SPAN_COLUMNS.flatMap((c): { id: number; name: string; required: boolean }[] => (c.type === 'kafka_metadata' ? [c, ...KAFKA_METADATA_FIELDS] : [c]));
  assert.deepEqual(elements.map((l) => [l[0], l[2], l[3]]), expected.map((c) => [c.name, c.id, c.required ? 'REQUIRED' : 'OPTIONAL']));
  assert.deepEqual(out.compression, ['ZSTD']);
  assert.ok(out.row_groups > 1);
  // trace_id row-group ranges are disjoint and ascending: the file is sorted by trace_id.
  const stats = out.trace_stats;
  for (let i = 1; i < stats.length; i++) assert.ok(stats[i - 1]![1] <= stats[i]![0]);

  for (const c of SPAN_COLUMNS) {
    assert.equal(out.arrow_field_ids[c.name], c.id, c.name);
    assert.equal(out.arrow_nullable[c.name], !c.required, c.name);
  }
  assert.equal(out.arrow_types.timestamp, 'timestamp[us, tz=UTC]');
  assert.equal(out.arrow_types.trace_id, 'string');
  assert.equal(out.arrow_types.status_code, 'int32');
  assert.equal(out.arrow_types.duration, 'int64');
  assert.equal(out.arrow_types._kafka_metadata, 'struct<partition: int32 not null, offset: int64 not null, timestamp: int64 not null>');

  // pyiceberg's own day/bucket[16] transforms put every row of each file in that file's partition.
  assert.deepEqual(out.iceberg_partitions, expectedPartitions.map((p) => [p]));
  assert.equal(new Set(expectedPartitions.map((p) => p.split('/')[0])).size, 2);
});
