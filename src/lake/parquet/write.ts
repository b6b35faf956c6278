/**
 * Writes one Parquet data file for a slice of a span batch and computes the Iceberg manifest
 * metrics (sizes, counts, bounds, split offsets) from the same pass, so the table never has to
 * re-read a file it just wrote.
 */
import type { RowGroup, SchemaElement } from 'hyparquet';
import { TailsamplerError } from '../../errors.ts';
import { KAFKA_METADATA_FIELDS, SPAN_COLUMNS } from '../span-schema.ts';
import type { ColumnDef, FieldDef, HOT_COLUMNS, IcebergPrimitive, KafkaMetadata, PartialSpanColumns, WriteSpanColumns } from '../span-schema.ts';
import type { DataFile } from '../table.ts';
import { serializeBound } from '../transforms.ts';
import { zstdCompress } from './zstd.ts';
import { encodeParquet } from './encode.ts';
import type { Leaf, LeafValues, StatValue } from './encode.ts';
import { parquetElement, SPAN_PARQUET_SCHEMA } from './schema.ts';
import { longWords } from '../long-words.ts';

export interface WrittenFile {
  bytes: Uint8Array;
  metrics: Omit<DataFile, 'path' | 'partition' | 'fileSizeInBytes'>;
}

export interface WrittenDataFile extends WrittenFile {
  /** The file's hot columns (HOT_COLUMNS) as gathered for it, in file order: what the evaluator reads first. */
  hot: PartialSpanColumns;
}

export class ParquetWriteError extends TailsamplerError {
  constructor(message: string, cause?: unknown) {
    super('TS_LAKE_PARQUET_WRITE', message, { cause });
    this.name = 'ParquetWriteError';
  }
}

/** Sort order id 1 of the table: trace_id ascending. */
export const TRACE_ID_SORT_ORDER_ID = 1;

/** Long enough that 32-hex trace ids keep exact row-group min/max (default would cut to 16). */
const STATS_TRUNCATE_LENGTH = 32;

/**
 * How one column is written. `statistics`: row-group min/max in the footer and Iceberg manifest
 * bounds (ASCII strings only: they compare as UTF-8 bytes there). `dictionary`: try a dictionary.
 */
export interface ColumnPlan {
  statistics: boolean;
  dictionary: boolean;
}

/**
 * The file's leaf columns gathered from a batch, with the per-column manifest counts taken on the
 * way; the bounds come from the encoder's row-group ranges (see {@link writeParquetFile}).
 */
export class ColumnStats {
  readonly rows: Int32Array;
  readonly leaves: Leaf[] = [];
  /** Per leaf: the column's Iceberg field id and type when its bounds go to the manifest. */
  readonly bounded: ({ id: number; type: IcebergPrimitive } | undefined)[] = [];
  readonly valueCounts = new Map<number, number>();
  readonly nullValueCounts = new Map<number, number>();

  /** `rows`: the batch rows the file holds, in file order. */
  constructor(rows: Int32Array) {
    this.rows = rows;
  }

