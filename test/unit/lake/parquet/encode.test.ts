import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zstdDecompressSync } from 'node:zlib';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import type { PageHeader, SchemaElement } from 'hyparquet';
import { ByteWriter } from 'hyparquet-writer';
import { writePageHeader as libraryPageHeader } from 'hyparquet-writer/src/datapage.js';
import { encodeParquet } from '../../../../src/lake/parquet/encode.ts';
import { writePageHeader } from '../../../../src/lake/parquet/thrift.ts';
import type { Leaf } from '../../../../src/lake/parquet/encode.ts';
import { zstdCompress } from '../../../../src/lake/parquet/zstd.ts';

const SCHEMA: SchemaElement[] = [
  { name: 'table', num_children: 4 },
  { name: 'name', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL', field_id: 1 },
  { name: 'text', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL', field_id: 2 },
  { name: 'n', type: 'INT32', repetition_type: 'REQUIRED', field_id: 3 },
  { name: 'big', type: 'INT64', repetition_type: 'OPTIONAL', field_id: 4 },
];

function leaves(rows: number): Leaf[] {
  const names = Array.from({ length: rows }, (_, i) => (i % 7 === 3 ? null : ['a', 'zürich-✓', '😀'][i % 3]!));
  // Long non-ASCII and ASCII cells, over 1 MiB in all: several pages, nulls in more than one.
  const text = Array.from({ length: rows }, (_, i) => (i % 11 === 5 ? null : `${'é✓'.repeat(40)}-${i}-${'x'.repeat(400)}`));
  const n = Int32Array.from({ length: rows }, (_, i) => (i * 2654435761) | 0);
  const big = BigInt64Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? 0n : BigInt(i) * -(2n ** 50n)));
  const bigMask = Uint8Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? 1 : 0));
  const mask = (v: readonly (string | null)[]) => Uint8Array.from(v, (x) => (x === null ? 1 : 0));
  return [
    { element: SCHEMA[1]!, path: ['name'], values: names, nullMask: mask(names), optional: true, dictionary: true, statistics: false },
    { element: SCHEMA[2]!, path: ['text'], values: text, nullMask: mask(text), optional: true, dictionary: true, statistics: false },
    { element: SCHEMA[3]!, path: ['n'], values: n, nullMask: undefined, optional: false, dictionary: true, statistics: true },
    { element: SCHEMA[4]!, path: ['big'], values: big, nullMask: bigMask, optional: true, dictionary: false, statistics: true },
  ];
}

const options = { schema: SCHEMA, rowGroupSize: 2500, compress: zstdCompress, statisticsTruncateLength: 32, createdBy: 'test' };
const ZSTD = (input: Uint8Array, outputLength: number) => new Uint8Array(zstdDecompressSync(input)).subarray(0, outputLength);

test('every value, null and non-ASCII byte reads back through an independent reader, across row groups and pages', async () => {
  const rows = 6000;
  const input = leaves(rows);
  const file = encodeParquet(input, rows, options);
  const buffer = file.bytes.buffer.slice(file.bytes.byteOffset, file.bytes.byteOffset + file.bytes.byteLength) as ArrayBuffer;
  const got = await parquetReadObjects({ file: buffer, compressors: { ZSTD } });
  assert.equal(got.length, rows);
  const [names, text, n, big] = input.map((l) => l.values);
  for (let i = 0; i < rows; i++) {
    assert.equal(got[i]!.name, names![i], `name[${i}]`);
    assert.equal(got[i]!.text, text![i], `text[${i}]`);
    assert.equal(got[i]!.n, n![i], `n[${i}]`);
    assert.equal(got[i]!.big, input[3]!.nullMask![i] ? null : big![i], `big[${i}]`);
  }
  const meta = parquetMetadata(buffer);
  assert.deepEqual(meta.row_groups.map((g) => Number(g.num_rows)), [2500, 2500, 1000]);
  // A row group's text is over 1 MiB: more than one data page.
  assert.ok(Number(meta.row_groups[0]!.columns[1]!.meta_data!.total_uncompressed_size) > 1 << 20);
});

test('files encoded one after another, or after a failed one, come out as each does alone (page buffers are shared)', async () => {
  const small = () => encodeParquet(leaves(40), 40, options).bytes.slice();
  const alone = small();
  encodeParquet(leaves(6000), 6000, options); // pages over 1 MiB grow the shared buffers
  assert.deepEqual(small(), alone, 'after a file of large pages');
  // One value over the buffers' keep limit (4 MiB): the grown buffers are let go after its file.
  const huge = leaves(3);
  (huge[1]!.values as (string | null)[])[1] = 'ü'.repeat(3 << 20);
  const file = encodeParquet(huge, 3, options);
  const buffer = file.bytes.buffer.slice(file.bytes.byteOffset, file.bytes.byteOffset + file.bytes.byteLength) as ArrayBuffer;
  const got = await parquetReadObjects({ file: buffer, columns: ['text'], compressors: { ZSTD } });
  assert.equal(got[1]!.text, 'ü'.repeat(3 << 20));
  assert.deepEqual(small(), alone, 'after a file of a huge page');
  const failing = { ...options, compress: () => { throw new Error('compressor failed'); } };
  assert.throws(() => encodeParquet(leaves(6000), 6000, failing), /compressor failed/);
  assert.deepEqual(small(), alone, 'after a file that failed half-way');
});

