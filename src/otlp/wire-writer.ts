/**
 * Protobuf written by hand: varints straight into a buffer sized beforehand (encoders that copy wire
 * bytes), and {@link ProtoWriter} for messages whose size is learned as they are written.
 */

/** Length of the varint of a uint32. */
export function varint32Len(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Writes the varint of a uint32 at `pos`; returns the position after it. */
export function writeVarint32(buf: Buffer, pos: number, n: number): number {
  while (n > 0x7f) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}

/** Length of the varint of the uint64 (hi·2^32 + lo); negative int64s are their two's complement (10 bytes). */
export function varint64Len(lo: number, hi: number): number {
  if (hi === 0) return varint32Len(lo);
  let len = 5; // the low 35 bits
  hi >>>= 3;
  while (hi !== 0) {
    len++;
    hi >>>= 7;
  }
  return len;
}

/** Writes the varint of the uint64 (hi·2^32 + lo) at `pos`; returns the position after it. */
export function writeVarint64(buf: Buffer, pos: number, lo: number, hi: number): number {
  while (hi !== 0) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  return writeVarint32(buf, pos, lo);
}

const INITIAL_BYTES = 64 * 1024;

/**
 * Protobuf bytes appended to one buffer. Length-delimited fields are written in place: one byte is
 * kept for the length, and the body moves up when its length needs more. A full buffer is replaced
 * by a larger one, never written over, so views taken of finished messages stay valid.
 */
export class ProtoWriter {
  buf = Buffer.allocUnsafe(INITIAL_BYTES);
  pos = 0;

  /** Starts over from an empty buffer, letting go of one grown beyond `keepBytes`. */
  reset(keepBytes: number): void {
    this.pos = 0;
    if (this.buf.length > keepBytes) this.buf = Buffer.allocUnsafe(INITIAL_BYTES);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  varint32(n: number): void {
    this.ensure(5);
    this.pos = writeVarint32(this.buf, this.pos, n >>> 0);
  }

  /** An int32 as protobuf writes it: negative values sign-extended to ten bytes. */
  int32(n: number): void {
    this.ensure(10);
    this.pos = n < 0 ? writeVarint64(this.buf, this.pos, n >>> 0, 0xffffffff) : writeVarint32(this.buf, this.pos, n);
  }

  varint64(lo: number, hi: number): void {
    this.ensure(10);
    this.pos = writeVarint64(this.buf, this.pos, lo >>> 0, hi >>> 0);
  }

  fixed32(n: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(n >>> 0, this.pos);
    this.pos += 4;
  }

  fixed64(lo: number, hi: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE(lo >>> 0, this.pos);
    this.buf.writeUInt32LE(hi >>> 0, this.pos + 4);
    this.pos += 8;
  }

  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** Starts a length-delimited body; pass the result to `end`. */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Ends the body begun at `mark`: writes its length, moving the body up if the length needs more than a byte. */
  end(mark: number): void {
    const length = this.pos - mark - 1;
    if (length < 0x80) {
      this.buf[mark] = length;
      return;
    }
    const extra = varint32Len(length) - 1;
    this.ensure(extra);
    this.buf.copyWithin(mark + 1 + extra, mark + 1, this.pos);
    this.pos += extra;
    writeVarint32(this.buf, mark, length);
  }

  /** A string field, skipped when empty (proto3 leaves the default out). */
  string(tag: number, s: string): void {
    if (s === '') return;
    this.ensure(1 + 5 + 3 * s.length);
    this.buf[this.pos++] = tag;
    const mark = this.pos++;
    this.pos += this.buf.write(s, this.pos, 'utf8');
    this.end(mark);
  }

  /** A bytes field of the id in hex text, skipped when empty (Buffer's hex decoding, as `Buffer.from(s, 'hex')`). */
  hexId(tag: number, hex: string): void {
    this.ensure(2 + 5 + (hex.length >> 1));
    const mark = this.pos + 1;
    const n = this.buf.write(hex, mark + 1, 'hex');
    if (n === 0) return;
    this.buf[this.pos] = tag;
    this.pos = mark + 1 + n;
    this.end(mark);
  }
}
