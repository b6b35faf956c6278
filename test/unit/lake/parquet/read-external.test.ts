import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { ColumnSource, SchemaElement } from 'hyparquet-writer';
import { readDataFile, type FileColumns } from '../../../../src/lake/parquet/read.ts';
import type { ColumnName } from '../../../../src/lake/span-schema.ts';
import { MemoryIO } from '../../../support/memory-file-io.ts';

const hexBytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));

// High first bytes: as UTF-8 text these bounds would sort after every hex id and prune every group.
const T1 = 'abcdef0123456789abcdef0123456789';
const T2 = 'cd00000000000000000000000000ff01';
const T3 = 'ef1234567890abcdeffedcba09876543';
const TRACES = [T1, T2, T1, T3, T2, T1];
const SPANS = ['a1a2a3a4a5a6a7a8', 'b1b2b3b4b5b6b7b8', 'c1c2c3c4c5c6c7c8', 'd1d2d3d4d5d6d7d8', 'e1e2e3e4e5e6e7e8', 'f1f2f3f4f5f6f7f8'];
// Row 2 (first row of the second row group) is a root span: its chunk starts with a null.
const PARENTS = ['ffeeddccbbaa9988', null, null, '0102030405060708', 'a1a2a3a4a5a6a7a8', 'c1c2c3c4c5c6c7c8'];

