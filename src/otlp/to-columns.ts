/**
 * Spool payloads (ExportTraceServiceRequest protobuf) → span columns: the materializer's hot path.
 * Walks the wire format once (after a pass over the tags that counts the spans, to size the columns);
 * the per-span JSON cells stay UTF-8 bytes; 64-bit times are copied as two uint32 halves into BigInt64Array
 * storage so no BigInt is allocated per span in the common case.
 */
import type { KafkaMetadata, SpanBatch } from '../lake/span-schema.ts';
import { CorruptPayloadError } from './errors.ts';
import { WireError, WireReader, WT_I32, WT_I64, WT_LEN, WT_VARINT, tagOf } from './wire-reader.ts';
import { JsonWriter } from './json-writer.ts';
import { LastHex, Names } from './repeated-strings.ts';
import { Builder } from './span-builder.ts';
import { findServiceName, writeResource, writeScope, writeSpanList } from './wire-json.ts';

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('tailsampler OTLP codec assumes a little-endian host');
}

const REQ_RESOURCE_SPANS = tagOf(1, WT_LEN);
const RS_RESOURCE = tagOf(1, WT_LEN);
const RS_SCOPE_SPANS = tagOf(2, WT_LEN);
const RS_SCHEMA_URL = tagOf(3, WT_LEN);
const SS_SCOPE = tagOf(1, WT_LEN);
const SS_SPANS = tagOf(2, WT_LEN);
const SS_SCHEMA_URL = tagOf(3, WT_LEN);

const SPAN_TRACE_ID = tagOf(1, WT_LEN);
const SPAN_SPAN_ID = tagOf(2, WT_LEN);
const SPAN_TRACE_STATE = tagOf(3, WT_LEN);
const SPAN_PARENT = tagOf(4, WT_LEN);
const SPAN_NAME = tagOf(5, WT_LEN);
const SPAN_KIND = tagOf(6, WT_VARINT);
const SPAN_START = tagOf(7, WT_I64);
const SPAN_END = tagOf(8, WT_I64);
const SPAN_ATTR = tagOf(9, WT_LEN);
const SPAN_DROPPED_ATTRS = tagOf(10, WT_VARINT);
const SPAN_EVENT = tagOf(11, WT_LEN);
const SPAN_DROPPED_EVENTS = tagOf(12, WT_VARINT);
const SPAN_LINK = tagOf(13, WT_LEN);
const SPAN_DROPPED_LINKS = tagOf(14, WT_VARINT);
const SPAN_STATUS = tagOf(15, WT_LEN);
const SPAN_FLAGS = tagOf(16, WT_I32);
const SPAN_KNOWN = 0x1fffe;
const STATUS_MESSAGE = tagOf(2, WT_LEN);
const STATUS_CODE = tagOf(3, WT_VARINT);

const TWO32 = 4294967296;
/** Writes a safe-integer number as int64 into a uint32 (lo, hi) view. */
function setInt64(view: Uint32Array, i: number, v: number): void {
  const hi = Math.floor(v / TWO32);
  view[2 * i] = (v - hi * TWO32) >>> 0;
  view[2 * i + 1] = hi >>> 0;
}

const names = new Names();
const lastTrace = new LastHex();
const lastParent = new LastHex();
const json = new JsonWriter();

/** The JSON a writer produced for the message at r.pos..end, as a string. */
function jsonOf(r: WireReader, end: number, write: (r: WireReader, end: number, w: JsonWriter) => void): string {
  json.reset();
  write(r, end, json);
  return json.take(0);
}

/** A span's repeated field (attributes, events, links) as OTLP/JSON array text in UTF-8 bytes. */
function listJson(r: WireReader, start: number, end: number, tag: number): Uint8Array {
  json.reset();
  writeSpanList(r, start, end, tag, json);
  return json.takeBytes(0);
}

/** `[]`, shared by every span without attributes, events or links (the writer never writes into cells). */
const EMPTY_LIST = new Uint8Array([0x5b, 0x5d]);

/**
 * Decodes the payloads' spans into one batch of columns, in payload and wire order. A payload that is
 * not a valid ExportTraceServiceRequest throws CorruptPayloadError, unless `onCorrupt` is given: then
 * it is reported there and left out whole (rows it had yielded before the damage are dropped).
 * `kafka[i]` is the Kafka record payload i came in, set on each of its rows (null or absent: none);
 * `receivedMs[i]` when it reached this service, set as each of its rows' `receivedMs`.
 * `attributes`, `events` and `links` come as UTF-8 bytes (see SpanBatch), the other text as strings.
 */
