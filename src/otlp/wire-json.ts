/**
 * Canonical OTLP/JSON straight from protobuf wire bytes, for the heavy columns. Rules (OTLP/JSON spec
 * + proto3 JSON mapping): lowerCamelCase names, int64/fixed64 as decimal strings, bytes base64, ids hex,
 * enums as integers, scalar defaults omitted (a set oneof member is always written), non-finite doubles
 * as "NaN"/"Infinity"/"-Infinity". Fields come out in field-number order whatever the wire order, and a
 * scalar sent twice follows protobuf's last-one-wins rule, so equal messages give equal text — which
 * `columnsToRequest` relies on to regroup resources and scopes. Each writer first notes where its
 * fields are, then writes; repeated fields are found by a second scan of the message.
 */
import { type JsonWriter, lit } from './json-writer.ts';
import { WireError, type WireReader, WT_I32, WT_I64, WT_LEN, WT_VARINT, int64String, tagOf, uint64String } from './wire-reader.ts';

const MAX_DEPTH = 64;

const T1_LEN = tagOf(1, WT_LEN);
const T2_LEN = tagOf(2, WT_LEN);
const T3_LEN = tagOf(3, WT_LEN);
const T4_LEN = tagOf(4, WT_LEN);

const L_OPEN = lit('{');
const L_KEY = lit('"key":');
const L_VALUE = lit('"value":');
const L_KEY_STRINDEX = lit('"keyStrindex":');
const L_STRING = lit('{"stringValue":');
const L_BOOL_T = lit('{"boolValue":true}');
const L_BOOL_F = lit('{"boolValue":false}');
const L_INT = lit('{"intValue":"');
const L_DOUBLE = lit('{"doubleValue":');
const L_ARRAY = lit('{"arrayValue":');
const L_KVLIST = lit('{"kvlistValue":');
const L_BYTES = lit('{"bytesValue":');
const L_STRINDEX = lit('{"stringValueStrindex":');
const L_VALUES = lit('{"values":[');
const L_EMPTY = lit('{}');
const L_ATTRIBUTES = lit('"attributes":[');
const L_DROPPED_ATTRS = lit('"droppedAttributesCount":');

const L_ENTITYREFS = lit('"entityRefs":[');
const L_SCHEMAURL = lit('"schemaUrl":');
const L_TYPE = lit('"type":');
const L_IDKEYS = lit('"idKeys":[');
const L_DESCRIPTIONKEYS = lit('"descriptionKeys":[');
const L_NAME = lit('"name":');
const L_VERSION = lit('"version":');
const L_TIMEUNIXNANO = lit('"timeUnixNano":"');
const L_TRACEID = lit('"traceId":');
const L_SPANID = lit('"spanId":');
const L_TRACESTATE = lit('"traceState":');
const L_FLAGS = lit('"flags":');

/** Writes `,` unless this is the first member. */
function sep(w: JsonWriter, objStart: number): void {
  if (w.len > objStart + 1) w.byte(0x2c);
}

export function doubleText(v: number): string {
  if (v !== v) return '"NaN"';
  if (v === Infinity) return '"Infinity"';
  if (v === -Infinity) return '"-Infinity"';
  if (v === 0 && 1 / v < 0) return '-0';
  return String(v);
}

/** Writes every occurrence of repeated message field `tag` in [start, end) with `each`, as JSON array items. */
function items(r: WireReader, start: number, end: number, tag: number, w: JsonWriter, each: (r: WireReader, end: number, w: JsonWriter) => void): void {
  r.pos = start;
  let first = true;
  while (r.pos < end) {
    const t = r.uint32(end);
    if (t !== tag) {
      r.skip(t, end);
      continue;
    }
    const stop = r.delimited(end);
    if (!first) w.byte(0x2c);
    first = false;
    each(r, stop, w);
    r.pos = stop;
  }
}