/** Another writer's file: its own names and field ids, ids as raw bytes, numbers in other widths. */
function otherWritersFile(): Uint8Array {
  const schema: SchemaElement[] = [
    { name: 'root', num_children: 9 },
    { name: 'tid', type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', field_id: 104 },
    { name: 'sid', type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', field_id: 103 },
    // Same name as the span column, another field id: not ours.
    { name: 'span_id', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED', field_id: 99 },
    { name: 'parent', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL', field_id: 105 },
    { name: 'code', type: 'INT64', repetition_type: 'REQUIRED', field_id: 106 },
    { name: 'start', type: 'INT64', repetition_type: 'REQUIRED', field_id: 107 },
    { name: 'end', type: 'INT32', repetition_type: 'REQUIRED', field_id: 108 },
    // Given only by name.
    { name: 'name', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
    // Same name as a span column whose field id the table maps elsewhere.
    { name: 'service_name', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL', field_id: 110 },
  ];
  const columnData: ColumnSource[] = [
    { name: 'tid', data: TRACES.map(hexBytes) },
    { name: 'sid', data: SPANS.map(hexBytes) },
    { name: 'span_id', data: SPANS.map(() => 'decoy') },
    { name: 'parent', data: PARENTS.map((p) => (p === null ? null : hexBytes(p))) },
    { name: 'code', data: BigInt64Array.from([0n, 1n, 2n, 0n, 2n, 1n]) },
    { name: 'start', data: BigInt64Array.from([1_700_000_000_000_000_000n, 2n, 3n, 4n, 5n, 6n]) },
    { name: 'end', data: Int32Array.from([10, 20, 30, 40, 50, -1]) },
    { name: 'name', data: ['op0', 'op1', 'op2', 'op3', 'op4', 'op5'] },
    { name: 'service_name', data: ['svc', 'svc', 'svc', 'svc', 'svc', 'svc'] },
  ];
  return new Uint8Array(parquetWriteBuffer({ schema, columnData, rowGroupSize: 2 }));
}

const COLUMNS: FileColumns = new Map<ColumnName, { id: number; name: string }>([
  ['trace_id', { id: 104, name: 'trace_id' }],
  ['span_id', { id: 103, name: 'span_id' }],
  ['parent_span_id', { id: 105, name: 'parent_span_id' }],
  ['status_code', { id: 106, name: 'status_code' }],
  ['start_time_unix_nano', { id: 107, name: 'start_time_unix_nano' }],
  ['end_time_unix_nano', { id: 108, name: 'end_time_unix_nano' }],
  ['operation_name', { id: 8, name: 'name' }],
  ['service_name', { id: 42, name: 'service_name' }],
]);

async function stored(bytes: Uint8Array): Promise<{ io: MemoryIO; uri: string; size: number }> {
  const io = new MemoryIO();
  const uri = 'mem://warehouse/other/data/00000.parquet';
  await io.write(uri, bytes);
  return { io, uri, size: bytes.byteLength };
}

test('columns resolve by field id, by name only where the file has no id, and convert to the span types', async () => {
  const { io, uri, size } = await stored(otherWritersFile());
  const cols: ColumnName[] = ['status_code', 'start_time_unix_nano', 'end_time_unix_nano', 'operation_name', 'service_name', 'span_size', 'flags', 'status_message'];
  const out = await readDataFile(io, uri, size, cols, undefined, COLUMNS);
  assert.equal(out.length, 6);
  assert.ok(out.status_code instanceof Int32Array, 'INT64 reads as int');
  assert.deepEqual([...out.status_code], [0, 1, 2, 0, 2, 1]);
  assert.ok(out.start_time_unix_nano instanceof BigInt64Array);
  assert.deepEqual([...out.start_time_unix_nano], [1_700_000_000_000_000_000n, 2n, 3n, 4n, 5n, 6n]);
  assert.ok(out.end_time_unix_nano instanceof BigInt64Array, 'INT32 reads as long');
  assert.deepEqual([...out.end_time_unix_nano], [10n, 20n, 30n, 40n, 50n, -1n]);
  assert.deepEqual(out.operation_name, ['op0', 'op1', 'op2', 'op3', 'op4', 'op5']);
  // The file's service_name has field id 110, the table's 42: the file lacks the column.
  assert.deepEqual(out.service_name, [null, null, null, null, null, null]);
  assert.deepEqual(out.status_message, [null, null, null, null, null, null]);
  assert.deepEqual(out.span_size, new Int32Array(6));
  assert.deepEqual(out.flags, new BigInt64Array(6));
});

test('a same-named column with another field id is not taken', async () => {
  const { io, uri, size } = await stored(otherWritersFile());
  const out = await readDataFile(io, uri, size, ['span_id'], undefined, COLUMNS);
  assert.ok(!(out.span_id as (string | null)[]).includes('decoy'));
});

test('a file without field ids resolves every column by name', async () => {
  const bytes = new Uint8Array(
    parquetWriteBuffer({
      schema: [
        { name: 'root', num_children: 3 },
        { name: 'trace_id', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
        { name: 'code', type: 'INT64', repetition_type: 'REQUIRED' },
        { name: 'name', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      ],
      columnData: [
        { name: 'trace_id', data: [T1, T2] },
        { name: 'code', data: BigInt64Array.from([2n, 1n]) },
        { name: 'name', data: ['a', 'b'] },
      ],
    }),
  );
  const { io, uri, size } = await stored(bytes);
  const columns: FileColumns = new Map<ColumnName, { id: number; name: string }>([
    ['trace_id', { id: 1, name: 'trace_id' }],
    ['status_code', { id: 2, name: 'code' }],
    ['operation_name', { id: 3, name: 'name' }],
  ]);
  const out = await readDataFile(io, uri, size, ['trace_id', 'status_code', 'operation_name'], undefined, columns);
  assert.deepEqual(out.trace_id, [T1, T2]);
  assert.deepEqual(Array.from(out.status_code!), [2, 1]);
  assert.deepEqual(out.operation_name, ['a', 'b']);
});

// Binary ids: hyparquet decodes un-annotated BYTE_ARRAY as UTF-8 unless told not to, and a chunk may
// open with a null; both must still give hex.

test('binary ids read as lowercase hex', async () => {
  const { io, uri, size } = await stored(otherWritersFile());
  const out = await readDataFile(io, uri, size, ['trace_id', 'span_id'], undefined, COLUMNS);
  assert.deepEqual(out.trace_id, TRACES);
  assert.deepEqual(out.span_id, SPANS);
});

test('a binary parent id reads as hex, null where absent, also after a null opening its row group', async () => {
  const { io, uri, size } = await stored(otherWritersFile());
  const out = await readDataFile(io, uri, size, ['parent_span_id'], undefined, COLUMNS);
  assert.deepEqual(out.parent_span_id, PARENTS);
});

test('with traceIds only rows of those traces come back from a binary trace column', async () => {
  const { io, uri, size } = await stored(otherWritersFile());
  const out = await readDataFile(io, uri, size, ['trace_id', 'span_id', 'status_code'], new Set([T1, T3]), COLUMNS);
  assert.deepEqual(out.trace_id, [T1, T1, T3, T1]);
  assert.deepEqual(out.span_id, [SPANS[0], SPANS[2], SPANS[3], SPANS[5]]);
  assert.deepEqual(Array.from(out.status_code!), [0, 2, 0, 1]);
});
