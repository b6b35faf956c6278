/**
 * Table rows → one ExportTraceServiceRequest (protobuf bytes), for the exporter. Rows sharing the
 * same resource (text + schema url) and scope (text + schema url) are grouped into one ResourceSpans /
 * ScopeSpans, in order of first appearance, keeping row order within a group.
 *
 * Each span is written into one buffer as soon as it is read, its JSON cells transcoded straight to
 * protobuf (`json-to-wire.ts`); a span whose cells are not in the canonical form goes through
 * `JSON.parse`, `json-to-proto.ts` and protobufjs instead, as resources and scopes (a few per request)
 * always do. The request around them is written by hand: the bytes protobufjs writes for the same
 * messages (fields in number order, defaults and empty schema urls left out), checked by tests.
 */
import type { PartialWriteSpanColumns } from '../lake/span-schema.ts';
import { opentelemetry } from './gen/otlp.js';
import { CorruptPayloadError } from './errors.ts';
import { eventsFromJson, keyValuesFromJson, linksFromJson, resourceFromJson, scopeFromJson } from './json-to-proto.ts';
import { longWords } from '../lake/long-words.ts';
import { ProtoWriter, varint32Len, writeVarint32 } from './wire-writer.ts';
import { NotCanonical, writeSpanList } from './json-to-wire.ts';

type SpanProps = opentelemetry.proto.trace.v1.Span.$Properties;

const { Span } = opentelemetry.proto.trace.v1;
const { Resource } = opentelemetry.proto.resource.v1;
const { InstrumentationScope } = opentelemetry.proto.common.v1;

const REQUIRED = [
  'trace_id', 'span_id', 'parent_span_id', 'status_code', 'operation_name', 'span_kind', 'start_time_unix_nano',
  'end_time_unix_nano', 'attributes', 'dropped_attributes_count', 'resource', 'resource_schema_url', 'scope',
  'scope_schema_url', 'events', 'dropped_events_count', 'links', 'dropped_links_count', 'status_message',
  'trace_state', 'flags',
] as const;

/** Bytes of a length-delimited field (field number below 16) whose value is `length` bytes: tag, length, value. */
function fieldSize(length: number): number {
  return 1 + varint32Len(length) + length;
}

/** A schema url's UTF-8 bytes, or null when empty (protobufjs leaves an empty string out). */
function urlBytes(url: string): Uint8Array | null {
  return url === '' ? null : Buffer.from(url, 'utf8');
}

/** Each message and string as its encoded bytes. */
interface ScopeGroup {
  scope: Uint8Array;
  /** Where each span is in the shared span buffer (`out`): start and end offsets, in pairs. */
  spans: number[];
  schemaUrl: Uint8Array | null;
  /** Bytes of the ScopeSpans message. */
  size: number;
}

interface ResourceGroup {
  resource: Uint8Array;
  scopes: Map<string, ScopeGroup>;
  schemaUrl: Uint8Array | null;
}

/** Field numbers 1-3 with wire type 2 (length-delimited): the tag byte of each. */
const TAG_1 = (1 << 3) | 2;
const TAG_2 = (2 << 3) | 2;
const TAG_3 = (3 << 3) | 2;

/** Starts a length-delimited field of `size` bytes whose body the caller writes next. */
function writeHeader(buf: Buffer, pos: number, tag: number, size: number): number {
  buf[pos++] = tag;
  return writeVarint32(buf, pos, size);
}

function writeField(buf: Buffer, pos: number, tag: number, value: Uint8Array): number {
  pos = writeHeader(buf, pos, tag, value.length);
  buf.set(value, pos);
  return pos + value.length;
}

function resourceSpansSize(g: ResourceGroup): number {
  let size = fieldSize(g.resource.length) + (g.schemaUrl === null ? 0 : fieldSize(g.schemaUrl.length));
  for (const ss of g.scopes.values()) size += fieldSize(ss.size);
  return size;
}

