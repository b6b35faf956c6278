import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalFileIO, toFileUri } from '../../../src/lake/file-io.ts';
import { openIcebergSpanTable } from '../../../src/lake/iceberg/iceberg-table.ts';
import { SqlCatalog } from '../../../src/lake/iceberg/sql-catalog.ts';
import { selectRows } from '../../../src/lake/columns.ts';
import { RecentHotColumns } from '../../../src/lake/recent-hot-columns.ts';
import { HOT_COLUMNS, type PartialSpanColumns } from '../../../src/lake/span-schema.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { spanBatch } from './iceberg/span-batch-fixture.ts';

class CountingIO extends LocalFileIO {
  dataReads = 0;
  override async read(uri: string): Promise<Uint8Array> {
    if (uri.endsWith('.parquet')) this.dataReads++;
    return super.read(uri);
  }
  override async readRange(uri: string, offset: number, length: number): Promise<Uint8Array> {
    if (uri.endsWith('.parquet')) this.dataReads++;
    return super.readRange(uri, offset, length);
  }
}

/** What the writer hands over for `rows` of `batch`: their hot columns, in that order. */
function hotOf(batch: PartialSpanColumns, rows: Int32Array): PartialSpanColumns {
  const hot: PartialSpanColumns = { length: batch.length };
  for (const c of HOT_COLUMNS) (hot as Record<string, unknown>)[c] = batch[c];
  return selectRows(hot, rows);
}

const put = (recent: RecentHotColumns, path: string, batch: PartialSpanColumns, rows: number[]): void => {
  const r = Int32Array.from(rows);
  recent.put(path, hotOf(batch, r), batch.receivedMs === undefined ? undefined : Float64Array.from(rows, (i) => batch.receivedMs![i]!));
};

const plain = (cols: PartialSpanColumns): Record<string, unknown[]> =>
  Object.fromEntries(HOT_COLUMNS.map((c) => [c, Array.from(cols[c] as ArrayLike<unknown>)]));

test('the evaluator reads the hot columns of files this process just committed from memory, once, equal to the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'recent-hot-'));
  const io = new CountingIO();
  const id = { namespace: 'observability', name: 'otel_spans' };
  const location = `${toFileUri(join(dir, 'warehouse'))}/observability.db/otel_spans`;
  const catalog = new SqlCatalog({ path: join(dir, 'catalog.db'), name: 'default', io, logger: silentLogger() });
  const options = { catalog, io, id, location, maxSnapshots: 10, rowGroupSize: 50, logger: silentLogger() };
  const writer = await openIcebergSpanTable(options);
  await writer.append(spanBatch({ traces: 30, spansPerTrace: 4, seed: 7, days: 2 }), {});
  const { files } = await writer.changesSince(0);
  assert.ok(files.length > 1);
  // Another process (or this one after a restart) holds nothing in memory and reads the files.
  const reader = await openIcebergSpanTable(options);
  for (const f of files) {
    const before = io.dataReads;
    const held = await writer.read(f, HOT_COLUMNS);
    assert.equal(io.dataReads, before, 'served from memory');
    const fromFile = await reader.read(f, HOT_COLUMNS);
    assert.ok(io.dataReads > before);
    assert.equal(held.length, f.recordCount);
    assert.deepEqual(plain(held), plain(fromFile));
    // Served once: a second read (a take-over, say) goes to the file.
    const again = io.dataReads;
    assert.deepEqual(plain(await writer.read(f, HOT_COLUMNS)), plain(fromFile));
    assert.ok(io.dataReads > again);
  }
  await catalog.close();
});

test('reads of other columns, or of some traces only, go to the file and leave the entry for the evaluator', async () => {
  const recent = new RecentHotColumns(1000);
  const batch = spanBatch({ traces: 3, spansPerTrace: 2, seed: 1 });
  put(recent, 'f1', batch, [4, 5]);
  assert.equal(recent.take('f1', ['trace_id', 'attributes']), null);
  const held = recent.take('f1', ['trace_id', 'status_code'])!;
  assert.deepEqual(Array.from(held.trace_id!), [batch.trace_id[4], batch.trace_id[5]]);
  assert.equal(recent.take('f1', ['trace_id']), null);
  assert.equal(recent.rows, 0);
});

test('past maxRows the oldest files are forgotten, so a lagging evaluator costs bounded memory', () => {
  const recent = new RecentHotColumns(5);
  const batch = spanBatch({ traces: 4, spansPerTrace: 2, seed: 2 });
  put(recent, 'a', batch, [0, 1]);
  put(recent, 'b', batch, [2, 3]);
  put(recent, 'c', batch, [4, 5]);
  assert.equal(recent.rows, 4);
  assert.equal(recent.take('a', HOT_COLUMNS), null);
  assert.equal(recent.take('b', HOT_COLUMNS)?.length, 2);
  put(recent, 'big', batch, [0, 1, 2, 3, 4, 5]);
  assert.equal(recent.take('big', HOT_COLUMNS), null, 'a file larger than the bound is not held');
  assert.equal(recent.take('c', HOT_COLUMNS)?.length, 2);
});
