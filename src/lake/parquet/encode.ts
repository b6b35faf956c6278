/**
 * A Parquet file encoder for flat tables of primitive leaves (the span and audit tables: strings,
 * int32, int64, and one optional struct of required primitives). It writes what hyparquet-writer
 * wrote for them (data pages v2, PLAIN or RLE_DICTIONARY values, RLE definition levels, the same
 * thrift page headers and footer bytes, see thrift.ts), but straight from the gathered typed arrays:
 * hyparquet-writer's general path (Dremel levels, per-value conversion and range checks, generic
 * statistics and dictionary trials over every column) cost several times the encoding itself.
 * Which columns get a dictionary and statistics is decided by the caller from the schema.
 */
import { ByteWriter } from 'hyparquet-writer';
import { writeRleBitPackedHybrid } from 'hyparquet-writer/src/encoding.js';
import type { ColumnChunk, Encoding, PageHeader, RowGroup, SchemaElement, Statistics } from 'hyparquet';
import { compareLongs, longWords } from '../long-words.ts';
import { writeFooter, writePageHeader } from './thrift.ts';

/** A leaf's values, one per row; a null row holds null (strings) or 0 (typed arrays). */
export type LeafValues = Int32Array | BigInt64Array | readonly (string | Uint8Array | null)[];
export type StatValue = number | bigint | string;

export interface Leaf {
  /** The leaf's schema element (INT32, INT64 or BYTE_ARRAY). */
  element: SchemaElement;
  /** Its path below the root (a struct field: struct name, field name). */
  path: readonly string[];
  values: LeafValues;
  /** 1 where the row is null (an optional leaf, or the field of a null struct); undefined when none is. */
  nullMask: Uint8Array | undefined;
  /** Definition levels are written (maximum level 1): an optional leaf or a field of an optional struct. */
  optional: boolean;
  /** Try a dictionary (kept when it at least halves the PLAIN bytes, as hyparquet-writer decides). */
  dictionary: boolean;
  /**
   * Row-group min/max (with null count) in the footer. Strings compare with JS `<`, which is UTF-8
   * byte order only for ASCII: set it only on ASCII columns.
   */
  statistics: boolean;
}

export interface EncodeOptions {
  schema: readonly SchemaElement[];
  rowGroupSize: number;
  /** Compresses one page's values (ZSTD). */
  compress: (bytes: Uint8Array) => Uint8Array;
  statisticsTruncateLength: number;
  sortingColumns?: RowGroup['sorting_columns'];
  createdBy: string;
}

export interface EncodedFile {
  bytes: Uint8Array;
  rowGroups: RowGroup[];
  /** Per leaf, per row group: min and max of the non-null values (statistics leaves only). */
  ranges: ({ min: StatValue; max: StatValue } | undefined)[][];
}

/** Target uncompressed values bytes of a data page (hyparquet-writer's default). */
const PAGE_SIZE = 1 << 20;
const MAGIC = 0x31524150; // "PAR1"
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const encoder = new TextEncoder();

/** A growable byte buffer for page bodies, reused across pages. */
class Body {
  u8 = new Uint8Array(1 << 16);
  view = new DataView(this.u8.buffer);
  pos = 0;

  reserve(n: number): void {
    if (this.pos + n <= this.u8.length) return;
    const next = new Uint8Array(Math.max(this.u8.length * 2, this.pos + n));
    next.set(this.u8.subarray(0, this.pos));
    this.u8 = next;
    this.view = new DataView(next.buffer);
  }

  bytes(): Uint8Array {
    return this.u8.subarray(0, this.pos);
  }

