import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../../../src/config/schema.ts';
import { createSpanTable } from '../../../src/lake/factory.ts';
import { LocalFileIO } from '../../../src/lake/file-io.ts';
import { createFileIO } from '../../../src/lake/file-io-factory.ts';
import { readManifestList } from '../../../src/lake/iceberg/manifest-list.ts';
import { currentSnapshot } from '../../../src/lake/iceberg/metadata.ts';
import { SqlCatalog } from '../../../src/lake/iceberg/sql-catalog.ts';
import type { SpanColumns } from '../../../src/lake/span-schema.ts';
import type { SnapshotRef } from '../../../src/lake/table.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { garageS3Config, infraEnv } from '../../support/infra.ts';
import { spanBatch } from '../../unit/lake/iceberg/span-batch-fixture.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '../../..');
const DAY_MS = 86_400_000;

/** `storage.s3` for the harness's Garage (used when the REST catalog's warehouse is on S3). */
const DAY_MICROS = 86_400_000_000n;

interface ReaderOutput {
  pyiceberg: { count: number; distinct_traces: number; all_span_ids: string[]; trace_rows: { trace_id: string; span_id: string }[]; total_files: number; partitions: string[] };
  duckdb: { count: number; distinct_traces: number; trace_span_ids: string[] };
  snapshots: { count: number; operation: string; summary: Record<string, string> };
}

/** Rows of `batches` on days `keep` accepts: span ids (sorted) and distinct traces. */
function expectedRows(batches: readonly SpanColumns[], keep: (day: number) => boolean) {
  const spanIds: string[] = [];
  const traces = new Set<string>();
  for (const b of batches) {
    for (let i = 0; i < b.length; i++) {
      if (!keep(Number(b.timestamp[i]! / DAY_MICROS))) continue;
      spanIds.push(b.span_id[i]!);
      traces.add(b.trace_id[i]!);
    }
  }
  return { spanIds: spanIds.sort(), traces };
}

/**
 * pyiceberg and DuckDB read a table whose manifests were merged and whose oldest days were dropped
 * by retention: they see exactly the rows of the kept days, once each, both right after the delete
 * snapshot and after the snapshots still holding the dropped files expired (and the files went).
 */
test('pyiceberg and DuckDB read a merged, retention-pruned table: exactly the kept days', async () => {
  const python = execFileSync('bash', [join(repo, 'scripts/ensure-python.sh')], { encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'upkeep-readers-'));
  const config = configSchema.parse({
    storage: {
      catalog: { uri: join(dir, 'catalog.db'), warehouse: join(dir, 'warehouse') },
      row_group_size: 64,
      max_snapshots: 6,
      retention_days: 3,
      manifest_merge: { min_count_to_merge: 3, target_size_kib: 1024 },
    },
  }).storage;
  const { table, close } = await createSpanTable(config, { logger: silentLogger() });
  const base = 20_000;
  const batches: SpanColumns[] = [];
  const refs: SnapshotRef[] = [];
  const append = async (b: SpanColumns) => {
    batches.push(b);
    refs.push(await table.append(b, {}));
  };
  for (let seed = 1; seed <= 8; seed++) await append(spanBatch({ traces: 40, spansPerTrace: 3, seed, days: 8, baseDay: base }));
  const dropped = (await table.changesSince(0)).files.filter((f) => f.partition.timestamp_day < base + 4).map((f) => fileURLToPath(f.path));
  const deleteRef = (await table.expireDays((base + 7) * DAY_MS + DAY_MS / 2, {}))!; // keeps base+4 … base+7
  const kept = (day: number) => day >= base + 4;

  const read = (traceId: string): ReaderOutput =>
    JSON.parse(
      execFileSync(
        python,
        [join(here, 'independent-readers.py'), join(dir, 'catalog.db'), `file://${join(dir, 'warehouse')}`, 'observability', 'otel_spans', traceId],
        { encoding: 'utf8', maxBuffer: 64 << 20 },
      ),
    ) as ReaderOutput;
  const check = async (r: ReaderOutput, traceId: string, when: string) => {
    const expected = expectedRows(batches, kept);
    const changes = await table.changesSince(0);
    assert.equal(r.pyiceberg.count, expected.spanIds.length, `${when}: pyiceberg rows`);
    assert.deepEqual(r.pyiceberg.all_span_ids, expected.spanIds, `${when}: pyiceberg span ids`);
    assert.equal(r.pyiceberg.distinct_traces, expected.traces.size);
    assert.equal(r.pyiceberg.total_files, changes.files.length);
    assert.ok(r.pyiceberg.partitions.every((p) => kept(Number(p.split('/')[0]))), `${when}: ${r.pyiceberg.partitions.join(' ')}`);
    assert.deepEqual(r.pyiceberg.trace_rows.map((x) => x.trace_id), Array(3).fill(traceId));
    assert.equal(r.duckdb.count, expected.spanIds.length, `${when}: duckdb over the planned files`);
    assert.equal(r.duckdb.distinct_traces, expected.traces.size);
  };
  // A trace of a kept day (trace t is on day base + t % 8).
  const traceId = batches[7]!.trace_id[6 * 3]!;

  const afterDelete = read(traceId);
  await check(afterDelete, traceId, 'after the delete');
  assert.equal(afterDelete.snapshots.operation, 'delete');
  assert.equal(afterDelete.snapshots.summary['deleted-data-files'], String(dropped.length));
  assert.ok(dropped.every((p) => existsSync(p)), 'snapshots before the delete still reference the dropped files');

  for (let seed = 9; seed <= 14; seed++) await append(spanBatch({ traces: 40, spansPerTrace: 3, seed, days: 4, baseDay: base + 4 }));
  assert.ok(refs.some((r) => Number(r.summary['manifests-replaced']) > 0), 'some commit merged manifests');
  assert.ok(!dropped.some((p) => existsSync(p)), 'the dropped files are gone once no kept snapshot references them');
  // What pyiceberg is about to read: merged manifests (EXISTING entries only) among the current ones.
  const catalog = new SqlCatalog({ path: join(dir, 'catalog.db'), name: 'default', io: new LocalFileIO(), logger: silentLogger() });
  const current = currentSnapshot((await catalog.loadTable({ namespace: 'observability', name: 'otel_spans' }))!.metadata)!;
  const manifests = readManifestList(readFileSync(fileURLToPath(current['manifest-list'])), 'current list');
  await catalog.close();
  assert.ok(manifests.some((m) => m.addedFilesCount === 0 && m.existingFilesCount > 0), 'the current snapshot lists a merged manifest');
  const later = read(traceId);
  await check(later, traceId, 'after expiry');
  assert.equal(later.snapshots.count, 6);
  assert.equal(later.snapshots.operation, 'append');
  assert.equal(later.snapshots.summary['total-records'], String(expectedRows(batches, kept).spanIds.length));
  assert.ok(deleteRef.sequenceNumber < refs.at(-1)!.sequenceNumber);
  await close();
});

