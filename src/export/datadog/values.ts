/**
 * OTLP attribute values as text, the way the Agent's pdata (`pcommon.Value`) renders them: `AsString`
 * for tags, and the JSON of `AsRaw` for span events. 64-bit integers stay exact (from their Long,
 * never through a double); bytes are base64; arrays and maps are JSON, map keys sorted as Go's
 * encoding/json writes them, with its HTML-safe escapes.
 */
import type Long from 'long';
import type { opentelemetry } from '../../otlp/gen/otlp.js';

export type AnyValue = opentelemetry.proto.common.v1.AnyValue.$Properties;
export type KeyValue = opentelemetry.proto.common.v1.KeyValue.$Properties;

/** A signed 64-bit protobuf integer as a BigInt (its bits, whatever Long's `unsigned` flag says). */
export function int64Of(v: Long | number | null | undefined): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  return BigInt.asIntN(64, (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0));
}

/** An unsigned 64-bit protobuf integer (fixed64 timestamps) as a BigInt. */
export function uint64Of(v: Long | number | null | undefined): bigint {
  return BigInt.asUintN(64, int64Of(v));
}

/** Go's float formatting for text (ES number-to-string, which pcommon mimics); NaN and infinities as Go's %g. */
export function floatText(f: number): string {
  if (Number.isNaN(f)) return 'NaN';
  if (f === Infinity) return '+Inf';
  if (f === -Infinity) return '-Inf';
  return String(f);
}

/** The attribute as `pcommon.Value.AsString` renders it: the text of tags (meta). */
export function asString(v: AnyValue | null | undefined): string {
  if (v === null || v === undefined) return '';
  switch (v.value) {
    case 'stringValue':
      return v.stringValue ?? '';
    case 'boolValue':
      return v.boolValue ? 'true' : 'false';
    case 'intValue':
      return int64Of(v.intValue).toString();
    case 'doubleValue':
      return floatText(v.doubleValue ?? 0);
    case 'bytesValue':
      return base64(v.bytesValue);
    case 'arrayValue':
    case 'kvlistValue':
      return rawJson(v) ?? '';
    default:
      return '';
  }
}

/**
 * The JSON of the attribute's raw value (Go's `json.Marshal(v.AsRaw())`), or null where Go's
 * encoder fails (a NaN or infinite double).
 */
export function rawJson(v: AnyValue | null | undefined): string | null {
  if (v === null || v === undefined) return 'null';
  switch (v.value) {
    case 'stringValue':
      return goJsonString(v.stringValue ?? '');
    case 'boolValue':
      return v.boolValue ? 'true' : 'false';
    case 'intValue':
      return int64Of(v.intValue).toString();
    case 'doubleValue': {
      const d = v.doubleValue ?? 0;
      return Number.isFinite(d) ? JSON.stringify(d) : null;
    }
    case 'bytesValue':
      return goJsonString(base64(v.bytesValue));
    case 'arrayValue': {
      const parts: string[] = [];
      for (const item of v.arrayValue?.values ?? []) {
        const j = rawJson(item);
        if (j === null) return null;
        parts.push(j);
      }
      return `[${parts.join(',')}]`;
    }
    case 'kvlistValue': {
      // Go's map: one value per key (the last one), keys in byte order.
      const byKey = new Map<string, AnyValue | null | undefined>();
      for (const kv of v.kvlistValue?.values ?? []) byKey.set(kv.key ?? '', kv.value);
      const parts: string[] = [];
      for (const k of [...byKey.keys()].sort(compareUtf8)) {
        const j = rawJson(byKey.get(k));
        if (j === null) return null;
        parts.push(`${goJsonString(k)}:${j}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      return 'null';
  }
}

/** A JSON string as Go's encoding/json writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped too. */
export function goJsonString(s: string): string {
  const j = JSON.stringify(s);
  return /[<>&\u2028\u2029]/.test(j) ? j.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : j;
}

function base64(bytes: Uint8Array | null | undefined): string {
  return bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') : '';
}

/** Go sorts map keys by bytes: UTF-8 order, which differs from UTF-16 order only around surrogates. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