export function writeKeyValue(r: WireReader, end: number, w: JsonWriter, depth = 0): void {
  let keyStart = -1;
  let keyEnd = -1;
  let valueStart = -1;
  let valueEnd = -1;
  let strindex = 0;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === T1_LEN) {
      keyEnd = r.delimited(end);
      keyStart = r.pos;
      r.pos = keyEnd;
    } else if (tag === T2_LEN) {
      valueEnd = r.delimited(end);
      valueStart = r.pos;
      r.pos = valueEnd;
    } else if (tag === tagOf(3, WT_VARINT)) strindex = r.uint32(end) | 0;
    else r.unknown(tag, end, 0b1110);
  }
  const o = w.len;
  w.raw(L_OPEN);
  if (keyEnd > keyStart) {
    w.raw(L_KEY);
    w.string(r.buf, keyStart, keyEnd);
  }
  if (valueStart >= 0) {
    sep(w, o);
    w.raw(L_VALUE);
    r.pos = valueStart;
    writeAnyValue(r, valueEnd, w, depth + 1);
  }
  if (strindex !== 0) {
    sep(w, o);
    w.raw(L_KEY_STRINDEX);
    w.ascii(String(strindex));
  }
  w.byte(0x7d);
  r.pos = end;
}

export function writeAnyValue(r: WireReader, end: number, w: JsonWriter, depth: number): void {
  if (depth > MAX_DEPTH) throw new WireError('AnyValue nested too deeply');
  // The last oneof member on the wire wins.
  let tag = -1;
  let at = 0;
  while (r.pos < end) {
    const t = r.uint32(end);
    const field = t >>> 3;
    if (field >= 1 && field <= 8) {
      const wt = field === 4 ? WT_I64 : field === 1 || field === 5 || field === 6 || field === 7 ? WT_LEN : WT_VARINT;
      if ((t & 7) !== wt) throw new WireError(`AnyValue field ${field} has wrong wire type ${t & 7}`);
      tag = field;
      at = r.pos;
    } else if (field === 0) throw new WireError('field number 0');
    r.skip(t, end);
  }
  r.pos = at;
  switch (tag) {
    case -1:
      w.raw(L_EMPTY);
      break;
    case 1: {
      const stop = r.delimited(end);
      w.raw(L_STRING);
      w.string(r.buf, r.pos, stop);
      w.byte(0x7d);
      break;
    }
    case 2:
      r.varint64(end);
      w.raw(r.lo !== 0 || r.hi !== 0 ? L_BOOL_T : L_BOOL_F);
      break;
    case 3:
      r.varint64(end);
      w.raw(L_INT);
      w.ascii(int64String(r.lo, r.hi));
      w.byte(0x22);
      w.byte(0x7d);
      break;
    case 4:
      w.raw(L_DOUBLE);
      w.ascii(doubleText(r.double(end)));
      w.byte(0x7d);
      break;
    case 5:
    case 6: {
      const stop = r.delimited(end);
      w.raw(tag === 5 ? L_ARRAY : L_KVLIST);
      writeList(r, r.pos, stop, w, depth, tag === 6);
      w.byte(0x7d);
      break;
    }
    case 7: {
      const stop = r.delimited(end);
      w.raw(L_BYTES);
      w.base64(r.buf, r.pos, stop);
      w.byte(0x7d);
      break;
    }
    case 8:
      w.raw(L_STRINDEX);
      w.ascii(String(r.uint32(end) | 0));
      w.byte(0x7d);
      break;
  }
  r.pos = end;
}

/** ArrayValue / KeyValueList: `{"values":[...]}`, or `{}` when empty. */
function writeList(r: WireReader, start: number, end: number, w: JsonWriter, depth: number, keyValues: boolean): void {
  r.pos = start;
  let any = false;
  while (r.pos < end) {
    const t = r.uint32(end);
    if (t !== T1_LEN) {
      r.unknown(t, end, 0b10);
      continue;
    }
    const stop = r.delimited(end);
    if (any) w.byte(0x2c);
    else w.raw(L_VALUES);
    any = true;
    if (keyValues) writeKeyValue(r, stop, w, depth + 1);
    else writeAnyValue(r, stop, w, depth + 1);
    r.pos = stop;
  }
  if (any) {
    w.byte(0x5d);
    w.byte(0x7d);
  } else w.raw(L_EMPTY);
}

const writeKv = (r: WireReader, end: number, w: JsonWriter): void => writeKeyValue(r, end, w);

function attributesMember(r: WireReader, start: number, end: number, tag: number, w: JsonWriter, o: number): void {
  sep(w, o);
  w.raw(L_ATTRIBUTES);
  items(r, start, end, tag, w, writeKv);
  w.byte(0x5d);
}

