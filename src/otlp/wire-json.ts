/**
 * Canonical OTLP/JSON text straight from protobuf wire bytes, for the heavy columns. Rules (OTLP/JSON
 * spec + proto3 JSON mapping): lowerCamelCase names, int64/fixed64 as decimal strings, bytes base64,
 * ids hex, enums as integers, scalar defaults omitted (oneof members always written), non-finite
 * doubles as "NaN"/"Infinity"/"-Infinity". Fields are written in field-number order so equal
 * messages give equal text, which `columnsToRequest` relies on to regroup resources and scopes.
 * A field sent twice follows protobuf's last-one-wins rule for scalars.
 */
import { WireError, WireReader, WT_I32, WT_I64, WT_LEN, WT_VARINT, int64String, tagOf, uint64String } from './wire-reader.ts';

const MAX_DEPTH = 64;

const KV_KEY = tagOf(1, WT_LEN);
const KV_VALUE = tagOf(2, WT_LEN);
const KV_KEY_STRINDEX = tagOf(3, WT_VARINT);
const KV_KNOWN = 0b1110;

const AV_STRING = tagOf(1, WT_LEN);
const AV_BOOL = tagOf(2, WT_VARINT);
const AV_INT = tagOf(3, WT_VARINT);
const AV_DOUBLE = tagOf(4, WT_I64);
const AV_ARRAY = tagOf(5, WT_LEN);
const AV_KVLIST = tagOf(6, WT_LEN);
const AV_BYTES = tagOf(7, WT_LEN);
const AV_STRINDEX = tagOf(8, WT_VARINT);
const AV_KNOWN = 0b111111110;

const LIST_VALUES = tagOf(1, WT_LEN);

/** Set by `keyValueJson` for the caller that needs one attribute's plain value (service.name). */
export const lastKeyValue = { key: '', stringValue: null as string | null };

export function jsonString(s: string): string {
  return JSON.stringify(s);
}

export function doubleJson(v: number): string {
  if (v !== v) return '"NaN"';
  if (v === Infinity) return '"Infinity"';
  if (v === -Infinity) return '"-Infinity"';
  if (v === 0 && 1 / v < 0) return '-0';
  return String(v);
}

export function keyValueJson(r: WireReader, end: number, depth = 0): string {
  let key = '';
  let value: string | null = null;
  let strindex = 0;
  let stringValue: string | null = null;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === KV_KEY) key = r.string(end);
    else if (tag === KV_VALUE) {
      const stop = r.delimited(end);
      value = anyValueJson(r, stop, depth + 1);
      stringValue = lastAnyString;
    } else if (tag === KV_KEY_STRINDEX) strindex = r.uint32(end) | 0;
    else r.unknown(tag, end, KV_KNOWN);
  }
  lastKeyValue.key = key;
  lastKeyValue.stringValue = stringValue;
  let out = '{';
  if (key !== '') out += '"key":' + jsonString(key);
  if (value !== null) out += (out.length > 1 ? ',"value":' : '"value":') + value;
  if (strindex !== 0) out += (out.length > 1 ? ',"keyStrindex":' : '"keyStrindex":') + strindex;
  return out + '}';
}

/** The string of the last AnyValue written, when it was a stringValue. */
let lastAnyString: string | null = null;

