/**
 * ExportTraceServiceRequest → one TracesData per trace: the otelcol kafkaexporter's `otlp_proto`
 * encoding with `partition_traces_by_id` (key = lowercase hex trace id), so every span of a trace
 * goes to one partition.
 *
 * Works on the wire format, like the receiver's validator: each span, and each ResourceSpans /
 * ScopeSpans field other than the span lists (resource, scope, schema urls, fields newer than our
 * proto), is copied byte for byte; only the enclosing length prefixes are new. Decoding into
 * protobufjs objects and encoding again would cost a few µs per span on the receive path and drop
 * the fields our generated code does not know. ExportTraceServiceRequest and TracesData are the same
 * message on the wire (field 1: repeated ResourceSpans).
 */
import { WireError, WireReader, WT_LEN, tagOf } from '../../otlp/wire-reader.ts';
import { KafkaRecordTooLargeError, KafkaSpoolError } from './errors.ts';
import { varint32Len, writeVarint32 } from '../../otlp/wire-writer.ts';

export interface TraceMessage {
  /** Lowercase hex trace id (32 characters for a valid span). */
  key: string;
  /** A TracesData holding only spans of this trace. */
  value: Buffer;
  spans: number;
}

const REQ_RS = tagOf(1, WT_LEN);
const RS_SS = tagOf(2, WT_LEN);
const SS_SPAN = tagOf(2, WT_LEN);
const SPAN_TRACE_ID = tagOf(1, WT_LEN);
/** Tag plus the longest 32-bit varint length prefix. */
const FIELD_OVERHEAD = 1 + 5;

interface Container {
  /** Its fields other than the child list, each a complete field (tag, length, content) as received. */
  fields: Buffer[];
  fieldsLen: number;
}

interface Scope extends Container {
  resource: Container;
}

interface Entry {
  scope: Scope;
  spans: Buffer[];
}

interface Trace {
  key: string;
  entries: Entry[];
  spans: number;
}

/** The trace id of the span whose content is buf[r.pos, end), as lowercase hex; '' when absent. */
function traceIdOf(r: WireReader, end: number): string {
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === SPAN_TRACE_ID) {
      const stop = r.delimited(end);
      return r.buf.toString('hex', r.pos, stop);
    }
    r.skip(tag, end);
  }
  return '';
}

/**
 * Splits one request into per-trace messages, in order of each trace's first span. Within a message
 * resources and scopes keep their order and content, and spans their order. A trace whose message
 * would exceed `maxBytes` is cut into several messages (same key), each still whole spans; a single
 * span that does not fit one message even alone (with its resource and scope) cannot be cut and throws
 * KafkaRecordTooLargeError, refusing the request (receivers: RESOURCE_EXHAUSTED/413, `too_large`)
 * instead of leaving Kafka to refuse the produce.
 */
export function splitByTrace(payload: Uint8Array, maxBytes: number): TraceMessage[] {
  const r = new WireReader(payload);
  const buf = r.buf;
  const traces = new Map<string, Trace>();
  try {
    const end = buf.length;
    while (r.pos < end) {
      const tag = r.uint32(end);
      if (tag !== REQ_RS) {
        r.skip(tag, end); // ExportTraceServiceRequest has no other field
        continue;
      }
      const rsEnd = r.delimited(end);
      const resource: Container = { fields: [], fieldsLen: 0 };
      while (r.pos < rsEnd) {
        const rsField = r.pos;
        const rsTag = r.uint32(rsEnd);
        if (rsTag !== RS_SS) {
          r.skip(rsTag, rsEnd);
          resource.fields.push(buf.subarray(rsField, r.pos));
          resource.fieldsLen += r.pos - rsField;
          continue;
        }
        const ssEnd = r.delimited(rsEnd);
        const scope: Scope = { resource, fields: [], fieldsLen: 0 };
        while (r.pos < ssEnd) {
          const ssField = r.pos;
          const ssTag = r.uint32(ssEnd);
          if (ssTag !== SS_SPAN) {
            r.skip(ssTag, ssEnd);
            scope.fields.push(buf.subarray(ssField, r.pos));
            scope.fieldsLen += r.pos - ssField;
            continue;
          }
          const spanEnd = r.delimited(ssEnd);
          const key = traceIdOf(r, spanEnd);
          r.pos = spanEnd;
          let trace = traces.get(key);
          if (trace === undefined) {
            trace = { key, entries: [], spans: 0 };
            traces.set(key, trace);
          }
          const last = trace.entries[trace.entries.length - 1];
          const span = buf.subarray(ssField, spanEnd);
          if (last !== undefined && last.scope === scope) last.spans.push(span);
          else trace.entries.push({ scope, spans: [span] });
          trace.spans++;
        }
      }
    }
  } catch (e) {
    if (e instanceof WireError) throw new KafkaSpoolError(`spool payload is not a valid ExportTraceServiceRequest: ${e.message}`, e);
    throw e;
  }
  const out: TraceMessage[] = [];
  for (const trace of traces.values()) encodeTrace(trace, maxBytes, out);
  return out;
}

