import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parquetMetadata } from 'hyparquet';
import type { FileMetaData } from 'hyparquet';
import { ownLayout } from '../../../../src/lake/parquet/own-read.ts';
import { readDataFile } from '../../../../src/lake/parquet/read.ts';
import type { FileColumns } from '../../../../src/lake/parquet/read.ts';
import { SPAN_PARQUET_SCHEMA } from '../../../../src/lake/parquet/schema.ts';
import { ColumnStats, writeDataFile, writeParquetFile } from '../../../../src/lake/parquet/write.ts';
import { COLUMN_BY_NAME, SPAN_COLUMNS } from '../../../../src/lake/span-schema.ts';
import type { ColumnName, KafkaMetadata, PartialSpanColumns, SpanColumns, WriteSpanColumns } from '../../../../src/lake/span-schema.ts';
import { syntheticBatch } from './fixtures.ts';
import { MemoryIO } from '../../../support/memory-file-io.ts';

const ALL = SPAN_COLUMNS.map<ColumnName>((c) => c.name);

function metadataOf(bytes: Uint8Array): FileMetaData {
  return parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
}

/** Reads `bytes` both ways and asserts the outputs equal cell by cell (same array types, same nulls). */
async function compare(bytes: Uint8Array, columns: readonly ColumnName[], traceIds?: ReadonlySet<string>, fileColumns?: FileColumns): Promise<PartialSpanColumns> {
  const io = new MemoryIO();
  await io.write('mem://f', bytes);
  const own = await readDataFile(io, 'mem://f', bytes.length, columns, traceIds, fileColumns);
  const hyp = await readDataFile(io, 'mem://f', bytes.length, columns, traceIds, fileColumns, 'hyparquet');
  assert.equal(own.length, hyp.length);
  assert.deepEqual(Object.keys(own).sort(), Object.keys(hyp).sort());
  for (const c of columns) {
    const a = own[c] as ArrayLike<unknown>;
    const b = hyp[c] as ArrayLike<unknown>;
    assert.equal(a.constructor, b.constructor, c);
    assert.equal(a.length, b.length, c);
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) assert.deepStrictEqual(a[i], b[i], `${c}[${i}]`);
    }
  }
  return own;
}

