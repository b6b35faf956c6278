import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zstdDecompressSync } from 'node:zlib';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import type { FileMetaData, RowGroup, SchemaElement } from 'hyparquet';
import { ByteWriter } from 'hyparquet-writer';
import { writeMetadata } from 'hyparquet-writer/src/metadata.js';
import { AUDIT_COLUMNS } from '../../../../src/lake/audit-schema.ts';
import { encodeParquet } from '../../../../src/lake/parquet/encode.ts';
import type { EncodedFile, EncodeOptions } from '../../../../src/lake/parquet/encode.ts';
import { parquetElement, SPAN_PARQUET_SCHEMA } from '../../../../src/lake/parquet/schema.ts';
import { writeFooter } from '../../../../src/lake/parquet/thrift.ts';
import type { Footer } from '../../../../src/lake/parquet/thrift.ts';
import { ColumnStats } from '../../../../src/lake/parquet/write.ts';
import { zstdCompress } from '../../../../src/lake/parquet/zstd.ts';
import { SPAN_COLUMNS } from '../../../../src/lake/span-schema.ts';
import type { FieldDef, WriteSpanColumns } from '../../../../src/lake/span-schema.ts';
import { requestsToColumns } from '../../../../src/otlp/to-columns.ts';
import { realisticRequest } from '../../../fixtures/otlp/requests.ts';
import { syntheticBatch } from './fixtures.ts';

function libraryFooter(footer: Footer, truncateLength: number): Buffer {
  const w = new ByteWriter(1024);
  writeMetadata(w, footer as unknown as FileMetaData, truncateLength);
  return Buffer.from(w.getBytes());
}

function ownFooter(footer: Footer, truncateLength: number): Buffer {
  const w = new ByteWriter(16);
  writeFooter(w, footer, truncateLength);
  return Buffer.from(w.getBytes());
}

/** The file ends with the footer hyparquet-writer writes for its row groups, then the magic. */
function assertLibraryFooter(file: EncodedFile, rows: number, options: EncodeOptions, what: string): void {
  const footer = { version: 2, created_by: options.createdBy, schema: options.schema, num_rows: BigInt(rows), row_groups: file.rowGroups };
  const expected = Buffer.concat([libraryFooter(footer, options.statisticsTruncateLength), Buffer.from('PAR1')]);
  assert.deepEqual(Buffer.from(file.bytes.subarray(file.bytes.length - expected.length)), expected, what);
}

/**
 * The batch's leaves with statistics on every one the encoder can give them (strings too, so long JSON
 * text gets cut; not UTF-8 bytes cells, which it has no order for), nulls included.
 */
function spanLeaves(batch: WriteSpanColumns): ColumnStats {
  const stats = new ColumnStats(Int32Array.from({ length: batch.length }, (_, i) => i));
  for (const c of SPAN_COLUMNS) {
    const values = batch[c.name] as ArrayLike<unknown>;
    stats.gather(c, values, { statistics: !(values[0] instanceof Uint8Array), dictionary: true });
  }
  return stats;
}

const ZSTD = (input: Uint8Array, outputLength: number) => new Uint8Array(zstdDecompressSync(input)).subarray(0, outputLength);