  /** A length-prefixed byte array; strings as UTF-8 (ASCII copied inline, the rest via encodeInto). */
  byteArray(v: string | Uint8Array): void {
    if (typeof v !== 'string') {
      this.reserve(4 + v.length);
      this.view.setUint32(this.pos, v.length, true);
      this.u8.set(v, this.pos + 4);
      this.pos += 4 + v.length;
      return;
    }
    const n = v.length;
    this.reserve(4 + 3 * n);
    const u8 = this.u8;
    let p = this.pos + 4;
    let i = 0;
    if (n <= 64) {
      for (; i < n; i++) {
        const c = v.charCodeAt(i);
        if (c >= 0x80) break;
        u8[p++] = c;
      }
    }
    if (i < n) p += encoder.encodeInto(i === 0 ? v : v.slice(i), u8.subarray(p)).written;
    this.view.setUint32(this.pos, p - this.pos - 4, true);
    this.pos = p;
  }

  /** PLAIN values of rows [a, b) that are not null. */
  plain(values: LeafValues, nullMask: Uint8Array | undefined, a: number, b: number): void {
    if (values instanceof Int32Array || values instanceof BigInt64Array) {
      const width = values.BYTES_PER_ELEMENT;
      this.reserve((b - a) * width);
      if (!nullMask && LITTLE_ENDIAN) {
        this.u8.set(new Uint8Array(values.buffer, values.byteOffset + a * width, (b - a) * width), this.pos);
        this.pos += (b - a) * width;
        return;
      }
      for (let i = a; i < b; i++) {
        if (nullMask?.[i]) continue;
        if (values instanceof Int32Array) this.view.setInt32(this.pos, values[i]!, true);
        else this.view.setBigInt64(this.pos, values[i]!, true);
        this.pos += width;
      }
      return;
    }
    for (let i = a; i < b; i++) {
      const v = values[i];
      if (v !== null && v !== undefined) this.byteArray(v);
    }
  }
}

/** Values of a leaf's dictionary and each non-null row's index into it (-1 for nulls). */
interface Dictionary {
  values: (string | Uint8Array | number | bigint)[];
  indexes: Int32Array;
}

function plainSize(v: string | Uint8Array | number | bigint, width: number): number {
  return width || 4 + (v as string | Uint8Array).length;
}

/**
 * The dictionary of rows [a, b), or undefined when it would not at least halve the PLAIN value
 * bytes (hyparquet-writer's rule; string sizes counted in UTF-16 units, as it does). Byte-array
 * values are keyed by identity, so only shared objects dedupe: the caller offers only string
 * and numeric columns.
 */
function buildDictionary(leaf: Leaf, a: number, b: number): Dictionary | undefined {
  const { values, nullMask } = leaf;
  const width = values instanceof Int32Array ? 4 : values instanceof BigInt64Array ? 8 : 0;
  // Long values are keyed by their words (see longKey) rather than read as BigInts, one allocation
  // per row otherwise; only a new dictionary entry reads its BigInt.
  const words = values instanceof BigInt64Array ? longWords(values) : null;
  const index = new Map<unknown, number>();
  const dict: (string | Uint8Array | number | bigint)[] = [];
  const indexes = new Int32Array(b - a);
  let nonNull = 0;
  let plainBytes = 0;
  let dictBytes = 0;
  for (let i = a; i < b; i++) {
    if (nullMask?.[i]) {
      indexes[i - a] = -1;
      continue;
    }
    const v = words === null ? values[i]! : longKey(words, i, values as BigInt64Array);
    if (v === null) {
      indexes[i - a] = -1;
      continue;
    }
    nonNull++;
    const size = plainSize(v, width);
    plainBytes += size;
    let k = index.get(v);
    if (k === undefined) {
      k = dict.length;
      dict.push(words === null ? v : (values as BigInt64Array)[i]!);
      index.set(v, k);
      dictBytes += size;
      // More than half the values distinct: the dictionary alone would be over half the bytes.
      if (2 * dict.length > b - a && dict.length > 16) return undefined;
    }
    indexes[i - a] = k;
  }
  if (nonNull === 0) return undefined;
  const indexBytes = Math.ceil((nonNull * Math.ceil(Math.log2(dict.length))) / 8);
  return 2 * (dictBytes + indexBytes) > plainBytes ? undefined : { values: dict, indexes };
}

