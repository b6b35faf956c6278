/**
 * Writes one Parquet data file for a slice of a span batch and computes the Iceberg manifest
 * metrics (sizes, counts, bounds, split offsets) from the same pass, so the table never has to
 * re-read a file it just wrote.
 */
import { constants as zlibConstants, zstdCompressSync } from 'node:zlib';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { ColumnSource } from 'hyparquet-writer';
import type { DecodedArray, RowGroup, SchemaElement } from 'hyparquet';
import { TailsamplerError } from '../../errors.ts';
import { KAFKA_METADATA_FIELDS, SPAN_COLUMNS } from '../span-schema.ts';
import type { ColumnDef, FieldDef, IcebergPrimitive, KafkaMetadata, WriteSpanColumns } from '../span-schema.ts';
import type { DataFile } from '../table.ts';
import { serializeBound } from '../transforms.ts';
import { LEAF_FIELD_IDS, SPAN_PARQUET_SCHEMA, UNBOUNDED_COLUMNS } from './schema.ts';

export interface WrittenFile {
  bytes: Uint8Array;
  metrics: Omit<DataFile, 'path' | 'partition' | 'fileSizeInBytes'>;
}

export class ParquetWriteError extends TailsamplerError {
  constructor(message: string, cause?: unknown) {
    super('TS_LAKE_PARQUET_WRITE', message, { cause });
    this.name = 'ParquetWriteError';
  }
}

/** Sort order id 1 of the table: trace_id ascending. */
export const TRACE_ID_SORT_ORDER_ID = 1;

/** ZSTD level 3: zstd's default, far better ratio than snappy on JSON text at similar speed. */
const ZSTD_LEVEL = 3;

/**
 * Pages up to this many bytes are stored in a zstd frame holding one raw (uncompressed) block. Node
 * builds a new compression context for every zstdCompressSync call (~23 µs however small the input,
 * and it has no public sync API to reuse one), while more than half the pages of a production-sized
 * file (1-2K rows) are a few bytes: run-length dictionary indexes of near-constant int columns,
 * definition-level-only pages of all-null columns. zstd would not shrink those anyway.
 */
export const ZSTD_RAW_MAX = 64;

/**
 * `input` as a zstd frame (RFC 8878 §3.1.1) of one raw block: magic, a frame header with
 * Single_Segment set and a one-byte Frame_Content_Size, then a block header (last block, raw,
 * size n) and the bytes. Every zstd decoder reads it; it is what zstd itself writes for an empty input.
 */
export function zstdRawFrame(input: Uint8Array): Uint8Array {
  const n = input.length;
  if (n > 255) throw new RangeError(`a one-byte Frame_Content_Size cannot hold ${n}`);
  const out = new Uint8Array(9 + n);
  out.set([0x28, 0xb5, 0x2f, 0xfd, 0x20, n, 1 | ((n << 3) & 0xff), (n << 3) >> 8, 0]);
  out.set(input, 9);
  return out;
}

