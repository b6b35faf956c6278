/**
 * The heavy columns' OTLP/JSON text → protobuf bytes, without objects in between: the re-export path
 * reads each cell once, byte by byte, and writes the fields it names. It takes the canonical text
 * `wire-json.ts` writes (members in field-number order, no whitespace, scalar defaults left out, one
 * AnyValue member, int64 as decimal strings) and writes the bytes protobufjs writes for the properties
 * `json-to-proto.ts` makes of the same text. Anything else (other spellings, whitespace, members this
 * path does not write, text that is not JSON) throws {@link NotCanonical} and the caller goes through
 * `JSON.parse` and `json-to-proto.ts`, which accept every OTLP/JSON form and name what is wrong.
 */
import type { ProtoWriter } from './wire-writer.ts';
import { JSON_NUMBER } from './json-numbers.ts';

/** The text is not in the canonical form this transcoder reads; the general path takes it. */
export class NotCanonical extends Error {
  constructor() {
    super('not canonical OTLP/JSON');
    this.name = 'NotCanonical';
  }
}
const NOT_CANONICAL = new NotCanonical();
function notCanonical(): never {
  throw NOT_CANONICAL;
}

const Q = 0x22; // "
const COMMA = 0x2c;
const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const LIST_OPEN = 0x5b; // [
const LIST_CLOSE = 0x5d; // ]
const MAX_DEPTH = 64;
const TWO_32 = 4294967296;

const name = (s: string): Uint8Array => Buffer.from(`"${s}":`, 'latin1');
const M_KEY = name('key');
const M_VALUE = name('value');
const M_STRING = name('stringValue');
const M_BOOL = name('boolValue');
const M_INT = name('intValue');
const M_DOUBLE = name('doubleValue');
const M_ARRAY = name('arrayValue');
const M_KVLIST = name('kvlistValue');
const M_BYTES = name('bytesValue');
const M_VALUES = name('values');
const M_TIME = name('timeUnixNano');
const M_NAME = name('name');
const M_ATTRIBUTES = name('attributes');
const M_DROPPED = name('droppedAttributesCount');
const M_TRACE_ID = name('traceId');
const M_SPAN_ID = name('spanId');
const M_TRACE_STATE = name('traceState');
const M_FLAGS = name('flags');
const L_TRUE = Buffer.from('true');
const L_FALSE = Buffer.from('false');

const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[0x41 + i] = HEX_VALUE[0x61 + i] = 10 + i;
const ESCAPED: Record<number, number> = { 0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09 };
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Reads one cell's text and writes what it holds. */
class Transcoder {
  src: Uint8Array = new Uint8Array(0);
  at = 0;
  end = 0;
  w: ProtoWriter;
  /** The last number `decimal64` read, as its low and high 32 bits. */
  lo = 0;
  hi = 0;

  constructor(w: ProtoWriter) {
    this.w = w;
  }

  /** Steps over `lit` if the text continues with it. */
  member(lit: Uint8Array): boolean {
    const { src, at } = this;
    if (at + lit.length > this.end) return false;
    for (let i = 0; i < lit.length; i++) if (src[at + i] !== lit[i]) return false;
    this.at = at + lit.length;
    return true;
  }

  /** Steps over `,` and then `lit`, or over neither. */
  next(lit: Uint8Array, first: boolean): boolean {
    if (first) return this.member(lit);
    if (this.src[this.at] !== COMMA) return false;
    this.at++;
    if (this.member(lit)) return true;
    this.at--;
    return false;
  }

  expect(b: number): void {
    if (this.at >= this.end || this.src[this.at] !== b) notCanonical();
    this.at++;
  }

  /** A JSON array of `each`, every item as field `tag`. */
  list(tag: number, each: (t: Transcoder, depth: number) => void, depth: number): void {
    this.expect(LIST_OPEN);
    if (this.src[this.at] === LIST_CLOSE) {
      this.at++;
      return;
    }
    for (;;) {
      this.w.byte(tag);
      const mark = this.w.begin();
      each(this, depth);
      this.w.end(mark);
      if (this.src[this.at] === COMMA) this.at++;
      else break;
    }
    this.expect(LIST_CLOSE);
  }