test('page headers are the bytes hyparquet-writer writes for them', () => {
  const bytes = (write: (w: ByteWriter, h: PageHeader) => void, h: PageHeader) => {
    const w = new ByteWriter(64);
    write(w, h);
    return Buffer.from(w.getBytes());
  };
  const sizes = [0, 1, 63, 64, 8191, 1 << 20, 2 ** 31 - 1];
  for (const n of sizes) {
    for (const encoding of ['PLAIN', 'RLE_DICTIONARY'] as const) {
      const v2: PageHeader = {
        type: 'DATA_PAGE_V2',
        uncompressed_page_size: n,
        compressed_page_size: sizes[(sizes.indexOf(n) + 3) % sizes.length]!,
        data_page_header_v2: {
          num_values: n,
          num_nulls: n >> 1,
          num_rows: n,
          encoding,
          definition_levels_byte_length: n % 97,
          repetition_levels_byte_length: 0,
          is_compressed: true,
        },
      };
      assert.deepEqual(bytes(writePageHeader, v2), bytes(libraryPageHeader, v2), `data page v2, ${n}, ${encoding}`);
    }
    const dict: PageHeader = {
      type: 'DICTIONARY_PAGE',
      uncompressed_page_size: n,
      compressed_page_size: n + 9,
      dictionary_page_header: { num_values: n, encoding: 'PLAIN' },
    };
    assert.deepEqual(bytes(writePageHeader, dict), bytes(libraryPageHeader, dict), `dictionary page, ${n}`);
  }
  assert.throws(() => writePageHeader(new ByteWriter(), { type: 'INDEX_PAGE', uncompressed_page_size: 0, compressed_page_size: 0 }), RangeError);
});

test('a dictionary where it at least halves the values, PLAIN where it does not; statistics only where asked', () => {
  const rows = 3000;
  const file = encodeParquet(leaves(rows), rows, { ...options, rowGroupSize: rows });
  const [name, text, n, big] = file.rowGroups[0]!.columns.map((c) => c.meta_data!);
  assert.deepEqual(name!.encodings, ['PLAIN', 'RLE_DICTIONARY']);
  assert.ok(name!.dictionary_page_offset !== undefined);
  assert.deepEqual(text!.encodings, ['PLAIN'], 'unique values: no dictionary');
  assert.deepEqual(n!.encodings, ['PLAIN'], 'unique ints: no dictionary');
  assert.deepEqual(big!.encodings, ['PLAIN'], 'not offered a dictionary');
  assert.equal(name!.statistics, undefined);
  assert.equal(text!.statistics, undefined);
  const values = leaves(rows)[2]!.values as Int32Array;
  assert.deepEqual(n!.statistics, { null_count: 0n, min_value: Math.min(...values), max_value: Math.max(...values) });
  assert.equal(big!.statistics!.null_count, 600n);
  assert.deepEqual(file.ranges[3]![0], { min: 2999n * -(2n ** 50n), max: -(2n ** 50n) }, 'null rows (0n) are not in the range');
  assert.deepEqual(file.ranges[0], [undefined]);
});

test('the range of a long column compares whole 64-bit values: sign, high word, then the low word unsigned', () => {
  const values = [0x7fffffffn, 0x80000000n, -1n, -(2n ** 63n), 2n ** 63n - 1n, 0xffffffffn, 2n ** 32n, -(2n ** 32n) - 1n, 5n];
  const rows = values.length;
  const big = BigInt64Array.from(values);
  // The extremes are null rows: the range leaves them out.
  const nullMask = Uint8Array.from(values, (v) => (v === -(2n ** 63n) || v === 2n ** 63n - 1n ? 1 : 0));
  const leaf: Leaf = { element: SCHEMA[4]!, path: ['big'], values: big, nullMask, optional: true, dictionary: false, statistics: true };
  const file = encodeParquet([leaf], rows, { ...options, schema: [{ name: 'table', num_children: 1 }, SCHEMA[4]!] });
  assert.deepEqual(file.ranges[0]![0], { min: -(2n ** 32n) - 1n, max: 2n ** 32n });
  // Same high word: the low word decides, as an unsigned number.
  const low = { ...leaf, values: BigInt64Array.from([0x7fffffffn, 0xffffffffn, 0x80000000n, 1n]), nullMask: undefined };
  const lowFile = encodeParquet([low], 4, { ...options, schema: [{ name: 'table', num_children: 1 }, SCHEMA[4]!] });
  assert.deepEqual(lowFile.ranges[0]![0], { min: 1n, max: 0xffffffffn });
});

test('a long dictionary tells apart values a double cannot (beyond 2^53, the extremes, either sign) and reads back exact', async () => {
  const distinct = [0n, -1n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n), -(2n ** 53n) - 1n, 2n ** 63n - 1n, -(2n ** 63n), 0xffffffffn, 2n ** 32n, -(2n ** 32n), 2n ** 53n - 1n];
  const rows = 240;
  const big = BigInt64Array.from({ length: rows }, (_, i) => distinct[(i * 7) % distinct.length]!);
  const nullMask = Uint8Array.from({ length: rows }, (_, i) => (i % 13 === 4 ? 1 : 0));
  const leaf: Leaf = { element: SCHEMA[4]!, path: ['big'], values: big, nullMask, optional: true, dictionary: true, statistics: false };
  const schema = [{ name: 'table', num_children: 1 }, SCHEMA[4]!];
  const file = encodeParquet([leaf], rows, { ...options, schema, rowGroupSize: rows });
  const meta = file.rowGroups[0]!.columns[0]!.meta_data!;
  assert.deepEqual(meta.encodings, ['PLAIN', 'RLE_DICTIONARY']);
  const buffer = file.bytes.buffer.slice(file.bytes.byteOffset, file.bytes.byteOffset + file.bytes.byteLength) as ArrayBuffer;
  const got = await parquetReadObjects({ file: buffer, compressors: { ZSTD } });
  assert.deepEqual(
    got.map((r) => r.big as unknown),
    Array.from(big, (v, i) => (nullMask[i] ? null : v)),
  );
});
