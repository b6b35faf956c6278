/** Protobuf varints, written straight into a buffer sized beforehand (encoders that copy wire bytes). */

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
