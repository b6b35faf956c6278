/**
 * Spool payloads (ExportTraceServiceRequest protobuf) → span columns: the materializer's hot path.
 * The spans are indexed first (`span-index.ts`: where each is, its resource and scope), then
 * decoded, all or a chosen few, from that index. The per-span JSON cells stay UTF-8 bytes; 64-bit
 * times are copied as two uint32 halves into BigInt64Array storage so no BigInt is allocated per span
 * in the common case.
 */
import type { KafkaMetadata, SpanBatch } from '../lake/span-schema.ts';
import { CorruptPayloadError } from './errors.ts';
import { WireError, type WireReader, WT_I32, WT_I64, WT_LEN, WT_VARINT, tagOf } from './wire-reader.ts';
import { JsonWriter } from './json-writer.ts';
import { LastHex, Names, RepeatedCells } from './repeated-strings.ts';
import { Builder } from './span-builder.ts';
import { indexSpans, type SpanIndex } from './span-index.ts';
import { microsOfNanoWords } from '../lake/long-words.ts';
import { writeSpanList } from './wire-json.ts';

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('tailsampler OTLP codec assumes a little-endian host');
}

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
const attributeCells = new RepeatedCells();

/** A span's repeated field (attributes, events, links) as OTLP/JSON array text in UTF-8 bytes. */
function listJson(r: WireReader, start: number, end: number, tag: number): Uint8Array {
  json.reset();
  writeSpanList(r, start, end, tag, json);
  return json.takeBytes(0);
}

/**
 * The attributes cell of the span fields at buf[from, to) (other fields between attributes are
 * skipped): the cell written before from the same bytes, or a new one.
 */
function attributesCell(r: WireReader, from: number, to: number): Uint8Array {
  const seen = attributeCells.find(r.buf, from, to);
  if (seen !== null) return seen;
  const cell = listJson(r, from, to, SPAN_ATTR);
  attributeCells.remember(r.buf, from, to, cell);
  return cell;
}

/** `[]`, shared by every span without attributes, events or links (the writer never writes into cells). */
const EMPTY_LIST = new Uint8Array([0x5b, 0x5d]);

/**
 * Decodes the spans numbered `spans` (in that order) into one batch of columns. `kafka[p]` is the
 * Kafka record payload p came in (null or absent: none), set on each of its rows; `receivedMs[p]` when
 * it reached this service, set as each of its rows' `receivedMs`. A span that is not valid throws
 * CorruptPayloadError naming its payload, unless `onCorrupt` is given: then the payload is reported
 * there and left out whole, which needs each payload's spans together in `spans`.
 * `attributes`, `events` and `links` come as UTF-8 bytes (see SpanBatch), the other text as strings.
 */
export function decodeSpans(
  ix: SpanIndex,
  spans: Int32Array,
  kafka?: readonly (KafkaMetadata | null | undefined)[],
  receivedMs?: readonly number[],
  onCorrupt?: (index: number, error: CorruptPayloadError) => void,
): SpanBatch {
  const b = new Builder(Math.max(16, spans.length));
  const received = receivedMs === undefined ? null : new Float64Array(spans.length);
  let payloadRow = 0;
  let lastPayload = -1;
  let skipped = -1;
  // A callback per span, not a loop, for the reason given in indexSpans.
  spans.forEach((s) => {
    const p = ix.payload[s]!;
    if (p === skipped) return;
    if (p !== lastPayload) {
      lastPayload = p;
      payloadRow = b.n;
    }
    if (b.n === b.cap) b.grow();
    const i = b.n++;
    const c = ix.context[s]!;
    b.resource[i] = ix.resource[c]!;
    b.service_name[i] = ix.serviceName[c]!;
    b.resource_schema_url[i] = ix.resourceSchemaUrl[c]!;
    b.scope[i] = ix.scope[c]!;
    b.scope_schema_url[i] = ix.scopeSchemaUrl[c]!;
    b._kafka_metadata[i] = kafka?.[p] ?? null;
    if (received !== null) received[i] = receivedMs![p]!;
    const r = ix.readers[p]!;
    const start = ix.start[s]!;
    const end = ix.end[s]!;
    b.span_size[i] = end - start;
    r.pos = start;
    try {
      readSpan(r, end, b, i);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      const error = new CorruptPayloadError(`payload ${p}: ${e.message}`, { cause: e, payload: p });
      if (onCorrupt === undefined) throw error;
      b.truncate(payloadRow);
      skipped = p;
      onCorrupt(p, error);
    }
  });
  const out = b.finish();
  if (received !== null) out.receivedMs = received.subarray(0, out.length);
  return out;
}

/**
 * Decodes the payloads' spans into one batch of columns, in payload and wire order. A payload that is
 * not a valid ExportTraceServiceRequest throws CorruptPayloadError, unless `onCorrupt` is given: then
 * it is reported there and left out whole. `kafka` and `receivedMs` as for {@link decodeSpans}.
 */
export function requestsToColumns(
  payloads: readonly Uint8Array[],
  onCorrupt?: (index: number, error: CorruptPayloadError) => void,
  kafka?: readonly (KafkaMetadata | null | undefined)[],
  receivedMs?: readonly number[],
): SpanBatch {
  const ix = indexSpans(payloads, undefined, onCorrupt);
  return decodeSpans(ix, ix.all(), kafka, receivedMs, onCorrupt);
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
  // Where the attributes are: from the first one's tag to the end of the last.
  let attrFrom = -1;
  let attrTo = -1;
  let events = false;
  let links = false;
  let droppedAttrs = 0;
  let droppedEvents = 0;
  let droppedLinks = 0;
  let statusCode = 0;
  let statusMessage: string | null = null;
  let flags = 0;
  while (r.pos < end) {
    const at = r.pos;
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
        if (attrFrom < 0) attrFrom = at;
        r.pos = attrTo = r.delimited(end);
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
  b.attributes[i] = attrFrom < 0 ? EMPTY_LIST : attributesCell(r, attrFrom, attrTo);
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
    setInt64(b.timestamp32, i, microsOfNanoWords(sHi, sLo));
  } else {
    const s = b.start_time_unix_nano[i]!;
    b.duration[i] = BigInt.asIntN(64, b.end_time_unix_nano[i]! - s);
    b.timestamp[i] = s / 1000n - (s < 0n && s % 1000n !== 0n ? 1n : 0n);
  }
}
