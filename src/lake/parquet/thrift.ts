/**
 * Parquet's thrift structures as the encoder writes them, in the thrift compact protocol
 * (parquet.thrift): page headers and the footer. Each is byte for byte what hyparquet-writer writes
 * for the same values (tests check it), without its walk over a generic object per structure.
 */
import type { ByteWriter } from 'hyparquet-writer';
import { CompressionCodecs, ConvertedTypes, Encodings, FieldRepetitionTypes, PageTypes, ParquetTypes } from 'hyparquet/src/constants.js';
import type { ColumnChunk, LogicalType, PageHeader, RowGroup, SchemaElement, Statistics } from 'hyparquet';

/** Thrift compact protocol types (parquet.thrift is serialized with it). */
const THRIFT_STOP = 0;
const THRIFT_TRUE = 1;
const THRIFT_FALSE = 2;
const THRIFT_I32 = 5;
const THRIFT_I64 = 6;
const THRIFT_BINARY = 8;
const THRIFT_LIST = 9;
const THRIFT_STRUCT = 12;

/**
 * The PageHeader of a data page v2 or a dictionary page, the two kinds this encoder writes, byte for
 * byte as hyparquet-writer's writePageHeader writes them (no crc, no statistics, is_compressed and
 * is_sorted left at their defaults), without its walk over a generic object per page.
 */
export function writePageHeader(out: ByteWriter, header: PageHeader): void {
  let last = i32Value(out, 0, 1, PageTypes.indexOf(header.type));
  last = i32Value(out, last, 2, header.uncompressed_page_size);
  last = i32Value(out, last, 3, header.compressed_page_size);
  const v2 = header.data_page_header_v2;
  const dict = header.dictionary_page_header;
  if (v2 !== undefined) {
    if (!v2.is_compressed) throw new RangeError('this encoder writes compressed data pages only');
    field(out, last, 8, THRIFT_STRUCT);
    let l = i32Value(out, 0, 1, v2.num_values);
    l = i32Value(out, l, 2, v2.num_nulls);
    l = i32Value(out, l, 3, v2.num_rows);
    l = i32Value(out, l, 4, Encodings.indexOf(v2.encoding));
    l = i32Value(out, l, 5, v2.definition_levels_byte_length);
    i32Value(out, l, 6, v2.repetition_levels_byte_length);
    out.appendUint8(THRIFT_STOP);
  } else if (dict !== undefined) {
    field(out, last, 7, THRIFT_STRUCT);
    i32Value(out, i32Value(out, 0, 1, dict.num_values), 2, Encodings.indexOf(dict.encoding));
    out.appendUint8(THRIFT_STOP);
  } else {
    throw new RangeError(`this encoder writes no ${header.type} pages`);
  }
  out.appendUint8(THRIFT_STOP);
}

/**
 * A growable byte buffer the footer is written into before it is appended to the file in one copy:
 * a ByteWriter's bounds check and DataView call per byte were most of the footer's cost.
 */
class Compact {
  u8 = new Uint8Array(4096);
  private view = new DataView(this.u8.buffer);
  pos = 0;

  private reserve(n: number): void {
    if (this.pos + n <= this.u8.length) return;
    const next = new Uint8Array(Math.max(this.u8.length * 2, this.pos + n));
    next.set(this.u8.subarray(0, this.pos));
    this.u8 = next;
    this.view = new DataView(next.buffer);
  }

  bytes(): Uint8Array {
    return this.u8.subarray(0, this.pos);
  }

  appendUint8(b: number): void {
    this.reserve(1);
    this.u8[this.pos++] = b;
  }

  appendBytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.u8.set(b, this.pos);
    this.pos += b.length;
  }

  /** An unsigned 32-bit varint. */
  appendVarInt(n: number): void {
    this.reserve(5);
    let v = n >>> 0;
    while (v >= 0x80) {
      this.u8[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.u8[this.pos++] = v;
  }

  /** An i32 as a zigzag varint. */
  appendZigZag(n: number): void {
    this.appendVarInt((n << 1) ^ (n >> 31));
  }

  appendInt32(n: number): void {
    this.reserve(4);
    this.view.setInt32(this.pos, n, true);
    this.pos += 4;
  }

  appendInt64(n: bigint): void {
    this.reserve(8);
    this.view.setBigInt64(this.pos, n, true);
    this.pos += 8;
  }
}

/** What a field header and an i32 value are written to: the footer's Compact or a file's ByteWriter (page headers). */
type FieldOut = Pick<Compact, 'appendUint8' | 'appendZigZag'>;

/**
 * A compact-protocol field header for field `id` of a struct whose previous field was `last`; returns
 * `id`, the next call's `last`. The short form (delta in the high nibble) covers every field written
 * here: none has an id above 15.
 */
function field(out: FieldOut, last: number, id: number, type: number): number {
  out.appendUint8(((id - last) << 4) | type);
  return id;
}

/**
 * A list header. An empty list gets element type 0 rather than its declared one, as
 * hyparquet-writer writes it (it guesses the type from the first element); readers skip no elements
 * either way.
 */
function listHeader(out: Compact, size: number, type: number): void {
  const elementType = size === 0 ? 0 : type;
  if (size < 15) {
    out.appendUint8((size << 4) | elementType);
  } else {
    out.appendUint8(0xf0 | elementType);
    out.appendVarInt(size);
  }
}

const encoder = new TextEncoder();

/** A binary value: its length as a varint, then the bytes. */
function binary(out: Compact, bytes: Uint8Array): void {
  out.appendVarInt(bytes.length);
  out.appendBytes(bytes);
}

/** A string as binary, in UTF-8; ASCII (every name in the schemas) copied without an encoder call. */
function string(out: Compact, s: string): void {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      binary(out, encoder.encode(s));
      return;
    }
  }
  out.appendVarInt(n);
  for (let i = 0; i < n; i++) out.appendUint8(s.charCodeAt(i));
}

/**
 * An i64 as a zigzag varint; one below 2^52 and not negative (every size, offset and count) with
 * number arithmetic, as BigInt shifts allocate a BigInt a step.
 */
