/**
 * An append-only UTF-8 byte buffer for building JSON text without intermediate strings: string
 * fields are copied from the protobuf bytes with JSON escaping, and a finished cell becomes one JS
 * string with a single decode (after a UTF-8 check when it holds non-ASCII bytes), or bytes with a
 * single copy (`takeBytes`, for cells that only go on to a Parquet file as UTF-8). This keeps the
 * materializer's hot path off the GC.
 */
import { isUtf8 } from 'node:buffer';
import { WireError } from './wire-reader.ts';

const HEX = Buffer.from('0123456789abcdef');
/** For each byte < 0x80: 0 = copy, else the escape character after the backslash ('u' = \u00XX). */
const ESCAPE = new Uint8Array(128);
for (let i = 0; i < 0x20; i++) ESCAPE[i] = 0x75;
ESCAPE[0x08] = 0x62; // \b
ESCAPE[0x09] = 0x74; // \t
ESCAPE[0x0a] = 0x6e; // \n
ESCAPE[0x0c] = 0x66; // \f
ESCAPE[0x0d] = 0x72; // \r
ESCAPE[0x22] = 0x22; // \"
ESCAPE[0x5c] = 0x5c; // \\

/** Size of the slabs `takeBytes` carves cells from. */
const SLAB_BYTES = 256 * 1024;

export class JsonWriter {
  buf: Buffer = Buffer.allocUnsafe(64 * 1024);
  len = 0;
  /** Set when a non-ASCII byte was written, so `take` knows whether the faster latin1 decode is exact. */
  private wide = false;
  /** Where `takeBytes` cells live: filled front to back, replaced (not reused) when full. */
  private slab = new Uint8Array(0);
  private slabPos = 0;

  reset(): void {
    this.len = 0;
    this.wide = false;
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /**
   * Text written since `start`, as a string; truncates back to `start`. String bytes are copied as
   * they came, so text with non-ASCII bytes is checked first: invalid UTF-8 throws WireError rather
   * than being decoded to U+FFFD.
   */
  take(start: number): string {
    if (this.wide && !isUtf8(this.buf.subarray(start, this.len))) {
      this.len = start;
      if (start === 0) this.wide = false;
      throw new WireError('invalid UTF-8 in a string field');
    }
    const s = this.buf.toString(this.wide ? 'utf8' : 'latin1', start, this.len);
    this.len = start;
    if (start === 0) this.wide = false;
    return s;
  }

  /**
   * Text written since `start`, as UTF-8 bytes (checked as `take` checks them); truncates back to
   * `start`. The bytes are a view into a shared slab that later cells are appended to, never
   * overwritten: hand them on, don't write into them.
   */
  takeBytes(start: number): Uint8Array {
    const n = this.len - start;
    if (this.wide && !isUtf8(this.buf.subarray(start, this.len))) {
      this.len = start;
      if (start === 0) this.wide = false;
      throw new WireError('invalid UTF-8 in a string field');
    }
    if (this.slabPos + n > this.slab.length) {
      // One allocation serves many cells: a typed array per cell would each need its own backing store.
      this.slab = new Uint8Array(Math.max(SLAB_BYTES, n));
      this.slabPos = 0;
    }
    const out = this.slab.subarray(this.slabPos, this.slabPos + n);
    // Buffer#copy takes offsets: no throwaway view of the source per cell (as set(subarray) needs).
    this.buf.copy(this.slab, this.slabPos, start, this.len);
    this.slabPos += n;
    this.len = start;
    if (start === 0) this.wide = false;
    return out;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  /** Pre-encoded ASCII (field names, punctuation). */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    const buf = this.buf;
    let len = this.len;
    for (let i = 0; i < bytes.length; i++) buf[len++] = bytes[i]!;
    this.len = len;
  }

  /** ASCII text such as numbers. */
  ascii(s: string): void {
    this.ensure(s.length);
    const buf = this.buf;
    let len = this.len;
    for (let i = 0; i < s.length; i++) buf[len++] = s.charCodeAt(i);
    this.len = len;
  }

  /** A JSON string from UTF-8 bytes src[start, end). */
  string(src: Uint8Array, start: number, end: number): void {
    this.ensure((end - start) * 6 + 2);
    const buf = this.buf;
    let len = this.len;
    buf[len++] = 0x22;
    for (let i = start; i < end; i++) {
      const b = src[i]!;
      if (b >= 0x80) {
        this.wide = true;
        buf[len++] = b;
        continue;
      }
      const e = ESCAPE[b]!;
      if (e === 0) buf[len++] = b;
      else if (e !== 0x75) {
        buf[len++] = 0x5c;
        buf[len++] = e;
      } else {
        buf[len++] = 0x5c;
        buf[len++] = 0x75;
        buf[len++] = 0x30;
        buf[len++] = 0x30;
        buf[len++] = HEX[b >> 4]!;
        buf[len++] = HEX[b & 15]!;
      }
    }
    buf[len++] = 0x22;
    this.len = len;
  }

  /** Lowercase hex of src[start, end), quoted. */
  hex(src: Uint8Array, start: number, end: number): void {
    this.ensure((end - start) * 2 + 2);
    const buf = this.buf;
    let len = this.len;
    buf[len++] = 0x22;
    for (let i = start; i < end; i++) {
      const b = src[i]!;
      buf[len++] = HEX[b >> 4]!;
      buf[len++] = HEX[b & 15]!;
    }
    buf[len++] = 0x22;
    this.len = len;
  }

  /** Standard base64 of src[start, end), quoted. */
  base64(src: Buffer, start: number, end: number): void {
    this.byte(0x22);
    this.ascii(src.toString('base64', start, end));
    this.byte(0x22);
  }
}

/** ASCII literal → bytes, for `JsonWriter.raw`. */
export function lit(s: string): Uint8Array {
  return Buffer.from(s, 'latin1');
}
