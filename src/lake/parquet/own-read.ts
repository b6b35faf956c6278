/**
 * Reads back the Parquet files our own encoder writes (`encode.ts`), without hyparquet's general
 * machinery (a view object per byte-array cell, level arrays, list assembly, per-value conversion):
 * every column a top-level leaf or the Kafka struct's three required leaves, data pages v2 with
 * definition levels of width 1, PLAIN or RLE_DICTIONARY values after a PLAIN dictionary page, ZSTD.
 * Integers are copied into the typed arrays; text is decoded straight from the page buffer, only for
 * the rows the caller wants. `read.ts` sends a file here only when its footer says we wrote it and
 * every chunk is of that shape ({@link ownLayout}); anything else goes through hyparquet. Corrupt
 * input throws (read.ts turns it into a ParquetReadError).
 */
import type { FileMetaData, SchemaElement } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { KAFKA_METADATA_FIELDS } from '../span-schema.ts';
import type { ColumnType, KafkaMetadata } from '../span-schema.ts';
import type { ColumnArray, GroupSpan, Physical } from './read.ts';

/** Decompresses one ZSTD page to exactly `outputLength` bytes (read.ts's `compressors.ZSTD`). */
export type Decompress = (input: Uint8Array, outputLength: number) => Uint8Array;

/** A top-level field of a file's schema and its leaves, with their column chunk index in a row group. */
export interface TopField {
  element: SchemaElement;
  leaves: { element: SchemaElement; index: number }[];
  /** A group below the top level (a list, a map, a nested struct). */
  nested: boolean;
}

/** The top-level fields of a flattened schema (root first, children after their parent). */
export function topFields(schema: readonly SchemaElement[]): TopField[] {
  let i = 1;
  let leaf = 0;
  const walk = (field: TopField, depth: number): void => {
    const e = schema[i++];
    if (e === undefined) throw new Error('schema ends inside a group');
    const kids = e.num_children ?? 0;
    if (kids === 0) field.leaves.push({ element: e, index: leaf++ });
    else if (depth > 0) field.nested = true;
    for (let k = 0; k < kids; k++) walk(field, depth + 1);
  };
  const out: TopField[] = [];
  while (i < schema.length) {
    const field: TopField = { element: schema[i]!, leaves: [], nested: false };
    walk(field, 0);
    out.push(field);
  }
  return out;
}

/** Per physical column name: the column chunk index of its leaves (the struct: partition, offset, timestamp). */
export type OwnLayout = ReadonlyMap<string, readonly number[]>;

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
/** Our encoder's dictionaries hold at most half a row group: indexes of up to 24 bits. */
const MAX_GROUP_ROWS = 1 << 25;
const OWN_ENCODINGS: ReadonlySet<string> = new Set(['PLAIN', 'RLE_DICTIONARY']);

/** The physical type a span column of `type` is written as, and whether hyparquet returns its values unchanged. */
function plainLeaf(e: SchemaElement, type: ColumnType): boolean {
  const ct = e.converted_type;
  const lt = e.logical_type;
  if (e.repetition_type === 'REPEATED') return false;
  if (type === 'int') return e.type === 'INT32' && ct === undefined && lt === undefined;
  if (type === 'long' || type === 'timestamptz') {
    // Timestamps in microseconds come back as the raw bigint (read.ts's parser).
    const micros = lt === undefined || (lt.type === 'TIMESTAMP' && lt.unit === 'MICROS');
    return e.type === 'INT64' && (ct === undefined || ct === 'TIMESTAMP_MICROS') && micros;
  }
  if (type === 'string') return e.type === 'BYTE_ARRAY' && (ct === undefined || ct === 'UTF8') && (lt === undefined || lt.type === 'STRING');
  return false;
}

/**
 * Where `columns` are when this file is one our encoder wrote and every chunk they need is of the
 * shape this reader decodes; undefined otherwise (hyparquet reads it).
 */
