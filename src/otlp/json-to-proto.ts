/**
 * Parsed OTLP/JSON → protobufjs message properties, ready for the generated `encode`. Used for client
 * requests (OTLP/HTTP JSON) and for the heavy columns on re-export, so it accepts both what the OTLP/JSON
 * spec mandates and what the proto3 JSON mapping allows: lowerCamelCase or original field names,
 * int64 as string or number, enums as integer or name, ids as hex. Unknown fields are ignored, as the
 * spec requires; values of the wrong type are an InvalidRequestError naming the path.
 *
 * Integers are exact: every integer field (64-bit times and intValue, uint32 counts, fixed32 flags,
 * enums, strindex) takes a JSON number or a string, decided on its decimal text (numbers arrive as
 * text through `parseJsonLossless`), never through a double. A fraction/exponent form counts when its
 * value is integral (`1e3`), as in protobuf's Go and Java parsers; anything else, or a value out of the
 * field's range, is refused with the field's path. A string that is not well-formed Unicode (an
 * unpaired surrogate escape) throws InvalidUnicodeError, which `requestFromJson` turns into a
 * rejected span (or the spans of a resource/scope) instead of a refused request.
 */
import type { opentelemetry } from './gen/otlp.js';
import { InvalidRequestError } from './errors.ts';
import { JSON_NUMBER, exactInteger, markedNumber } from './json-numbers.ts';

type KeyValueProps = opentelemetry.proto.common.v1.KeyValue.$Properties;
type AnyValueProps = opentelemetry.proto.common.v1.AnyValue.$Properties;
type ResourceProps = opentelemetry.proto.resource.v1.Resource.$Properties;
type ScopeProps = opentelemetry.proto.common.v1.InstrumentationScope.$Properties;
type SpanProps = opentelemetry.proto.trace.v1.Span.$Properties;
type EventProps = opentelemetry.proto.trace.v1.Span.Event.$Properties;
type LinkProps = opentelemetry.proto.trace.v1.Span.Link.$Properties;
type RequestProps = opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest.$Properties;
type Obj = Record<string, unknown>;

const SPAN_KINDS = [
  'SPAN_KIND_UNSPECIFIED',
  'SPAN_KIND_INTERNAL',
  'SPAN_KIND_SERVER',
  'SPAN_KIND_CLIENT',
  'SPAN_KIND_PRODUCER',
  'SPAN_KIND_CONSUMER',
];
const STATUS_CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];
const MAX_DEPTH = 64;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;

function fail(path: string, message: string): never {
  throw new InvalidRequestError(`${path}: ${message}`);
}

/** A field by its JSON name or its proto name; null counts as absent. */
function get(o: Obj, camel: string, snake?: string): unknown {
  let v = o[camel];
  if (v === undefined && snake !== undefined) v = o[snake];
  return v === null ? undefined : v;
}

function object(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'expected an object');
  return v as Obj;
}

function array(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, 'expected an array');
  return v;
}

/**
 * A string of a span (or of its resource/scope) that is not well-formed Unicode: an unpaired surrogate,
 * which has no UTF-8 encoding. `requestFromJson` rejects the span(s) it belongs to.
 */
export class InvalidUnicodeError extends InvalidRequestError {
  readonly path: string;
  constructor(path: string) {
    super(`${path}: string is not well-formed Unicode (unpaired surrogate)`);
    this.name = 'InvalidUnicodeError';
    this.path = path;
  }
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || markedNumber(v) !== null) fail(path, 'expected a string');
  if (!v.isWellFormed()) throw new InvalidUnicodeError(path);
  return v;
}

/** The exact value of an integer field given as a JSON number or a string, within [min, max]; a number when safe. */
function integer(v: unknown, path: string, min: bigint, max: bigint, type: string): number | bigint {
  let x: number | bigint;
  if (typeof v === 'number') {
    // Numbers reach here as doubles only when exact (short plain tokens); others arrive marked.
    if (!Number.isSafeInteger(v)) fail(path, `expected an integer (${type}), got ${v}`);
    x = v;
  } else if (typeof v === 'string') {
    const text = markedNumber(v) ?? v;
    const e = exactInteger(text);
    if (e === null) fail(path, `expected an integer (${type}), got ${JSON.stringify(text)}`);
    if (e === 'fraction') fail(path, `expected an integer (${type}), got ${text}, which is not integral`);
    if (e === 'range') fail(path, `${text} is out of range for ${type}`);
    x = e;
  } else fail(path, `expected an integer (${type})`);
  if (x < min || x > max) fail(path, `${x} is out of range for ${type}`);
  return x;
}