export function requestsToColumns(
  payloads: readonly Uint8Array[],
  onCorrupt?: (index: number, error: CorruptPayloadError) => void,
  kafka?: readonly (KafkaMetadata | null | undefined)[],
  receivedMs?: readonly number[],
): SpanBatch {
  const ends = receivedMs === undefined ? null : new Int32Array(payloads.length);
  const b = new Builder(Math.max(16, countSpans(payloads)));
  readPayloads(payloads, b, ends, onCorrupt, kafka);
  const out = b.finish();
  if (ends !== null && receivedMs !== undefined) {
    const received = new Float64Array(out.length);
    let row = 0;
    ends.forEach((end, i) => {
      received.fill(receivedMs[i]!, row, end);
      row = end;
    });
    out.receivedMs = received;
  }
  return out;
}

/**
 * Decodes every payload into `b`, noting in `ends[i]` the rows through payload i. A callback per
 * payload rather than a loop: called once per commit with hundreds of payloads, a loop here was
 * compiled on stack replacement on every call (V8 did not reuse that code from one call to the
 * next), ~20 ms of TurboFan each time with the whole decoder inlined (`--trace-opt`); the callback
 * is optimized once, as any function called that often.
 */
function readPayloads(
  payloads: readonly Uint8Array[],
  b: Builder,
  ends: Int32Array | null,
  onCorrupt: ((index: number, error: CorruptPayloadError) => void) | undefined,
  kafka: readonly (KafkaMetadata | null | undefined)[] | undefined,
): void {
  payloads.forEach((payload, i) => {
    const r = new WireReader(payload);
    const rows = b.n;
    try {
      readRequest(r, b);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      const error = new CorruptPayloadError(`payload ${i}: ${e.message}`, { cause: e });
      if (onCorrupt === undefined) throw error;
      b.truncate(rows);
      onCorrupt(i, error);
    }
    const meta = kafka?.[i] ?? null;
    for (let row = rows; row < b.n; row++) b._kafka_metadata[row] = meta;
    if (ends !== null) ends[i] = b.n;
  });
}

/** The spans the payloads hold, from their tags alone (a damaged payload counts what came before the damage). */
function countSpans(payloads: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of payloads) {
    const r = new WireReader(p);
    try {
      n += countIn(r, p.length, 0);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
    }
  }
  return n;
}

/** Spans in the message at r.pos..end; `depth` 0 is the request, 1 a ResourceSpans, 2 a ScopeSpans. */
function countIn(r: WireReader, end: number, depth: number): number {
  let n = 0;
  const nested = depth === 0 ? REQ_RESOURCE_SPANS : RS_SCOPE_SPANS;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (depth === 2) {
      if (tag === SS_SPANS) n++;
      r.skip(tag, end);
    } else if (tag === nested) {
      const stop = r.delimited(end);
      n += countIn(r, stop, depth + 1);
      r.pos = stop;
    } else r.skip(tag, end);
  }
  return n;
}

function readRequest(r: WireReader, b: Builder): void {
  const end = r.buf.length;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === REQ_RESOURCE_SPANS) {
      const stop = r.delimited(end);
      readResourceSpans(r, stop, b);
    } else r.unknown(tag, end, 0b10);
  }
}

function readResourceSpans(r: WireReader, end: number, b: Builder): void {
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
      readScopeSpans(r, stop, b, resource, serviceName, schemaUrl);
    } else r.skip(tag, end);
  }
}

function readScopeSpans(
  r: WireReader,
  end: number,
  b: Builder,
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
  r.pos = start;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === SS_SPANS) {
      const stop = r.delimited(end);
      if (b.n === b.cap) b.grow();
      const i = b.n++;
      b.resource[i] = resource;
      b.service_name[i] = serviceName;
      b.resource_schema_url[i] = resourceSchemaUrl;
      b.scope[i] = scope;
      b.scope_schema_url[i] = schemaUrl;
      b.span_size[i] = stop - r.pos;
      readSpan(r, stop, b, i);
    } else r.skip(tag, end);
  }
}

