/**
 * Parquet's thrift structures as the encoder writes them, in the thrift compact protocol
 * (parquet.thrift): page headers and the footer. Each is byte for byte what hyparquet-writer writes
 * for the same values (tests check it), without its walk over a generic object per structure.
 */
import type { ByteWriter } from 'hyparquet-writer';
import { Encodings, PageTypes } from 'hyparquet/src/constants.js';
import type { PageHeader } from 'hyparquet';

/** Thrift compact protocol types (parquet.thrift is serialized with it). */
const THRIFT_STOP = 0;
const THRIFT_I32 = 5;
const THRIFT_STRUCT = 12;

/** A compact-protocol field header for the field `delta` ids after the one before, then its i32 value. */
function i32Field(out: ByteWriter, delta: number, value: number): void {
  out.appendUint8((delta << 4) | THRIFT_I32);
  out.appendZigZag(value);
}

/**
 * The PageHeader of a data page v2 or a dictionary page, the two kinds this encoder writes, byte for
 * byte as hyparquet-writer's writePageHeader writes them (no crc, no statistics, is_compressed and
 * is_sorted left at their defaults), without its walk over a generic object per page.
 */
export function writePageHeader(out: ByteWriter, header: PageHeader): void {
  i32Field(out, 1, PageTypes.indexOf(header.type));
  i32Field(out, 1, header.uncompressed_page_size);
  i32Field(out, 1, header.compressed_page_size);
  const v2 = header.data_page_header_v2;
  const dict = header.dictionary_page_header;
  if (v2 !== undefined) {
    if (!v2.is_compressed) throw new RangeError('this encoder writes compressed data pages only');
    out.appendUint8((5 << 4) | THRIFT_STRUCT); // field 8
    i32Field(out, 1, v2.num_values);
    i32Field(out, 1, v2.num_nulls);
    i32Field(out, 1, v2.num_rows);
    i32Field(out, 1, Encodings.indexOf(v2.encoding));
    i32Field(out, 1, v2.definition_levels_byte_length);
    i32Field(out, 1, v2.repetition_levels_byte_length);
    out.appendUint8(THRIFT_STOP);
  } else if (dict !== undefined) {
    out.appendUint8((4 << 4) | THRIFT_STRUCT); // field 7
    i32Field(out, 1, dict.num_values);
    i32Field(out, 1, Encodings.indexOf(dict.encoding));
    out.appendUint8(THRIFT_STOP);
  } else {
    throw new RangeError(`this encoder writes no ${header.type} pages`);
  }
  out.appendUint8(THRIFT_STOP);
}
