/**
 * Reads columns of one span data file through FileIO range reads: the footer, then only the column
 * chunks of the row groups that can hold the requested traces. Returns columns as typed arrays
 * (int → Int32Array, long/timestamptz → BigInt64Array) and string arrays (null for missing values).
 */
import { parquetMetadataAsync, parquetRead } from 'hyparquet';
import type { AsyncBuffer, ColumnData, FileMetaData, SchemaElement } from 'hyparquet';
import { TailsamplerError } from '../../errors.ts';
import { COLUMN_BY_NAME } from '../span-schema.ts';
import type { ColumnDef, ColumnName, KafkaMetadata, PartialSpanColumns } from '../span-schema.ts';
import type { FileIO } from '../file-io.ts';
import { hexOf } from '../../otlp/hex.ts';
import { zstdDecompress } from './zstd.ts';
import { ownLayout, readOwnGroups, topFields } from './own-read.ts';
import type { OwnFile, OwnLayout } from './own-read.ts';

/**
 * Which column of a data file holds each span column: its Iceberg field id (how Iceberg readers
 * resolve Parquet columns) and name (used when a file carries no field ids). Default: the span
 * table's own ids and names; a table written by someone else (external mode) maps its own.
 */
export type FileColumns = ReadonlyMap<ColumnName, { id: number; name: string }>;

const OWN_COLUMNS: FileColumns = new Map([...COLUMN_BY_NAME].map(([name, d]) => [name, { id: d.id, name }]));

export class ParquetReadError extends TailsamplerError {
  constructor(message: string, cause?: unknown) {
    super('TS_LAKE_PARQUET_READ', message, { cause });
    this.name = 'ParquetReadError';
  }
}

const FOOTER_FETCH = 64 * 1024;
// Decoding errors come out of readDataFile as ParquetReadError naming the file.
const compressors = { ZSTD: zstdDecompress };
// Keep timestamps as raw microseconds (bigint) instead of hyparquet's default Date objects.
const parsers = { timestampFromMicroseconds: (micros: bigint): bigint => micros };
// Reading only some rows: text stays UTF-8 bytes too, decoded by `cell` only for the rows asked for
// (the emitter wants a tenth of the rows of the groups it reads).
const rowParsers = { ...parsers, stringFromBytes: (bytes: Uint8Array): Uint8Array => bytes };
const utf8 = new TextDecoder();

export type ColumnArray = Int32Array | BigInt64Array | (string | KafkaMetadata | null)[];

/** Reads `length` bytes of one file at `start`. */
type RangeRead = (start: number, length: number) => Promise<Uint8Array>;

/**
 * The range reads of one readDataFile call. The footer fetch takes the file's last FOOTER_FETCH bytes
 * (a small file whole): later reads inside the bytes fetched from the end are cut from them instead of
 * asking the store again (on S3 one GET instead of two or three for a small data file).
 */
function fileRanges(io: FileIO, uri: string, fileSize: number): RangeRead {
  /** The file's last `tail.byteLength` bytes, once read. */
  let tail: Uint8Array | undefined;
  return async (start, length) => {
    const from = fileSize - (tail?.byteLength ?? 0);
    if (tail !== undefined && start >= from && start + length <= fileSize) return tail.subarray(start - from, start - from + length);
    const bytes = await io.readRange(uri, start, length);
    if (start + length === fileSize && bytes.byteLength === length && length > (tail?.byteLength ?? 0)) tail = bytes;
    return bytes;
  };
}

