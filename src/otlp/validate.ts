/**
 * Receiver-side checks of an ExportTraceServiceRequest. The whole message tree is walked against the
 * OTLP schema (wire types, lengths, nesting) so nothing reaches the spool that the materializer cannot
 * decode later; spans with unusable ids are cut out and counted for partial_success.
 */
import { InvalidRequestError } from './errors.ts';
import { requestFromJson } from './json-to-proto.ts';
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

/** Per message type: expected wire type and sub-message for each field number. */
interface Field {
  wt: number;
  msg?: Desc;
}
type Desc = (Field | undefined)[];

function desc(fields: Record<number, Field>): Desc {
  const d: Desc = [];
  for (const [n, f] of Object.entries(fields)) d[Number(n)] = f;
  return d;
}
const V = { wt: WT_VARINT };
const L = { wt: WT_LEN };
const I64 = { wt: WT_I64 };
const I32 = { wt: WT_I32 };

const anyValue: Desc = [];
const keyValue = desc({ 1: L, 2: { wt: WT_LEN, msg: anyValue }, 3: V });
const arrayValue = desc({ 1: { wt: WT_LEN, msg: anyValue } });
const kvList = desc({ 1: { wt: WT_LEN, msg: keyValue } });
Object.assign(anyValue, desc({ 1: L, 2: V, 3: V, 4: I64, 5: { wt: WT_LEN, msg: arrayValue }, 6: { wt: WT_LEN, msg: kvList }, 7: L, 8: V }));
const KV = { wt: WT_LEN, msg: keyValue };
const entityRef = desc({ 1: L, 2: L, 3: L, 4: L });
const resource = desc({ 1: KV, 2: V, 3: { wt: WT_LEN, msg: entityRef } });
const scope = desc({ 1: L, 2: L, 3: KV, 4: V });
const event = desc({ 1: I64, 2: L, 3: KV, 4: V });
const link = desc({ 1: L, 2: L, 3: L, 4: KV, 5: V, 6: I32 });
const status = desc({ 2: L, 3: V });
const span = desc({
  1: L, 2: L, 3: L, 4: L, 5: L, 6: V, 7: I64, 8: I64, 9: KV, 10: V,
  11: { wt: WT_LEN, msg: event }, 12: V, 13: { wt: WT_LEN, msg: link }, 14: V, 15: { wt: WT_LEN, msg: status }, 16: I32,
});

const MAX_DEPTH = 100;

function check(r: WireReader, end: number, d: Desc, depth: number): void {
  if (depth > MAX_DEPTH) throw new WireError('message nested too deeply');
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
      check(r, stop, f.msg, depth + 1);
    } else r.skip(tag, end);
  }
}

const REASON_TRACE_ID = 'trace_id must be 16 bytes, not all zero';
const REASON_SPAN_ID = 'span_id must be 8 bytes, not all zero';
const REASON_PARENT = 'parent_span_id must be empty or 8 bytes';

function validId(buf: Buffer, start: number, stop: number, size: number): boolean {
  if (stop - start !== size) return false;
  for (let i = start; i < stop; i++) if (buf[i] !== 0) return true;
  return false;
}

/** Checks one span's structure; returns why its ids make it unusable, or null. */
function checkSpan(r: WireReader, end: number): string | null {
  const buf = r.buf;
  let traceOk = false;
  let spanOk = false;
  let parentOk = true;
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
      check(r, stop, f.msg, 1);
    } else r.skip(tag, end);
  }
  if (!traceOk) return REASON_TRACE_ID;
  if (!spanOk) return REASON_SPAN_ID;
  if (!parentOk) return REASON_PARENT;
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
  accepted: number;
  /** Start offsets (at the tag) of rejected span fields. */
  rejectedAt: Set<number>;
  reasons: Map<string, number>;
}

