import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parquetMetadata } from 'hyparquet';
import { readDataFile } from '../../../../src/lake/parquet/read.ts';
import { writeDataFile } from '../../../../src/lake/parquet/write.ts';
import { KAFKA_METADATA_FIELDS, SPAN_COLUMNS } from '../../../../src/lake/span-schema.ts';
import type { ColumnName, SpanColumns } from '../../../../src/lake/span-schema.ts';
import { deserializeBound } from '../../../../src/lake/transforms.ts';
import { partitionBatch } from '../../../../src/lake/parquet/partition.ts';
import { syntheticBatch } from './fixtures.ts';
import { requestsToColumns } from '../../../../src/otlp/to-columns.ts';
import { encodeRequest, realisticRequest, richRequest } from '../../../fixtures/otlp/requests.ts';
import { cellText } from '../../../support/json-cells.ts';
import { MemoryIO } from '../../../support/memory-file-io.ts';

const ALL = SPAN_COLUMNS.map<ColumnName>((c) => c.name);
const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);

function allRows(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

function edgeBatch(): SpanColumns {
  const b = syntheticBatch({ spans: 6, spansPerTrace: 3 });
  const dur = b.duration as BigInt64Array;
  dur[0] = I64_MAX;
  dur[1] = I64_MIN;
  dur[2] = 2n ** 53n + 1n; // not representable as a double
  const flags = b.flags as BigInt64Array;
  flags[3] = -1n;
  const ts = b.timestamp as BigInt64Array;
  ts[4] = -1n; // just before the epoch
  const status = b.status_code as Int32Array;
  status[0] = 2147483647;
  status[1] = -2147483648;
  const svc = b.service_name as (string | null)[];
  svc[0] = null;
  svc[1] = '';
  svc[2] = 'zürich-✓-😀';
  const parent = b.parent_span_id as (string | null)[];
  parent[5] = null;
  const msg = b.status_message as (string | null)[];
  msg[2] = 'line1\nline2 "quoted"';
  return b;
}

test('write → read round-trips every column type, nulls, empty strings and int64 extremes', async () => {
  const batch = edgeBatch();
  const rows = Int32Array.of(5, 4, 3, 2, 1, 0); // written in the given order
  const { bytes } = writeDataFile(batch, rows, { rowGroupSize: 4 });
  const io = new MemoryIO();
  await io.write('mem://a.parquet', bytes);
  const got = await readDataFile(io, 'mem://a.parquet', bytes.byteLength, ALL);
  assert.equal(got.length, 6);
  for (const c of SPAN_COLUMNS) {
    const col = got[c.name] as ArrayLike<unknown>;
    if (c.type === 'int') assert.ok(col instanceof Int32Array, c.name);
    if (c.type === 'long' || c.type === 'timestamptz') assert.ok(col instanceof BigInt64Array, c.name);
    if (c.type === 'string' || c.type === 'kafka_metadata') assert.ok(Array.isArray(col), c.name);
    const src = batch[c.name] as ArrayLike<unknown>;
    for (let i = 0; i < rows.length; i++) assert.deepEqual(col[i], src[rows[i]!], `${c.name}[${i}]`);
  }
  assert.equal(got.duration![5], I64_MAX);
  assert.equal(got.duration![4], I64_MIN);
  assert.equal(got.service_name![4], '');
  assert.equal(got.service_name![5], null);
});

test('metrics carry counts, sizes, split offsets and Appendix D bounds', async () => {
  const batch = edgeBatch();
  const { bytes, metrics } = writeDataFile(batch, allRows(6), { rowGroupSize: 4 });
  assert.equal(metrics.recordCount, 6);
  assert.equal(metrics.sortOrderId, 1);
  assert.equal(metrics.splitOffsets.length, 2);
  assert.equal(metrics.splitOffsets[0], 4); // right after the PAR1 magic
  const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  assert.equal(meta.row_groups.length, 2);
  // Per leaf column: a struct's counts and sizes are its fields'.
  const leaves = SPAN_COLUMNS.flatMap((c): { id: number; name: string }[] => (c.type === 'kafka_metadata' ? [...KAFKA_METADATA_FIELDS] : [c]));
  for (const c of leaves) {
    assert.equal(metrics.valueCounts.get(c.id), 6, c.name);
    assert.ok(metrics.columnSizes.get(c.id)! > 0, c.name);
  }
  assert.equal(metrics.columnSizes.has(26), false, 'no sizes for the struct itself');
  const metaNulls = (batch._kafka_metadata as unknown[]).filter((m) => m === null).length;
  assert.ok(metaNulls > 0);
  for (const f of KAFKA_METADATA_FIELDS) assert.equal(metrics.nullValueCounts.get(f.id), metaNulls, f.name);
  assert.equal(metrics.nullValueCounts.get(7), 1); // service_name
  assert.equal(metrics.nullValueCounts.get(3), 3); // parent_span_id: two roots + one forced null
  assert.equal(metrics.nullValueCounts.get(1), 0);
  const total = [...metrics.columnSizes.values()].reduce((a, b) => a + b, 0);
  assert.ok(total < bytes.byteLength);
  const lower = (id: number, t: 'int' | 'long' | 'string' | 'timestamptz') => deserializeBound(t, metrics.lowerBounds.get(id)!);
  const upper = (id: number, t: 'int' | 'long' | 'string' | 'timestamptz') => deserializeBound(t, metrics.upperBounds.get(id)!);
  assert.equal(lower(5, 'long'), I64_MIN);
  assert.equal(upper(5, 'long'), I64_MAX);
  assert.equal(lower(4, 'int'), -2147483648);
  assert.equal(upper(4, 'int'), 2147483647);
  assert.equal(lower(6, 'timestamptz'), -1n);
  const ids = [...(batch.trace_id as string[])].sort();
  assert.equal(lower(1, 'string'), ids[0]);
  assert.equal(upper(1, 'string'), ids.at(-1));
  for (const id of [9, 10, 11]) assert.ok(metrics.lowerBounds.has(id) && metrics.upperBounds.has(id));
  // No bounds for the big JSON columns.
  for (const id of [13, 15, 17, 19, 21]) assert.equal(metrics.lowerBounds.has(id), false);
});

test('file metadata: field ids, ZSTD, timestamp logical type, row groups of rowGroupSize', async () => {
  const batch = syntheticBatch({ spans: 250, spansPerTrace: 5 });
  const { bytes } = writeDataFile(batch, allRows(250), { rowGroupSize: 100 });
  const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  assert.deepEqual(meta.row_groups.map((g) => Number(g.num_rows)), [100, 100, 50]);
  // Depth first: each column, the struct followed by its fields.
  const elements = meta.schema.slice(1);
  const expected = SPAN_COLUMNS.flatMap((c): { id: number; name: string; required: boolean }[] => (c.type === 'kafka_metadata' ? [c, ...KAFKA_METADATA_FIELDS] : [c]));
  assert.deepEqual(elements.map((e) => e.field_id), expected.map((c) => c.id));
  assert.deepEqual(elements.map((e) => e.name), expected.map((c) => c.name));
  assert.deepEqual(elements.map((e) => e.repetition_type), expected.map((c) => (c.required ? 'REQUIRED' : 'OPTIONAL')));
  assert.equal(elements.find((e) => e.name === '_kafka_metadata')!.num_children, 3);
  const ts = elements.find((e) => e.name === 'timestamp')!;
  assert.equal(ts.type, 'INT64');
  assert.deepEqual(ts.logical_type, { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' });
  assert.ok(meta.row_groups.every((g) => g.columns.every((c) => c.meta_data?.codec === 'ZSTD')));
  const trace = meta.row_groups[0]!.columns[0]!.meta_data!.statistics!;
  assert.equal(typeof trace.min_value, 'string');
  assert.equal((trace.min_value as string).length, 32, 'trace_id stats are not truncated');
});

test('traceIds prune row groups by trace_id stats and return exactly the rows of those traces', async () => {
  // A file larger than the footer fetch, so that column chunks are read after it.
  const batch = syntheticBatch({ spans: 10000, spansPerTrace: 8 });
  const [slice] = partitionBatch(batch).filter((s) => s.rows.length > 500);
  assert.ok(slice);
  const rowGroupSize = 40;
  const { bytes } = writeDataFile(batch, slice.rows, { rowGroupSize });
  const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  assert.ok(meta.row_groups.length >= 4);
  const sortedIds = Array.from(slice.rows, (r) => batch.trace_id[r]!);
  // One trace from the first row group, one straddling a row-group boundary if any, one from the last.
  const wanted = new Set([sortedIds[0]!, sortedIds[rowGroupSize]!, sortedIds.at(-1)!, 'ffffffffffffffffffffffffffffffff0']);
  const io = new MemoryIO();
  await io.write('mem://b.parquet', bytes);
  const got = await readDataFile(io, 'mem://b.parquet', bytes.byteLength, ['span_id', 'trace_id', 'start_time_unix_nano', 'parent_span_id'], wanted);

  const expected = Array.from(slice.rows).filter((r) => wanted.has(batch.trace_id[r]!));
  assert.equal(got.length, expected.length);
  assert.deepEqual(Array.from(got.span_id!), expected.map((r) => batch.span_id[r]));
  assert.deepEqual(Array.from(got.trace_id!), expected.map((r) => batch.trace_id[r]));
  assert.deepEqual(Array.from(got.parent_span_id!), expected.map((r) => batch.parent_span_id[r]));
  assert.deepEqual(Array.from(got.start_time_unix_nano!), expected.map((r) => batch.start_time_unix_nano[r]));
  assert.equal(got.attributes, undefined, 'projection returns only requested columns');

  // No byte of a pruned row group's column chunks was read after the footer fetch (whose bytes
  // serve the reads inside them).
  const [footer, ...dataReads] = io.ranges;
  assert.equal(footer![1], bytes.byteLength);
  assert.ok(dataReads.length > 0);
  const keptGroups = new Set<number>();
  let start = 0;
  meta.row_groups.forEach((g, i) => {
    const n = Number(g.num_rows);
    if (expected.some((r) => { const p = slice.rows.indexOf(r); return p >= start && p < start + n; })) keptGroups.add(i);
    start += n;
  });
  assert.ok(keptGroups.size < meta.row_groups.length);
  meta.row_groups.forEach((g, i) => {
    if (keptGroups.has(i)) return;
    for (const c of g.columns) {
      const from = Number(c.meta_data!.dictionary_page_offset ?? c.meta_data!.data_page_offset);
      const to = from + Number(c.meta_data!.total_compressed_size);
      for (const [a, b] of dataReads) assert.ok(b <= from || a >= to, `read [${a},${b}) overlaps pruned group ${i}`);
    }
  });
});

test('traceIds matching nothing read no data and return an empty projection', async () => {
  const batch = syntheticBatch({ spans: 300, spansPerTrace: 3 });
  const { bytes } = writeDataFile(batch, allRows(300), { rowGroupSize: 50 });
  const io = new MemoryIO();
  await io.write('mem://c.parquet', bytes);
  const got = await readDataFile(io, 'mem://c.parquet', bytes.byteLength, ['duration', 'service_name'], new Set(['not-a-trace']));
  assert.equal(got.length, 0);
  assert.equal(got.duration!.length, 0);
  assert.equal(got.service_name!.length, 0);
});

test('the codec batch (JSON cells as UTF-8 bytes) is written as the same UTF8 strings, byte for byte', async () => {
  const batch = requestsToColumns([encodeRequest(richRequest()), realisticRequest(30)]);
  assert.ok(batch.attributes[0] instanceof Uint8Array, 'attributes come from the codec as bytes');
  const rows = allRows(batch.length);
  const { bytes } = writeDataFile(batch, rows, { rowGroupSize: 16 });
  const io = new MemoryIO();
  await io.write('mem://b.parquet', bytes);
  const got = await readDataFile(io, 'mem://b.parquet', bytes.byteLength, ALL);
  assert.equal(got.length, batch.length);
  assert.ok(cellText(batch.attributes[0]).includes('hé \\"quoted\\" \\n ✓'), 'non-ASCII and escapes are in the written text');
  for (const name of ['attributes', 'events', 'links'] as const) {
    for (let i = 0; i < batch.length; i++) assert.equal(got[name]![i], cellText(batch[name][i]!), `${name}[${i}]`);
  }
  for (const name of ['resource', 'scope', 'trace_id', 'operation_name'] as const) assert.deepEqual(got[name], Array.from(batch[name]), name);
});

test('writeDataFile refuses a null in a required column with a stable code', () => {
  const batch = syntheticBatch({ spans: 3, spansPerTrace: 3 });
  (batch.operation_name as (string | null)[])[1] = null;
  assert.throws(() => writeDataFile(batch, allRows(3), { rowGroupSize: 10 }), { code: 'TS_LAKE_PARQUET_WRITE' });
});

test('rows of requested traces come back with every text cell (dictionary or plain) as written', async () => {
  const batch = requestsToColumns([encodeRequest(richRequest()), realisticRequest(200, 5)]);
  const [slice] = partitionBatch(batch).sort((a, b) => b.rows.length - a.rows.length);
  assert.ok(slice);
  const { bytes } = writeDataFile(batch, slice.rows, { rowGroupSize: 16 });
  const ids = [...new Set(Array.from(slice.rows, (r) => batch.trace_id[r]!))];
  // Every third trace: the others' rows share row groups and pages with them and are left out.
  const wanted = new Set(ids.filter((_, i) => i % 3 === 0));
  const io = new MemoryIO();
  await io.write('mem://t.parquet', bytes);
  const text = ['span_id', 'parent_span_id', 'service_name', 'operation_name', 'resource', 'scope', 'attributes', 'events', 'links', 'status_message', 'trace_state'] as const;
  const got = await readDataFile(io, 'mem://t.parquet', bytes.byteLength, [...text], wanted);
  const expected = Array.from(slice.rows).filter((r) => wanted.has(batch.trace_id[r]!));
  assert.ok(expected.length > 0 && expected.length < slice.rows.length);
  assert.equal(got.length, expected.length);
  for (const c of text) {
    assert.deepEqual(Array.from(got[c]!, (v) => v ?? null), expected.map((r) => {
      const v = batch[c][r] ?? null;
      return v === null ? null : cellText(v);
    }), c);
  }
});