function fileBuffer(read: RangeRead, uri: string, fileSize: number): AsyncBuffer {
  return {
    byteLength: fileSize,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = end ?? fileSize;
      const bytes = await read(start, stop - start);
      if (bytes.byteLength !== stop - start) {
        throw new ParquetReadError(`short read of ${uri} at ${start}: ${bytes.byteLength} of ${stop - start} bytes`);
      }
      // Pooled Buffers share an ArrayBuffer; hand hyparquet an exact copy of the range.
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}

/** Zeros or nulls: what a column the file lacks reads as (Iceberg: a column added later is null in older files). */
function allocate(def: ColumnDef, n: number): ColumnArray {
  if (def.type === 'int') return new Int32Array(n);
  if (def.type === 'long' || def.type === 'timestamptz') return new BigInt64Array(n);
  return new Array<string | null>(n).fill(null);
}

/** A number of another physical type than the span column's (external tables): int ↔ long, timestamps as microseconds. */
function coerceNumber(target: Int32Array | BigInt64Array, v: unknown): number | bigint {
  if (v === null || v === undefined) return target instanceof Int32Array ? 0 : 0n;
  if (target instanceof Int32Array) return Number(v);
  return v instanceof Date ? BigInt(v.getTime()) * 1000n : BigInt(v as number | bigint);
}

/** A text cell: UTF-8 text decoded, binary (ids some writers store as bytes) as lowercase hex. */
function cell(v: unknown, isText: boolean): string | KafkaMetadata | null {
  if (v instanceof Uint8Array) return isText ? utf8.decode(v) : hexOf(v);
  return (v as string | KafkaMetadata | null | undefined) ?? null;
}

/** A file column: the top-level Parquet name to ask hyparquet for, and whether it holds text. */
export interface Physical {
  def: ColumnDef;
  name: string;
  text: boolean;
}

function isText(e: SchemaElement): boolean {
  return e.type === 'BYTE_ARRAY' && (e.converted_type === 'UTF8' || e.logical_type?.type === 'STRING');
}

/** The file's top-level column for each requested span column, by field id, else by name; absent ones are left out. */
function resolve(metadata: FileMetaData, defs: readonly ColumnDef[], columns: FileColumns): Physical[] {
  const top = topFields(metadata.schema).map((f) => f.element);
  const out: Physical[] = [];
  for (const def of defs) {
    const want = columns.get(def.name);
    if (want === undefined) continue;
    const e = top.find((t) => t.field_id === want.id) ?? top.find((t) => t.field_id === undefined && t.name === want.name);
    if (e !== undefined) out.push({ def, name: e.name, text: isText(e) });
  }
  return out;
}

export interface GroupSpan {
  /** The row group's index in the file. */
  index: number;
  /** First file row of the group. */
  start: number;
  rows: number;
}

/** A file being read: hyparquet's view of it, its footer, and our own reader's layout when it applies. */
interface Source {
  file: AsyncBuffer;
  metadata: FileMetaData;
  own: OwnFile;
  layout: OwnLayout | undefined;
}

/**
 * Reads `columns` of the given row groups (ascending) into arrays laid out as the groups' rows
 * concatenated: files we wrote with own-read.ts, others with hyparquet (adjacent groups with one
 * parquetRead so it can coalesce fetches). With `wanted` (1 per row of that layout to keep), text
 * (and struct) cells of the other rows are left null instead of decoded.
 */
async function readGroups(
  source: Source,
  groups: readonly GroupSpan[],
  defs: readonly ColumnDef[],
  columns: readonly Physical[],
  wanted?: Uint8Array,
): Promise<Map<string, ColumnArray>> {
  const { file, metadata } = source;
  let total = 0;
  for (const g of groups) total += g.rows;
  const out = new Map<string, ColumnArray>();
  for (const c of defs) out.set(c.name, allocate(c, total));
  const byPhysical = new Map(columns.map((c) => [c.name, { target: out.get(c.def.name)!, text: c.text }]));
  if (total === 0 || columns.length === 0) return out;
  if (source.layout) {
    await readOwnGroups(source.own, metadata, source.layout, groups, columns, out, wanted);
    return out;
  }

  const reads: Promise<void>[] = [];
  let base = 0;
  for (let i = 0; i < groups.length; ) {
    const runStart = groups[i]!.start;
    const runBase = base;
    let runEnd = runStart;
    while (i < groups.length && groups[i]!.start === runEnd) {
      runEnd += groups[i]!.rows;
      base += groups[i]!.rows;
      i++;
    }
    const onChunk = (chunk: ColumnData): void => {
      const column = byPhysical.get(chunk.columnName);
      if (!column) return;
      const target = column.target;
      const data = chunk.columnData;
      // Chunks may reach outside the requested rows; copy only the overlap.
      const from = Math.max(chunk.rowStart, runStart);
      const to = Math.min(chunk.rowEnd, runEnd);
      const srcOffset = from - chunk.rowStart;
      const dstOffset = runBase + (from - runStart);
      const n = to - from;
      if (n <= 0) return;
      if (target instanceof BigInt64Array && data instanceof BigInt64Array) {
        target.set(data.subarray(srcOffset, srcOffset + n), dstOffset);
      } else if (target instanceof Int32Array && data instanceof Int32Array) {
        target.set(data.subarray(srcOffset, srcOffset + n), dstOffset);
      } else if (target instanceof Array) {
        // Cells of a dictionary page are the same bytes object for the same entry: decoded once a run.
        let lastBytes: unknown = undefined;
        let last: string | KafkaMetadata | null = null;
        for (let k = 0; k < n; k++) {
          if (wanted !== undefined && wanted[dstOffset + k] !== 1) continue;
          const v: unknown = data[srcOffset + k];
          if (v !== lastBytes || !(v instanceof Uint8Array)) {
            lastBytes = v;
            last = cell(v, column.text);
          }
          target[dstOffset + k] = last;
        }
      } else {
        const t = target as unknown as { [k: number]: number | bigint };
        for (let k = 0; k < n; k++) t[dstOffset + k] = coerceNumber(target, data[srcOffset + k]);
      }
    };
    reads.push(
      parquetRead({
        file,
        metadata,
        columns: columns.map((c) => c.name),
        rowStart: runStart,
        rowEnd: runEnd,
        compressors,
        parsers: wanted === undefined ? parsers : rowParsers,
        // Bytes without a string annotation stay bytes (binary ids become hex above, not mangled UTF-8).
        utf8: false,
        onChunk,
      }),
    );
  }
  await Promise.all(reads);
  return out;
}

/** Sorted requested ids, for a range test per row group. */
function anyInRange(sorted: readonly string[], min: string, max: string): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < min) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo]! <= max;
}