export function ownLayout(metadata: FileMetaData, columns: readonly Physical[]): OwnLayout | undefined {
  if (!LITTLE_ENDIAN || !metadata.created_by?.startsWith('tailsampler')) return undefined;
  const top = new Map(topFields(metadata.schema).map((f) => [f.element.name, f]));
  const layout = new Map<string, number[]>();
  for (const c of columns) {
    const f = top.get(c.name);
    if (f === undefined || f.nested) return undefined;
    const leaves = f.leaves;
    if (c.def.type === 'kafka_metadata') {
      // A struct of the three fields, in order, required within it: one definition level at most.
      if (f.element.repetition_type === 'REPEATED' || leaves.length !== KAFKA_METADATA_FIELDS.length) return undefined;
      const ok = KAFKA_METADATA_FIELDS.every((k, j) => leaves[j]!.element.name === k.name && leaves[j]!.element.repetition_type === 'REQUIRED' && plainLeaf(leaves[j]!.element, k.type));
      if (!ok) return undefined;
    } else if (leaves.length !== 1 || leaves[0]!.element !== f.element || !plainLeaf(f.element, c.def.type)) {
      return undefined;
    }
    for (const rg of metadata.row_groups) {
      if (Number(rg.num_rows) > MAX_GROUP_ROWS) return undefined;
      for (const l of leaves) {
        const chunk = rg.columns[l.index];
        const md = chunk?.meta_data;
        if (md === undefined || chunk!.file_path !== undefined || md.codec !== 'ZSTD' || md.type !== l.element.type) return undefined;
        if (md.path_in_schema.length !== (leaves.length > 1 ? 2 : 1) || md.path_in_schema.at(-1) !== l.element.name) return undefined;
        if (!md.encodings.every((e) => OWN_ENCODINGS.has(e))) return undefined;
      }
    }
    layout.set(c.name, leaves.map((l) => l.index));
  }
  return layout;
}

/** What readOwnGroups reads from: the file and the decompressor. */
export interface OwnFile {
  /** Range reads of the file (read.ts's, which serve what the footer fetch already holds). */
  read: (start: number, length: number) => Promise<Uint8Array>;
  fileSize: number;
  decompress: Decompress;
}

/** Adjacent byte ranges closer than this (and not across a skipped row group) are fetched as one. */
const COALESCE_GAP = 64 * 1024;

interface Piece {
  start: number;
  end: number;
  /** Runs of adjacent row groups: no read reaches across a pruned group. */
  run: number;
  bytes?: Uint8Array;
}

/** Fetches every piece's bytes, coalescing close ones of the same run into one range read. */
async function fetchPieces(file: OwnFile, pieces: Piece[]): Promise<void> {
  const sorted = [...pieces].sort((a, b) => a.start - b.start);
  const reads: { start: number; end: number; members: Piece[] }[] = [];
  for (const p of sorted) {
    if (p.start < 0 || p.end > file.fileSize || p.end <= p.start) throw new Error(`column chunk [${p.start}, ${p.end}) outside the file of ${file.fileSize} bytes`);
    const last = reads.at(-1);
    if (last && last.members[0]!.run === p.run && p.start - last.end <= COALESCE_GAP) {
      last.end = Math.max(last.end, p.end);
      last.members.push(p);
    } else {
      reads.push({ start: p.start, end: p.end, members: [p] });
    }
  }
  await Promise.all(
    reads.map(async (r) => {
      const bytes = await file.read(r.start, r.end - r.start);
      if (bytes.byteLength !== r.end - r.start) throw new Error(`short read at ${r.start}: ${bytes.byteLength} of ${r.end - r.start} bytes`);
      for (const p of r.members) p.bytes = bytes.subarray(p.start - r.start, p.end - r.start);
    }),
  );
}

/**
 * Reads `columns` of `groups` into `out` (arrays laid out as the groups' rows concatenated, allocated
 * by the caller), as read.ts's readGroups does: with `wanted`, text and struct cells of other rows stay null.
 */