function int(v: unknown, path: string, min: number, max: number): number {
  return Number(integer(v, path, BigInt(min), BigInt(max), min < 0 ? 'int32' : 'uint32'));
}

/** The 64 bits protobufjs's Writer takes: a safe integer as a number, else low/high halves (as a Long would hold them). */
type Int64 = number | { low: number; high: number; unsigned: boolean };

/**
 * int64/uint64/fixed64. Never a decimal string: protobufjs parses those through Long.fromString,
 * ~0.6 µs per value, the largest single cost of a JSON span before this.
 */
function int64(v: unknown, path: string, unsigned: boolean): Int64 {
  const x = unsigned ? integer(v, path, 0n, UINT64_MAX, 'uint64') : integer(v, path, INT64_MIN, INT64_MAX, 'int64');
  if (typeof x === 'number') return x;
  if (x >= MIN_SAFE && x <= MAX_SAFE) return Number(x);
  const bits = BigInt.asUintN(64, x);
  return { low: Number(bits & 0xffffffffn), high: Number(bits >> 32n), unsigned };
}

/** An int64 field's value, or undefined for the default 0 (omitted on the wire). */
function int64Field(v: unknown, path: string, unsigned: boolean): Int64 | undefined {
  const x = int64(v, path, unsigned);
  return x === 0 ? undefined : x;
}

function enumValue(v: unknown, path: string, names: readonly string[]): number {
  if (typeof v === 'string' && markedNumber(v) === null && !/^-?\d/.test(v)) {
    const i = names.indexOf(v);
    if (i < 0) fail(path, `unknown enum value ${JSON.stringify(v)}`);
    return i;
  }
  return int(v, path, -0x80000000, 0x7fffffff);
}

function hexBytes(v: unknown, path: string): Uint8Array {
  const s = str(v, path);
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) fail(path, 'expected a hex-encoded id');
  return Buffer.from(s, 'hex');
}

function base64Bytes(v: unknown, path: string): Uint8Array {
  const s = str(v, path);
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(s)) fail(path, 'expected base64');
  return Buffer.from(s, s.includes('-') || s.includes('_') ? 'base64url' : 'base64');
}

function double(v: unknown, path: string): number {
  if (typeof v === 'number') return v;
  const source = markedNumber(v);
  if (source !== null) return Number(source);
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  // A JSON number's own syntax, as proto3 JSON parsers take a quoted double: no hex, blanks or '+'.
  if (typeof v === 'string' && JSON_NUMBER.test(v)) return Number(v);
  return fail(path, 'expected a number');
}


/** Skips default values so the encoding matches what a protobuf sender would have produced. */
function setIf<T extends object>(target: T, key: keyof T, value: unknown): void {
  if (value === undefined || value === '' || value === 0) return;
  if (value instanceof Uint8Array && value.length === 0) return;
  (target as Record<string, unknown>)[key as string] = value;
}