/**
 * A dictionary key for the long at row i: the value as a number when a double holds it exactly
 * (|v| < 2^53: high word in [-2^21, 2^21)), else the BigInt. A number key never equals a BigInt
 * key, and the BigInts used are exactly those no number stands for, so keys match iff values do.
 */
function longKey(words: Int32Array, i: number, values: BigInt64Array): number | bigint {
  const hi = words[2 * i + 1]!;
  if (hi >= -0x200000 && hi < 0x200000) return hi * 4294967296 + (words[2 * i]! >>> 0);
  return values[i]!;
}

/** Min/max of the non-null values of rows [a, b), or undefined when all are null. */
function valueRange(leaf: Leaf, a: number, b: number): { min: StatValue; max: StatValue } | undefined {
  const { values, nullMask } = leaf;
  if (values instanceof BigInt64Array) return longRange(values, nullMask, a, b);
  let min: StatValue | undefined;
  let max: StatValue | undefined;
  for (let i = a; i < b; i++) {
    const v = values[i] as StatValue | null;
    if (nullMask?.[i] || v === null) continue;
    if (min === undefined || v < min) min = v;
    if (max === undefined || v > max) max = v;
  }
  return min === undefined || max === undefined ? undefined : { min, max };
}

/**
 * {@link valueRange} of a long column without a BigInt per value (reading a BigInt64Array element
 * allocates one), compared word by word.
 */
function longRange(values: BigInt64Array, nullMask: Uint8Array | undefined, a: number, b: number): { min: bigint; max: bigint } | undefined {
  const words = longWords(values);
  let min = -1;
  let max = -1;
  for (let i = a; i < b; i++) {
    if (nullMask?.[i]) continue;
    if (min < 0) min = max = i;
    else if (compareLongs(words, i, min) < 0) min = i;
    else if (compareLongs(words, i, max) > 0) max = i;
  }
  return min < 0 ? undefined : { min: values[min]!, max: values[max]! };
}

/** Row ranges of the data pages of rows [a, b): about PAGE_SIZE bytes of values each. */
function pageRanges(leaf: Leaf, a: number, b: number, dict: Dictionary | undefined): [number, number][] {
  const { values } = leaf;
  if (dict || values instanceof Int32Array || values instanceof BigInt64Array) {
    const width = dict ? 4 : (values as Int32Array | BigInt64Array).BYTES_PER_ELEMENT;
    const rows = Math.max(1, Math.floor(PAGE_SIZE / width));
    const out: [number, number][] = [];
    for (let p = a; p < b; p += rows) out.push([p, Math.min(b, p + rows)]);
    return out;
  }
  const out: [number, number][] = [];
  let start = a;
  let bytes = 0;
  for (let i = a; i < b; i++) {
    const v = values[i];
    const size = v === null || v === undefined ? 0 : v.length;
    bytes += size;
    if (bytes >= PAGE_SIZE && i > start) {
      out.push([start, i]);
      start = i;
      bytes = size;
    }
  }
  out.push([start, b]);
  return out;
}

/** Definition levels (bit width 1) of rows [a, b) as RLE/bit-packed hybrid; its byte length. */
function writeLevels(out: ByteWriter, nullMask: Uint8Array | undefined, a: number, b: number): number {
  const start = out.offset;
  let nulls = false;
  if (nullMask) for (let i = a; i < b && !nulls; i++) nulls = nullMask[i] === 1;
  if (!nulls) {
    // One RLE run of b - a ones.
    out.appendVarInt((b - a) << 1);
    out.appendUint8(1);
    return out.offset - start;
  }
  const levels = new Uint8Array(b - a);
  for (let i = a; i < b; i++) levels[i - a] = nullMask![i] ? 0 : 1;
  writeRleBitPackedHybrid(out, levels, 1);
  return out.offset - start;
}

