/**
 * Parsed OTLP/JSON → protobufjs message properties, ready for the generated `encode`. Used for client
 * requests (OTLP/HTTP JSON) and for the heavy columns on re-export, so it accepts both what the OTLP/JSON
 * spec mandates and what the proto3 JSON mapping allows: lowerCamelCase or original field names,
 * int64 as string or number, enums as integer or name, ids as hex. Unknown fields are ignored, as the
 * spec requires; values of the wrong type are an InvalidRequestError naming the path.
 */
import type { opentelemetry } from './gen/otlp.js';
import { InvalidRequestError } from './errors.ts';

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
const UINT64_MAX = 2n ** 64n - 1n;

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

function str(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, 'expected a string');
  return v;
}

function int(v: unknown, path: string, min: number, max: number): number {
  let n = v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) n = Number(v);
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) fail(path, 'expected an integer in range');
  return n;
}

/** int64/uint64 as the signed decimal string protobufjs's Writer takes (same 64 bits). */
function int64(v: unknown, path: string, unsigned: boolean): string {
  let b: bigint;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) b = BigInt(v);
  else if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
  else fail(path, 'expected an integer (decimal string)');
  if (unsigned ? b < 0n || b > UINT64_MAX : b < INT64_MIN || b >= -INT64_MIN) fail(path, 'integer out of range');
  return BigInt.asIntN(64, b).toString();
}

/** An int64 field's value, or undefined for the default 0 (omitted on the wire). */
function int64Field(v: unknown, path: string, unsigned: boolean): string | undefined {
  const s = int64(v, path, unsigned);
  return s === '0' ? undefined : s;
}

function enumValue(v: unknown, path: string, names: readonly string[]): number {
  if (typeof v === 'string' && !/^-?\d+$/.test(v)) {
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
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
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

/** A whole ExportTraceServiceRequest. */
export function requestFromJson(v: unknown): RequestProps {
  const o = object(v, 'request');
  const rsList = get(o, 'resourceSpans', 'resource_spans');
  if (rsList === undefined) return {};
  return {
    resourceSpans: array(rsList, 'resourceSpans').map((rsv, i) => {
      const rp = `resourceSpans[${i}]`;
      const rs = object(rsv, rp);
      const out: opentelemetry.proto.trace.v1.ResourceSpans.$Properties = {};
      let x: unknown;
      if ((x = get(rs, 'resource')) !== undefined) out.resource = resourceFromJson(x, rp + '.resource');
      if ((x = get(rs, 'schemaUrl', 'schema_url')) !== undefined) setIf(out, 'schemaUrl', str(x, rp + '.schemaUrl'));
      const ssList = get(rs, 'scopeSpans', 'scope_spans');
      if (ssList !== undefined) {
        out.scopeSpans = array(ssList, rp + '.scopeSpans').map((ssv, j) => {
          const sp = `${rp}.scopeSpans[${j}]`;
          const ss = object(ssv, sp);
          const sOut: opentelemetry.proto.trace.v1.ScopeSpans.$Properties = {};
          let y: unknown;
          if ((y = get(ss, 'scope')) !== undefined) sOut.scope = scopeFromJson(y, sp + '.scope');
          if ((y = get(ss, 'schemaUrl', 'schema_url')) !== undefined) setIf(sOut, 'schemaUrl', str(y, sp + '.schemaUrl'));
          if ((y = get(ss, 'spans')) !== undefined) sOut.spans = array(y, sp + '.spans').map((s, k) => spanFromJson(s, `${sp}.spans[${k}]`));
          return sOut;
        });
      }
      return out;
    }),
  };
}