function i64(out: Compact, v: bigint): void {
  if (v >= 0n && v < 0x10000000000000n) {
    let n = Number(v) * 2;
    while (n >= 0x80) {
      out.appendUint8((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    out.appendUint8(n);
    return;
  }
  let z = (v << 1n) ^ (v >> 63n);
  while (z >= 0x80n) {
    out.appendUint8(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.appendUint8(Number(z));
}

/** Field `id` of a struct whose previous field was `last`, holding the i32 `v`; returns `id`. */
function i32Value(out: FieldOut, last: number, id: number, v: number): number {
  field(out, last, id, THRIFT_I32);
  out.appendZigZag(v);
  return id;
}

/** Field `id` of a struct whose previous field was `last`, holding the i64 `v`; returns `id`. */
function i64Value(out: Compact, last: number, id: number, v: bigint): number {
  field(out, last, id, THRIFT_I64);
  i64(out, v);
  return id;
}

/** An empty struct as a field (a union member without values: STRING, TypeDefinedOrder, MICROS, ...). */
function emptyStruct(out: Compact, last: number, id: number): number {
  field(out, last, id, THRIFT_STRUCT);
  out.appendUint8(THRIFT_STOP);
  return id;
}

/** TimeUnit: a union of empty structs (MILLIS 1, MICROS 2, NANOS 3). */
const TIME_UNITS = { MILLIS: 1, MICROS: 2, NANOS: 3 } as const;

/** LogicalType, a union: the logical types the span and audit schemas use (STRING and TIMESTAMP). */
function logicalType(out: Compact, t: LogicalType): void {
  if (t.type === 'STRING') {
    emptyStruct(out, 0, 1);
  } else if (t.type === 'TIMESTAMP') {
    field(out, 0, 8, THRIFT_STRUCT);
    field(out, 0, 1, t.isAdjustedToUTC ? THRIFT_TRUE : THRIFT_FALSE);
    field(out, 1, 2, THRIFT_STRUCT);
    emptyStruct(out, 0, TIME_UNITS[t.unit]);
    out.appendUint8(THRIFT_STOP);
    out.appendUint8(THRIFT_STOP);
  } else {
    throw new RangeError(`this encoder writes no ${t.type} logical type`);
  }
  out.appendUint8(THRIFT_STOP);
}

function schemaElement(out: Compact, e: SchemaElement): void {
  let last = 0;
  if (e.type !== undefined) {
    last = i32Value(out, last, 1, ParquetTypes.indexOf(e.type));
  }
  if (e.type_length !== undefined) {
    last = i32Value(out, last, 2, e.type_length);
  }
  if (e.repetition_type !== undefined) {
    last = i32Value(out, last, 3, FieldRepetitionTypes.indexOf(e.repetition_type));
  }
  last = field(out, last, 4, THRIFT_BINARY);
  string(out, e.name);
  if (e.num_children !== undefined) {
    last = i32Value(out, last, 5, e.num_children);
  }
  if (e.converted_type !== undefined) {
    last = i32Value(out, last, 6, ConvertedTypes.indexOf(e.converted_type));
  }
  if (e.scale !== undefined) {
    last = i32Value(out, last, 7, e.scale);
  }
  if (e.precision !== undefined) {
    last = i32Value(out, last, 8, e.precision);
  }
  if (e.field_id !== undefined) {
    last = i32Value(out, last, 9, e.field_id);
  }
  if (e.logical_type !== undefined) {
    field(out, last, 10, THRIFT_STRUCT);
    logicalType(out, e.logical_type);
  }
  out.appendUint8(THRIFT_STOP);
}

/**
 * The UTF-8 bytes of a string bound cut to at most `length` bytes, on a code point boundary: a
 * prefix for a minimum; for a maximum, the shortest such prefix with its last code point raised by
 * one that still fits (surrogates skipped), so it stays an upper bound. `bytes` itself when it fits,
 * or when no shorter maximum exists.
 */
function truncateUtf8(bytes: Uint8Array, isMax: boolean, length: number): Uint8Array {
  if (bytes.length <= length) return bytes;
  let end = length;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  if (!isMax) return bytes.subarray(0, end);
  while (end > 0) {
    const start = codePointStart(bytes, end);
    const code = decodeCodePoint(bytes, start, end);
    end = start;
    if (code === 0x10ffff) continue;
    const next = code === 0xd7ff ? 0xe000 : code + 1;
    const suffix = encoder.encode(String.fromCodePoint(next));
    if (end + suffix.length > length) continue;
    const rounded = new Uint8Array(end + suffix.length);
    rounded.set(bytes.subarray(0, end));
    rounded.set(suffix, end);
    return rounded;
  }
  return bytes;
}

/** Where the code point ending at `end` starts (well-formed UTF-8: TextEncoder's). */
function codePointStart(bytes: Uint8Array, end: number): number {
  let i = end - 1;
  while (i > 0 && (bytes[i]! & 0xc0) === 0x80) i--;
  return i;
}

function decodeCodePoint(bytes: Uint8Array, start: number, end: number): number {
  const lead = bytes[start]!;
  let code = end - start === 1 ? lead : lead & (0xff >> (end - start + 1));
  for (let i = start + 1; i < end; i++) code = (code << 6) | (bytes[i]! & 0x3f);
  return code;
}

/**
 * Statistics with what the encoder sets (null count, min and max values): a value as its PLAIN
 * bytes (a string's UTF-8 without the length prefix), a string cut to `truncateLength` bytes and
 * then flagged inexact.
 */
function statistics(out: Compact, s: Statistics, element: SchemaElement, truncateLength: number): void {
  let last = 0;
  if (s.null_count !== undefined) {
    last = i64Value(out, last, 3, s.null_count);
  }
  let maxExact = true;
  let minExact = true;
  if (s.max_value !== undefined) {
    last = field(out, last, 5, THRIFT_BINARY);
    maxExact = statValue(out, s.max_value, element, true, truncateLength);
  }
  if (s.min_value !== undefined) {
    last = field(out, last, 6, THRIFT_BINARY);
    minExact = statValue(out, s.min_value, element, false, truncateLength);
  }
  if (!maxExact) last = field(out, last, 7, THRIFT_FALSE);
  if (!minExact) field(out, last, 8, THRIFT_FALSE);
  out.appendUint8(THRIFT_STOP);
}

/** Writes a min or max value; whether it is exact (not truncated). */
function statValue(out: Compact, v: unknown, element: SchemaElement, isMax: boolean, truncateLength: number): boolean {
  if (element.type === 'INT32' && typeof v === 'number') {
    out.appendVarInt(4);
    out.appendInt32(v);
    return true;
  }
  if (element.type === 'INT64' && typeof v === 'bigint') {
    out.appendVarInt(8);
    out.appendInt64(v);
    return true;
  }
  const utf8 = element.converted_type === 'UTF8' || element.logical_type?.type === 'STRING';
  if (element.type === 'BYTE_ARRAY' && utf8 && typeof v === 'string') {
    const bytes = encoder.encode(v);
    const cut = truncateUtf8(bytes, isMax, truncateLength);
    binary(out, cut);
    return cut === bytes;
  }
  throw new RangeError(`this encoder writes no statistics of ${typeof v} for ${element.type} column ${element.name}`);
}

function columnChunk(out: Compact, c: ColumnChunk, element: SchemaElement, truncateLength: number): void {
  let last = i64Value(out, 0, 2, c.file_offset);
  const m = c.meta_data;
  if (m !== undefined) {
    field(out, last, 3, THRIFT_STRUCT);
    last = i32Value(out, 0, 1, ParquetTypes.indexOf(m.type));
    last = field(out, last, 2, THRIFT_LIST);
    listHeader(out, m.encodings.length, THRIFT_I32);
    for (const e of m.encodings) out.appendZigZag(Encodings.indexOf(e));
    last = field(out, last, 3, THRIFT_LIST);
    listHeader(out, m.path_in_schema.length, THRIFT_BINARY);
    for (const p of m.path_in_schema) string(out, p);
    last = i32Value(out, last, 4, CompressionCodecs.indexOf(m.codec));
    last = i64Value(out, last, 5, m.num_values);
    last = i64Value(out, last, 6, m.total_uncompressed_size);
    last = i64Value(out, last, 7, m.total_compressed_size);
    last = i64Value(out, last, 9, m.data_page_offset);
    if (m.dictionary_page_offset !== undefined) {
      last = i64Value(out, last, 11, m.dictionary_page_offset);
    }
    if (m.statistics !== undefined) {
      field(out, last, 12, THRIFT_STRUCT);
      statistics(out, m.statistics, element, truncateLength);
    }
    out.appendUint8(THRIFT_STOP);
  }
  out.appendUint8(THRIFT_STOP);
}

function rowGroup(out: Compact, rg: RowGroup, leaves: readonly SchemaElement[], truncateLength: number): void {
  let last = field(out, 0, 1, THRIFT_LIST);
  listHeader(out, rg.columns.length, THRIFT_STRUCT);
  rg.columns.forEach((c, j) => columnChunk(out, c, leaves[j]!, truncateLength));
  last = i64Value(out, last, 2, rg.total_byte_size);
  last = i64Value(out, last, 3, rg.num_rows);
  if (rg.sorting_columns !== undefined) {
    last = field(out, last, 4, THRIFT_LIST);
    listHeader(out, rg.sorting_columns.length, THRIFT_STRUCT);
    for (const sc of rg.sorting_columns) {
      i32Value(out, 0, 1, sc.column_idx);
      field(out, 1, 2, sc.descending ? THRIFT_TRUE : THRIFT_FALSE);
      field(out, 2, 3, sc.nulls_first ? THRIFT_TRUE : THRIFT_FALSE);
      out.appendUint8(THRIFT_STOP);
    }
  }
  if (rg.file_offset !== undefined) {
    last = i64Value(out, last, 5, rg.file_offset);
  }
  if (rg.total_compressed_size !== undefined) {
    i64Value(out, last, 6, rg.total_compressed_size);
  }
  out.appendUint8(THRIFT_STOP);
}

/** What the encoder puts in a file's footer (FileMetaData's fields it sets). */
export interface Footer {
  version: number;
  schema: readonly SchemaElement[];
  num_rows: bigint;
  row_groups: readonly RowGroup[];
  created_by: string;
}

/**
 * The footer: FileMetaData with its schema, row groups (column chunks with their metadata and
 * statistics, sorting columns) and a type-defined column order per leaf, then its length (the
 * caller appends the closing magic). Byte for byte what hyparquet-writer's writeMetadata writes for
 * the fields the encoder sets; the others (key-value metadata, page indexes, bloom filters, encoding
 * stats, ...) the encoder never sets, and they are not written. String statistics are cut to
 * `statisticsTruncateLength` bytes. A row group's columns are the schema's leaves in order.
 */
export function writeFooter(file: ByteWriter, metadata: Footer, statisticsTruncateLength: number): void {
  const out = new Compact();
  const leaves = metadata.schema.filter((e) => e.type !== undefined);
  let last = i32Value(out, 0, 1, metadata.version);
  last = field(out, last, 2, THRIFT_LIST);
  listHeader(out, metadata.schema.length, THRIFT_STRUCT);
  for (const e of metadata.schema) schemaElement(out, e);
  last = i64Value(out, last, 3, metadata.num_rows);
  last = field(out, last, 4, THRIFT_LIST);
  listHeader(out, metadata.row_groups.length, THRIFT_STRUCT);
  for (const rg of metadata.row_groups) {
    if (rg.columns.length !== leaves.length) throw new RangeError(`a row group has ${rg.columns.length} columns, the schema ${leaves.length} leaves`);
    rowGroup(out, rg, leaves, statisticsTruncateLength);
  }
  last = field(out, last, 6, THRIFT_BINARY);
  string(out, metadata.created_by);
  field(out, last, 7, THRIFT_LIST);
  listHeader(out, leaves.length, THRIFT_STRUCT);
  for (let j = 0; j < leaves.length; j++) {
    emptyStruct(out, 0, 1);
    out.appendUint8(THRIFT_STOP);
  }
  out.appendUint8(THRIFT_STOP);
  file.appendBytes(out.bytes());
  file.appendUint32(out.pos);
}