/** The ExportTraceServiceRequest holding `groups`, in order (the spans' bytes in `spans`). */
function writeRequest(groups: Map<string, ResourceGroup>, spans: Buffer): Uint8Array {
  const sizes: number[] = [];
  let total = 0;
  for (const g of groups.values()) {
    const size = resourceSpansSize(g);
    sizes.push(size);
    total += fieldSize(size);
  }
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  let k = 0;
  for (const g of groups.values()) {
    pos = writeHeader(buf, pos, TAG_1, sizes[k++]!); // resource_spans = 1
    pos = writeField(buf, pos, TAG_1, g.resource); // resource = 1
    for (const ss of g.scopes.values()) {
      pos = writeHeader(buf, pos, TAG_2, ss.size); // scope_spans = 2
      pos = writeField(buf, pos, TAG_1, ss.scope); // scope = 1
      for (let k = 0; k < ss.spans.length; k += 2) {
        const start = ss.spans[k]!;
        const end = ss.spans[k + 1]!;
        pos = writeHeader(buf, pos, TAG_2, end - start); // spans = 2
        pos += spans.copy(buf, pos, start, end);
      }
      if (ss.schemaUrl !== null) pos = writeField(buf, pos, TAG_3, ss.schemaUrl); // schema_url = 3
    }
    if (g.schemaUrl !== null) pos = writeField(buf, pos, TAG_3, g.schemaUrl); // schema_url = 3
  }
  if (pos !== total) throw new Error(`request written to ${pos} of ${total} bytes`);
  return buf;
}

const utf8 = new TextDecoder();

/** The int64 columns of one request, as their 32-bit words ({@link longWords}). */
interface Int64Columns {
  start: Int32Array;
  end: Int32Array;
  flags: Int32Array;
}

/**
 * A fixed64 field's value as protobufjs takes it ({low, high}, the same bits as a Long): not the
 * decimal string it would parse into a Long through several intermediate ones.
 */
function fixed64(v: Int32Array, row: number): SpanProps['startTimeUnixNano'] {
  return { low: v[2 * row]!, high: v[2 * row + 1]! } as unknown as SpanProps['startTimeUnixNano'];
}

/** A JSON cell as text: strings as they are, the codec's UTF-8 bytes decoded (they were checked valid). */
function parse(text: string | Uint8Array, column: string, row: number): unknown {
  try {
    return JSON.parse(typeof text === 'string' ? text : utf8.decode(text));
  } catch (e) {
    throw new CorruptPayloadError(`row ${row} column ${column}: not JSON`, { cause: e });
  }
}

/** `[]` as text or as UTF-8 bytes: a span without attributes, events or links. */
function isEmptyList(v: string | Uint8Array): boolean {
  return typeof v === 'string' ? v === '[]' : v.length === 2 && v[0] === 0x5b && v[1] === 0x5d;
}

/**
 * `columns` may come from a reader (text as strings) or from the codec (SpanBatch: `attributes`,
 * `events`, `links` as UTF-8 bytes).
 */