function readSpan(r: WireReader, end: number, b: Builder, i: number): void {
  const buf = r.buf;
  const start = r.pos;
  let traceId = '';
  let spanId = '';
  let parent: string | null = null;
  let traceState: string | null = null;
  let name = '';
  let kind = 0;
  let sLo = 0;
  let sHi = 0;
  let eLo = 0;
  let eHi = 0;
  let attrs = false;
  let events = false;
  let links = false;
  let droppedAttrs = 0;
  let droppedEvents = 0;
  let droppedLinks = 0;
  let statusCode = 0;
  let statusMessage: string | null = null;
  let flags = 0;
  while (r.pos < end) {
    const tag = r.uint32(end);
    switch (tag) {
      case SPAN_TRACE_ID: {
        const stop = r.delimited(end);
        traceId = lastTrace.hexOf(buf, r.pos, stop);
        r.pos = stop;
        break;
      }
      case SPAN_SPAN_ID: {
        const stop = r.delimited(end);
        spanId = buf.toString('hex', r.pos, stop);
        r.pos = stop;
        break;
      }
      case SPAN_TRACE_STATE:
        traceState = r.string(end) || null;
        break;
      case SPAN_PARENT: {
        const stop = r.delimited(end);
        parent = stop === r.pos ? null : lastParent.hexOf(buf, r.pos, stop);
        r.pos = stop;
        break;
      }
      case SPAN_NAME:
        name = names.read(r, end);
        break;
      case SPAN_KIND:
        kind = r.uint32(end) | 0;
        break;
      case SPAN_START:
        r.fixed64(end);
        sLo = r.lo;
        sHi = r.hi;
        break;
      case SPAN_END:
        r.fixed64(end);
        eLo = r.lo;
        eHi = r.hi;
        break;
      case SPAN_ATTR:
        attrs = true;
        r.pos = r.delimited(end);
        break;
      case SPAN_DROPPED_ATTRS:
        droppedAttrs = r.uint32(end) | 0;
        break;
      case SPAN_EVENT:
        events = true;
        r.pos = r.delimited(end);
        break;
      case SPAN_DROPPED_EVENTS:
        droppedEvents = r.uint32(end) | 0;
        break;
      case SPAN_LINK:
        links = true;
        r.pos = r.delimited(end);
        break;
      case SPAN_DROPPED_LINKS:
        droppedLinks = r.uint32(end) | 0;
        break;
      case SPAN_STATUS: {
        const stop = r.delimited(end);
        while (r.pos < stop) {
          const t = r.uint32(stop);
          if (t === STATUS_MESSAGE) statusMessage = r.string(stop) || null;
          else if (t === STATUS_CODE) statusCode = r.uint32(stop) | 0;
          else r.unknown(t, stop, 0b1100);
        }
        break;
      }
      case SPAN_FLAGS:
        flags = r.fixed32(end);
        break;
      default:
        r.unknown(tag, end, SPAN_KNOWN);
    }
  }
  b.trace_id[i] = traceId;
  b.span_id[i] = spanId;
  b.parent_span_id[i] = parent;
  b.trace_state[i] = traceState;
  b.operation_name[i] = name;
  b.span_kind[i] = kind;
  b.status_code[i] = statusCode;
  b.status_message[i] = statusMessage;
  b.dropped_attributes_count[i] = droppedAttrs;
  b.dropped_events_count[i] = droppedEvents;
  b.dropped_links_count[i] = droppedLinks;
  b.attributes[i] = attrs ? listJson(r, start, end, SPAN_ATTR) : EMPTY_LIST;
  b.events[i] = events ? listJson(r, start, end, SPAN_EVENT) : EMPTY_LIST;
  b.links[i] = links ? listJson(r, start, end, SPAN_LINK) : EMPTY_LIST;
  r.pos = end;
  b.flags32[2 * i] = flags;
  b.flags32[2 * i + 1] = 0;
  b.start32[2 * i] = sLo;
  b.start32[2 * i + 1] = sHi;
  b.end32[2 * i] = eLo;
  b.end32[2 * i + 1] = eHi;
  // Real times have hi far below 0x7c000000 (year ~2200), where doubles compute these two derived
  // values exactly (the µs result stays under 2^53); the BigInt path covers everything else.
  const hiDiff = eHi - sHi;
  if (sHi < 0x7c000000 && hiDiff > -0x100000 && hiDiff < 0x100000) {
    setInt64(b.duration32, i, hiDiff * TWO32 + (eLo - sLo));
    // floor((sHi·2^32 + sLo) / 1000) with 2^32 = 4294967·1000 + 296, exact in doubles.
    setInt64(b.timestamp32, i, sHi * 4294967 + Math.floor((sHi * 296 + sLo) / 1000));
  } else {
    const s = b.start_time_unix_nano[i]!;
    b.duration[i] = BigInt.asIntN(64, b.end_time_unix_nano[i]! - s);
    b.timestamp[i] = s / 1000n - (s < 0n && s % 1000n !== 0n ? 1n : 0n);
  }
}
