/**
 * Spool payloads (ExportTraceServiceRequest protobuf) → where each span is: one walk over the framing
 * finds every span (its payload, its bounds, its resource and scope, written once per ScopeSpans as
 * OTLP/JSON), so that `to-columns.ts` can then decode any subset of the spans on its own.
 */
import { CorruptPayloadError } from './errors.ts';
import { WireError, WireReader, WT_I64, WT_LEN, tagOf } from './wire-reader.ts';
import { JsonWriter } from './json-writer.ts';
import { withCapacity } from './span-builder.ts';
import { findServiceName, writeResource, writeScope } from './wire-json.ts';

const REQ_RESOURCE_SPANS = tagOf(1, WT_LEN);
const RS_RESOURCE = tagOf(1, WT_LEN);
const RS_SCOPE_SPANS = tagOf(2, WT_LEN);
const RS_SCHEMA_URL = tagOf(3, WT_LEN);
const SS_SCOPE = tagOf(1, WT_LEN);
const SS_SPANS = tagOf(2, WT_LEN);
const SS_SCHEMA_URL = tagOf(3, WT_LEN);

const SPAN_TRACE_ID = tagOf(1, WT_LEN);
const SPAN_START = tagOf(7, WT_I64);

const json = new JsonWriter();

/** The JSON a writer produced for the message at r.pos..end, as a string. */
function jsonOf(r: WireReader, end: number, write: (r: WireReader, end: number, w: JsonWriter) => void): string {
  json.reset();
  write(r, end, json);
  return json.take(0);
}

/**
 * What a span is grouped by while its payloads are indexed (the table partition it goes to), from its
 * first trace id (the bytes at buf[idStart, idStop), idStart -1 when it has none) and its first start
 * time (uint32 halves, 0 when absent). A hint: a span sent by a later duplicate field decodes to its
 * last value, so the writer still checks each row.
 */
export type SpanKeyOf = (buf: Buffer, idStart: number, idStop: number, startHi: number, startLo: number) => number;

/**
 * Where every span of a batch of payloads is (its payload, the bounds of its Span message there, its
 * ResourceSpans/ScopeSpans context), found by one walk over the framing, so that any subset of the
 * spans can then be decoded into columns on its own ({@link decodeSpans}): a commit is decoded and
 * written a partition at a time, and never lives in memory whole. Spans are numbered in payload and
 * wire order. Per-span data is in typed arrays, none of it a JS object.
 */
export class SpanIndex {
  count = 0;
  payload: Int32Array;
  start: Int32Array;
  end: Int32Array;
  context: Int32Array;
  /** The key {@link SpanKeyOf} gave each span (0 without one). */
  key: Int32Array;
  // Per context (a ScopeSpans): its resource and scope as JSON, service name and schema URLs.
  readonly resource: string[] = [];
  readonly serviceName: (string | null)[] = [];
  readonly resourceSchemaUrl: (string | null)[] = [];
  readonly scope: string[] = [];
  readonly scopeSchemaUrl: (string | null)[] = [];
  readonly readers: WireReader[];

  constructor(payloads: readonly Uint8Array[]) {
    this.readers = payloads.map((p) => new WireReader(p));
    let bytes = 0;
    for (const p of payloads) bytes += p.length;
    // One span per 128 bytes on the wire: doubled for payloads of smaller spans.
    const cap = Math.max(16, bytes >>> 7);
    this.payload = new Int32Array(cap);
    this.start = new Int32Array(cap);
    this.end = new Int32Array(cap);
    this.context = new Int32Array(cap);
    this.key = new Int32Array(cap);
  }

  addContext(resource: string, serviceName: string | null, resourceSchemaUrl: string | null, scope: string, scopeSchemaUrl: string | null): number {
    this.resource.push(resource);
    this.serviceName.push(serviceName);
    this.resourceSchemaUrl.push(resourceSchemaUrl);
    this.scope.push(scope);
    this.scopeSchemaUrl.push(scopeSchemaUrl);
    return this.resource.length - 1;
  }

  add(payload: number, start: number, end: number, context: number, key: number): void {
    if (this.count === this.payload.length) this.grow();
    const i = this.count++;
    this.payload[i] = payload;
    this.start[i] = start;
    this.end[i] = end;
    this.context[i] = context;
    this.key[i] = key;
  }

  private grow(): void {
    const cap = this.payload.length * 2;
    this.payload = withCapacity(this.payload, cap);
    this.start = withCapacity(this.start, cap);
    this.end = withCapacity(this.end, cap);
    this.context = withCapacity(this.context, cap);
    this.key = withCapacity(this.key, cap);
  }