/**
 * The same upkeep through Apache Iceberg's REST catalog, with the files where its warehouse is (Garage
 * S3 under the harness): the server takes the delete and merged snapshots and the snapshot removals,
 * the dropped files leave the store once no kept snapshot references them, and pyiceberg's REST
 * catalog reads exactly the kept days.
 */
test('through the REST catalog: merged, pruned, expired, and pyiceberg reads the kept days', async () => {
  const python = execFileSync('bash', [join(repo, 'scripts/ensure-python.sh')], { encoding: 'utf8' }).trim();
  const rest = infraEnv('iceberg-rest');
  const uri = rest.TAILSAMPLER_ICEBERG_REST_URI!;
  const warehouse = rest.TAILSAMPLER_ICEBERG_REST_WAREHOUSE!;
  const namespace = `it_${randomBytes(4).toString('hex')}.spans`;
  const config = configSchema.parse({
    storage: {
      catalog: { type: 'rest', uri, warehouse },
      table: { namespace, name: 'otel_spans' },
      s3: garageS3Config(),
      row_group_size: 64,
      max_snapshots: 4,
      retention_days: 2,
      manifest_merge: { min_count_to_merge: 3, target_size_kib: 1024 },
    },
  }).storage;
  const { table, close } = await createSpanTable(config, { logger: silentLogger() });
  const io = createFileIO({ s3: config.s3 });
  const base = 20_000;
  const batches: SpanColumns[] = [];
  const refs: SnapshotRef[] = [];
  for (let seed = 1; seed <= 6; seed++) {
    batches.push(spanBatch({ traces: 24, spansPerTrace: 2, seed, days: 6, baseDay: base }));
    refs.push(await table.append(batches.at(-1)!, {}));
  }
  const kept = (day: number) => day >= base + 3;
  const dropped = (await table.changesSince(0)).files.filter((f) => !kept(f.partition.timestamp_day)).map((f) => f.path);
  const deleteRef = (await table.expireDays((base + 5) * DAY_MS + DAY_MS / 2, {}))!; // keeps base+3 … base+5
  assert.equal(deleteRef.summary.operation, 'delete');
  assert.equal(deleteRef.summary['deleted-data-files'], String(dropped.length));
  for (let seed = 7; seed <= 11; seed++) {
    batches.push(spanBatch({ traces: 24, spansPerTrace: 2, seed, days: 3, baseDay: base + 3 }));
    refs.push(await table.append(batches.at(-1)!, {}));
  }
  assert.ok(refs.some((r) => Number(r.summary['manifests-replaced']) > 0), 'some commit merged manifests');
  for (const p of dropped) await assert.rejects(io.size(p), p);
  const expected = expectedRows(batches, kept);
  const traceId = batches[10]!.trace_id[4 * 2]!;
  const r = JSON.parse(
    execFileSync(python, [join(here, 'rest-catalog-reader.py'), uri, warehouse, namespace, 'otel_spans', traceId], {
      env: { ...process.env, ...infraEnv('garage') },
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    }),
  ) as { count: number; distinct_traces: number; span_ids: string[]; trace_span_ids: string[]; total_files: number; snapshots: number; total_records: string };
  assert.equal(r.count, expected.spanIds.length);
  assert.deepEqual(r.span_ids, expected.spanIds);
  assert.equal(r.distinct_traces, expected.traces.size);
  assert.equal(r.trace_span_ids.length, 2);
  assert.equal(r.total_files, (await table.changesSince(0)).files.length);
  assert.equal(r.snapshots, 4);
  assert.equal(r.total_records, String(expected.spanIds.length));
  io.close();
  await close();
});