  /**
   * Picks the file's rows of one column into its leaves (a struct: one per field) and records
   * their value and null counts (a null struct is a null in each of its fields).
   */
  gather(def: ColumnDef | FieldDef, source: ArrayLike<unknown>, plan: ColumnPlan, path: readonly string[] = [def.name]): void {
    const rows = this.rows;
    const n = rows.length;
    if (def.type === 'kafka_metadata') {
      // Struct values are shared per Kafka record; each field becomes an optional-level leaf.
      const src = source as ArrayLike<KafkaMetadata | null>;
      const partition = new Int32Array(n);
      const offset = new BigInt64Array(n);
      const timestamp = new BigInt64Array(n);
      const mask = new Uint8Array(n);
      let nulls = 0;
      for (let i = 0; i < n; i++) {
        const m = src[rows[i]!];
        if (m === null || m === undefined) {
          mask[i] = 1;
          nulls++;
          continue;
        }
        partition[i] = m.partition;
        offset[i] = m.offset;
        timestamp[i] = m.timestamp;
      }
      const values = [partition, offset, timestamp];
      KAFKA_METADATA_FIELDS.forEach((f, j) => {
        this.leaf(f, values[j]!, nulls ? mask : undefined, !def.required, nulls, { statistics: false, dictionary: plan.dictionary }, [...path, f.name]);
      });
      return;
    }
    if (def.type === 'int') {
      const src = source as ArrayLike<number>;
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = src[rows[i]!]!;
      this.leaf(def, out, undefined, !def.required, 0, plan, path);
      return;
    }
    if (def.type === 'long' || def.type === 'timestamptz') {
      const out = new BigInt64Array(n);
      const from = longWords(source as ArrayLike<bigint>);
      const to = longWords(out);
      for (let i = 0; i < n; i++) {
        const r = rows[i]! * 2;
        to[2 * i] = from[r]!;
        to[2 * i + 1] = from[r + 1]!;
      }
      this.leaf(def, out, undefined, !def.required, 0, plan, path);
      return;
    }
    // Text: strings, or UTF-8 bytes (the codec's JSON cells), which are written as they are.
    const src = source as ArrayLike<string | Uint8Array | null>;
    const out = new Array<string | Uint8Array | null>(n);
    let mask: Uint8Array | undefined;
    let nulls = 0;
    for (let i = 0; i < n; i++) {
      const v = src[rows[i]!];
      if (v === null || v === undefined) {
        if (def.required) throw new ParquetWriteError(`required column ${def.name} has a null at batch row ${rows[i]}`);
        out[i] = null;
        (mask ??= new Uint8Array(n))[i] = 1;
        nulls++;
        continue;
      }
      out[i] = v;
    }
    this.leaf(def, out, mask, !def.required, nulls, plan, path);
  }

  private leaf(def: FieldDef | ColumnDef, values: LeafValues, nullMask: Uint8Array | undefined, optional: boolean, nulls: number, plan: ColumnPlan, path: readonly string[]): void {
    this.leaves.push({ element: parquetElement(def), path, values, nullMask, optional, dictionary: plan.dictionary, statistics: plan.statistics });
    this.bounded.push(plan.statistics ? { id: def.id, type: def.type as IcebergPrimitive } : undefined);
    this.valueCounts.set(def.id, values.length);
    this.nullValueCounts.set(def.id, nulls);
  }
}

/**
 * Columns written PLAIN without a dictionary trial: unique (or nearly) per span, where the trial
 * never pays. parent_span_id, attributes, events and links are left to the trial (shared within a
 * trace, a cell shared by spans with the same attributes, or mostly `[]`).
 */
const PLAIN_COLUMNS: ReadonlySet<string> = new Set(['span_id', 'start_time_unix_nano', 'end_time_unix_nano', 'timestamp', 'duration']);

/**
 * The string column with statistics and manifest bounds: trace_id, what readers prune row groups
 * and files by (ASCII hex, sorted). Every int and long column has them too (cheap, and time
 * bounds serve other engines' queries). Span ids are random (their bounds would prune nothing);
 * names and OTLP/JSON text nobody filters on.
 */
const BOUNDED_STRINGS: ReadonlySet<string> = new Set(['trace_id']);

/**
 * Writes `rows` of `batch` (in that order, already sorted by trace_id) as one Parquet file with
 * row groups of `rowGroupSize` rows.
 */
export function writeDataFile(
  batch: WriteSpanColumns,
  rows: Int32Array,
  options: { rowGroupSize: number },
): WrittenDataFile {
  if (!(options.rowGroupSize > 0)) throw new ParquetWriteError(`rowGroupSize must be positive, got ${options.rowGroupSize}`);
  if (rows.length === 0) throw new ParquetWriteError('cannot write an empty data file');

  const stats = new ColumnStats(rows);
  for (const c of SPAN_COLUMNS) {
    const def = c as ColumnDef;
    const source = batch[def.name] as ArrayLike<unknown> | undefined;
    if (!source) throw new ParquetWriteError(`batch lacks column ${def.name}`);
    const statistics = def.type === 'string' ? BOUNDED_STRINGS.has(def.name) : def.type !== 'kafka_metadata';
    stats.gather(def, source, { statistics, dictionary: !PLAIN_COLUMNS.has(def.name) });
  }

  const file = writeParquetFile(stats, {
    schema: SPAN_PARQUET_SCHEMA,
    rowGroupSize: options.rowGroupSize,
    // Readers (and Iceberg's sort-order checks) learn from this that rows are ordered by trace_id.
    sortingColumns: [{ column_idx: 0, descending: false, nulls_first: true }],
    sortOrderId: TRACE_ID_SORT_ORDER_ID,
  });
  return { ...file, hot: hotColumns(stats) };
}

