/**
 * 64-bit columns read through their 32-bit words: reading a BigInt64Array element allocates a
 * BigInt, comparing and copying words does not. Words are little-endian: the low word (unsigned),
 * then the high word (signed).
 */

/** The column's words: a view of a typed column, a copy of any other array of bigints. */
export function longWords(column: ArrayLike<bigint>): Int32Array {
  const typed = column instanceof BigInt64Array || column instanceof BigUint64Array ? column : BigInt64Array.from(column);
  return new Int32Array(typed.buffer, typed.byteOffset, typed.length * 2);
}

/** Sign of the difference of the (signed) longs at rows a and b. */
export function compareLongs(w: Int32Array, a: number, b: number): number {
  const ha = w[2 * a + 1]!;
  const hb = w[2 * b + 1]!;
  if (ha !== hb) return ha < hb ? -1 : 1;
  const la = w[2 * a]! >>> 0;
  const lb = w[2 * b]! >>> 0;
  return la === lb ? 0 : la < lb ? -1 : 1;
}

/**
 * floor((hi·2^32 + lo) / 1000) of nanoseconds given as uint32 halves: microseconds, exact in doubles
 * with 2^32 = 4294967·1000 + 296 while hi is below 0x7c000000 (times before ~2200).
 */
export function microsOfNanoWords(hi: number, lo: number): number {
  return hi * 4294967 + Math.floor((hi * 296 + lo) / 1000);
}