export const zstd = (input: Uint8Array): Uint8Array =>
  input.length <= ZSTD_RAW_MAX
    ? zstdRawFrame(input)
    : zstdCompressSync(input, { params: { [zlibConstants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } });

/** Long enough that 32-hex trace ids keep exact row-group min/max (default would cut to 16). */
const STATS_TRUNCATE_LENGTH = 32;

export type Gathered = { values: DecodedArray; nulls: number; min: string | number | bigint | undefined; max: string | number | bigint | undefined };

/** Picks `rows` of one column into the array the writer takes, counting nulls and (with `bounds`) min/max. */
export function gather(def: ColumnDef | FieldDef, source: ArrayLike<unknown>, rows: Int32Array, bounds: boolean): Gathered {
  const n = rows.length;
  if (def.type === 'kafka_metadata') {
    // Struct values go to the writer as they are (shared per Kafka record); no bounds.
    const src = source as ArrayLike<KafkaMetadata | null>;
    const out = new Array<KafkaMetadata | null>(n);
    let nulls = 0;
    for (let i = 0; i < n; i++) if ((out[i] = src[rows[i]!] ?? null) === null) nulls++;
    return { values: out, nulls, min: undefined, max: undefined };
  }
  if (def.type === 'int') {
    const src = source as ArrayLike<number>;
    const out = new Int32Array(n);
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = src[rows[i]!]!;
      out[i] = v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    return { values: out, nulls: 0, min: n ? min : undefined, max: n ? max : undefined };
  }
  if (def.type === 'long' || def.type === 'timestamptz') {
    const src = source as ArrayLike<bigint>;
    const out = new BigInt64Array(n);
    for (let i = 0; i < n; i++) out[i] = src[rows[i]!]!;
    let min: bigint | undefined;
    let max: bigint | undefined;
    if (n) {
      min = out[0]!;
      max = min;
      for (let i = 1; i < n; i++) {
        const v = out[i]!;
        if (v < min) min = v;
        else if (v > max) max = v;
      }
    }
    return { values: out, nulls: 0, min, max };
  }
  // Text: strings, or UTF-8 bytes (the codec's JSON cells), which the writer takes as they are.
  const src = source as ArrayLike<string | Uint8Array | null>;
  const out = new Array<string | Uint8Array | null>(n);
  let nulls = 0;
  let min: string | undefined;
  let max: string | undefined;
  for (let i = 0; i < n; i++) {
    const v = src[rows[i]!];
    if (v === null || v === undefined) {
      if (def.required) throw new ParquetWriteError(`required column ${def.name} has a null at batch row ${rows[i]}`);
      out[i] = null;
      nulls++;
      continue;
    }
    out[i] = v;
    // Bounds are only kept for id-like ASCII columns, where JS `<` equals UTF-8 byte order.
    if (bounds && typeof v === 'string') {
      if (min === undefined || v < min) min = v;
      if (max === undefined || v > max) max = v;
    }
  }
  return { values: out, nulls, min, max };
}

/**
 * The per-column manifest metrics of a file being written (value and null counts, bounds), taken
 * while its columns are gathered.
 */
export class ColumnStats {
  readonly rows: Int32Array;
  readonly valueCounts = new Map<number, number>();
  readonly nullValueCounts = new Map<number, number>();
  readonly lowerBounds = new Map<number, Uint8Array>();
  readonly upperBounds = new Map<number, Uint8Array>();

  /** `rows`: the batch rows the file holds, in file order. */
  constructor(rows: Int32Array) {
    this.rows = rows;
  }

  /**
   * Gathers the file's rows of one column (see {@link gather}) and records its counts under each
   * of `leafIds` (a null struct is a null in each of its fields) and, with `bounds`, its min/max.
   */
  gather(def: ColumnDef | FieldDef, source: ArrayLike<unknown>, bounds: boolean, leafIds: readonly number[] = [def.id]): DecodedArray {
    const g = gather(def, source, this.rows, bounds);
    for (const id of leafIds) {
      this.valueCounts.set(id, this.rows.length);
      this.nullValueCounts.set(id, g.nulls);
    }
    if (bounds && g.min !== undefined && g.max !== undefined) {
      this.lowerBounds.set(def.id, serializeBound(def.type as IcebergPrimitive, g.min));
      this.upperBounds.set(def.id, serializeBound(def.type as IcebergPrimitive, g.max));
    }
    return g.values;
  }
}

/**
 * Columns written PLAIN without a dictionary trial: unique (or nearly) per span, where the trial
 * never pays. parent_span_id, events and links are left to the trial (shared within a trace, or
 * mostly `[]`).
 */
const PLAIN_COLUMNS: ReadonlySet<string> = new Set(['span_id', 'attributes', 'start_time_unix_nano', 'end_time_unix_nano', 'timestamp', 'duration']);

/** String columns whose manifest bounds are worth keeping: short, ASCII hex ids. */
const BOUNDED_STRINGS: ReadonlySet<string> = new Set(['trace_id', 'span_id', 'parent_span_id']);

/**
 * Writes `rows` of `batch` (in that order, already sorted by trace_id) as one Parquet file with
 * row groups of `rowGroupSize` rows.
 */
export async function writeDataFile(
  batch: WriteSpanColumns,
  rows: Int32Array,
  options: { rowGroupSize: number },
): Promise<WrittenFile> {
  if (!(options.rowGroupSize > 0)) throw new ParquetWriteError(`rowGroupSize must be positive, got ${options.rowGroupSize}`);
  if (rows.length === 0) throw new ParquetWriteError('cannot write an empty data file');

  const stats = new ColumnStats(rows);
  const columnData: ColumnSource[] = [];
  for (const c of SPAN_COLUMNS) {
    const def = c as ColumnDef;
    const source = batch[def.name] as ArrayLike<unknown> | undefined;
    if (!source) throw new ParquetWriteError(`batch lacks column ${def.name}`);
    const unbounded = UNBOUNDED_COLUMNS.has(def.name);
    const wantBounds = def.type === 'string' ? BOUNDED_STRINGS.has(def.name) : def.type !== 'kafka_metadata';
    const leafIds = def.type === 'kafka_metadata' ? KAFKA_METADATA_FIELDS.map((f) => f.id) : [def.id];
    columnData.push({
      name: def.name,
      data: stats.gather(def, source, wantBounds, leafIds),
      statistics: !unbounded,
      columnIndex: !unbounded,
      // Near-unique per row: a dictionary attempt only costs time.
      ...(PLAIN_COLUMNS.has(def.name) ? { encoding: 'PLAIN' as const } : {}),
    });
  }

  return writeParquetFile(columnData, stats, {
    schema: SPAN_PARQUET_SCHEMA,
    leafFieldIds: LEAF_FIELD_IDS,
    rowGroupSize: options.rowGroupSize,
    statisticsTruncateLength: STATS_TRUNCATE_LENGTH,
    // Readers (and Iceberg's sort-order checks) learn from this that rows are ordered by trace_id.
    sortingColumns: [{ column_idx: 0, descending: false, nulls_first: true }],
    sortOrderId: TRACE_ID_SORT_ORDER_ID,
  });
}

export interface ParquetFileOptions {
  /** The file's schema: the root element, then every field (structs followed by their leaves). */
  schema: readonly SchemaElement[];
  /** Iceberg field id of each leaf column, in file order (what `columnSizes` is keyed by). */
  leafFieldIds: readonly number[];
  rowGroupSize: number;
  /** Longest byte-array min/max kept in statistics (default: the writer's). */
  statisticsTruncateLength?: number;
  /** Set on every row group: the order the rows were written in. */
  sortingColumns?: RowGroup['sorting_columns'];
  /** The table's sort order the rows follow (0: unsorted). */
  sortOrderId: number;
}

/**
 * Writes `columnData` (gathered through `stats`) as one ZSTD-compressed Parquet file with
 * statistics and row groups of `rowGroupSize` rows, and returns it with its manifest metrics (the
 * column sizes and split offsets taken from its row groups). Failures of the writer come out as
 * {@link ParquetWriteError}.
 */
export async function writeParquetFile(columnData: ColumnSource[], stats: ColumnStats, options: ParquetFileOptions): Promise<WrittenFile> {
  const writer = new ByteWriter();
  try {
    const pq = new ParquetWriter({
      writer,
      schema: options.schema as never,
      codec: 'ZSTD',
      compressors: { ZSTD: zstd },
      statistics: true,
      ...(options.statisticsTruncateLength !== undefined ? { statisticsTruncateLength: options.statisticsTruncateLength } : {}),
      createdBy: 'tailsampler (hyparquet-writer 0.17)',
    });
    await pq.write({ columnData, rowGroupSize: options.rowGroupSize });

    const columnSizes = new Map<number, number>();
    const splitOffsets: number[] = [];
    for (const rg of pq.row_groups) {
      const first = rg.columns[0]!;
      const start = first.meta_data?.dictionary_page_offset ?? first.meta_data?.data_page_offset ?? first.file_offset;
      rg.file_offset = start;
      if (options.sortingColumns !== undefined) rg.sorting_columns = options.sortingColumns;
      splitOffsets.push(Number(start));
      for (let j = 0; j < rg.columns.length; j++) {
        const id = options.leafFieldIds[j]!;
        const size = Number(rg.columns[j]!.meta_data?.total_compressed_size ?? 0n);
        columnSizes.set(id, (columnSizes.get(id) ?? 0) + size);
      }
    }
    await pq.finish();
    return {
      bytes: writer.getBytes(),
      metrics: {
        recordCount: stats.rows.length,
        columnSizes,
        valueCounts: stats.valueCounts,
        nullValueCounts: stats.nullValueCounts,
        lowerBounds: stats.lowerBounds,
        upperBounds: stats.upperBounds,
        splitOffsets,
        sortOrderId: options.sortOrderId,
      },
    };
  } catch (e) {
    if (e instanceof TailsamplerError) throw e;
    throw new ParquetWriteError(`writing Parquet data file failed: ${(e as Error).message}`, e);
  }
}
