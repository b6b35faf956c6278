import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalFileIO, toFileUri, type FileIO } from '../../../../src/lake/file-io.ts';
import { openIcebergSpanTable } from '../../../../src/lake/iceberg/iceberg-table.ts';
import { SqlCatalog } from '../../../../src/lake/iceberg/sql-catalog.ts';
import type { SpanTable } from '../../../../src/lake/table.ts';
import { silentLogger } from '../../../../src/telemetry/logger.ts';
import { spanBatch } from './span-batch-fixture.ts';

const id = { namespace: 'observability', name: 'otel_spans' };

/** A FileIO that counts reads per URI, to show which manifests changesSince opens. */
class CountingIO extends LocalFileIO {
  readonly reads = new Map<string, number>();
  override async read(uri: string): Promise<Uint8Array> {
    this.reads.set(uri, (this.reads.get(uri) ?? 0) + 1);
    return super.read(uri);
  }
}

async function setup(options: { maxSnapshots?: number; io?: FileIO } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ice-table-'));
  const io = options.io ?? new LocalFileIO();
  const dbPath = join(dir, 'catalog.db');
  const location = `${toFileUri(join(dir, 'warehouse'))}/observability.db/otel_spans`;
  const catalog = new SqlCatalog({ path: dbPath, name: 'default', io, logger: silentLogger() });
  const open = (c = catalog): Promise<SpanTable> =>
    openIcebergSpanTable({ catalog: c, io, id, location, maxSnapshots: options.maxSnapshots ?? 100, rowGroupSize: 50, logger: silentLogger() });
  return { dir, dbPath, io, location, catalog, open, table: await open() };
}

test('an empty table has no snapshot and no changes', async () => {
  const { table, catalog } = await setup();
  assert.equal(await table.currentSnapshot(), null);
  assert.deepEqual(await table.changesSince(0), { snapshots: [], files: [], lastSequenceNumber: 0 });
  await catalog.close();
});

test('append commits one snapshot with files per partition, sane summary and readable data', async () => {
  const { table, catalog, location } = await setup();
  const batch = spanBatch({ traces: 40, spansPerTrace: 5, seed: 1, days: 2 });
  const ref = await table.append(batch, { 'tailsampler.spool-offset': '42' });
  assert.equal(ref.sequenceNumber, 1);
  assert.equal(ref.parentId, null);
  assert.equal(ref.summary.operation, 'append');
  assert.equal(ref.summary['tailsampler.spool-offset'], '42');
  assert.equal(ref.summary['added-records'], '200');
  assert.equal(ref.summary['total-records'], '200');
  assert.deepEqual(await table.currentSnapshot(), ref);

  const changes = await table.changesSince(0);
  assert.equal(changes.lastSequenceNumber, 1);
  assert.deepEqual(changes.snapshots, [ref]);
  assert.equal(String(changes.files.length), ref.summary['added-data-files']);
  assert.equal(changes.files.reduce((n, f) => n + f.recordCount, 0), 200);
  const partitions = new Set(changes.files.map((f) => `${f.partition.timestamp_day}/${f.partition.trace_id_bucket}`));
  assert.equal(partitions.size, changes.files.length, 'one file per partition');
  assert.deepEqual(new Set(changes.files.map((f) => f.partition.timestamp_day)), new Set([20_000, 20_001]));
  for (const f of changes.files) {
    assert.equal(f.sequenceNumber, 1);
    assert.equal(f.snapshotId, ref.snapshotId);
    const day = f.partition.timestamp_day === 20_000 ? '2024-10-04' : '2024-10-05';
    assert.ok(f.path.startsWith(`${location}/data/timestamp_day=${day}/trace_id_bucket=${f.partition.trace_id_bucket}/`), f.path);
    assert.ok(existsSync(fileURLToPath(f.path)));
    assert.ok(f.traceIdMin !== null && f.traceIdMax !== null && f.traceIdMin <= f.traceIdMax);
  }
  // Read one trace back through the table.
  const file = changes.files[0]!;
  const traceId = file.traceIdMin!;
  const cols = await table.read(file, ['trace_id', 'span_id'], new Set([traceId]));
  assert.equal(cols.length, 5);
  assert.deepEqual([...Array.from(cols.trace_id!)], Array(5).fill(traceId));
  await catalog.close();
});