export async function readOwnGroups(
  file: OwnFile,
  metadata: FileMetaData,
  layout: OwnLayout,
  groups: readonly GroupSpan[],
  columns: readonly Physical[],
  out: ReadonlyMap<string, ColumnArray>,
  wanted: Uint8Array | undefined,
): Promise<void> {
  const jobs: { group: GroupSpan; base: number; column: Physical; pieces: Piece[] }[] = [];
  const pieces: Piece[] = [];
  let base = 0;
  let run = 0;
  let prevEnd = -1;
  for (const g of groups) {
    if (g.start !== prevEnd) run++;
    prevEnd = g.start + g.rows;
    const rg = metadata.row_groups[g.index]!;
    for (const column of columns) {
      const own = layout.get(column.name)!.map((index): Piece => {
        const md = rg.columns[index]!.meta_data!;
        const start = Number(md.dictionary_page_offset ?? md.data_page_offset);
        return { start, end: start + Number(md.total_compressed_size), run };
      });
      pieces.push(...own);
      jobs.push({ group: g, base, column, pieces: own });
    }
    base += g.rows;
  }
  await fetchPieces(file, pieces);
  for (const { group, base, column, pieces } of jobs) {
    const target = out.get(column.def.name)!;
    const chunk = (p: Piece, sink: Sink): void => readChunk(p.bytes!, group.rows, sink, file.decompress);
    if (column.def.type !== 'kafka_metadata') {
      chunk(pieces[0]!, target instanceof Array ? new TextSink(target as (string | null)[], base, wanted, column.text) : new IntSink(target, base, undefined));
      continue;
    }
    const nulls = new Uint8Array(group.rows);
    const partition = new Int32Array(group.rows);
    const offset = new BigInt64Array(group.rows);
    const timestamp = new BigInt64Array(group.rows);
    [partition, offset, timestamp].forEach((values, j) => chunk(pieces[j]!, new IntSink(values, 0, nulls)));
    const t = target as (KafkaMetadata | null)[];
    for (let r = 0; r < group.rows; r++) {
      if (nulls[r] === 1 || (wanted !== undefined && wanted[base + r] !== 1)) continue;
      t[base + r] = { partition: partition[r]!, offset: offset[r]!, timestamp: timestamp[r]! };
    }
  }
}

/** A page's values as they reach a sink: the page's rows, their definition levels, the value bytes. */
interface Page {
  /** Row of the chunk the page starts at. */
  first: number;
  rows: number;
  /** 1 where the row has a value; undefined when all have. */
  defs: Uint8Array | undefined;
  /** Rows with a value. */
  count: number;
  values: Buffer;
}

interface Sink {
  dictionary(values: Buffer, count: number): void;
  plain(page: Page): void;
  indexed(page: Page, indexes: Int32Array): void;
}

function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** Walks a column chunk's pages, handing each data page's values to `sink`. */
function readChunk(bytes: Uint8Array, rows: number, sink: Sink, decompress: Decompress): void {
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  let row = 0;
  let dictionary = false;
  while (row < rows) {
    if (reader.offset >= bytes.length) throw new Error(`column chunk ends at row ${row} of ${rows}`);
    const h = parquetHeader(reader);
    const size = h.compressed_page_size;
    const start = reader.offset;
    if (!(size >= 0) || start + size > bytes.length) throw new Error(`page of ${size} bytes overruns its column chunk`);
    reader.offset += size;
    const body = bytes.subarray(start, start + size);
    if (h.type === 'DICTIONARY_PAGE' && h.dictionary_page_header?.encoding === 'PLAIN' && !dictionary) {
      sink.dictionary(inflate(body, h.uncompressed_page_size, decompress), h.dictionary_page_header.num_values);
      dictionary = true;
      continue;
    }
    const v2 = h.data_page_header_v2;
    if (h.type !== 'DATA_PAGE_V2' || v2 === undefined || v2.repetition_levels_byte_length !== 0 || v2.num_values !== v2.num_rows) {
      throw new Error(`unexpected ${h.type} page`);
    }
    const n = v2.num_rows;
    const levels = v2.definition_levels_byte_length;
    if (!(n > 0) || row + n > rows || !(levels >= 0) || levels > size) throw new Error(`data page of ${n} rows and ${levels} level bytes does not fit`);
    let defs: Uint8Array | undefined;
    let count = n;
    if (levels > 0) {
      defs = new Uint8Array(n);
      hybrid(body, 0, levels, 1, defs);
      count = 0;
      for (let i = 0; i < n; i++) count += defs[i]!;
    }
    if (count !== n - v2.num_nulls) throw new Error(`page counts ${n - count} nulls, its header ${v2.num_nulls}`);
    const raw = body.subarray(levels);
    const values = v2.is_compressed === false ? asBuffer(raw) : inflate(raw, h.uncompressed_page_size - levels, decompress);
    const page: Page = { first: row, rows: n, defs: count === n ? undefined : defs, count, values };
    if (v2.encoding === 'PLAIN') {
      sink.plain(page);
    } else if (v2.encoding === 'RLE_DICTIONARY' && dictionary) {
      if (values.length < 1 || values[0]! > 24) throw new Error('bad dictionary index bit width');
      const indexes = new Int32Array(count);
      hybrid(values, 1, values.length, values[0]!, indexes);
      sink.indexed(page, indexes);
    } else {
      throw new Error(`unexpected ${v2.encoding} data page`);
    }
    row += n;
  }
}