  /** Every span number, in order. */
  all(): Int32Array {
    const spans = new Int32Array(this.count);
    for (let i = 0; i < spans.length; i++) spans[i] = i;
    return spans;
  }
}

/**
 * Indexes the payloads' spans (see {@link SpanIndex}), keying each with `keyOf` when given. A payload
 * whose framing (or resource, or scope) is not a valid ExportTraceServiceRequest throws
 * CorruptPayloadError, unless `onCorrupt` is given: then it is reported there and has no spans.
 */
export function indexSpans(
  payloads: readonly Uint8Array[],
  keyOf?: SpanKeyOf,
  onCorrupt?: (index: number, error: CorruptPayloadError) => void,
): SpanIndex {
  const ix = new SpanIndex(payloads);
  // A callback per payload rather than a loop: called once per commit with hundreds of payloads, a
  // loop here was compiled on stack replacement on every call (V8 did not reuse that code from one
  // call to the next), ~20 ms of TurboFan each time (`--trace-opt`); the callback is optimized once,
  // as any function called that often.
  payloads.forEach((_, p) => {
    const spans = ix.count;
    try {
      indexRequest(ix, p, keyOf);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      const error = new CorruptPayloadError(`payload ${p}: ${e.message}`, { cause: e, payload: p });
      if (onCorrupt === undefined) throw error;
      ix.count = spans;
      onCorrupt(p, error);
    }
  });
  return ix;
}

function indexRequest(ix: SpanIndex, p: number, keyOf: SpanKeyOf | undefined): void {
  const r = ix.readers[p]!;
  r.pos = 0;
  const end = r.buf.length;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === REQ_RESOURCE_SPANS) {
      const stop = r.delimited(end);
      indexResourceSpans(ix, p, r, stop, keyOf);
    } else r.unknown(tag, end, 0b10);
  }
}

function indexResourceSpans(ix: SpanIndex, p: number, r: WireReader, end: number, keyOf: SpanKeyOf | undefined): void {
  // schema_url usually follows the scope spans on the wire: find resource and schema url first.
  const start = r.pos;
  let resource = '{}';
  let serviceName: string | null = null;
  let schemaUrl: string | null = null;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === RS_RESOURCE) {
      const stop = r.delimited(end);
      const at = r.pos;
      resource = jsonOf(r, stop, writeResource);
      r.pos = at;
      serviceName = findServiceName(r, stop);
    } else if (tag === RS_SCHEMA_URL) schemaUrl = r.string(end) || null;
    else if (tag === RS_SCOPE_SPANS) r.skip(tag, end);
    else r.unknown(tag, end, 0b1110);
  }
  r.pos = start;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === RS_SCOPE_SPANS) {
      const stop = r.delimited(end);
      indexScopeSpans(ix, p, r, stop, keyOf, resource, serviceName, schemaUrl);
    } else r.skip(tag, end);
  }
}

function indexScopeSpans(
  ix: SpanIndex,
  p: number,
  r: WireReader,
  end: number,
  keyOf: SpanKeyOf | undefined,
  resource: string,
  serviceName: string | null,
  resourceSchemaUrl: string | null,
): void {
  const start = r.pos;
  let scope = '{}';
  let schemaUrl: string | null = null;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === SS_SCOPE) {
      const stop = r.delimited(end);
      scope = jsonOf(r, stop, writeScope);
    } else if (tag === SS_SCHEMA_URL) schemaUrl = r.string(end) || null;
    else if (tag === SS_SPANS) r.skip(tag, end);
    else r.unknown(tag, end, 0b1110);
  }
  const context = ix.addContext(resource, serviceName, resourceSchemaUrl, scope, schemaUrl);
  r.pos = start;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === SS_SPANS) {
      const stop = r.delimited(end);
      ix.add(p, r.pos, stop, context, keyOf === undefined ? 0 : spanKey(r, stop, keyOf));
      r.pos = stop;
    } else r.skip(tag, end);
  }
}

/** The key of the span at r.pos..end, from its first trace id and start time (fields 1 and 7, written first). */
function spanKey(r: WireReader, end: number, keyOf: SpanKeyOf): number {
  let idStart = -1;
  let idStop = -1;
  let hi = 0;
  let lo = 0;
  let seen = 0;
  while (seen !== 3 && r.pos < end) {
    const tag = r.uint32(end);
    if (tag === SPAN_TRACE_ID) {
      idStop = r.delimited(end);
      idStart = r.pos;
      r.pos = idStop;
      seen |= 1;
    } else if (tag === SPAN_START) {
      r.fixed64(end);
      hi = r.hi;
      lo = r.lo;
      seen |= 2;
    } else r.skip(tag, end);
  }
  return keyOf(r.buf, idStart, idStop, hi, lo);
}