test('changesSince returns only files committed after the given sequence number, and reuses parsed manifests', async () => {
  const io = new CountingIO();
  const { table, catalog } = await setup({ io });
  const r1 = await table.append(spanBatch({ traces: 10, spansPerTrace: 3, seed: 1 }), {});
  const first = await table.changesSince(0);
  const r2 = await table.append(spanBatch({ traces: 10, spansPerTrace: 3, seed: 2 }), {});
  const r3 = await table.append(spanBatch({ traces: 10, spansPerTrace: 3, seed: 3 }), {});
  const readsBefore = new Map(io.reads);
  const since1 = await table.changesSince(r1.sequenceNumber);
  assert.deepEqual(since1.snapshots.map((s) => s.snapshotId), [r2.snapshotId, r3.snapshotId]);
  assert.equal(since1.lastSequenceNumber, 3);
  assert.ok(since1.files.length > 0);
  assert.ok(since1.files.every((f) => f.sequenceNumber > 1));
  assert.deepEqual(since1.files.map((f) => f.sequenceNumber), [...since1.files.map((f) => f.sequenceNumber)].sort());
  const firstPaths = new Set(first.files.map((f) => f.path));
  assert.ok(since1.files.every((f) => !firstPaths.has(f.path)));
  assert.equal(since1.files.reduce((n, f) => n + f.recordCount, 0), 60);
  // No .avro manifest was read more than once across the calls.
  for (const [uri, n] of io.reads) if (uri.endsWith('-m0.avro')) assert.equal(n, 1, uri);
  // The manifest of snapshot 1 was not re-read for changesSince(1).
  const m1 = [...readsBefore.keys()].filter((u) => u.endsWith('-m0.avro'));
  for (const u of m1) assert.equal(io.reads.get(u), readsBefore.get(u));
  const all = await table.changesSince(0);
  assert.equal(all.files.reduce((n, f) => n + f.recordCount, 0), 90);
  assert.deepEqual(await table.changesSince(3), { snapshots: [], files: [], lastSequenceNumber: 3 });
  await catalog.close();
});

test('snapshot expiry keeps metadata bounded while every data file stays live', async () => {
  const { table, catalog } = await setup({ maxSnapshots: 3 });
  const refs = [];
  for (let i = 1; i <= 7; i++) refs.push(await table.append(spanBatch({ traces: 4, spansPerTrace: 2, seed: i }), {}));
  const loaded = await catalog.loadTable(id);
  const snaps = loaded!.metadata.snapshots!;
  assert.deepEqual(snaps.map((s) => s['sequence-number']), [5, 6, 7]);
  assert.deepEqual(loaded!.metadata['snapshot-log']!.map((e) => e['snapshot-id']), snaps.map((s) => s['snapshot-id']));
  for (const r of refs.slice(0, 4)) {
    assert.ok(!snaps.some((s) => s['snapshot-id'] === r.snapshotId));
  }
  const all = await table.changesSince(0);
  assert.equal(all.files.reduce((n, f) => n + f.recordCount, 0), 7 * 8);
  assert.equal(all.snapshots.length, 3);
  assert.equal((await table.currentSnapshot())!.summary['total-records'], String(7 * 8));
  await catalog.close();
});