test('span files end with the footer hyparquet-writer writes: row groups, nulls, statistics cut at several lengths, sorting columns', async () => {
  const synthetic = syntheticBatch({ spans: 2500, spansPerTrace: 7 });
  // Non-ASCII names and a row group whose trace_state is all null (statistics with a null count only).
  const names = synthetic.service_name as (string | null)[];
  names[5] = 'zürich-✓-😀-'.repeat(4);
  names[6] = '\u{10FFFF}'.repeat(12);
  const traceState = synthetic.trace_state as (string | null)[];
  for (let i = 1000; i < 2000; i++) traceState[i] = null;
  const realistic = requestsToColumns([realisticRequest(1200)]);
  for (const [what, batch] of [['synthetic', synthetic], ['realistic', realistic]] as const) {
    const stats = spanLeaves(batch);
    for (const statisticsTruncateLength of [32, 16, 5, 1]) {
      const options: EncodeOptions = {
        schema: SPAN_PARQUET_SCHEMA,
        rowGroupSize: 1000,
        compress: zstdCompress,
        statisticsTruncateLength,
        sortingColumns: [{ column_idx: 0, descending: false, nulls_first: true }],
        createdBy: 'tailsampler',
      };
      const file = encodeParquet(stats.leaves, batch.length, options);
      assertLibraryFooter(file, batch.length, options, `${what}, statistics cut at ${statisticsTruncateLength}`);
      const meta = parquetMetadata(file.bytes.buffer.slice(file.bytes.byteOffset, file.bytes.byteOffset + file.bytes.byteLength) as ArrayBuffer);
      assert.equal(meta.row_groups.length, Math.ceil(batch.length / 1000));
    }
  }
});

test('audit files end with the footer hyparquet-writer writes: optional strings, all-null chunks, long labels', async () => {
  const rows = 1500;
  const longHost = 'ip-10-0-0-1.eu-west-1.compute.internal-replica-with-a-long-name';
  const columns: Record<string, ArrayLike<unknown>> = {
    trace_id: Array.from({ length: rows }, (_, i) => i.toString(16).padStart(32, '0')),
    decided_at: BigInt64Array.from({ length: rows }, (_, i) => 1_760_000_000_000_000n + BigInt(i) * 1000n),
    outcome: Array.from({ length: rows }, (_, i) => (i % 3 ? 'not_sampled' : 'sampled')),
    policy: Array.from({ length: rows }, (_, i) => (i % 4 ? `latency-über-${i % 9}-✓` : '')),
    threshold: Array.from({ length: rows }, (_, i) => (i < 1000 || i % 2 ? null : 'c')),
    span_count: Int32Array.from({ length: rows }, (_, i) => (i * 7) % 300),
    error_count: Int32Array.from({ length: rows }, (_, i) => i % 3),
    duration: BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) * -(2n ** 40n)),
    trace_bytes: BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) * 1234n),
    first_seen: BigInt64Array.from({ length: rows }, (_, i) => 1_760_000_000_000_000n - BigInt(i)),
    last_seen: BigInt64Array.from({ length: rows }, (_, i) => 1_760_000_000_000_000n + BigInt(i)),
    replica: Array.from({ length: rows }, (_, i) => `${longHost}-${i % 2}`),
  };
  const stats = new ColumnStats(Int32Array.from({ length: rows }, (_, i) => i));
  for (const def of AUDIT_COLUMNS) stats.gather(def, columns[def.name]!, { statistics: true, dictionary: true });
  const options: EncodeOptions = {
    schema: [{ name: 'table', num_children: AUDIT_COLUMNS.length }, ...AUDIT_COLUMNS.map((f) => parquetElement(f as FieldDef))],
    rowGroupSize: 1000,
    compress: zstdCompress,
    statisticsTruncateLength: 32,
    createdBy: 'tailsampler',
  };
  const file = encodeParquet(stats.leaves, rows, options);
  assertLibraryFooter(file, rows, options, 'audit');
  const got = await parquetReadObjects({ file: file.bytes.buffer.slice(file.bytes.byteOffset, file.bytes.byteOffset + file.bytes.byteLength) as ArrayBuffer, compressors: { ZSTD } });
  assert.equal(got.length, rows);
  assert.equal(got[1000]!.threshold, 'c');
  assert.equal(got[1499]!.replica, `${longHost}-1`);
});