export function anyValueFromJson(v: unknown, path: string, depth = 0): AnyValueProps {
  if (depth > MAX_DEPTH) fail(path, 'AnyValue nested too deeply');
  const o = object(v, path);
  const out: AnyValueProps = {};
  let members = 0;
  let x: unknown;
  if ((x = get(o, 'stringValue', 'string_value')) !== undefined) {
    out.stringValue = str(x, path + '.stringValue');
    members++;
  }
  if ((x = get(o, 'boolValue', 'bool_value')) !== undefined) {
    if (typeof x !== 'boolean') fail(path + '.boolValue', 'expected a boolean');
    out.boolValue = x;
    members++;
  }
  if ((x = get(o, 'intValue', 'int_value')) !== undefined) {
    out.intValue = int64(x, path + '.intValue', false) as unknown as AnyValueProps['intValue'];
    members++;
  }
  if ((x = get(o, 'doubleValue', 'double_value')) !== undefined) {
    out.doubleValue = double(x, path + '.doubleValue');
    members++;
  }
  if ((x = get(o, 'arrayValue', 'array_value')) !== undefined) {
    const a = object(x, path + '.arrayValue');
    const values = get(a, 'values');
    out.arrayValue = {
      values: values === undefined ? [] : array(values, path + '.arrayValue.values').map((e, i) => anyValueFromJson(e, `${path}.arrayValue.values[${i}]`, depth + 1)),
    };
    members++;
  }
  if ((x = get(o, 'kvlistValue', 'kvlist_value')) !== undefined) {
    const a = object(x, path + '.kvlistValue');
    const values = get(a, 'values');
    out.kvlistValue = { values: values === undefined ? [] : keyValuesFromJson(values, path + '.kvlistValue.values', depth + 1) };
    members++;
  }
  if ((x = get(o, 'bytesValue', 'bytes_value')) !== undefined) {
    out.bytesValue = base64Bytes(x, path + '.bytesValue');
    members++;
  }
  if ((x = get(o, 'stringValueStrindex', 'string_value_strindex')) !== undefined) {
    out.stringValueStrindex = int(x, path + '.stringValueStrindex', -0x80000000, 0x7fffffff);
    members++;
  }
  if (members > 1) fail(path, 'more than one AnyValue member set');
  return out;
}

export function keyValuesFromJson(v: unknown, path: string, depth = 0): KeyValueProps[] {
  return array(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = object(e, p);
    const kv: KeyValueProps = {};
    const key = get(o, 'key');
    if (key !== undefined) setIf(kv, 'key', str(key, p + '.key'));
    const value = get(o, 'value');
    if (value !== undefined) kv.value = anyValueFromJson(value, p + '.value', depth + 1);
    const strindex = get(o, 'keyStrindex', 'key_strindex');
    if (strindex !== undefined) setIf(kv, 'keyStrindex', int(strindex, p + '.keyStrindex', -0x80000000, 0x7fffffff));
    return kv;
  });
}

function attributesAndDropped(o: Obj, path: string, target: { attributes?: KeyValueProps[] | null; droppedAttributesCount?: number | null }): void {
  const attrs = get(o, 'attributes');
  if (attrs !== undefined) target.attributes = keyValuesFromJson(attrs, path + '.attributes');
  const dropped = get(o, 'droppedAttributesCount', 'dropped_attributes_count');
  if (dropped !== undefined) setIf(target, 'droppedAttributesCount', int(dropped, path + '.droppedAttributesCount', 0, 0xffffffff));
}

export function resourceFromJson(v: unknown, path: string): ResourceProps {
  const o = object(v, path);
  const out: ResourceProps = {};
  attributesAndDropped(o, path, out);
  const refs = get(o, 'entityRefs', 'entity_refs');
  if (refs !== undefined) {
    out.entityRefs = array(refs, path + '.entityRefs').map((e, i) => {
      const p = `${path}.entityRefs[${i}]`;
      const r = object(e, p);
      const ref: opentelemetry.proto.common.v1.EntityRef.$Properties = {};
      const schemaUrl = get(r, 'schemaUrl', 'schema_url');
      if (schemaUrl !== undefined) setIf(ref, 'schemaUrl', str(schemaUrl, p + '.schemaUrl'));
      const type = get(r, 'type');
      if (type !== undefined) setIf(ref, 'type', str(type, p + '.type'));
      const idKeys = get(r, 'idKeys', 'id_keys');
      if (idKeys !== undefined) ref.idKeys = array(idKeys, p + '.idKeys').map((k, j) => str(k, `${p}.idKeys[${j}]`));
      const descKeys = get(r, 'descriptionKeys', 'description_keys');
      if (descKeys !== undefined) ref.descriptionKeys = array(descKeys, p + '.descriptionKeys').map((k, j) => str(k, `${p}.descriptionKeys[${j}]`));
      return ref;
    });
  }
  return out;
}

export function scopeFromJson(v: unknown, path: string): ScopeProps {
  const o = object(v, path);
  const out: ScopeProps = {};
  const name = get(o, 'name');
  if (name !== undefined) setIf(out, 'name', str(name, path + '.name'));
  const version = get(o, 'version');
  if (version !== undefined) setIf(out, 'version', str(version, path + '.version'));
  attributesAndDropped(o, path, out);
  return out;
}