function stringMember(w: JsonWriter, o: number, name: Uint8Array, src: Buffer, start: number, end: number): void {
  if (end <= start) return;
  sep(w, o);
  w.raw(name);
  w.string(src, start, end);
}

function numberMember(w: JsonWriter, o: number, name: Uint8Array, value: string): void {
  sep(w, o);
  w.raw(name);
  w.ascii(value);
}

/** Resource → JSON object. */
export function writeResource(r: WireReader, end: number, w: JsonWriter): void {
  const start = r.pos;
  let attrs = false;
  let dropped = 0;
  let entities = false;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === T1_LEN) attrs = true;
    else if (tag === tagOf(2, WT_VARINT)) {
      dropped = r.uint32(end);
      continue;
    } else if (tag === T3_LEN) entities = true;
    else {
      r.unknown(tag, end, 0b1110);
      continue;
    }
    r.skip(tag, end);
  }
  const o = w.len;
  w.raw(L_OPEN);
  if (attrs) attributesMember(r, start, end, T1_LEN, w, o);
  if (dropped !== 0) numberMember(w, o, L_DROPPED_ATTRS, String(dropped));
  if (entities) {
    sep(w, o);
    w.raw(L_ENTITYREFS);
    items(r, start, end, T3_LEN, w, writeEntityRef);
    w.byte(0x5d);
  }
  w.byte(0x7d);
  r.pos = end;
}

function writeEntityRef(r: WireReader, end: number, w: JsonWriter): void {
  const start = r.pos;
  const ranges = [0, 0, 0, 0];
  let idKeys = false;
  let descKeys = false;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === T1_LEN || tag === T2_LEN) {
      const stop = r.delimited(end);
      ranges[(tag >>> 3) * 2 - 2] = r.pos;
      ranges[(tag >>> 3) * 2 - 1] = stop;
      r.pos = stop;
    } else if (tag === T3_LEN || tag === T4_LEN) {
      if (tag === T3_LEN) idKeys = true;
      else descKeys = true;
      r.skip(tag, end);
    } else r.unknown(tag, end, 0b11110);
  }
  const o = w.len;
  w.raw(L_OPEN);
  stringMember(w, o, L_SCHEMAURL, r.buf, ranges[0]!, ranges[1]!);
  stringMember(w, o, L_TYPE, r.buf, ranges[2]!, ranges[3]!);
  const strings = (r2: WireReader, stop: number, w2: JsonWriter): void => w2.string(r2.buf, r2.pos, stop);
  if (idKeys) {
    sep(w, o);
    w.raw(L_IDKEYS);
    items(r, start, end, T3_LEN, w, strings);
    w.byte(0x5d);
  }
  if (descKeys) {
    sep(w, o);
    w.raw(L_DESCRIPTIONKEYS);
    items(r, start, end, T4_LEN, w, strings);
    w.byte(0x5d);
  }
  w.byte(0x7d);
  r.pos = end;
}

export function writeScope(r: WireReader, end: number, w: JsonWriter): void {
  const start = r.pos;
  let nameS = 0;
  let nameE = 0;
  let verS = 0;
  let verE = 0;
  let attrs = false;
  let dropped = 0;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === T1_LEN || tag === T2_LEN) {
      const stop = r.delimited(end);
      if (tag === T1_LEN) [nameS, nameE] = [r.pos, stop];
      else [verS, verE] = [r.pos, stop];
      r.pos = stop;
    } else if (tag === T3_LEN) {
      attrs = true;
      r.skip(tag, end);
    } else if (tag === tagOf(4, WT_VARINT)) dropped = r.uint32(end);
    else r.unknown(tag, end, 0b11110);
  }
  const o = w.len;
  w.raw(L_OPEN);
  stringMember(w, o, L_NAME, r.buf, nameS, nameE);
  stringMember(w, o, L_VERSION, r.buf, verS, verE);
  if (attrs) attributesMember(r, start, end, T3_LEN, w, o);
  if (dropped !== 0) numberMember(w, o, L_DROPPED_ATTRS, String(dropped));
  w.byte(0x7d);
  r.pos = end;
}