function allRows(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/** Text with non-ASCII, a leading BOM (TextDecoder drops it), empty strings, long cells; a struct with nulls. */
function mixedBatch(n: number): SpanColumns {
  const b = syntheticBatch({ spans: n, spansPerTrace: 7 });
  const op = b.operation_name as string[];
  const msg = b.status_message as (string | null)[];
  const attrs = b.attributes as string[];
  const svc = b.service_name as (string | null)[];
  for (let i = 0; i < n; i++) {
    if (i % 11 === 0) op[i] = `zürich-✓-😀 ${i % 3}`;
    if (i % 17 === 0) msg[i] = '\uFEFFbom-led message';
    if (i % 19 === 0) msg[i] = '';
    if (i % 23 === 0) svc[i] = '\uFEFF';
    // Long cells: several pages per attributes chunk.
    if (i % 5 === 0) attrs[i] = attrs[i]!.replace('user-', `user-${'é'.repeat(1500)}`);
  }
  return b;
}

test('our files are read by our own reader, others by hyparquet', async () => {
  // Larger than the footer fetch, so that the chunks are read after it.
  const { bytes } = writeDataFile(mixedBatch(1000), allRows(1000), { rowGroupSize: 64 });
  const meta = metadataOf(bytes);
  const physical = SPAN_COLUMNS.map((c) => ({ def: c, name: c.name, text: c.type === 'string' }));
  assert.ok(ownLayout(meta, physical));
  assert.equal(ownLayout({ ...meta, created_by: 'hyparquet' }, physical), undefined);
  const otherCodec = structuredClone(meta);
  otherCodec.row_groups[1]!.columns[4]!.meta_data!.codec = 'SNAPPY';
  assert.equal(ownLayout(otherCodec, physical), undefined);
  // One range read for the footer, one for the chunks of all (adjacent) row groups.
  const io = new MemoryIO();
  await io.write('mem://f', bytes);
  await readDataFile(io, 'mem://f', bytes.length, ALL);
  assert.equal(io.ranges.length, 2);
});

test('a file within the footer fetch is read with that one range read, by either reader', async () => {
  const { bytes } = writeDataFile(mixedBatch(200), allRows(200), { rowGroupSize: 64 });
  assert.ok(bytes.length < 64 * 1024);
  const expected = await compare(bytes, ALL);
  for (const reader of ['auto', 'hyparquet'] as const) {
    const io = new MemoryIO();
    await io.write('mem://f', bytes);
    const got = await readDataFile(io, 'mem://f', bytes.length, ALL, undefined, undefined, reader);
    assert.deepEqual(io.ranges, [[0, bytes.length]], reader);
    assert.deepEqual(got, expected, reader);
  }
});

test('every column of every row reads as hyparquet reads it: nulls, non-ASCII, BOMs, the struct, several pages', async () => {
  const n = 5000;
  const { bytes } = writeDataFile(mixedBatch(n), allRows(n), { rowGroupSize: 1800 });
  const meta = metadataOf(bytes);
  const attributes = meta.row_groups[0]!.columns.findIndex((c) => c.meta_data!.path_in_schema[0] === 'attributes');
  assert.ok(Number(meta.row_groups[0]!.columns[attributes]!.meta_data!.total_uncompressed_size) > 1 << 20, 'attributes chunks span pages (1 MiB each)');
  const got = await compare(bytes, ALL);
  assert.equal(got.length, n);
  assert.ok((got._kafka_metadata as (KafkaMetadata | null)[]).some((m) => m === null));
  assert.equal((got.status_message as (string | null)[])[17], 'bom-led message');
});

test('rows of chosen traces, traces matching nothing, a projection in another order', async () => {
  const n = 3000;
  const batch = mixedBatch(n);
  const { bytes } = writeDataFile(batch, allRows(n), { rowGroupSize: 250 });
  const ids = [...new Set(batch.trace_id as string[])];
  const tenth = new Set(ids.filter((_, i) => i % 10 === 3));
  const got = await compare(bytes, ALL, tenth);
  assert.ok(got.length > 0 && got.length < n);
  await compare(bytes, ['events', 'trace_id', '_kafka_metadata', 'duration'], new Set([ids[0]!, ids.at(-1)!]));
  assert.equal((await compare(bytes, ['span_id', 'flags'], new Set(['not-a-trace']))).length, 0);
});

test('a struct column null in every row, all-null text columns', async () => {
  const batch = mixedBatch(400);
  (batch._kafka_metadata as (KafkaMetadata | null)[]).fill(null);
  (batch.scope_schema_url as (string | null)[]).fill(null);
  const { bytes } = writeDataFile(batch, allRows(400), { rowGroupSize: 150 });
  const got = await compare(bytes, ALL);
  assert.ok((got._kafka_metadata as unknown[]).every((m) => m === null));
  await compare(bytes, ['_kafka_metadata', 'scope_schema_url', 'parent_span_id'], new Set([batch.trace_id[0]!]));
});

test('another column mapping: by field id, a missing column, binary (non-UTF8) leaves as hex', async () => {
  const batch = mixedBatch(300);
  // span_id and events written as plain binary: the reader hands them back as hex.
  const schema = SPAN_PARQUET_SCHEMA.map((e) => (e.name === 'span_id' || e.name === 'events' ? { ...e, converted_type: undefined, logical_type: undefined } : e));
  const stats = new ColumnStats(allRows(300));
  for (const c of SPAN_COLUMNS) stats.gather(c, batch[c.name], { statistics: c.name === 'trace_id' || c.type === 'int', dictionary: c.name !== 'span_id' });
  const { bytes } = writeParquetFile(stats, { schema, rowGroupSize: 128, sortOrderId: 0 });
  const got = await compare(bytes, ALL);
  assert.equal(got.span_id![0], Buffer.from(batch.span_id[0]!).toString('hex'));
  const id = (name: ColumnName) => COLUMN_BY_NAME.get(name)!.id;
  const mapping: FileColumns = new Map<ColumnName, { id: number; name: string }>([
    ['trace_id', { id: id('trace_id'), name: 'trace_id' }],
    ['service_name', { id: id('operation_name'), name: 'x' }],
    ['span_kind', { id: id('status_code'), name: 'y' }],
    ['status_message', { id: 999, name: 'gone' }],
    ['_kafka_metadata', { id: id('_kafka_metadata'), name: '_kafka_metadata' }],
  ]);
  const cols: ColumnName[] = ['trace_id', 'service_name', 'span_kind', 'status_message', '_kafka_metadata'];
  const mapped = await compare(bytes, cols, undefined, mapping);
  assert.deepEqual(mapped.service_name, Array.from(batch.operation_name));
  assert.ok((mapped.status_message as unknown[]).every((v) => v === null));
  await compare(bytes, cols, new Set([batch.trace_id[100]!]), mapping);
});

test('invalid UTF-8 cells decode as TextDecoder decodes them', async () => {
  const batch = syntheticBatch({ spans: 500, spansPerTrace: 5 }) as WriteSpanColumns;
  let x = 12345;
  const attrs = Array.from({ length: 500 }, () => {
    const out = new Uint8Array(1 + (x % 40));
    for (let i = 0; i < out.length; i++) out[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
    return out;
  });
  attrs[0] = Uint8Array.of(0xef, 0xbb, 0xbf, 0xff, 0x41);
  attrs[1] = Uint8Array.of(0xef, 0xbb);
  (batch as { attributes: ArrayLike<Uint8Array> }).attributes = attrs;
  const { bytes } = writeDataFile(batch, allRows(500), { rowGroupSize: 200 });
  const got = await compare(bytes, ['attributes']);
  assert.ok((got.attributes as string[]).some((s) => s.includes('\uFFFD')));
});

test('dictionary and plain integer chunks of several pages', async () => {
  // 270K rows (dictionary pages hold 262,144 indexes, plain int64 pages 131,072 values), from a small
  // batch repeated: the writer takes any row order.
  const batch = syntheticBatch({ spans: 3000, spansPerTrace: 6 });
  const rows = Int32Array.from({ length: 270_000 }, (_, i) => Math.floor(i / 90));
  const { bytes } = writeDataFile(batch, rows, { rowGroupSize: 265_000 });
  const meta = metadataOf(bytes);
  const kind = meta.row_groups[0]!.columns.find((c) => c.meta_data!.path_in_schema[0] === 'span_kind')!.meta_data!;
  assert.deepEqual(kind.encodings, ['PLAIN', 'RLE_DICTIONARY']);
  const cols: ColumnName[] = ['span_kind', 'status_code', 'start_time_unix_nano', 'operation_name', '_kafka_metadata', 'parent_span_id'];
  await compare(bytes, cols);
  await compare(bytes, cols, new Set([batch.trace_id[5]!, batch.trace_id[2999]!]));
});

test('corrupt or truncated chunks reject with ParquetReadError', async () => {
  const { bytes } = writeDataFile(mixedBatch(600), allRows(600), { rowGroupSize: 200 });
  const meta = metadataOf(bytes);
  const dataEnd = Number(meta.row_groups.at(-1)!.file_offset) + Number(meta.row_groups.at(-1)!.total_compressed_size);
  const rejects = async (file: Uint8Array, io = new MemoryIO()): Promise<void> => {
    await io.write('mem://c', file);
    const outcome = await readDataFile(io, 'mem://c', file.length, ALL, new Set([mixedBatch(1).trace_id[0]!])).then(
      () => 'ok',
      (e: unknown) => (e as { code?: string }).code,
    );
    assert.ok(outcome === 'ok' || outcome === 'TS_LAKE_PARQUET_READ', String(outcome));
    const all = await readDataFile(io, 'mem://c', file.length, ALL).then(() => 'ok', (e: unknown) => (e as { code?: string }).code);
    assert.ok(all === 'ok' || all === 'TS_LAKE_PARQUET_READ', String(all));
  };
  // A page header overwritten: always an error.
  const header = bytes.slice();
  header.fill(0xff, 4, 24);
  await assert.rejects(readDataFile(Object.assign(new MemoryIO(), { files: new Map([['mem://h', header]]) }), 'mem://h', header.length, ALL), { name: 'ParquetReadError' });
  // A chunk cut short by the store.
  const short = new MemoryIO();
  short.readRange = async (uri, offset, length) => short.files.get(uri)!.subarray(offset, offset + Math.min(length, 9000));
  await short.write('mem://s', bytes);
  await assert.rejects(readDataFile(short, 'mem://s', bytes.length, ALL), { name: 'ParquetReadError' });
  // Single bytes changed anywhere in the chunks: an error or a result, never another failure.
  let x = 99;
  for (let k = 0; k < 150; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const file = bytes.slice();
    const at = 4 + (x % (dataEnd - 4));
    file[at] = file[at]! ^ (1 + (x >>> 24) % 255);
    await rejects(file);
  }
});