/** Appends the message(s) of one trace, cutting between spans where the size bound would pass `maxBytes`. */
function encodeTrace(trace: Trace, maxBytes: number, out: TraceMessage[]): void {
  let chunk: Entry[] = [];
  let chunkSpans = 0;
  let bound = 0; // upper bound of the encoded size of `chunk`
  let lastResource: Container | null = null;
  const flush = (): void => {
    const value = encodeEntries(chunk);
    // Only a chunk of one span can exceed the bound (more spans are cut before it is reached).
    if (value.length > maxBytes) {
      throw new KafkaRecordTooLargeError(
        `a span of trace ${trace.key} is ${value.length} bytes as a TracesData message (with its resource and scope), more than the ${maxBytes} bytes a message may hold (spool.kafka.max_message_bytes less record overhead); a span cannot be cut`,
        value.length,
        maxBytes,
      );
    }
    out.push({ key: trace.key, value, spans: chunkSpans });
    chunk = [];
    chunkSpans = 0;
    bound = 0;
    lastResource = null;
  };
  for (const entry of trace.entries) {
    for (const span of entry.spans) {
      let cost = span.length;
      const open = chunk[chunk.length - 1];
      const sameScope = open !== undefined && open.scope === entry.scope;
      if (!sameScope) {
        cost += FIELD_OVERHEAD + entry.scope.fieldsLen;
        if (lastResource !== entry.scope.resource) cost += FIELD_OVERHEAD + entry.scope.resource.fieldsLen;
      }
      if (chunkSpans > 0 && bound + cost > maxBytes) {
        flush();
        cost = span.length + 2 * FIELD_OVERHEAD + entry.scope.fieldsLen + entry.scope.resource.fieldsLen;
      }
      const tail = chunk[chunk.length - 1];
      if (tail !== undefined && tail.scope === entry.scope) tail.spans.push(span);
      else chunk.push({ scope: entry.scope, spans: [span] });
      lastResource = entry.scope.resource;
      chunkSpans++;
      bound += cost;
    }
  }
  if (chunkSpans > 0) flush();
}

/** Encodes entries as a TracesData; consecutive entries of one resource share a ResourceSpans. */
function encodeEntries(entries: readonly Entry[]): Buffer {
  // Pass 1: exact lengths of every ScopeSpans and ResourceSpans.
  const ssLens: number[] = [];
  const rsLens: number[] = [];
  let total = 0;
  let rsLen = -1;
  let current: Container | null = null;
  for (const e of entries) {
    if (e.scope.resource !== current) {
      if (rsLen >= 0) {
        rsLens.push(rsLen);
        total += 1 + varint32Len(rsLen) + rsLen;
      }
      current = e.scope.resource;
      rsLen = current.fieldsLen;
    }
    let ssLen = e.scope.fieldsLen;
    for (const s of e.spans) ssLen += s.length;
    ssLens.push(ssLen);
    rsLen += 1 + varint32Len(ssLen) + ssLen;
  }
  if (rsLen >= 0) {
    rsLens.push(rsLen);
    total += 1 + varint32Len(rsLen) + rsLen;
  }
  // Pass 2: write.
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  let rsIndex = 0;
  current = null;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.scope.resource !== current) {
      current = e.scope.resource;
      out[pos++] = REQ_RS;
      pos = writeVarint32(out, pos, rsLens[rsIndex++]!);
      for (const f of current.fields) pos += f.copy(out, pos);
    }
    out[pos++] = RS_SS;
    pos = writeVarint32(out, pos, ssLens[i]!);
    for (const f of e.scope.fields) pos += f.copy(out, pos);
    for (const s of e.spans) pos += s.copy(out, pos);
  }
  return out;
}
