/**
 * Receiver-side checks of an ExportTraceServiceRequest. The whole message tree is walked against the
 * OTLP schema (wire types, lengths, nesting) so nothing reaches the spool that the materializer cannot
 * decode later. Spans with unusable ids, or with a string field that is not valid UTF-8 (strict proto3
 * parsers refuse such a message; decoding it would turn the bytes into U+FFFD), are cut out and counted
 * for partial_success; invalid UTF-8 in a resource or scope (or a schema_url) cuts out every span under
 * it, with its ResourceSpans/ScopeSpans. Strings are checked on the bytes, never decoded.
 */
import { isUtf8 } from 'node:buffer';
import { InvalidRequestError } from './errors.ts';
import { requestFromJson } from './json-to-proto.ts';
import { parseJsonLossless } from './json-numbers.ts';
import { opentelemetry } from './gen/otlp.js';
import { WireError, WireReader, WT_I32, WT_I64, WT_LEN, WT_VARINT, tagOf } from './wire-reader.ts';
import { varint32Len, writeVarint32 } from './wire-writer.ts';

export interface ValidatedRequest {
  /** Protobuf with only the valid spans; the input bytes untouched when all are valid. */
  payload: Uint8Array;
  accepted: number;
  rejected: number;
  /** Empty when nothing was rejected. */
  rejectionMessage: string;
}

/** Per message type: expected wire type and sub-message for each field number; `utf8` marks string fields. */
interface Field {
  wt: number;
  msg?: Desc;
  utf8?: boolean;
}
type Desc = (Field | undefined)[];

/** Every field gets all three properties, so the walker's reads of them stay monomorphic. */
function desc(fields: Record<number, Field>): Desc {
  const d: Desc = [];
  for (const [n, f] of Object.entries(fields)) d[Number(n)] = { wt: f.wt, msg: f.msg, utf8: f.utf8 === true };
  return d;
}
const V = { wt: WT_VARINT };
const L = { wt: WT_LEN };
const S = { wt: WT_LEN, utf8: true };
const I64 = { wt: WT_I64 };
const I32 = { wt: WT_I32 };

const anyValue: Desc = [];
const keyValue = desc({ 1: S, 2: { wt: WT_LEN, msg: anyValue }, 3: V });
const arrayValue = desc({ 1: { wt: WT_LEN, msg: anyValue } });
const kvList = desc({ 1: { wt: WT_LEN, msg: keyValue } });
Object.assign(anyValue, desc({ 1: S, 2: V, 3: V, 4: I64, 5: { wt: WT_LEN, msg: arrayValue }, 6: { wt: WT_LEN, msg: kvList }, 7: L, 8: V }));
const KV = { wt: WT_LEN, msg: keyValue };
const entityRef = desc({ 1: S, 2: S, 3: S, 4: S });
const resource = desc({ 1: KV, 2: V, 3: { wt: WT_LEN, msg: entityRef } });
const scope = desc({ 1: S, 2: S, 3: KV, 4: V });
const event = desc({ 1: I64, 2: S, 3: KV, 4: V });
const link = desc({ 1: L, 2: L, 3: S, 4: KV, 5: V, 6: I32 });
const status = desc({ 2: S, 3: V });
const span = desc({
  1: L, 2: L, 3: S, 4: L, 5: S, 6: V, 7: I64, 8: I64, 9: KV, 10: V,
  11: { wt: WT_LEN, msg: event }, 12: V, 13: { wt: WT_LEN, msg: link }, 14: V, 15: { wt: WT_LEN, msg: status }, 16: I32,
});
/** What a bad string in span field n is reported as. */
const SPAN_FIELD_NAMES: Record<number, string> = { 3: 'trace_state', 5: 'name', 9: 'attributes', 11: 'events', 13: 'links', 15: 'status message' };

/**
 * Whether buf[start, end) is valid UTF-8: a byte loop (four at a time) over the ASCII prefix, simdutf
 * (`isUtf8`) from the first non-ASCII byte on. Most OTLP strings are ASCII, and a subarray per string
 * for `isUtf8` alone costs ~3× the loop.
 */