export function anyValueJson(r: WireReader, end: number, depth: number): string {
  if (depth > MAX_DEPTH) throw new WireError('AnyValue nested too deeply');
  let out = '{}';
  let str: string | null = null;
  while (r.pos < end) {
    const tag = r.uint32(end);
    switch (tag) {
      case AV_STRING:
        str = r.string(end);
        out = '{"stringValue":' + jsonString(str) + '}';
        continue;
      case AV_BOOL:
        r.varint64(end);
        out = r.lo !== 0 || r.hi !== 0 ? '{"boolValue":true}' : '{"boolValue":false}';
        break;
      case AV_INT:
        r.varint64(end);
        out = '{"intValue":"' + int64String(r.lo, r.hi) + '"}';
        break;
      case AV_DOUBLE:
        out = '{"doubleValue":' + doubleJson(r.double(end)) + '}';
        break;
      case AV_ARRAY: {
        const stop = r.delimited(end);
        out = '{"arrayValue":' + listJson(r, stop, depth, false) + '}';
        break;
      }
      case AV_KVLIST: {
        const stop = r.delimited(end);
        out = '{"kvlistValue":' + listJson(r, stop, depth, true) + '}';
        break;
      }
      case AV_BYTES: {
        const stop = r.delimited(end);
        out = '{"bytesValue":"' + r.buf.toString('base64', r.pos, stop) + '"}';
        r.pos = stop;
        break;
      }
      case AV_STRINDEX:
        out = '{"stringValueStrindex":' + (r.uint32(end) | 0) + '}';
        break;
      default:
        r.unknown(tag, end, AV_KNOWN);
        continue;
    }
    str = null;
  }
  lastAnyString = str;
  return out;
}

/** ArrayValue / KeyValueList: `{"values":[...]}`, or `{}` when empty. */
function listJson(r: WireReader, end: number, depth: number, keyValues: boolean): string {
  let items = '';
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === LIST_VALUES) {
      const stop = r.delimited(end);
      const item = keyValues ? keyValueJson(r, stop, depth + 1) : anyValueJson(r, stop, depth + 1);
      items = items === '' ? item : items + ',' + item;
    } else r.unknown(tag, end, 0b10);
  }
  return items === '' ? '{}' : '{"values":[' + items + ']}';
}

/** Appends one element to a JSON array body being built ("" while empty). */
export function appendItem(list: string, item: string): string {
  return list === '' ? item : list + ',' + item;
}

function prop(out: string, name: string, value: string): string {
  return out.length > 1 ? out + ',"' + name + '":' + value : out + '"' + name + '":' + value;
}

const RES_ATTR = tagOf(1, WT_LEN);
const RES_DROPPED = tagOf(2, WT_VARINT);
const RES_ENTITY = tagOf(3, WT_LEN);

/** Resource → JSON object; `serviceName` receives the string value of attribute service.name. */
export function resourceJson(r: WireReader, end: number, out: { serviceName: string | null }): string {
  let attrs = '';
  let dropped = 0;
  let entities = '';
  out.serviceName = null;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === RES_ATTR) {
      const stop = r.delimited(end);
      attrs = appendItem(attrs, keyValueJson(r, stop));
      if (lastKeyValue.key === 'service.name') out.serviceName = lastKeyValue.stringValue;
    } else if (tag === RES_DROPPED) dropped = r.uint32(end);
    else if (tag === RES_ENTITY) {
      const stop = r.delimited(end);
      entities = appendItem(entities, entityRefJson(r, stop));
    } else r.unknown(tag, end, 0b1110);
  }
  let json = '{';
  if (attrs !== '') json = prop(json, 'attributes', '[' + attrs + ']');
  if (dropped !== 0) json = prop(json, 'droppedAttributesCount', String(dropped));
  if (entities !== '') json = prop(json, 'entityRefs', '[' + entities + ']');
  return json + '}';
}

function entityRefJson(r: WireReader, end: number): string {
  let schemaUrl = '';
  let type = '';
  let idKeys = '';
  let descriptionKeys = '';
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === tagOf(1, WT_LEN)) schemaUrl = r.string(end);
    else if (tag === tagOf(2, WT_LEN)) type = r.string(end);
    else if (tag === tagOf(3, WT_LEN)) idKeys = appendItem(idKeys, jsonString(r.string(end)));
    else if (tag === tagOf(4, WT_LEN)) descriptionKeys = appendItem(descriptionKeys, jsonString(r.string(end)));
    else r.unknown(tag, end, 0b11110);
  }
  let json = '{';
  if (schemaUrl !== '') json = prop(json, 'schemaUrl', jsonString(schemaUrl));
  if (type !== '') json = prop(json, 'type', jsonString(type));
  if (idKeys !== '') json = prop(json, 'idKeys', '[' + idKeys + ']');
  if (descriptionKeys !== '') json = prop(json, 'descriptionKeys', '[' + descriptionKeys + ']');
  return json + '}';
}