export function columnsToRequest(columns: PartialWriteSpanColumns, rows?: ArrayLike<number>): Uint8Array {
  for (const name of REQUIRED) {
    if (columns[name] === undefined) throw new CorruptPayloadError(`columnsToRequest needs column ${name}`);
  }
  const c = columns as Required<PartialWriteSpanColumns>;
  const count = rows === undefined ? columns.length : rows.length;
  const groups = new Map<string, ResourceGroup>();
  // Spans go to the shared buffer from its start: the last request was written out before this one
  // began. One grown by a large request is not held on to.
  out.reset(KEEP_SPAN_BYTES);
  const int64: Int64Columns = { start: longWords(c.start_time_unix_nano), end: longWords(c.end_time_unix_nano), flags: longWords(c.flags) };
  for (let k = 0; k < count; k++) {
    const row = rows === undefined ? k : rows[k]!;
    if (!(row >= 0 && row < columns.length)) throw new RangeError(`row ${row} out of range`);
    try {
      const resourceText = c.resource[row]!;
      const resourceSchemaUrl = c.resource_schema_url[row] ?? '';
      const rKey = resourceSchemaUrl + '\n' + resourceText;
      let group = groups.get(rKey);
      if (group === undefined) {
        const resource = Resource.encode(resourceFromJson(parse(resourceText, 'resource', row), 'resource')).finish();
        group = { resource, scopes: new Map(), schemaUrl: urlBytes(resourceSchemaUrl) };
        groups.set(rKey, group);
      }
      const scopeText = c.scope[row]!;
      const scopeSchemaUrl = c.scope_schema_url[row] ?? '';
      const sKey = scopeSchemaUrl + '\n' + scopeText;
      let ss = group.scopes.get(sKey);
      if (ss === undefined) {
        const scope = InstrumentationScope.encode(scopeFromJson(parse(scopeText, 'scope', row), 'scope')).finish();
        const schemaUrl = urlBytes(scopeSchemaUrl);
        ss = { scope, spans: [], schemaUrl, size: fieldSize(scope.length) + (schemaUrl === null ? 0 : fieldSize(schemaUrl.length)) };
        group.scopes.set(sKey, ss);
      }
      const start = out.pos;
      writeSpan(out, c, int64, row);
      ss.spans.push(start, out.pos);
      ss.size += fieldSize(out.pos - start);
    } catch (e) {
      if (e instanceof CorruptPayloadError) throw e;
      throw new CorruptPayloadError(`row ${row}: ${(e as Error).message}`, { cause: e });
    }
  }
  return writeRequest(groups, out.buf);
}

/** Every span of a request, one after another (columnsToRequest runs to completion synchronously). */
const out = new ProtoWriter();
const KEEP_SPAN_BYTES = 4 * 1024 * 1024;

/** A JSON cell as UTF-8 bytes: the codec's as they are, a reader's string encoded into a scratch buffer. */
let scratch = Buffer.allocUnsafe(16 * 1024);
function cellBytes(text: string | Uint8Array): Uint8Array {
  if (typeof text !== 'string') return text;
  if (scratch.length < 3 * text.length) scratch = Buffer.allocUnsafe(Math.max(2 * scratch.length, 3 * text.length));
  return scratch.subarray(0, scratch.write(text, 0, 'utf8'));
}

/** A span's cell as items of span field `tag`, or nothing when it is `[]`. */
function spanList(w: ProtoWriter, text: string | Uint8Array, column: 'attributes' | 'events' | 'links', tag: number): void {
  if (!isEmptyList(text)) writeSpanList(w, cellBytes(text), column, tag);
}

/**
 * Writes row `row` as a Span message: the bytes `Span.encode(spanOf(...))` gives, written directly, or
 * through it when a JSON cell is not in the canonical form.
 */