function utf8(buf: Buffer, start: number, end: number): boolean {
  let i = start;
  for (const end4 = end - 3; i < end4; i += 4) if ((buf[i]! | buf[i + 1]! | buf[i + 2]! | buf[i + 3]!) >= 0x80) break;
  for (; i < end; i++) if (buf[i]! >= 0x80) return isUtf8(buf.subarray(i, end));
  return true;
}

const MAX_DEPTH = 100;

/**
 * Checks the structure of a message (throws WireError) and the UTF-8 of its strings: returns false
 * when one is invalid, after checking the rest of the structure all the same.
 */
function check(r: WireReader, end: number, d: Desc, depth: number): boolean {
  if (depth > MAX_DEPTH) throw new WireError('message nested too deeply');
  let ok = true;
  while (r.pos < end) {
    const tag = r.uint32(end);
    const field = tag >>> 3;
    const f = d[field];
    if (f === undefined) {
      r.unknown(tag, end, 0);
      continue;
    }
    if ((tag & 7) !== f.wt) throw new WireError(`field ${field} has wrong wire type ${tag & 7}`);
    if (f.msg !== undefined) {
      const stop = r.delimited(end);
      if (!check(r, stop, f.msg, depth + 1)) ok = false;
    } else if (f.utf8 === true) {
      const stop = r.delimited(end);
      if (!utf8(r.buf, r.pos, stop)) ok = false;
      r.pos = stop;
    } else r.skip(tag, end);
  }
  return ok;
}

const REASON_TRACE_ID = 'trace_id must be 16 bytes, not all zero';
const REASON_SPAN_ID = 'span_id must be 8 bytes, not all zero';
const REASON_PARENT = 'parent_span_id must be empty or 8 bytes';

function validId(buf: Buffer, start: number, stop: number, size: number): boolean {
  if (stop - start !== size) return false;
  for (let i = start; i < stop; i++) if (buf[i] !== 0) return true;
  return false;
}

const REASON_UTF8 = 'invalid UTF-8 in';

/** Checks one span's structure; returns why its ids or strings make it unusable, or null. */
function checkSpan(r: WireReader, end: number): string | null {
  const buf = r.buf;
  let traceOk = false;
  let spanOk = false;
  let parentOk = true;
  let badString = 0;
  while (r.pos < end) {
    const tag = r.uint32(end);
    const field = tag >>> 3;
    if (field >= 1 && field <= 4 && field !== 3 && (tag & 7) === WT_LEN) {
      const stop = r.delimited(end);
      if (field === 1) traceOk = validId(buf, r.pos, stop, 16);
      else if (field === 2) spanOk = validId(buf, r.pos, stop, 8);
      else parentOk = stop === r.pos || stop - r.pos === 8;
      r.pos = stop;
      continue;
    }
    const f = span[field];
    if (f === undefined) {
      r.unknown(tag, end, 0);
      continue;
    }
    if ((tag & 7) !== f.wt) throw new WireError(`span field ${field} has wrong wire type ${tag & 7}`);
    if (f.msg !== undefined) {
      const stop = r.delimited(end);
      if (!check(r, stop, f.msg, 1) && badString === 0) badString = field;
    } else if (f.utf8 === true) {
      const stop = r.delimited(end);
      if (!utf8(buf, r.pos, stop) && badString === 0) badString = field;
      r.pos = stop;
    } else r.skip(tag, end);
  }
  if (!traceOk) return REASON_TRACE_ID;
  if (!spanOk) return REASON_SPAN_ID;
  if (!parentOk) return REASON_PARENT;
  if (badString !== 0) return `${REASON_UTF8} span ${SPAN_FIELD_NAMES[badString]}`;
  return null;
}

const REQ_RS = tagOf(1, WT_LEN);
const RS_RESOURCE = tagOf(1, WT_LEN);
const RS_SS = tagOf(2, WT_LEN);
const SS_SCOPE = tagOf(1, WT_LEN);
const SS_SPAN = tagOf(2, WT_LEN);
const RS_SCHEMA_URL = tagOf(3, WT_LEN);
const SS_SCHEMA_URL = tagOf(3, WT_LEN);