export function writeEvent(r: WireReader, end: number, w: JsonWriter): void {
  const start = r.pos;
  let lo = 0;
  let hi = 0;
  let nameS = 0;
  let nameE = 0;
  let attrs = false;
  let dropped = 0;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === tagOf(1, WT_I64)) {
      r.fixed64(end);
      lo = r.lo;
      hi = r.hi;
    } else if (tag === T2_LEN) {
      nameE = r.delimited(end);
      nameS = r.pos;
      r.pos = nameE;
    } else if (tag === T3_LEN) {
      attrs = true;
      r.skip(tag, end);
    } else if (tag === tagOf(4, WT_VARINT)) dropped = r.uint32(end);
    else r.unknown(tag, end, 0b11110);
  }
  const o = w.len;
  w.raw(L_OPEN);
  if (lo !== 0 || hi !== 0) {
    w.raw(L_TIMEUNIXNANO);
    w.ascii(uint64String(lo, hi));
    w.byte(0x22);
  }
  stringMember(w, o, L_NAME, r.buf, nameS, nameE);
  if (attrs) attributesMember(r, start, end, T3_LEN, w, o);
  if (dropped !== 0) numberMember(w, o, L_DROPPED_ATTRS, String(dropped));
  w.byte(0x7d);
  r.pos = end;
}

export function writeLink(r: WireReader, end: number, w: JsonWriter): void {
  const start = r.pos;
  const ranges = [0, 0, 0, 0, 0, 0];
  let attrs = false;
  let dropped = 0;
  let flags = 0;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === T1_LEN || tag === T2_LEN || tag === T3_LEN) {
      const stop = r.delimited(end);
      ranges[(tag >>> 3) * 2 - 2] = r.pos;
      ranges[(tag >>> 3) * 2 - 1] = stop;
      r.pos = stop;
    } else if (tag === T4_LEN) {
      attrs = true;
      r.skip(tag, end);
    } else if (tag === tagOf(5, WT_VARINT)) dropped = r.uint32(end);
    else if (tag === tagOf(6, WT_I32)) flags = r.fixed32(end);
    else r.unknown(tag, end, 0b1111110);
  }
  const o = w.len;
  w.raw(L_OPEN);
  if (ranges[1]! > ranges[0]!) {
    w.raw(L_TRACEID);
    w.hex(r.buf, ranges[0]!, ranges[1]!);
  }
  if (ranges[3]! > ranges[2]!) {
    sep(w, o);
    w.raw(L_SPANID);
    w.hex(r.buf, ranges[2]!, ranges[3]!);
  }
  stringMember(w, o, L_TRACESTATE, r.buf, ranges[4]!, ranges[5]!);
  if (attrs) attributesMember(r, start, end, T4_LEN, w, o);
  if (dropped !== 0) numberMember(w, o, L_DROPPED_ATTRS, String(dropped));
  if (flags !== 0) numberMember(w, o, L_FLAGS, String(flags));
  w.byte(0x7d);
  r.pos = end;
}

/** Writes the JSON array of every `tag` field (attributes 9, events 11, links 13) of a span. */
export function writeSpanList(r: WireReader, start: number, end: number, tag: number, w: JsonWriter): void {
  w.byte(0x5b);
  const each = tag === tagOf(9, WT_LEN) ? writeKv : tag === tagOf(11, WT_LEN) ? writeEvent : writeLink;
  items(r, start, end, tag, w, each);
  w.byte(0x5d);
}

/** The string value of resource attribute service.name (last one wins), or null. */
export function findServiceName(r: WireReader, end: number): string | null {
  let name: string | null = null;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag !== T1_LEN) {
      r.skip(tag, end);
      continue;
    }
    const kvEnd = r.delimited(end);
    let isService = false;
    let value: string | null = null;
    while (r.pos < kvEnd) {
      const t = r.uint32(kvEnd);
      if (t === T1_LEN) isService = r.string(kvEnd) === 'service.name';
      else if (t === T2_LEN) {
        const avEnd = r.delimited(kvEnd);
        value = null;
        while (r.pos < avEnd) {
          const u = r.uint32(avEnd);
          if (u === T1_LEN) value = r.string(avEnd);
          else {
            value = null;
            r.skip(u, avEnd);
          }
        }
      } else r.skip(t, kvEnd);
    }
    if (isService) name = value;
  }
  return name;
}
