/**
 * The Agent's v0.4 trace format: a msgpack array of traces, each an array of span maps. A small
 * writer for exactly what that needs: 64-bit integers come from BigInt and are written as msgpack
 * integers (uint64 ids stay exact; a JS number above 2^53 would have become a float, which the
 * Agent refuses), metrics are always float64, as Go's msgp writes them.
 */
import type { DdSpan } from './mapping.ts';

export class MsgpackWriter {
  #buf: Buffer;
  #pos = 0;

  constructor(initialBytes = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Starts over, keeping the buffer. */
  reset(): this {
    this.#pos = 0;
    return this;
  }

  get length(): number {
    return this.#pos;
  }

  /** The bytes written so far (a view of the writer's buffer: valid until the next write). */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.#pos);
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return Uint8Array.prototype.slice.call(this.#buf, 0, this.#pos);
  }

  raw(bytes: Uint8Array): this {
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
    return this;
  }

  arrayHeader(n: number): this {
    return this.#header(n, 0x90, 0xdc, 0xdd);
  }

  mapHeader(n: number): this {
    return this.#header(n, 0x80, 0xde, 0xdf);
  }

  str(s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    this.#room(5 + n);
    const b = this.#buf;
    if (n < 32) b[this.#pos++] = 0xa0 | n;
    else if (n <= 0xff) {
      b[this.#pos++] = 0xd9;
      b[this.#pos++] = n;
    } else if (n <= 0xffff) {
      b[this.#pos++] = 0xda;
      b.writeUInt16BE(n, this.#pos);
      this.#pos += 2;
    } else {
      b[this.#pos++] = 0xdb;
      b.writeUInt32BE(n, this.#pos);
      this.#pos += 4;
    }
    this.#pos += b.write(s, this.#pos, n, 'utf8');
    return this;
  }

  /** An integer in its smallest msgpack form: unsigned when >= 0, signed otherwise. */
  int(v: bigint | number): this {
    this.#room(9);
    const b = this.#buf;
    if (typeof v === 'number') {
      if (Number.isSafeInteger(v)) {
        if (v >= 0 && v < 0x80) {
          b[this.#pos++] = v;
          return this;
        }
        if (v < 0 && v >= -32) {
          b[this.#pos++] = v & 0xff;
          return this;
        }
      }
      v = BigInt(v);
    }
    if (v >= 0n) {
      if (v < 0x80n) b[this.#pos++] = Number(v);
      else if (v <= 0xffn) {
        b[this.#pos++] = 0xcc;
        b[this.#pos++] = Number(v);
      } else if (v <= 0xffffn) {
        b[this.#pos++] = 0xcd;
        b.writeUInt16BE(Number(v), this.#pos);
        this.#pos += 2;
      } else if (v <= 0xffffffffn) {
        b[this.#pos++] = 0xce;
        b.writeUInt32BE(Number(v), this.#pos);
        this.#pos += 4;
      } else {
        if (v > 0xffffffffffffffffn) throw new RangeError(`${v} does not fit in uint64`);
        b[this.#pos++] = 0xcf;
        b.writeBigUInt64BE(v, this.#pos);
        this.#pos += 8;
      }
      return this;
    }
    if (v >= -32n) b[this.#pos++] = Number(v) & 0xff;
    else if (v >= -0x80n) {
      b[this.#pos++] = 0xd0;
      b.writeInt8(Number(v), this.#pos++);
    } else if (v >= -0x8000n) {
      b[this.#pos++] = 0xd1;
      b.writeInt16BE(Number(v), this.#pos);
      this.#pos += 2;
    } else if (v >= -0x80000000n) {
      b[this.#pos++] = 0xd2;
      b.writeInt32BE(Number(v), this.#pos);
      this.#pos += 4;
    } else {
      if (v < -0x8000000000000000n) throw new RangeError(`${v} does not fit in int64`);
      b[this.#pos++] = 0xd3;
      b.writeBigInt64BE(v, this.#pos);
      this.#pos += 8;
    }
    return this;
  }

  bool(b: boolean): this {
    this.#room(1);
    this.#buf[this.#pos++] = b ? 0xc3 : 0xc2;
    return this;
  }

  /** Bytes (msgpack bin: Go's []byte, e.g. a DDSketch protobuf in a stats payload). */
  bin(bytes: Uint8Array): this {
    const n = bytes.length;
    this.#room(5 + n);
    const b = this.#buf;
    if (n <= 0xff) {
      b[this.#pos++] = 0xc4;
      b[this.#pos++] = n;
    } else if (n <= 0xffff) {
      b[this.#pos++] = 0xc5;
      b.writeUInt16BE(n, this.#pos);
      this.#pos += 2;
    } else {
      b[this.#pos++] = 0xc6;
      b.writeUInt32BE(n, this.#pos);
      this.#pos += 4;
    }
    b.set(bytes, this.#pos);
    this.#pos += n;
    return this;
  }

  float64(f: number): this {
    this.#room(9);
    this.#buf[this.#pos++] = 0xcb;
    this.#buf.writeDoubleBE(f, this.#pos);
    this.#pos += 8;
    return this;
  }

  #header(n: number, fix: number, h16: number, h32: number): this {
    this.#room(5);
    const b = this.#buf;
    if (n < 16) b[this.#pos++] = fix | n;
    else if (n <= 0xffff) {
      b[this.#pos++] = h16;
      b.writeUInt16BE(n, this.#pos);
      this.#pos += 2;
    } else {
      b[this.#pos++] = h32;
      b.writeUInt32BE(n, this.#pos);
      this.#pos += 4;
    }
    return this;
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }
}

/** Bytes of an array header for `n` elements: what a payload adds around its traces and spans. */
export function arrayHeaderBytes(n: number): number {
  return n < 16 ? 1 : n <= 0xffff ? 3 : 5;
}

/** One span as the v0.4 span map (the Agent's `pb.Span` msgpack field names). */
export function writeSpanMsgpack(w: MsgpackWriter, s: DdSpan): void {
  w.mapHeader(12);
  w.str('service').str(s.service);
  w.str('name').str(s.name);
  w.str('resource').str(s.resource);
  w.str('trace_id').int(s.traceId);
  w.str('span_id').int(s.spanId);
  w.str('parent_id').int(s.parentId);
  w.str('start').int(s.start);
  w.str('duration').int(s.duration);
  w.str('error').int(s.error);
  w.str('meta').mapHeader(s.meta.size);
  for (const [k, v] of s.meta) w.str(k).str(v);
  w.str('metrics').mapHeader(s.metrics.size);
  for (const [k, v] of s.metrics) w.str(k).float64(v);
  w.str('type').str(s.type);
}

/**
 * The number of elements of the msgpack array `body` starts with: a v0.4 payload's trace count
 * (X-Datadog-Trace-Count), read from the bytes so the header can never disagree with them.
 */
export function msgpackArrayLength(body: Uint8Array): number | null {
  const b0 = body[0];
  if (b0 === undefined) return null;
  if ((b0 & 0xf0) === 0x90) return b0 & 0x0f;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (b0 === 0xdc && body.length >= 3) return view.getUint16(1);
  if (b0 === 0xdd && body.length >= 5) return view.getUint32(1);
  return null;
}