function writeSpan(w: ProtoWriter, c: Required<PartialWriteSpanColumns>, int64: Int64Columns, row: number): void {
  const start = w.pos;
  try {
    w.hexId(0x0a, c.trace_id[row]!); // trace_id = 1
    w.hexId(0x12, c.span_id[row]!); // span_id = 2
    w.string(0x1a, c.trace_state[row] ?? ''); // trace_state = 3
    w.hexId(0x22, c.parent_span_id[row] ?? ''); // parent_span_id = 4
    w.string(0x2a, c.operation_name[row]!); // name = 5
    const kind = c.span_kind[row]!;
    if (kind !== 0) {
      w.byte(0x30); // kind = 6
      w.int32(kind);
    }
    fixed64Field(w, 0x39, int64.start, row); // start_time_unix_nano = 7
    fixed64Field(w, 0x41, int64.end, row); // end_time_unix_nano = 8
    spanList(w, c.attributes[row]!, 'attributes', 0x4a); // attributes = 9
    countField(w, 0x50, c.dropped_attributes_count[row]!); // dropped_attributes_count = 10
    spanList(w, c.events[row]!, 'events', 0x5a); // events = 11
    countField(w, 0x60, c.dropped_events_count[row]!); // dropped_events_count = 12
    spanList(w, c.links[row]!, 'links', 0x6a); // links = 13
    countField(w, 0x70, c.dropped_links_count[row]!); // dropped_links_count = 14
    const code = c.status_code[row]!;
    const message = c.status_message[row] ?? '';
    if (code !== 0 || message !== '') {
      w.byte(0x7a); // status = 15
      const mark = w.begin();
      w.string(0x12, message); // message = 2
      if (code !== 0) {
        w.byte(0x18); // code = 3
        w.int32(code);
      }
      w.end(mark);
    }
    const flags = int64.flags[2 * row]!;
    if (flags !== 0) {
      w.byte(0x85); // flags = 16 (fixed32): two tag bytes
      w.byte(0x01);
      w.fixed32(flags);
    }
  } catch (e) {
    if (!(e instanceof NotCanonical)) throw e;
    w.pos = start;
    const bytes = Span.encode(spanOf(c, int64, row)).finish();
    w.ensure(bytes.length);
    w.buf.set(bytes, w.pos);
    w.pos += bytes.length;
  }
}

function fixed64Field(w: ProtoWriter, tag: number, words: Int32Array, row: number): void {
  const lo = words[2 * row]!;
  const hi = words[2 * row + 1]!;
  if (lo === 0 && hi === 0) return;
  w.byte(tag);
  w.fixed64(lo, hi);
}

function countField(w: ProtoWriter, tag: number, n: number): void {
  if (n === 0) return;
  w.byte(tag);
  w.varint32(n);
}

function spanOf(c: Required<PartialWriteSpanColumns>, int64: Int64Columns, row: number): SpanProps {
  const span: SpanProps = {
    traceId: Buffer.from(c.trace_id[row]!, 'hex'),
    spanId: Buffer.from(c.span_id[row]!, 'hex'),
  };
  const parent = c.parent_span_id[row];
  if (parent) span.parentSpanId = Buffer.from(parent, 'hex');
  const traceState = c.trace_state[row];
  if (traceState) span.traceState = traceState;
  const name = c.operation_name[row]!;
  if (name !== '') span.name = name;
  const kind = c.span_kind[row]!;
  if (kind !== 0) span.kind = kind;
  if (int64.start[2 * row] !== 0 || int64.start[2 * row + 1] !== 0) span.startTimeUnixNano = fixed64(int64.start, row);
  if (int64.end[2 * row] !== 0 || int64.end[2 * row + 1] !== 0) span.endTimeUnixNano = fixed64(int64.end, row);
  const attributes = c.attributes[row]!;
  if (!isEmptyList(attributes)) span.attributes = keyValuesFromJson(parse(attributes, 'attributes', row), 'attributes');
  const droppedAttributes = c.dropped_attributes_count[row]!;
  if (droppedAttributes !== 0) span.droppedAttributesCount = droppedAttributes >>> 0;
  const events = c.events[row]!;
  if (!isEmptyList(events)) span.events = eventsFromJson(parse(events, 'events', row), 'events');
  const droppedEvents = c.dropped_events_count[row]!;
  if (droppedEvents !== 0) span.droppedEventsCount = droppedEvents >>> 0;
  const links = c.links[row]!;
  if (!isEmptyList(links)) span.links = linksFromJson(parse(links, 'links', row), 'links');
  const droppedLinks = c.dropped_links_count[row]!;
  if (droppedLinks !== 0) span.droppedLinksCount = droppedLinks >>> 0;
  const code = c.status_code[row]!;
  const message = c.status_message[row];
  if (code !== 0 || message) {
    span.status = {};
    if (code !== 0) span.status.code = code;
    if (message) span.status.message = message;
  }
  const flags = int64.flags[2 * row]! >>> 0;
  if (flags !== 0) span.flags = flags;
  return span;
}