test('string statistics are cut on UTF-8 code point boundaries, and a maximum rounded up, as hyparquet-writer does', () => {
  const element: SchemaElement = { name: 's', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL', converted_type: 'UTF8', logical_type: { type: 'STRING' }, field_id: 1 };
  const values = [
    '',
    'abc',
    'abcdefghij',
    'ab\x7f\x7f\x7f',
    '\x7f'.repeat(9),
    'aé✓😀bc',
    'é'.repeat(8),
    '✓'.repeat(6),
    '😀'.repeat(4),
    `a${'\u{10FFFF}'.repeat(3)}`,
    '\u{10FFFF}'.repeat(3),
    `x\u{D7FF}\u{D7FF}\u{D7FF}`,
    'ab\uD800cd', // a lone surrogate: TextEncoder writes U+FFFD for it
    '\u{FFFF}\u{FFFF}\u{FFFF}',
  ];
  const footer = (min: string, max: string): Footer => ({
    version: 2,
    created_by: 'test',
    schema: [{ name: 'table', num_children: 1 }, element],
    num_rows: 1n,
    row_groups: [
      {
        columns: [
          {
            file_offset: 4n,
            meta_data: {
              type: 'BYTE_ARRAY',
              encodings: ['PLAIN'],
              path_in_schema: ['s'],
              codec: 'ZSTD',
              num_values: 1n,
              total_uncompressed_size: 10n,
              total_compressed_size: 12n,
              data_page_offset: 4n,
              statistics: { null_count: 0n, min_value: min, max_value: max },
            },
          },
        ],
        total_byte_size: 10n,
        num_rows: 1n,
      },
    ],
  });
  for (const v of values) {
    for (let length = 0; length <= 13; length++) {
      const f = footer(v, v);
      assert.deepEqual(ownFooter(f, length), libraryFooter(f, length), `${JSON.stringify(v)} cut at ${length}`);
    }
  }
});

test('a footer without some statistics, row-group offsets or sorting columns, with empty and long lists, is the same bytes too', () => {
  const leaves = Array.from({ length: 20 }, (_, j): SchemaElement => ({ name: `c${j}`, type: j % 2 ? 'INT32' : 'INT64', repetition_type: 'REQUIRED', field_id: j + 1 }));
  const rowGroup = (g: number): RowGroup => ({
    columns: leaves.map((e, j) => ({
      file_offset: BigInt(4 + 1000 * g + j),
      meta_data: {
        type: e.type!,
        encodings: ['PLAIN'],
        path_in_schema: [e.name],
        codec: 'ZSTD',
        num_values: 2n ** 40n,
        total_uncompressed_size: 2n ** 33n + BigInt(j),
        total_compressed_size: BigInt(j),
        data_page_offset: BigInt(4 + 1000 * g + j),
        ...(j % 3 === 0 ? {} : { statistics: e.type === 'INT32' ? { null_count: 0n, min_value: -(2 ** 31), max_value: 2 ** 31 - 1 } : { null_count: 5n, min_value: -(2n ** 63n), max_value: 2n ** 63n - 1n } }),
      },
    })),
    total_byte_size: 2n ** 60n + 123n, // above 2^52: the BigInt varint path
    num_rows: 2n ** 40n,
    // An empty list, and booleans either way.
    ...(g < 2 ? { sorting_columns: g === 0 ? [] : [{ column_idx: 3, descending: true, nulls_first: false }] } : {}),
  });
  const f: Footer = { version: 2, created_by: 'tailsampler ✓', schema: [{ name: 'table', num_children: leaves.length }, ...leaves], num_rows: 2n ** 41n, row_groups: Array.from({ length: 16 }, (_, g) => rowGroup(g)) };
  assert.deepEqual(ownFooter(f, 32), libraryFooter(f, 32));
  assert.throws(() => ownFooter({ ...f, row_groups: [{ ...rowGroup(0), columns: rowGroup(0).columns.slice(1) }] }, 32), /19 columns, the schema 20 leaves/);
  assert.throws(() => ownFooter({ ...f, schema: [f.schema[0]!, { ...leaves[0]!, logical_type: { type: 'JSON' } }, ...leaves.slice(1)] }, 32), /no JSON logical type/);
});