test('a writer whose view is stale reloads and retries; both appends survive', async () => {
  const { table, catalog, dbPath, io, open } = await setup();
  const other = new SqlCatalog({ path: dbPath, name: 'default', io, logger: silentLogger() });
  const tableB = await open(other); // loads the same (empty) state as `table`
  const a = await table.append(spanBatch({ traces: 5, spansPerTrace: 2, seed: 1 }), { writer: 'a' });
  const b = await tableB.append(spanBatch({ traces: 5, spansPerTrace: 2, seed: 2 }), { writer: 'b' });
  assert.equal(a.sequenceNumber, 1);
  assert.equal(b.sequenceNumber, 2);
  assert.equal(b.parentId, a.snapshotId);
  assert.equal(b.summary['total-records'], '20');
  const all = await table.changesSince(0);
  assert.equal(all.files.reduce((n, f) => n + f.recordCount, 0), 20);
  assert.deepEqual(all.snapshots.map((s) => s.summary.writer), ['a', 'b']);
  await other.close();
  await catalog.close();
});

test('a summary computed from the parent is asked again on the snapshot a retry lands on, and can refuse the commit', async () => {
  const { table, catalog, dbPath, io, open, dir } = await setup();
  const other = new SqlCatalog({ path: dbPath, name: 'default', io, logger: silentLogger() });
  const tableB = await open(other); // stale: does not see a's commit before its first attempt
  await table.append(spanBatch({ traces: 2, spansPerTrace: 2, seed: 1 }), { n: '1' });
  const parents: (string | null)[] = [];
  const b = await tableB.append(spanBatch({ traces: 2, spansPerTrace: 2, seed: 2 }), (parent) => {
    parents.push(parent?.summary.n ?? null);
    return { n: String(Number(parent?.summary.n ?? 0) + 1) };
  });
  assert.deepEqual(parents, [null, '1'], 'first on the stale view, then on the snapshot the retry commits on');
  assert.equal(b.summary.n, '2');

  const dataFiles = () => readdirSync(join(dir, 'warehouse'), { recursive: true }).filter((f) => String(f).endsWith('.parquet')).length;
  const before = dataFiles();
  await assert.rejects(
    table.append(spanBatch({ traces: 3, spansPerTrace: 2, seed: 3 }), () => {
      throw new Error('fenced');
    }),
    /fenced/,
  );
  assert.equal((await table.currentSnapshot())!.summary.n, '2', 'nothing committed');
  assert.equal(dataFiles(), before, 'the refused commit left no data files behind');
  await other.close();
  await catalog.close();
});

test('opening an existing table reuses it; an empty append still commits its summary', async () => {
  const { table, catalog, open } = await setup();
  await table.append(spanBatch({ traces: 3, spansPerTrace: 2, seed: 1 }), {});
  const again = await open();
  const empty = await again.append(spanBatch({ traces: 0, spansPerTrace: 0, seed: 9 }), { 'tailsampler.spool-offset': '7' });
  assert.equal(empty.sequenceNumber, 2);
  assert.equal(empty.summary['added-data-files'], '0');
  assert.equal(empty.summary['total-records'], '6');
  assert.equal((await again.changesSince(1)).files.length, 0);
  assert.equal((await again.changesSince(0)).files.reduce((n, f) => n + f.recordCount, 0), 6);
  await catalog.close();
});

test('concurrent appends on one table object both commit, one after the other', async () => {
  const { table, catalog } = await setup();
  const [a, b] = await Promise.all([
    table.append(spanBatch({ traces: 6, spansPerTrace: 2, seed: 1 }), {}),
    table.append(spanBatch({ traces: 6, spansPerTrace: 2, seed: 2 }), {}),
  ]);
  assert.deepEqual([a.sequenceNumber, b.sequenceNumber].sort(), [1, 2]);
  const current = await table.currentSnapshot();
  assert.equal(current!.sequenceNumber, 2);
  assert.equal(current!.summary['total-records'], '24');
  const all = await table.changesSince(0);
  assert.equal(all.files.reduce((n, f) => n + f.recordCount, 0), 24);
  await catalog.close();
});