/**
 * The file's hot columns, as gathered for it (a hot column is a primitive: its one leaf), in one
 * object literal: a single hidden class, kept alive by the literal. Built property by property, each
 * file's object went through hidden classes that die with the last object that has them, and the
 * evaluator's optimized code that saw them was thrown away with them.
 */
function hotColumns(stats: ColumnStats): PartialSpanColumns {
  const leaf = <K extends (typeof HOT_COLUMNS)[number]>(name: K): PartialSpanColumns[K] =>
    stats.leaves.find((l) => l.path[0] === name)!.values as unknown as PartialSpanColumns[K];
  return {
    length: stats.rows.length,
    trace_id: leaf('trace_id'),
    parent_span_id: leaf('parent_span_id'),
    status_code: leaf('status_code'),
    start_time_unix_nano: leaf('start_time_unix_nano'),
    end_time_unix_nano: leaf('end_time_unix_nano'),
    span_size: leaf('span_size'),
    receivedMs: undefined,
  } satisfies Record<(typeof HOT_COLUMNS)[number], unknown> & PartialSpanColumns;
}

export interface ParquetFileOptions {
  /** The file's schema: the root element, then every field (structs followed by their leaves). */
  schema: readonly SchemaElement[];
  rowGroupSize: number;
  /** Set on every row group: the order the rows were written in. */
  sortingColumns?: RowGroup['sorting_columns'];
  /** The table's sort order the rows follow (0: unsorted). */
  sortOrderId: number;
}

/**
 * Writes the leaves gathered in `stats` as one ZSTD-compressed Parquet file with row groups of
 * `rowGroupSize` rows, and returns it with its manifest metrics (column sizes and split offsets
 * from its row groups, bounds from their statistics). Failures come out as {@link ParquetWriteError}.
 */
export function writeParquetFile(stats: ColumnStats, options: ParquetFileOptions): WrittenFile {
  try {
    const file = encodeParquet(stats.leaves, stats.rows.length, {
      schema: options.schema,
      rowGroupSize: options.rowGroupSize,
      compress: zstdCompress,
      statisticsTruncateLength: STATS_TRUNCATE_LENGTH,
      // Every file's options have this one shape (sortingColumns undefined when unsorted). Built
      // with a conditional spread, their hidden classes died with them between commits and came
      // back new, and the encoder's optimized code deoptimized on each ("wrong map", --trace-deopt).
      sortingColumns: options.sortingColumns,
      createdBy: 'tailsampler',
    });
    const columnSizes = new Map<number, number>();
    const splitOffsets: number[] = [];
    for (const rg of file.rowGroups) {
      splitOffsets.push(Number(rg.file_offset));
      rg.columns.forEach((c, j) => {
        const id = stats.leaves[j]!.element.field_id!;
        columnSizes.set(id, (columnSizes.get(id) ?? 0) + Number(c.meta_data!.total_compressed_size));
      });
    }
    const lowerBounds = new Map<number, Uint8Array>();
    const upperBounds = new Map<number, Uint8Array>();
    stats.bounded.forEach((b, j) => {
      if (!b) return;
      let min: StatValue | undefined;
      let max: StatValue | undefined;
      for (const r of file.ranges[j]!) {
        if (!r) continue;
        if (min === undefined || r.min < min) min = r.min;
        if (max === undefined || r.max > max) max = r.max;
      }
      if (min === undefined || max === undefined) return;
      lowerBounds.set(b.id, serializeBound(b.type, min));
      upperBounds.set(b.id, serializeBound(b.type, max));
    });
    return {
      bytes: file.bytes,
      metrics: {
        recordCount: stats.rows.length,
        columnSizes,
        valueCounts: stats.valueCounts,
        nullValueCounts: stats.nullValueCounts,
        lowerBounds,
        upperBounds,
        splitOffsets,
        sortOrderId: options.sortOrderId,
      },
    };
  } catch (e) {
    if (e instanceof TailsamplerError) throw e;
    throw new ParquetWriteError(`writing Parquet data file failed: ${(e as Error).message}`, e);
  }
}
