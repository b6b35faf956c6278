/**
 * A minimal protobuf wire-format cursor over one buffer. The codec walks OTLP messages with it
 * directly instead of building protobufjs objects: no Long, no per-field objects, strings sliced
 * straight from the bytes. Every read is bounds-checked against the enclosing message's end so a
 * truncated or lying length prefix fails with WireError instead of reading a neighbour's bytes.
 */
import { isUtf8 } from 'node:buffer';

export const WT_VARINT = 0;
export const WT_I64 = 1;
export const WT_LEN = 2;
export const WT_I32 = 5;

/** Malformed protobuf. Callers translate it into their own TailsamplerError. */
export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

/** Builds the tag value of a field, as it appears on the wire. */
export function tagOf(field: number, wireType: number): number {
  return ((field << 3) | wireType) >>> 0;
}

export class WireReader {
  readonly buf: Buffer;
  pos = 0;
  /** Low and high 32 bits of the last `varint64()` / `fixed64()`. */
  lo = 0;
  hi = 0;

  constructor(bytes: Uint8Array) {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** A varint that must fit 32 bits (tags, lengths, uint32/int32 fields); higher bits are dropped as protobuf does. */
  uint32(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    let result = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (pos >= end) throw new WireError('truncated varint');
      const b = buf[pos++]!;
      if (shift < 32) result |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return result >>> 0;
      }
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** A 64-bit varint into `lo`/`hi`. */
  varint64(end: number): void {
    const buf = this.buf;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let i = 0;
    for (; i < 10; i++) {
      if (pos >= end) throw new WireError('truncated varint');
      const b = buf[pos++]!;
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (b < 0x80) break;
    }
    if (i === 10) throw new WireError('varint longer than 10 bytes');
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  fixed64(end: number): void {
    const pos = this.pos;
    if (pos + 8 > end) throw new WireError('truncated fixed64');
    const buf = this.buf;
    this.lo = (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
    this.hi = (buf[pos + 4]! | (buf[pos + 5]! << 8) | (buf[pos + 6]! << 16) | (buf[pos + 7]! << 24)) >>> 0;
    this.pos = pos + 8;
  }

  fixed32(end: number): number {
    const pos = this.pos;
    if (pos + 4 > end) throw new WireError('truncated fixed32');
    const buf = this.buf;
    this.pos = pos + 4;
    return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
  }

  double(end: number): number {
    if (this.pos + 8 > end) throw new WireError('truncated double');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Reads a length prefix and returns where the delimited field ends; `pos` is then at its start. */
  delimited(end: number): number {
    const len = this.uint32(end);
    const stop = this.pos + len;
    if (stop > end) throw new WireError('length-delimited field runs past its message');
    return stop;
  }

  /**
   * A length-delimited UTF-8 string. Bytes that are not valid UTF-8 throw WireError (strict proto3
   * parsers refuse them too) instead of decoding to U+FFFD: a string is never silently rewritten.
   */
  string(end: number): string {
    const stop = this.delimited(end);
    const s = stop === this.pos ? '' : this.buf.toString('utf8', this.pos, stop);
    // Invalid bytes decode to U+FFFD, so only a string holding one (never a one-byte string) needs a closer look.
    if (s.indexOf('\ufffd') >= 0 && !isUtf8(this.buf.subarray(this.pos, stop))) throw new WireError('invalid UTF-8 in a string field');
    this.pos = stop;
    return s;
  }

  /** Skips a field whose tag was just read. Groups (wire types 3/4) are deprecated and not used by OTLP. */
  skip(tag: number, end: number): void {
    switch (tag & 7) {
      case WT_VARINT:
        this.varint64(end);
        return;
      case WT_I64:
        if (this.pos + 8 > end) throw new WireError('truncated fixed64');
        this.pos += 8;
        return;
      case WT_LEN:
        this.pos = this.delimited(end);
        return;
      case WT_I32:
        if (this.pos + 4 > end) throw new WireError('truncated fixed32');
        this.pos += 4;
        return;
      default:
        throw new WireError(`unsupported wire type ${tag & 7} (field ${tag >>> 3})`);
    }
  }

  /**
   * Skips a field no case of the caller's switch matched. `known` has bit n set for each field
   * number n (< 32) the message defines: such a field arriving with another wire type is malformed
   * rather than unknown.
   */
  unknown(tag: number, end: number, known: number): void {
    const field = tag >>> 3;
    if (field === 0) throw new WireError('field number 0');
    if (field < 32 && (known >>> field) & 1) throw new WireError(`field ${field} has wrong wire type ${tag & 7}`);
    this.skip(tag, end);
  }
}

/** Signed decimal text of the 64-bit two's complement value lo/hi. */
export function int64String(lo: number, hi: number): string {
  if (hi === 0) return String(lo);
  if (hi < 0x200000) return String(hi * 4294967296 + lo);
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
}

/** Unsigned decimal text of lo/hi. */
export function uint64String(lo: number, hi: number): string {
  if (hi < 0x200000) return String(hi * 4294967296 + lo);
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}