function walkRequest(r: WireReader, w: Walk): void {
  const end = r.buf.length;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag !== REQ_RS) {
      r.unknown(tag, end, 0b10);
      continue;
    }
    const rsEnd = r.delimited(end);
    while (r.pos < rsEnd) {
      const t = r.uint32(rsEnd);
      if (t === RS_RESOURCE) {
        const stop = r.delimited(rsEnd);
        check(r, stop, resource, 2);
      } else if (t === RS_SS) {
        const ssEnd = r.delimited(rsEnd);
        while (r.pos < ssEnd) {
          const fieldStart = r.pos;
          const u = r.uint32(ssEnd);
          if (u === SS_SPAN) {
            const stop = r.delimited(ssEnd);
            const reason = checkSpan(r, stop);
            if (reason === null) w.accepted++;
            else {
              w.rejectedAt.add(fieldStart);
              w.reasons.set(reason, (w.reasons.get(reason) ?? 0) + 1);
            }
          } else if (u === SS_SCOPE) {
            const stop = r.delimited(ssEnd);
            check(r, stop, scope, 3);
          } else if (u === SS_SCHEMA_URL) r.skip(u, ssEnd);
          else r.unknown(u, ssEnd, 0b1110);
        }
      } else if (t === RS_SCHEMA_URL) r.skip(t, rsEnd);
      else r.unknown(t, rsEnd, 0b1110);
    }
  }
}

function varint(n: number): Uint8Array {
  const out = Buffer.allocUnsafe(varint32Len(n));
  writeVarint32(out, 0, n);
  return out;
}

/**
 * Copies `buf[start, end)` (the content of a message at `level`: 0 request, 1 ResourceSpans,
 * 2 ScopeSpans) into `out` without the rejected spans. Returns whether anything was removed and how
 * many spans remain, so emptied containers can be dropped.
 */
function filter(buf: Buffer, start: number, end: number, level: number, rejectedAt: Set<number>, out: Uint8Array[]): { removed: boolean; spans: number } {
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
    if (level === 2) {
      if (rejectedAt.has(fieldStart)) removed = true;
      else {
        spans++;
        out.push(buf.subarray(fieldStart, stop));
      }
      r.pos = stop;
      continue;
    }
    const inner: Uint8Array[] = [];
    const res = filter(buf, r.pos, stop, level + 1, rejectedAt, inner);
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

export function validateProtobufRequest(bytes: Uint8Array): ValidatedRequest {
  const r = new WireReader(bytes);
  const w: Walk = { accepted: 0, rejectedAt: new Set(), reasons: new Map() };
  try {
    walkRequest(r, w);
  } catch (e) {
    if (e instanceof WireError) throw new InvalidRequestError(`malformed ExportTraceServiceRequest: ${e.message}`, { cause: e });
    throw e;
  }
  const rejected = w.rejectedAt.size;
  if (rejected === 0) return { payload: bytes, accepted: w.accepted, rejected: 0, rejectionMessage: '' };
  const chunks: Uint8Array[] = [];
  filter(r.buf, 0, r.buf.length, 0, w.rejectedAt, chunks);
  const reasons = [...w.reasons].map(([reason, n]) => `${n} × ${reason}`).join('; ');
  return {
    payload: Buffer.concat(chunks),
    accepted: w.accepted,
    rejected,
    rejectionMessage: `${rejected} invalid span(s) dropped: ${reasons}`,
  };
}

const ExportTraceServiceRequest = opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/** OTLP/JSON request text → the same checks, on its protobuf encoding. */
export function validateJsonRequest(text: string): ValidatedRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new InvalidRequestError(`request body is not JSON: ${(e as Error).message}`, { cause: e });
  }
  const props = requestFromJson(parsed);
  let bytes: Uint8Array;
  try {
    bytes = ExportTraceServiceRequest.encode(props).finish();
  } catch (e) {
    throw new InvalidRequestError(`cannot encode request: ${(e as Error).message}`, { cause: e });
  }
  return validateProtobufRequest(bytes);
}