export function scopeJson(r: WireReader, end: number): string {
  let name = '';
  let version = '';
  let attrs = '';
  let dropped = 0;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === tagOf(1, WT_LEN)) name = r.string(end);
    else if (tag === tagOf(2, WT_LEN)) version = r.string(end);
    else if (tag === tagOf(3, WT_LEN)) {
      const stop = r.delimited(end);
      attrs = appendItem(attrs, keyValueJson(r, stop));
    } else if (tag === tagOf(4, WT_VARINT)) dropped = r.uint32(end);
    else r.unknown(tag, end, 0b11110);
  }
  let json = '{';
  if (name !== '') json = prop(json, 'name', jsonString(name));
  if (version !== '') json = prop(json, 'version', jsonString(version));
  if (attrs !== '') json = prop(json, 'attributes', '[' + attrs + ']');
  if (dropped !== 0) json = prop(json, 'droppedAttributesCount', String(dropped));
  return json + '}';
}

export function eventJson(r: WireReader, end: number): string {
  let time = '';
  let name = '';
  let attrs = '';
  let dropped = 0;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === tagOf(1, WT_I64)) {
      r.fixed64(end);
      time = r.lo === 0 && r.hi === 0 ? '' : uint64String(r.lo, r.hi);
    } else if (tag === tagOf(2, WT_LEN)) name = r.string(end);
    else if (tag === tagOf(3, WT_LEN)) {
      const stop = r.delimited(end);
      attrs = appendItem(attrs, keyValueJson(r, stop));
    } else if (tag === tagOf(4, WT_VARINT)) dropped = r.uint32(end);
    else r.unknown(tag, end, 0b11110);
  }
  let json = '{';
  if (time !== '') json = prop(json, 'timeUnixNano', '"' + time + '"');
  if (name !== '') json = prop(json, 'name', jsonString(name));
  if (attrs !== '') json = prop(json, 'attributes', '[' + attrs + ']');
  if (dropped !== 0) json = prop(json, 'droppedAttributesCount', String(dropped));
  return json + '}';
}

export function linkJson(r: WireReader, end: number): string {
  let traceId = '';
  let spanId = '';
  let traceState = '';
  let attrs = '';
  let dropped = 0;
  let flags = 0;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === tagOf(1, WT_LEN)) {
      const stop = r.delimited(end);
      traceId = r.buf.toString('hex', r.pos, stop);
      r.pos = stop;
    } else if (tag === tagOf(2, WT_LEN)) {
      const stop = r.delimited(end);
      spanId = r.buf.toString('hex', r.pos, stop);
      r.pos = stop;
    } else if (tag === tagOf(3, WT_LEN)) traceState = r.string(end);
    else if (tag === tagOf(4, WT_LEN)) {
      const stop = r.delimited(end);
      attrs = appendItem(attrs, keyValueJson(r, stop));
    } else if (tag === tagOf(5, WT_VARINT)) dropped = r.uint32(end);
    else if (tag === tagOf(6, WT_I32)) flags = r.fixed32(end);
    else r.unknown(tag, end, 0b1111110);
  }
  let json = '{';
  if (traceId !== '') json = prop(json, 'traceId', '"' + traceId + '"');
  if (spanId !== '') json = prop(json, 'spanId', '"' + spanId + '"');
  if (traceState !== '') json = prop(json, 'traceState', jsonString(traceState));
  if (attrs !== '') json = prop(json, 'attributes', '[' + attrs + ']');
  if (dropped !== 0) json = prop(json, 'droppedAttributesCount', String(dropped));
  if (flags !== 0) json = prop(json, 'flags', String(flags));
  return json + '}';
}
