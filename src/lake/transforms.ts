/**
 * Iceberg partition transforms and single-value serialization, bit-exact to the Iceberg spec:
 * Appendix B (32-bit Murmur3 x86 hashing for `bucket[N]`), the `day` transform, and Appendix D
 * (binary single-value serialization used for manifest lower/upper bounds).
 */
import { TailsamplerError } from '../errors.ts';
import type { IcebergPrimitive } from './span-schema.ts';

export class TransformError extends TailsamplerError {
  constructor(message: string) {
    super('TS_LAKE_TRANSFORM', message);
    this.name = 'TransformError';
  }
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixK1(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH1(h: number, k: number): number {
  h ^= mixK1(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Murmur3 x86 32-bit; returns the signed 32-bit value Guava's `murmur3_32().hashBytes` returns. */
export function murmur3x86_32(bytes: Uint8Array, seed = 0): number {
  const n = bytes.length;
  const blocks = n & ~3;
  let h = seed | 0;
  for (let i = 0; i < blocks; i += 4) {
    h = mixH1(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
  }
  const rest = n & 3;
  if (rest > 0) {
    let k = 0;
    for (let j = rest - 1; j >= 0; j--) k ^= bytes[blocks + j]! << (8 * j);
    h ^= mixK1(k);
  }
  return fmix(h, n);
}

/**
 * Murmur3 of an ASCII string's bytes without encoding it first: trace ids are 32 hex characters,
 * and the partitioner hashes one per row, so skipping the TextEncoder allocation matters.
 * Returns undefined when the string is not pure ASCII (caller falls back to UTF-8 encoding).
 */
function murmur3Ascii(s: string): number | undefined {
  const n = s.length;
  const blocks = n & ~3;
  let h = 0;
  let any = 0;
  for (let i = 0; i < blocks; i += 4) {
    const a = s.charCodeAt(i);
    const b = s.charCodeAt(i + 1);
    const c = s.charCodeAt(i + 2);
    const d = s.charCodeAt(i + 3);
    any |= a | b | c | d;
    h = mixH1(h, a | (b << 8) | (c << 16) | (d << 24));
  }
  let k = 0;
  const rest = n & 3;
  for (let j = rest - 1; j >= 0; j--) {
    const c = s.charCodeAt(blocks + j);
    any |= c;
    k ^= c << (8 * j);
  }
  if (any > 0x7f) return undefined;
  if (rest > 0) h ^= mixK1(k);
  return fmix(h, n);
}

/** The character codes of the lowercase hex digits. */
const HEX_DIGITS = new Uint8Array(Array.from('0123456789abcdef', (c) => c.charCodeAt(0)));

/**
 * Murmur3 of the lowercase hex text of bytes[start, stop) without building the text: what
 * `bucket[N]` of a trace id hashes, taken from the id's bytes on the wire.
 */
function murmur3Hex(bytes: Uint8Array, start: number, stop: number): number {
  let h = 0;
  let i = start;
  // Four hex characters, one block, per two bytes.
  for (; i + 1 < stop; i += 2) {
    const a = bytes[i]!;
    const b = bytes[i + 1]!;
    h = mixH1(h, HEX_DIGITS[a >>> 4]! | (HEX_DIGITS[a & 15]! << 8) | (HEX_DIGITS[b >>> 4]! << 16) | (HEX_DIGITS[b & 15]! << 24));
  }
  if (i < stop) {
    const a = bytes[i]!;
    h ^= mixK1(HEX_DIGITS[a >>> 4]! | (HEX_DIGITS[a & 15]! << 8));
  }
  return fmix(h, 2 * (stop - start));
}

/** `bucket[N]` of the lowercase hex string of bytes[start, stop), as {@link bucketString} of that string. */
export function bucketHexOfBytes(bytes: Uint8Array, start: number, stop: number, numBuckets: number): number {
  return (murmur3Hex(bytes, start, stop) & 0x7fffffff) % numBuckets;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Iceberg `bucket[N]` of a string: (murmur3(utf8) & Integer.MAX_VALUE) % N. */
export function bucketString(value: string, numBuckets: number): number {
  const h = murmur3Ascii(value) ?? murmur3x86_32(utf8.encode(value));
  return (h & 0x7fffffff) % numBuckets;
}

export const MICROS_PER_DAY = 86_400_000_000;
const MICROS_PER_DAY_BIG = 86_400_000_000n;

/** Iceberg `day` transform of a timestamp in microseconds: whole days since 1970-01-01, floored. */
export function dayFromMicros(micros: bigint): number {
  // Number fast path: exact while |micros| < 2^53 (about ±285 years around 1970).
  if (micros < 9_007_199_254_740_991n && micros > -9_007_199_254_740_991n) {
    return Math.floor(Number(micros) / MICROS_PER_DAY);
  }
  const q = micros / MICROS_PER_DAY_BIG;
  return Number(micros % MICROS_PER_DAY_BIG < 0n ? q - 1n : q);
}

/** Appendix D single-value serialization: string → UTF-8, int → 4 bytes LE, long/timestamptz → 8 bytes LE. */
export function serializeBound(type: IcebergPrimitive, value: string | number | bigint): Uint8Array {
  switch (type) {
    case 'string':
      if (typeof value !== 'string') throw new TransformError(`string bound must be a string, got ${typeof value}`);
      return utf8.encode(value);
    case 'int': {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < -2147483648 || value > 2147483647) {
        throw new TransformError(`int bound out of range: ${String(value)}`);
      }
      const out = new Uint8Array(4);
      new DataView(out.buffer).setInt32(0, value, true);
      return out;
    }
    case 'long':
    case 'timestamptz': {
      if (typeof value === 'string') throw new TransformError(`${type} bound must be numeric`);
      const out = new Uint8Array(8);
      new DataView(out.buffer).setBigInt64(0, BigInt(value), true);
      return out;
    }
  }
}

/** Inverse of serializeBound: int → number, long/timestamptz → bigint, string → string. */
export function deserializeBound(type: IcebergPrimitive, bytes: Uint8Array): string | number | bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case 'string':
      return utf8Decoder.decode(bytes);
    case 'int':
      if (bytes.byteLength !== 4) throw new TransformError(`int bound must be 4 bytes, got ${bytes.byteLength}`);
      return view.getInt32(0, true);
    case 'long':
    case 'timestamptz':
      if (bytes.byteLength !== 8) throw new TransformError(`${type} bound must be 8 bytes, got ${bytes.byteLength}`);
      return view.getBigInt64(0, true);
  }
}