/**
 * Page scratch buffers shared by every file (encodeParquet runs to completion synchronously): a
 * file's pages reuse what earlier files grew them to, where each file used to grow its own body
 * buffer from 64 KiB to its largest page, a few hundred KiB of garbage per file (and, under the
 * service's MALLOC_MMAP_THRESHOLD_, a fresh mapping for each step). One grown past
 * SCRATCH_KEEP_BYTES (a page of huge values) is dropped after its file.
 */
const scratch = { body: new Body(), levels: new ByteWriter(256), indexes: new ByteWriter(1024) };
const SCRATCH_KEEP_BYTES = 4 << 20;

function trimScratch(): void {
  if (scratch.body.u8.length > SCRATCH_KEEP_BYTES) scratch.body = new Body();
  if (scratch.levels.buffer.byteLength > SCRATCH_KEEP_BYTES) scratch.levels = new ByteWriter(256);
  if (scratch.indexes.buffer.byteLength > SCRATCH_KEEP_BYTES) scratch.indexes = new ByteWriter(1024);
}

class FileEncoder {
  readonly out = new ByteWriter(1 << 16);
  private readonly body = scratch.body;
  private readonly levels = scratch.levels;
  private readonly indexes = scratch.indexes;
  private readonly options: EncodeOptions;
  constructor(options: EncodeOptions) {
    this.options = options;
    this.out.appendUint32(MAGIC);
  }

  /** Compresses the body written so far and appends header, levels and body; the uncompressed size. */
  private page(header: PageHeader, levels: Uint8Array): number {
    const raw = this.body.bytes();
    const packed = this.options.compress(raw);
    const headerStart = this.out.offset;
    header.uncompressed_page_size = levels.length + raw.length;
    header.compressed_page_size = levels.length + packed.length;
    writePageHeader(this.out, header);
    const headerSize = this.out.offset - headerStart;
    if (levels.length) this.out.appendBytes(levels);
    this.out.appendBytes(packed);
    return headerSize + levels.length + raw.length;
  }