  /** A JSON string's bytes (escapes resolved) as field `tag`; with `skipEmpty`, nothing for "". */
  string(tag: number, skipEmpty: boolean): void {
    const w = this.w;
    const start = w.pos;
    w.byte(tag);
    const mark = w.begin();
    this.stringBody();
    if (skipEmpty && w.pos === mark + 1) w.pos = start;
    else w.end(mark);
  }

  /** Writes the UTF-8 bytes of the JSON string at the cursor. */
  stringBody(): void {
    this.expect(Q);
    const { src, end } = this;
    let i = this.at;
    let run = i;
    const w = this.w;
    for (;;) {
      if (i >= end) notCanonical();
      const b = src[i]!;
      if (b === Q) break;
      if (b < 0x20) notCanonical();
      if (b !== 0x5c) {
        i++;
        continue;
      }
      this.copy(run, i);
      const e = src[i + 1];
      if (e === 0x75) {
        i = this.unicodeEscape(i);
      } else {
        const c = e === undefined ? undefined : ESCAPED[e];
        if (c === undefined) notCanonical();
        w.byte(c);
        i += 2;
      }
      run = i;
    }
    this.copy(run, i);
    this.at = i + 1;
  }

  private copy(from: number, to: number): void {
    if (to <= from) return;
    const w = this.w;
    w.ensure(to - from);
    w.buf.set(this.src.subarray(from, to), w.pos);
    w.pos += to - from;
  }

  private hex4(i: number): number {
    if (i + 4 > this.end) notCanonical();
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const b = this.src[i + k]!;
      const d = b < 128 ? HEX_VALUE[b]! : -1;
      if (d < 0) notCanonical();
      v = (v << 4) | d;
    }
    return v;
  }

  /** `\uXXXX` (a surrogate pair takes two) at `i` as UTF-8; returns the position after it. A lone surrogate is not canonical. */
  private unicodeEscape(i: number): number {
    let cp = this.hex4(i + 2);
    i += 6;
    if (cp >= 0xdc00 && cp <= 0xdfff) notCanonical();
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (this.src[i] !== 0x5c || this.src[i + 1] !== 0x75) notCanonical();
      const low = this.hex4(i + 2);
      if (low < 0xdc00 || low > 0xdfff) notCanonical();
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
      i += 6;
    }
    const w = this.w;
    w.ensure(4);
    const buf = w.buf;
    if (cp < 0x80) buf[w.pos++] = cp;
    else if (cp < 0x800) {
      buf[w.pos++] = 0xc0 | (cp >> 6);
      buf[w.pos++] = 0x80 | (cp & 63);
    } else if (cp < 0x10000) {
      buf[w.pos++] = 0xe0 | (cp >> 12);
      buf[w.pos++] = 0x80 | ((cp >> 6) & 63);
      buf[w.pos++] = 0x80 | (cp & 63);
    } else {
      buf[w.pos++] = 0xf0 | (cp >> 18);
      buf[w.pos++] = 0x80 | ((cp >> 12) & 63);
      buf[w.pos++] = 0x80 | ((cp >> 6) & 63);
      buf[w.pos++] = 0x80 | (cp & 63);
    }
    return i;
  }

  /** The bytes of a JSON string without escapes, as latin1 text (ids, base64, numbers in quotes). */
  plainString(): string {
    this.expect(Q);
    const { src } = this;
    const start = this.at;
    let i = start;
    while (i < this.end && src[i] !== Q) {
      if (src[i] === 0x5c || src[i]! < 0x20 || src[i]! >= 0x80) notCanonical();
      i++;
    }
    if (i >= this.end) notCanonical();
    this.at = i + 1;
    return Buffer.from(src.buffer, src.byteOffset + start, i - start).toString('latin1');
  }

  /**
   * Decimal digits (with a leading '-' when `signed`) at the cursor, as the 64 bits of the value
   * (two's complement when negative) in `lo`/`hi`; not canonical when out of range.
   */
  decimal64(signed: boolean): void {
    const { src } = this;
    let i = this.at;
    const negative = signed && src[i] === 0x2d;
    if (negative) i++;
    const first = i;
    let lo = 0;
    let hi = 0;
    while (i < this.end) {
      const d = src[i]! - 0x30;
      if (d < 0 || d > 9) break;
      const low = lo * 10 + d;
      const carry = Math.floor(low / TWO_32);
      lo = low - carry * TWO_32;
      hi = hi * 10 + carry;
      if (hi >= TWO_32) notCanonical();
      i++;
    }
    // No digits, or a leading zero (the canonical text never writes one).
    if (i === first || (src[first] === 0x30 && i > first + 1)) notCanonical();
    if (negative) {
      if (hi > 0x80000000 || (hi === 0x80000000 && lo !== 0)) notCanonical();
      lo = (~lo + 1) >>> 0;
      hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
    } else if (signed && hi >= 0x80000000) notCanonical();
    this.lo = lo;
    this.hi = hi;
    this.at = i;
  }

  /** A uint32 in decimal (dropped counts, flags). */
  uint32(): number {
    this.decimal64(false);
    if (this.hi !== 0) notCanonical();
    return this.lo;
  }
}