interface Walk {
  /** Start offsets (at the tag) of every span field, in wire order. */
  spans: number[];
  /** Start offsets of the fields to cut out: rejected spans, and ResourceSpans/ScopeSpans dropped whole. */
  cut: Set<number>;
  /** Spans in `cut`. */
  spansCut: number;
  /** Spans rejected, these and any left out before the walk (OTLP/JSON). */
  rejected: number;
  reasons: Map<string, number>;
}

function rejectSpans(w: Walk, reason: string, n: number): void {
  w.rejected += n;
  w.reasons.set(reason, (w.reasons.get(reason) ?? 0) + n);
}

/** Cuts out the container at `at` with its spans from index `first` on (those not rejected already). */
function dropContainer(w: Walk, at: number, first: number, reason: string): void {
  w.cut.add(at);
  let n = 0;
  for (let k = first; k < w.spans.length; k++) {
    if (w.cut.has(w.spans[k]!)) continue;
    w.cut.add(w.spans[k]!);
    n++;
  }
  w.spansCut += n;
  if (n > 0) rejectSpans(w, reason, n);
}

function walkRequest(r: WireReader, w: Walk): void {
  const end = r.buf.length;
  while (r.pos < end) {
    const rsStart = r.pos;
    const tag = r.uint32(end);
    if (tag !== REQ_RS) {
      r.unknown(tag, end, 0b10);
      continue;
    }
    const rsEnd = r.delimited(end);
    const rsFirst = w.spans.length;
    let rsBad: string | null = null;
    while (r.pos < rsEnd) {
      const ssStart = r.pos;
      const t = r.uint32(rsEnd);
      if (t === RS_RESOURCE) {
        const stop = r.delimited(rsEnd);
        if (!check(r, stop, resource, 2)) rsBad ??= `${REASON_UTF8} resource`;
      } else if (t === RS_SS) {
        const ssEnd = r.delimited(rsEnd);
        const ssFirst = w.spans.length;
        let ssBad: string | null = null;
        while (r.pos < ssEnd) {
          const fieldStart = r.pos;
          const u = r.uint32(ssEnd);
          if (u === SS_SPAN) {
            const stop = r.delimited(ssEnd);
            w.spans.push(fieldStart);
            const reason = checkSpan(r, stop);
            if (reason !== null) {
              w.cut.add(fieldStart);
              w.spansCut++;
              rejectSpans(w, reason, 1);
            }
          } else if (u === SS_SCOPE) {
            const stop = r.delimited(ssEnd);
            if (!check(r, stop, scope, 3)) ssBad ??= `${REASON_UTF8} scope`;
          } else if (u === SS_SCHEMA_URL) {
            const stop = r.delimited(ssEnd);
            if (!utf8(r.buf, r.pos, stop)) ssBad ??= `${REASON_UTF8} scope schema_url`;
            r.pos = stop;
          } else r.unknown(u, ssEnd, 0b1110);
        }
        if (ssBad !== null) dropContainer(w, ssStart, ssFirst, ssBad);
      } else if (t === RS_SCHEMA_URL) {
        const stop = r.delimited(rsEnd);
        if (!utf8(r.buf, r.pos, stop)) rsBad ??= `${REASON_UTF8} resource schema_url`;
        r.pos = stop;
      } else r.unknown(t, rsEnd, 0b1110);
    }
    if (rsBad !== null) dropContainer(w, rsStart, rsFirst, rsBad);
  }
}

function varint(n: number): Uint8Array {
  const out = Buffer.allocUnsafe(varint32Len(n));
  writeVarint32(out, 0, n);
  return out;
}

/**
 * Copies `buf[start, end)` (the content of a message at `level`: 0 request, 1 ResourceSpans,
 * 2 ScopeSpans) into `out` without the fields cut out (spans, or whole containers). Returns whether
 * anything was removed and how many spans remain, so emptied containers can be dropped.
 */