export function eventsFromJson(v: unknown, path: string): EventProps[] {
  return array(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = object(e, p);
    const ev: EventProps = {};
    const time = get(o, 'timeUnixNano', 'time_unix_nano');
    if (time !== undefined) setIf(ev, 'timeUnixNano', int64Field(time, p + '.timeUnixNano', true));
    const name = get(o, 'name');
    if (name !== undefined) setIf(ev, 'name', str(name, p + '.name'));
    attributesAndDropped(o, p, ev);
    return ev;
  });
}

export function linksFromJson(v: unknown, path: string): LinkProps[] {
  return array(v, path).map((e, i) => {
    const p = `${path}[${i}]`;
    const o = object(e, p);
    const link: LinkProps = {};
    const traceId = get(o, 'traceId', 'trace_id');
    if (traceId !== undefined) setIf(link, 'traceId', hexBytes(traceId, p + '.traceId'));
    const spanId = get(o, 'spanId', 'span_id');
    if (spanId !== undefined) setIf(link, 'spanId', hexBytes(spanId, p + '.spanId'));
    const traceState = get(o, 'traceState', 'trace_state');
    if (traceState !== undefined) setIf(link, 'traceState', str(traceState, p + '.traceState'));
    attributesAndDropped(o, p, link);
    const flags = get(o, 'flags');
    if (flags !== undefined) setIf(link, 'flags', int(flags, p + '.flags', 0, 0xffffffff));
    return link;
  });
}

function spanFromJson(v: unknown, path: string): SpanProps {
  const o = object(v, path);
  const span: SpanProps = {};
  let x: unknown;
  if ((x = get(o, 'traceId', 'trace_id')) !== undefined) setIf(span, 'traceId', hexBytes(x, path + '.traceId'));
  if ((x = get(o, 'spanId', 'span_id')) !== undefined) setIf(span, 'spanId', hexBytes(x, path + '.spanId'));
  if ((x = get(o, 'traceState', 'trace_state')) !== undefined) setIf(span, 'traceState', str(x, path + '.traceState'));
  if ((x = get(o, 'parentSpanId', 'parent_span_id')) !== undefined) setIf(span, 'parentSpanId', hexBytes(x, path + '.parentSpanId'));
  if ((x = get(o, 'flags')) !== undefined) setIf(span, 'flags', int(x, path + '.flags', 0, 0xffffffff));
  if ((x = get(o, 'name')) !== undefined) setIf(span, 'name', str(x, path + '.name'));
  if ((x = get(o, 'kind')) !== undefined) setIf(span, 'kind', enumValue(x, path + '.kind', SPAN_KINDS));
  if ((x = get(o, 'startTimeUnixNano', 'start_time_unix_nano')) !== undefined) setIf(span, 'startTimeUnixNano', int64Field(x, path + '.startTimeUnixNano', true));
  if ((x = get(o, 'endTimeUnixNano', 'end_time_unix_nano')) !== undefined) setIf(span, 'endTimeUnixNano', int64Field(x, path + '.endTimeUnixNano', true));
  attributesAndDropped(o, path, span);
  if ((x = get(o, 'events')) !== undefined) span.events = eventsFromJson(x, path + '.events');
  if ((x = get(o, 'droppedEventsCount', 'dropped_events_count')) !== undefined) setIf(span, 'droppedEventsCount', int(x, path + '.droppedEventsCount', 0, 0xffffffff));
  if ((x = get(o, 'links')) !== undefined) span.links = linksFromJson(x, path + '.links');
  if ((x = get(o, 'droppedLinksCount', 'dropped_links_count')) !== undefined) setIf(span, 'droppedLinksCount', int(x, path + '.droppedLinksCount', 0, 0xffffffff));
  if ((x = get(o, 'status')) !== undefined) {
    const s = object(x, path + '.status');
    const status: opentelemetry.proto.trace.v1.Status.$Properties = {};
    const message = get(s, 'message');
    if (message !== undefined) setIf(status, 'message', str(message, path + '.status.message'));
    const code = get(s, 'code');
    if (code !== undefined) setIf(status, 'code', enumValue(code, path + '.status.code', STATUS_CODES));
    span.status = status;
  }
  return span;
}

/** Spans left out of a request and why (one call per reason and container). */
export type RejectSpans = (reason: string, spans: number) => void;