function keyValue(t: Transcoder, depth: number): void {
  t.expect(OPEN);
  let first = true;
  if (t.member(M_KEY)) {
    t.string(0x0a, true);
    first = false;
  }
  if (t.next(M_VALUE, first)) {
    t.w.byte(0x12);
    const mark = t.w.begin();
    anyValue(t, depth + 1);
    t.w.end(mark);
  }
  t.expect(CLOSE);
}

function anyValue(t: Transcoder, depth: number): void {
  if (depth > MAX_DEPTH) notCanonical();
  t.expect(OPEN);
  const w = t.w;
  if (t.member(M_STRING)) t.string(0x0a, false);
  else if (t.member(M_BOOL)) {
    w.byte(0x10);
    if (t.member(L_TRUE)) w.byte(1);
    else if (t.member(L_FALSE)) w.byte(0);
    else notCanonical();
  } else if (t.member(M_INT)) {
    t.expect(Q);
    t.decimal64(true);
    t.expect(Q);
    w.byte(0x18);
    w.varint64(t.lo, t.hi);
  } else if (t.member(M_DOUBLE)) {
    w.byte(0x21);
    w.double(doubleValue(t));
  } else if (t.member(M_ARRAY)) {
    w.byte(0x2a);
    const mark = w.begin();
    values(t, anyValue, depth);
    w.end(mark);
  } else if (t.member(M_KVLIST)) {
    w.byte(0x32);
    const mark = w.begin();
    values(t, keyValue, depth);
    w.end(mark);
  } else if (t.member(M_BYTES)) {
    const b64 = t.plainString();
    if (!BASE64.test(b64)) notCanonical();
    w.byte(0x3a);
    const mark = w.begin();
    w.ensure(b64.length);
    w.pos += w.buf.write(b64, w.pos, 'base64');
    w.end(mark);
  }
  t.expect(CLOSE);
}

/** `{"values":[...]}` or `{}` (ArrayValue, KeyValueList): each item as field 1. */
function values(t: Transcoder, each: (t: Transcoder, depth: number) => void, depth: number): void {
  t.expect(OPEN);
  if (t.member(M_VALUES)) t.list(0x0a, each, depth + 1);
  t.expect(CLOSE);
}