function statString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return undefined;
}

function gatherRows(src: ColumnArray, idx: Int32Array): ColumnArray {
  const n = idx.length;
  if (src instanceof Int32Array) {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = src[idx[i]!]!;
    return out;
  }
  if (src instanceof BigInt64Array) {
    const out = new BigInt64Array(n);
    for (let i = 0; i < n; i++) out[i] = src[idx[i]!]!;
    return out;
  }
  const out = new Array<string | KafkaMetadata | null>(n);
  for (let i = 0; i < n; i++) out[i] = src[idx[i]!]!;
  return out;
}

/**
 * Reads `columns` of the data file at `uri`. With `traceIds`, row groups whose trace_id min/max
 * exclude every requested id are skipped, and only rows of the requested traces are returned.
 */
export async function readDataFile(
  io: FileIO,
  uri: string,
  fileSize: number,
  columns: readonly ColumnName[],
  traceIds?: ReadonlySet<string>,
  fileColumns: FileColumns = OWN_COLUMNS,
  /** 'hyparquet': read even our own files with hyparquet (tests compare the two readers). */
  reader: 'auto' | 'hyparquet' = 'auto',
): Promise<PartialSpanColumns> {
  const defs = columns.map((name) => {
    const def = COLUMN_BY_NAME.get(name);
    if (!def) throw new ParquetReadError(`unknown column ${String(name)}`);
    return def;
  });
  try {
    const read = fileRanges(io, uri, fileSize);
    const own: OwnFile = { read, fileSize, decompress: compressors.ZSTD };
    const file = fileBuffer(read, uri, fileSize);
    const metadata = await parquetMetadataAsync(file, { initialFetchSize: Math.min(FOOTER_FETCH, fileSize), parsers });
    const physical = resolve(metadata, defs, fileColumns);
    const [traceCol] = resolve(metadata, [COLUMN_BY_NAME.get('trace_id')!], fileColumns);
    if (traceIds && traceCol === undefined) throw new ParquetReadError(`data file ${uri} has no trace id column`);
    const layout = reader === 'auto' ? ownLayout(metadata, traceCol ? [...physical, traceCol] : physical) : undefined;
    const source: Source = { file, metadata, own, layout };
    // Row-group pruning by the trace id statistics: only where they compare as the hex ids do.
    const traceChunk = traceCol?.text ? metadata.row_groups[0]?.columns.findIndex((c) => c.meta_data?.path_in_schema.join('.') === traceCol.name) ?? -1 : -1;
    const groups: GroupSpan[] = [];
    let start = 0;
    const sorted = traceIds ? [...traceIds].sort() : undefined;
    for (const [index, rg] of metadata.row_groups.entries()) {
      const rows = Number(rg.num_rows);
      let keep = rows > 0;
      if (keep && sorted) {
        const stats = traceChunk >= 0 ? rg.columns[traceChunk]?.meta_data?.statistics : undefined;
        const min = statString(stats?.min_value);
        const max = statString(stats?.max_value);
        keep = min !== undefined && max !== undefined ? anyInRange(sorted, min, max) : sorted.length > 0;
      }
      if (keep) groups.push({ index, start, rows });
      start += rows;
    }

    if (!traceIds) {
      const data = await readGroups(source, groups, defs, physical);
      return assemble(defs, data, groups.reduce((n, g) => n + g.rows, 0));
    }

    // Phase 1: trace ids of candidate groups only; phase 2: other columns of groups with matches.
    const ids = (await readGroups(source, groups, [traceCol!.def], [traceCol!])).get('trace_id') as (string | null)[];
    const hitGroups: GroupSpan[] = [];
    const hits: number[] = [];
    let pos = 0;
    let hitBase = 0;
    for (const g of groups) {
      let found = 0;
      for (let k = 0; k < g.rows; k++) {
        if (traceIds.has(ids[pos + k]!)) {
          hits.push(hitBase + k);
          found++;
        }
      }
      // Groups without a hit are not read in phase 2, so they take no room in the hit space.
      if (found > 0) {
        hitGroups.push(g);
        hitBase += g.rows;
      }
      pos += g.rows;
    }
    const idx = Int32Array.from(hits);
    const wanted = new Uint8Array(hitBase);
    for (const h of hits) wanted[h] = 1;
    const rest = defs.filter((d) => d.name !== 'trace_id');
    const data = await readGroups(source, hitGroups, rest, physical.filter((p) => p.def.name !== 'trace_id'), wanted);
    const out: PartialSpanColumns = { length: idx.length };
    for (const d of defs) {
      if (d.name === 'trace_id') {
        const t = new Array<string>(idx.length);
        fillTraceIds(t, ids, groups, hitGroups, idx);
        (out as Record<string, unknown>)[d.name] = t;
      } else {
        (out as Record<string, unknown>)[d.name] = gatherRows(data.get(d.name)!, idx);
      }
    }
    return out;
  } catch (e) {
    if (e instanceof TailsamplerError) throw e;
    throw new ParquetReadError(`reading Parquet data file ${uri} failed: ${(e as Error).message}`, e);
  }
}

/** Maps hit-space row indices (rows of hitGroups concatenated) to trace ids read in phase 1. */
function fillTraceIds(
  out: string[],
  ids: readonly (string | null)[],
  groups: readonly GroupSpan[],
  hitGroups: readonly GroupSpan[],
  idx: Int32Array,
): void {
  // Offset of each hit group inside the phase-1 (candidate groups) layout.
  const candOffset = new Map<number, number>();
  let off = 0;
  for (const g of groups) {
    candOffset.set(g.start, off);
    off += g.rows;
  }
  let gi = 0;
  let hitStart = 0;
  for (let i = 0; i < idx.length; i++) {
    const h = idx[i]!;
    while (h >= hitStart + hitGroups[gi]!.rows) {
      hitStart += hitGroups[gi]!.rows;
      gi++;
    }
    out[i] = ids[candOffset.get(hitGroups[gi]!.start)! + (h - hitStart)]!;
  }
}

function assemble(defs: readonly ColumnDef[], data: Map<string, ColumnArray>, length: number): PartialSpanColumns {
  const out: PartialSpanColumns = { length };
  for (const d of defs) (out as Record<string, unknown>)[d.name] = data.get(d.name)!;
  return out;
}