const NOT_UNICODE = 'invalid Unicode (unpaired surrogate) in';

/** The member of `base` an error path points into: `base.attributes[2].value` → `attributes`. */
function memberOf(path: string, base: string): string {
  const rest = path.slice(base.length + 1);
  const m = /^[A-Za-z_]+/.exec(rest);
  return m === null ? rest : m[0];
}

/** `resource attributes`, `resource schemaUrl`, `scope name`…: where in a container a bad string sits. */
function containerMember(path: string, base: string, name: string): string {
  const inner = `${base}.${name}`;
  return `${name} ${path.startsWith(inner + '.') ? memberOf(path, inner) : memberOf(path, base)}`;
}

/**
 * A whole ExportTraceServiceRequest. A span holding a string that is not well-formed Unicode is left
 * out and reported through `reject`; so are all spans of a resource or scope holding one (the
 * ResourceSpans/ScopeSpans goes with them). Any other problem throws InvalidRequestError.
 */
export function requestFromJson(v: unknown, reject: RejectSpans): RequestProps {
  const o = object(v, 'request');
  const rsList = get(o, 'resourceSpans', 'resource_spans');
  if (rsList === undefined) return {};
  const resourceSpans: opentelemetry.proto.trace.v1.ResourceSpans.$Properties[] = [];
  array(rsList, 'resourceSpans').forEach((rsv, i) => {
    const rp = `resourceSpans[${i}]`;
    const rs = object(rsv, rp);
    const out: opentelemetry.proto.trace.v1.ResourceSpans.$Properties = {};
    let bad: string | null = null;
    let x: unknown;
    try {
      if ((x = get(rs, 'resource')) !== undefined) out.resource = resourceFromJson(x, rp + '.resource');
      if ((x = get(rs, 'schemaUrl', 'schema_url')) !== undefined) setIf(out, 'schemaUrl', str(x, rp + '.schemaUrl'));
    } catch (e) {
      if (!(e instanceof InvalidUnicodeError)) throw e;
      bad = `${NOT_UNICODE} ${containerMember(e.path, rp, 'resource')}`;
    }
    let spans = 0;
    let removed = false;
    const ssList = get(rs, 'scopeSpans', 'scope_spans');
    if (ssList !== undefined) {
      out.scopeSpans = [];
      array(ssList, rp + '.scopeSpans').forEach((ssv, j) => {
        const sp = `${rp}.scopeSpans[${j}]`;
        const ss = object(ssv, sp);
        const sOut: opentelemetry.proto.trace.v1.ScopeSpans.$Properties = {};
        let scopeBad: string | null = null;
        let y: unknown;
        try {
          if ((y = get(ss, 'scope')) !== undefined) sOut.scope = scopeFromJson(y, sp + '.scope');
          if ((y = get(ss, 'schemaUrl', 'schema_url')) !== undefined) setIf(sOut, 'schemaUrl', str(y, sp + '.schemaUrl'));
        } catch (e) {
          if (!(e instanceof InvalidUnicodeError)) throw e;
          scopeBad = `${NOT_UNICODE} ${containerMember(e.path, sp, 'scope')}`;
        }
        const list: SpanProps[] = [];
        let dropped = 0;
        if ((y = get(ss, 'spans')) !== undefined) {
          array(y, sp + '.spans').forEach((s, k) => {
            const path = `${sp}.spans[${k}]`;
            try {
              list.push(spanFromJson(s, path));
            } catch (e) {
              if (!(e instanceof InvalidUnicodeError)) throw e;
              reject(`${NOT_UNICODE} span ${memberOf(e.path, path)}`, 1);
              dropped++;
            }
          });
        }
        if (scopeBad !== null || (dropped > 0 && list.length === 0)) {
          if (scopeBad !== null && list.length > 0) reject(scopeBad, list.length);
          removed = true;
          return;
        }
        sOut.spans = list;
        spans += list.length;
        out.scopeSpans!.push(sOut);
      });
    }
    if (bad !== null) {
      if (spans > 0) reject(bad, spans);
      return;
    }
    // Emptied by rejections: dropped like the protobuf validator drops emptied containers.
    if (removed && out.scopeSpans!.length === 0) return;
    resourceSpans.push(out);
  });
  return { resourceSpans };
}