  /** Writes the column chunk of rows [a, b) of `leaf`. */
  chunk(leaf: Leaf, a: number, b: number, stats: { min: StatValue; max: StatValue } | undefined): ColumnChunk {
    const { element, values, nullMask } = leaf;
    const out = this.out;
    const offsetStart = out.offset;
    let uncompressed = 0;
    const dict = leaf.dictionary ? buildDictionary(leaf, a, b) : undefined;
    let dictionaryOffset: bigint | undefined;
    const encodings: Encoding[] = [];
    if (dict) {
      dictionaryOffset = BigInt(out.offset);
      this.body.pos = 0;
      const d = dict.values;
      if (values instanceof Int32Array) this.body.plain(Int32Array.from(d as number[]), undefined, 0, d.length);
      else if (values instanceof BigInt64Array) this.body.plain(BigInt64Array.from(d as bigint[]), undefined, 0, d.length);
      else this.body.plain(d as (string | Uint8Array)[], undefined, 0, d.length);
      uncompressed += this.page(
        { type: 'DICTIONARY_PAGE', uncompressed_page_size: 0, compressed_page_size: 0, dictionary_page_header: { num_values: d.length, encoding: 'PLAIN' } },
        new Uint8Array(0),
      );
      encodings.push('PLAIN');
    }
    const encoding: Encoding = dict ? 'RLE_DICTIONARY' : 'PLAIN';
    encodings.push(encoding);
    const dataOffset = BigInt(out.offset);
    let nulls = 0;
    for (const [p, q] of pageRanges(leaf, a, b, dict)) {
      let pageNulls = 0;
      if (nullMask) for (let i = p; i < q; i++) pageNulls += nullMask[i]!;
      nulls += pageNulls;
      this.levels.index = this.levels.offset = 0;
      const levelBytes = leaf.optional ? writeLevels(this.levels, nullMask, p, q) : 0;
      this.body.pos = 0;
      if (dict) {
        const idx = this.indexes;
        idx.index = idx.offset = 0;
        const page = new Int32Array(q - p - pageNulls);
        let max = 0;
        for (let i = p, j = 0; i < q; i++) {
          const k = dict.indexes[i - a]!;
          if (k < 0) continue;
          page[j++] = k;
          if (k > max) max = k;
        }
        const bitWidth = Math.ceil(Math.log2(max + 1));
        idx.appendUint8(bitWidth);
        writeRleBitPackedHybrid(idx, page, bitWidth);
        this.body.reserve(idx.offset);
        this.body.u8.set(idx.getBytes(), 0);
        this.body.pos = idx.offset;
      } else {
        this.body.plain(values, nullMask, p, q);
      }
      uncompressed += this.page(
        {
          type: 'DATA_PAGE_V2',
          uncompressed_page_size: 0,
          compressed_page_size: 0,
          data_page_header_v2: {
            num_values: q - p,
            num_nulls: pageNulls,
            num_rows: q - p,
            encoding,
            definition_levels_byte_length: levelBytes,
            repetition_levels_byte_length: 0,
            is_compressed: true,
          },
        },
        this.levels.getBytes().subarray(0, levelBytes),
      );
    }
    const statistics: Statistics | undefined = leaf.statistics
      ? { null_count: BigInt(nulls), ...(stats ? { min_value: stats.min, max_value: stats.max } : {}) }
      : undefined;
    return {
      file_offset: BigInt(offsetStart),
      meta_data: {
        type: element.type!,
        encodings,
        path_in_schema: [...leaf.path],
        codec: 'ZSTD',
        num_values: BigInt(b - a),
        total_uncompressed_size: BigInt(uncompressed),
        total_compressed_size: BigInt(out.offset - offsetStart),
        data_page_offset: dataOffset,
        ...(dictionaryOffset !== undefined ? { dictionary_page_offset: dictionaryOffset } : {}),
        ...(statistics ? { statistics } : {}),
      },
    };
  }
}

/** Encodes `leaves` (each `rows` long, in schema leaf order) as one Parquet file. */
export function encodeParquet(leaves: readonly Leaf[], rows: number, options: EncodeOptions): EncodedFile {
  try {
    return encodeFile(leaves, rows, options);
  } finally {
    trimScratch();
  }
}

function encodeFile(leaves: readonly Leaf[], rows: number, options: EncodeOptions): EncodedFile {
  const enc = new FileEncoder(options);
  const rowGroups: RowGroup[] = [];
  const ranges = leaves.map(() => [] as ({ min: StatValue; max: StatValue } | undefined)[]);
  for (let a = 0; a < rows; a += options.rowGroupSize) {
    const b = Math.min(rows, a + options.rowGroupSize);
    const start = enc.out.offset;
    const columns = leaves.map((leaf, j) => {
      const range = leaf.statistics ? valueRange(leaf, a, b) : undefined;
      ranges[j]!.push(range);
      return enc.chunk(leaf, a, b, range);
    });
    let totalBytes = 0n;
    for (const c of columns) totalBytes += c.meta_data!.total_uncompressed_size;
    rowGroups.push({
      columns,
      total_byte_size: totalBytes,
      num_rows: BigInt(b - a),
      file_offset: BigInt(start),
      total_compressed_size: BigInt(enc.out.offset - start),
      ...(options.sortingColumns ? { sorting_columns: options.sortingColumns } : {}),
    });
  }
  const footer = { version: 2, created_by: options.createdBy, schema: options.schema, num_rows: BigInt(rows), row_groups: rowGroups };
  writeFooter(enc.out, footer, options.statisticsTruncateLength);
  enc.out.appendUint32(MAGIC);
  return { bytes: enc.out.getBytes(), rowGroups, ranges };
}