function doubleValue(t: Transcoder): number {
  const { src } = t;
  if (src[t.at] === Q) {
    const s = t.plainString();
    if (s === 'NaN') return NaN;
    if (s === 'Infinity') return Infinity;
    if (s === '-Infinity') return -Infinity;
    return notCanonical();
  }
  const start = t.at;
  let i = start;
  while (i < t.end && src[i] !== CLOSE) i++;
  const text = Buffer.from(src.buffer, src.byteOffset + start, i - start).toString('latin1');
  if (!JSON_NUMBER.test(text)) notCanonical();
  t.at = i;
  return Number(text);
}

/** Span attributes, or a scope's, event's or link's: `"attributes":[...]` items as field `tag`. */
function attributes(t: Transcoder, tag: number, first: boolean): boolean {
  if (!t.next(M_ATTRIBUTES, first)) return false;
  t.list(tag, keyValue, 0);
  return true;
}

/** `"droppedAttributesCount":N` as varint field `tag`. */
function dropped(t: Transcoder, tag: number, first: boolean): boolean {
  if (!t.next(M_DROPPED, first)) return false;
  const n = t.uint32();
  if (n !== 0) {
    t.w.byte(tag);
    t.w.varint32(n);
  }
  return true;
}

function event(t: Transcoder): void {
  t.expect(OPEN);
  let first = true;
  if (t.member(M_TIME)) {
    t.expect(Q);
    t.decimal64(false);
    t.expect(Q);
    if (t.lo !== 0 || t.hi !== 0) {
      t.w.byte(0x09);
      t.w.fixed64(t.lo, t.hi);
    }
    first = false;
  }
  if (t.next(M_NAME, first)) {
    t.string(0x12, true);
    first = false;
  }
  if (attributes(t, 0x1a, first)) first = false;
  dropped(t, 0x20, first);
  t.expect(CLOSE);
}

function link(t: Transcoder): void {
  t.expect(OPEN);
  let first = true;
  if (t.member(M_TRACE_ID)) {
    hexBytes(t, 0x0a);
    first = false;
  }
  if (t.next(M_SPAN_ID, first)) {
    hexBytes(t, 0x12);
    first = false;
  }
  if (t.next(M_TRACE_STATE, first)) {
    t.string(0x1a, true);
    first = false;
  }
  if (attributes(t, 0x22, first)) first = false;
  if (dropped(t, 0x28, first)) first = false;
  if (t.next(M_FLAGS, first)) {
    const flags = t.uint32();
    if (flags !== 0) {
      t.w.byte(0x35);
      t.w.fixed32(flags);
    }
  }
  t.expect(CLOSE);
}

/** A hex id as bytes field `tag`, skipped when empty. */
function hexBytes(t: Transcoder, tag: number): void {
  const hex = t.plainString();
  if (hex.length % 2 !== 0) notCanonical();
  if (hex.length === 0) return;
  const w = t.w;
  w.byte(tag);
  const mark = w.begin();
  w.ensure(hex.length >> 1);
  for (let i = 0; i < hex.length; i += 2) {
    const a = HEX_VALUE[hex.charCodeAt(i)] ?? -1;
    const b = HEX_VALUE[hex.charCodeAt(i + 1)] ?? -1;
    if (a < 0 || b < 0) notCanonical();
    w.buf[w.pos++] = (a << 4) | b;
  }
  w.end(mark);
}

const ITEM = { attributes: keyValue, events: event, links: link } as const;

/**
 * Transcodes one span column cell (`attributes`, `events` or `links`: a JSON array) into `w`, each
 * item as span field `tag`. Throws NotCanonical, with some bytes possibly written, for text outside
 * the canonical form.
 */
export function writeSpanList(w: ProtoWriter, text: Uint8Array, column: keyof typeof ITEM, tag: number): void {
  const t = transcoder(w, text);
  t.list(tag, ITEM[column], 0);
  if (t.at !== t.end) notCanonical();
}

let shared: Transcoder | null = null;
function transcoder(w: ProtoWriter, text: Uint8Array): Transcoder {
  shared ??= new Transcoder(w);
  shared.w = w;
  shared.src = text;
  shared.at = 0;
  shared.end = text.length;
  return shared;
}