function inflate(body: Uint8Array, size: number, decompress: Decompress): Buffer {
  const out = decompress(body, size);
  if (out.length !== size) throw new Error(`page decompressed to ${out.length} bytes, its header says ${size}`);
  return asBuffer(out);
}

/** Decodes out.length values of an RLE/bit-packed hybrid run sequence of `width` bits in buf[pos, end). */
function hybrid(buf: Uint8Array, pos: number, end: number, width: number, out: Uint8Array | Int32Array): void {
  const n = out.length;
  const mask = (1 << width) - 1;
  const valueBytes = (width + 7) >> 3;
  let seen = 0;
  while (seen < n) {
    let header = 0;
    for (let shift = 0; ; shift += 7) {
      if (pos >= end || shift > 28) throw new Error('truncated RLE/bit-packed run');
      const b = buf[pos++]!;
      header |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    if ((header & 1) === 0) {
      const count = Math.min(header >>> 1, n - seen);
      if (pos + valueBytes > end) throw new Error('truncated RLE run');
      let v = 0;
      for (let k = 0; k < valueBytes; k++) v |= buf[pos + k]! << (8 * k);
      if (v > mask) throw new Error(`RLE value ${v} wider than ${width} bits`);
      pos += valueBytes;
      out.fill(v, seen, seen + count);
      seen += count;
      continue;
    }
    const bytes = (header >>> 1) * width;
    if (pos + bytes > end) throw new Error('truncated bit-packed run');
    const count = Math.min((header >>> 1) * 8, n - seen);
    for (let k = 0, bit = 0; k < count; k++, bit += width) {
      // Up to 24 bits at a shift of up to 7: one little-endian 32-bit window (bytes past the run read as 0).
      const at = pos + (bit >>> 3);
      const word = buf[at]! | ((buf[at + 1] ?? 0) << 8) | ((buf[at + 2] ?? 0) << 16) | ((buf[at + 3] ?? 0) << 24);
      out[seen + k] = (word >>> (bit & 7)) & mask;
    }
    seen += count;
    pos += bytes;
  }
}

/** Integer values into a typed array at `base`; rows without a value are left 0 and marked in `nulls`. */
class IntSink implements Sink {
  private dict: Int32Array | BigInt64Array | undefined;
  private readonly target: Int32Array | BigInt64Array;
  private readonly base: number;
  private readonly nulls: Uint8Array | undefined;
  constructor(target: Int32Array | BigInt64Array, base: number, nulls: Uint8Array | undefined) {
    this.target = target;
    this.base = base;
    this.nulls = nulls;
  }

  /** `count` PLAIN values from `values` (copied: page buffers need not be aligned). */
  private read(values: Buffer, count: number): Int32Array | BigInt64Array {
    const width = this.target.BYTES_PER_ELEMENT;
    if (values.length < count * width) throw new Error(`page holds ${values.length} bytes for ${count} values`);
    const out = this.target instanceof Int32Array ? new Int32Array(count) : new BigInt64Array(count);
    new Uint8Array(out.buffer).set(values.subarray(0, count * width));
    return out;
  }

  dictionary(values: Buffer, count: number): void {
    this.dict = this.read(values, count);
  }

  plain(page: Page): void {
    const { target, base, nulls } = this;
    if (page.defs === undefined) {
      const width = target.BYTES_PER_ELEMENT;
      if (page.values.length < page.rows * width) throw new Error(`page holds ${page.values.length} bytes for ${page.rows} values`);
      new Uint8Array(target.buffer, target.byteOffset + (base + page.first) * width, page.rows * width).set(page.values.subarray(0, page.rows * width));
      return;
    }
    const values = this.read(page.values, page.count);
    const defs = page.defs;
    const t = target as unknown as { [i: number]: number | bigint };
    for (let r = 0, j = 0; r < page.rows; r++) {
      if (defs[r] === 1) t[base + page.first + r] = values[j++]!;
      else if (nulls) nulls[page.first + r] = 1;
    }
  }

  indexed(page: Page, indexes: Int32Array): void {
    const dict = this.dict!;
    const { base, nulls } = this;
    const t = this.target as unknown as { [i: number]: number | bigint };
    const defs = page.defs;
    for (let r = 0, j = 0; r < page.rows; r++) {
      if (defs !== undefined && defs[r] !== 1) {
        if (nulls) nulls[page.first + r] = 1;
        continue;
      }
      const k = indexes[j++]!;
      if (k >= dict.length) throw new Error(`dictionary index ${k} of ${dict.length}`);
      t[base + page.first + r] = dict[k]!;
    }
  }
}

const utf8 = new TextDecoder();

/** A text cell as the hyparquet path makes it: UTF-8 as TextDecoder decodes it (dropping a leading BOM), bytes as hex. */
function cellText(buf: Buffer, start: number, end: number, isText: boolean): string {
  if (!isText) return buf.toString('hex', start, end);
  if (end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) return utf8.decode(buf.subarray(start, end));
  return buf.toString('utf8', start, end);
}

/** Byte-array values into a string array at `base`, decoded only for wanted rows (nulls stay null). */
class TextSink implements Sink {
  private dict: { buf: Buffer; starts: Int32Array; ends: Int32Array; cells: (string | undefined)[] } | undefined;
  private readonly target: (string | null)[];
  private readonly base: number;
  private readonly wanted: Uint8Array | undefined;
  private readonly isText: boolean;
  constructor(target: (string | null)[], base: number, wanted: Uint8Array | undefined, isText: boolean) {
    this.target = target;
    this.base = base;
    this.wanted = wanted;
    this.isText = isText;
  }

  dictionary(values: Buffer, count: number): void {
    const starts = new Int32Array(count);
    const ends = new Int32Array(count);
    let pos = 0;
    for (let i = 0; i < count; i++) {
      if (pos + 4 > values.length) throw new Error('dictionary page ends inside a value');
      const end = pos + 4 + values.readUInt32LE(pos);
      if (end > values.length) throw new Error('dictionary page ends inside a value');
      starts[i] = pos + 4;
      ends[i] = pos = end;
    }
    this.dict = { buf: values, starts, ends, cells: new Array<string | undefined>(count) };
  }

  plain(page: Page): void {
    const { target, wanted, isText } = this;
    const at = this.base + page.first;
    const buf = page.values;
    const defs = page.defs;
    let pos = 0;
    for (let r = 0; r < page.rows; r++) {
      if (defs !== undefined && defs[r] !== 1) continue;
      if (pos + 4 > buf.length) throw new Error('data page ends inside a value');
      const end = pos + 4 + buf.readUInt32LE(pos);
      if (end > buf.length) throw new Error('data page ends inside a value');
      if (wanted === undefined || wanted[at + r] === 1) target[at + r] = cellText(buf, pos + 4, end, isText);
      pos = end;
    }
  }

  indexed(page: Page, indexes: Int32Array): void {
    const { target, wanted } = this;
    const dict = this.dict!;
    const at = this.base + page.first;
    const defs = page.defs;
    for (let r = 0, j = 0; r < page.rows; r++) {
      if (defs !== undefined && defs[r] !== 1) continue;
      const k = indexes[j++]!;
      if (k >= dict.cells.length) throw new Error(`dictionary index ${k} of ${dict.cells.length}`);
      if (wanted !== undefined && wanted[at + r] !== 1) continue;
      target[at + r] = dict.cells[k] ??= cellText(dict.buf, dict.starts[k]!, dict.ends[k]!, this.isText);
    }
  }
}