function filter(buf: Buffer, start: number, end: number, level: number, cut: Set<number>, out: Uint8Array[]): { removed: boolean; spans: number } {
  const r = new WireReader(buf);
  r.pos = start;
  let removed = false;
  let spans = 0;
  const childTag = level === 0 ? REQ_RS : level === 1 ? RS_SS : SS_SPAN;
  while (r.pos < end) {
    const fieldStart = r.pos;
    const tag = r.uint32(end);
    if (tag !== childTag) {
      r.skip(tag, end);
      out.push(buf.subarray(fieldStart, r.pos));
      continue;
    }
    const stop = r.delimited(end);
    if (cut.has(fieldStart)) {
      removed = true;
      r.pos = stop;
      continue;
    }
    if (level === 2) {
      spans++;
      out.push(buf.subarray(fieldStart, stop));
      r.pos = stop;
      continue;
    }
    const inner: Uint8Array[] = [];
    const res = filter(buf, r.pos, stop, level + 1, cut, inner);
    r.pos = stop;
    spans += res.spans;
    if (!res.removed) {
      out.push(buf.subarray(fieldStart, stop));
      continue;
    }
    removed = true;
    if (res.spans === 0) continue;
    let len = 0;
    for (const c of inner) len += c.length;
    out.push(varint(tag), varint(len), ...inner);
  }
  return { removed, spans };
}

function newWalk(): Walk {
  return { spans: [], cut: new Set(), spansCut: 0, rejected: 0, reasons: new Map() };
}

function validateWalked(bytes: Uint8Array, w: Walk): ValidatedRequest {
  const r = new WireReader(bytes);
  try {
    walkRequest(r, w);
  } catch (e) {
    if (e instanceof WireError) throw new InvalidRequestError(`malformed ExportTraceServiceRequest: ${e.message}`, { cause: e });
    throw e;
  }
  const accepted = w.spans.length - w.spansCut;
  const rejectionMessage = w.rejected === 0 ? '' : `${w.rejected} invalid span(s) dropped: ${[...w.reasons].map(([reason, n]) => `${n} × ${reason}`).join('; ')}`;
  if (w.cut.size === 0) return { payload: bytes, accepted, rejected: w.rejected, rejectionMessage };
  const chunks: Uint8Array[] = [];
  filter(r.buf, 0, r.buf.length, 0, w.cut, chunks);
  return { payload: Buffer.concat(chunks), accepted, rejected: w.rejected, rejectionMessage };
}

export function validateProtobufRequest(bytes: Uint8Array): ValidatedRequest {
  return validateWalked(bytes, newWalk());
}

const ExportTraceServiceRequest = opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/**
 * An OTLP/JSON request body → the same checks, on its protobuf encoding. Bytes must be UTF-8 (as JSON
 * requires): a body that is not is refused whole, since no span can be told apart before parsing.
 * 64-bit integers keep every digit (see json-numbers.ts); strings with unpaired surrogates reject
 * their span (or the spans of their resource/scope), like invalid UTF-8 in protobuf.
 */
export function validateJsonRequest(body: Uint8Array | string): ValidatedRequest {
  let text: string;
  if (typeof body === 'string') text = body;
  else {
    if (!isUtf8(body)) throw new InvalidRequestError('request body is not valid UTF-8');
    text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  }
  let parsed: unknown;
  try {
    parsed = parseJsonLossless(text);
  } catch (e) {
    if (e instanceof InvalidRequestError) throw e;
    throw new InvalidRequestError(`request body is not JSON: ${(e as Error).message}`, { cause: e });
  }
  const w = newWalk();
  const props = requestFromJson(parsed, (reason, n) => rejectSpans(w, reason, n));
  let bytes: Uint8Array;
  try {
    bytes = ExportTraceServiceRequest.encode(props).finish();
  } catch (e) {
    throw new InvalidRequestError(`cannot encode request: ${(e as Error).message}`, { cause: e });
  }
  return validateWalked(bytes, w);
}
