import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSpanTable } from '../../../src/lake/factory.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { spanBatch } from '../../unit/lake/iceberg/span-batch-fixture.ts';
import { spanRowsOf, type SpanRow } from '../../support/span-rows.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '../../..');

test('pyiceberg and DuckDB read what the span table wrote', async () => {
  const python = execFileSync('bash', [join(repo, 'scripts/ensure-python.sh')], { encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'readers-'));
  const config = configSchema.parse({
    storage: { catalog: { uri: join(dir, 'catalog.db'), warehouse: join(dir, 'warehouse') }, row_group_size: 64 },
  }).storage;
  const { table, close } = await createSpanTable(config, { logger: silentLogger() });
  // 3 commits × 60 traces × 5 spans over two days; 180 traces cover all 16 buckets.
  const batches = [1, 2, 3].map((seed) => spanBatch({ traces: 60, spansPerTrace: 5, seed, days: 2 }));
  for (const [i, b] of batches.entries()) await table.append(b, { 'tailsampler.commit': String(i + 1) });
  const changes = await table.changesSince(0);
  await close();
  assert.equal(new Set(changes.files.map((f) => f.partition.trace_id_bucket)).size, 16, 'the batch covers every bucket');
  assert.equal(new Set(changes.files.map((f) => f.partition.timestamp_day)).size, 2);

  const expected = spanRowsOf(batches);
  const traceId = batches[1]!.trace_id[7 * 5]!;
  const expectedTrace = expected.filter((r) => r.trace_id === traceId);
  assert.equal(expectedTrace.length, 5);

  const out = execFileSync(
    python,
    [join(here, 'independent-readers.py'), join(dir, 'catalog.db'), `file://${join(dir, 'warehouse')}`, 'observability', 'otel_spans', traceId],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  const r = JSON.parse(out) as {
    pyiceberg: {
      count: number; span_size_sum: number; distinct_traces: number; sample: SpanRow[]; all_span_ids: string[];
      trace_rows: SpanRow[]; trace_planned_files: number; total_files: number; partitions: string[];
    };
    duckdb: { count: number; span_size_sum: number; distinct_traces: number; trace_span_ids: string[] };
    snapshots: { count: number; current_sequence_number: number; summary_keys: string[]; operation: string; parents: (number | null)[]; summary: Record<string, string> };
    format_version: number;
    sort_order_id: number;
  };
  const spanSizeSum = expected.reduce((n, x) => n + x.span_size, 0);

  // (a) full scan through the catalog, manifests and Parquet
  assert.equal(r.format_version, 2);
  assert.equal(r.sort_order_id, 1);
  assert.equal(r.pyiceberg.count, 900);
  assert.equal(r.pyiceberg.span_size_sum, spanSizeSum);
  assert.equal(r.pyiceberg.distinct_traces, 180);
  assert.deepEqual(r.pyiceberg.sample, expected.slice(0, 3));
  assert.deepEqual(r.pyiceberg.all_span_ids, expected.map((x) => x.span_id).sort());
  assert.equal(r.pyiceberg.total_files, changes.files.length);
  assert.equal(r.pyiceberg.partitions.length, new Set(changes.files.map((f) => `${f.partition.timestamp_day}/${f.partition.trace_id_bucket}`)).size);

  // (b) pyiceberg prunes by partition (bucket) and bounds: only that trace's files are planned
  assert.deepEqual(r.pyiceberg.trace_rows, expectedTrace);
  assert.ok(r.pyiceberg.trace_planned_files >= 1 && r.pyiceberg.trace_planned_files <= 3, `planned ${r.pyiceberg.trace_planned_files} of ${r.pyiceberg.total_files}`);

  // (c) DuckDB over the same data files
  assert.equal(r.duckdb.count, 900);
  assert.equal(r.duckdb.span_size_sum, spanSizeSum);
  assert.equal(r.duckdb.distinct_traces, 180);
  assert.deepEqual(r.duckdb.trace_span_ids, expectedTrace.map((x) => x.span_id));

  // (d) snapshots and summaries
  assert.equal(r.snapshots.count, 3);
  assert.equal(r.snapshots.current_sequence_number, 3);
  assert.equal(r.snapshots.operation, 'append');
  assert.equal(r.snapshots.summary['total-records'], '900');
  assert.equal(r.snapshots.summary['total-data-files'], String(changes.files.length));
  assert.equal(r.snapshots.summary['tailsampler.commit'], '3');
  assert.equal(r.snapshots.parents.filter((p) => p === null).length, 1);
  for (const k of ['added-data-files', 'added-records', 'total-records', 'total-data-files', 'tailsampler.commit']) {
    assert.ok(r.snapshots.summary_keys.includes(k), `${k} in ${r.snapshots.summary_keys.join(',')}`);
  }
});
