/**
 * Test traces described once and encoded two independent ways: protobuf through the generated
 * protobufjs classes, and OTLP/JSON by hand per the OTLP spec. Neither goes through the code under
 * test, so a codec bug cannot hide by being on both sides of a comparison.
 */
import { randomBytes } from 'node:crypto';
import Long from 'long';
import { opentelemetry } from '../../src/otlp/gen/otlp.js';

export type TestValue =
  | { s: string }
  | { b: boolean }
  | { i: bigint }
  | { d: number }
  | { bytes: Uint8Array }
  | { arr: TestValue[] }
  | { kv: [string, TestValue][] };

export interface TestSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: [string, TestValue][];
  status?: { code: number; message?: string };
  traceState?: string;
  flags?: number;
  events?: { timeNs: bigint; name: string; attributes: [string, TestValue][] }[];
  links?: { traceId: string; spanId: string; traceState?: string; attributes: [string, TestValue][] }[];
}

export interface TestResource {
  service: string;
  extra?: [string, TestValue][];
  schemaUrl?: string;
  scope: { name: string; version?: string };
  spans: TestSpan[];
}

export const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

// ---- protobuf (generated classes) ----
function pbValue(v: TestValue): object {
  if ('s' in v) return { stringValue: v.s };
  if ('b' in v) return { boolValue: v.b };
  if ('i' in v) return { intValue: Long.fromString(v.i.toString(), false) };
  if ('d' in v) return { doubleValue: v.d };
  if ('bytes' in v) return { bytesValue: v.bytes };
  if ('arr' in v) return { arrayValue: { values: v.arr.map(pbValue) } };
  return { kvlistValue: { values: v.kv.map(([k, x]) => ({ key: k, value: pbValue(x) })) } };
}
const pbAttrs = (a: [string, TestValue][]) => a.map(([key, v]) => ({ key, value: pbValue(v) }));
const ns = (n: bigint) => Long.fromString(n.toString(), true);

export function toProtobuf(resources: TestResource[]): Uint8Array {
  return opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest.encode({
    resourceSpans: resources.map((r) => ({
      resource: { attributes: pbAttrs([['service.name', { s: r.service }], ...(r.extra ?? [])]) },
      schemaUrl: r.schemaUrl ?? '',
      scopeSpans: [
        {
          scope: { name: r.scope.name, version: r.scope.version ?? '' },
          spans: r.spans.map((s) => ({
            traceId: Buffer.from(s.traceId, 'hex'),
            spanId: Buffer.from(s.spanId, 'hex'),
            parentSpanId: s.parentSpanId ? Buffer.from(s.parentSpanId, 'hex') : Buffer.alloc(0),
            name: s.name,
            kind: s.kind,
            startTimeUnixNano: ns(s.startNs),
            endTimeUnixNano: ns(s.endNs),
            attributes: pbAttrs(s.attributes),
            status: s.status ?? {},
            traceState: s.traceState ?? '',
            flags: s.flags ?? 0,
            events: (s.events ?? []).map((e) => ({ timeUnixNano: ns(e.timeNs), name: e.name, attributes: pbAttrs(e.attributes) })),
            links: (s.links ?? []).map((l) => ({
              traceId: Buffer.from(l.traceId, 'hex'),
              spanId: Buffer.from(l.spanId, 'hex'),
              traceState: l.traceState ?? '',
              attributes: pbAttrs(l.attributes),
            })),
          })),
        },
      ],
    })),
  }).finish();
}

// ---- OTLP/JSON (by hand, per the spec) ----
function jsonValue(v: TestValue): object {
  if ('s' in v) return { stringValue: v.s };
  if ('b' in v) return { boolValue: v.b };
  if ('i' in v) return { intValue: v.i.toString() };
  if ('d' in v) return { doubleValue: v.d };
  if ('bytes' in v) return { bytesValue: Buffer.from(v.bytes).toString('base64') };
  if ('arr' in v) return { arrayValue: { values: v.arr.map(jsonValue) } };
  return { kvlistValue: { values: v.kv.map(([k, x]) => ({ key: k, value: jsonValue(x) })) } };
}
const jsonAttrs = (a: [string, TestValue][]) => a.map(([key, v]) => ({ key, value: jsonValue(v) }));

export function jsonSpan(s: TestSpan): Record<string, unknown> {
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    parentSpanId: s.parentSpanId ?? '',
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: s.startNs.toString(),
    endTimeUnixNano: s.endNs.toString(),
    attributes: jsonAttrs(s.attributes),
    status: s.status ?? {},
    traceState: s.traceState ?? '',
    flags: s.flags ?? 0,
    events: (s.events ?? []).map((e) => ({ timeUnixNano: e.timeNs.toString(), name: e.name, attributes: jsonAttrs(e.attributes) })),
    links: (s.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId, traceState: l.traceState ?? '', attributes: jsonAttrs(l.attributes) })),
  };
}

export function toJson(resources: TestResource[]): string {
  return JSON.stringify({
    resourceSpans: resources.map((r) => ({
      resource: { attributes: jsonAttrs([['service.name', { s: r.service }], ...(r.extra ?? [])]) },
      schemaUrl: r.schemaUrl ?? '',
      scopeSpans: [{ scope: { name: r.scope.name, version: r.scope.version ?? '' }, spans: r.spans.map(jsonSpan) }],
    })),
  });
}

/**
 * Canonical form for comparing OTLP/JSON from different writers: drops fields holding their proto3
 * default ("", 0, "0", {}) outside AnyValues, where a false or 0 is data, and empty repeated fields
 * anywhere; it makes numbers that
 * JSON writers may quote or not (int64 as string, kind/code as number) uniform.
 */
export function canonical(x: unknown, inValue = false): unknown {
  if (Array.isArray(x)) return x.map((v) => canonical(v, inValue));
  if (x !== null && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(x).sort()) {
      const v = canonical((x as Record<string, unknown>)[key], inValue || key === 'value' || key === 'values');
      // An empty repeated field is absent in any writer's output; other defaults only outside AnyValues.
      if (Array.isArray(v) && v.length === 0) continue;
      if (!inValue && (v === '' || v === 0 || v === '0' || (typeof v === 'object' && v !== null && Object.keys(v).length === 0))) continue;
      out[key] = v;
    }
    return out;
  }
  if (typeof x === 'string' && !inValue && /^-?\d+$/.test(x)) return x === '0' ? 0 : x;
  return x;
}

/** A trace of `n` spans: a root and children, the given attributes on the root. */
export function makeTrace(opts: { n: number; startMs: number; durationMs: number; error?: boolean; traceState?: string; rich?: boolean }): TestSpan[] {
  const traceId = hex(16);
  const root = hex(8);
  const start = BigInt(opts.startMs) * 1_000_000n;
  const spans: TestSpan[] = [];
  for (let i = 0; i < opts.n; i++) {
    const isRoot = i === 0;
    const s0 = start + BigInt(i) * 1_000n;
    const span: TestSpan = {
      traceId,
      spanId: isRoot ? root : hex(8),
      name: isRoot ? 'GET /checkout' : `child-${i}`,
      kind: isRoot ? 2 : 3,
      startNs: s0,
      endNs: isRoot ? start + BigInt(opts.durationMs) * 1_000_000n : s0 + 500_000n,
      attributes: [
        ['http.request.method', { s: 'GET' }],
        ['http.response.status_code', { i: opts.error && isRoot ? 500n : 200n }],
        ['sampled.ratio', { d: 0.25 }],
      ],
      flags: 0x101,
    };
    if (!isRoot) span.parentSpanId = root;
    if (opts.traceState) span.traceState = opts.traceState;
    if (opts.error && i === opts.n - 1) span.status = { code: 2, message: 'boom' };
    if (opts.rich && isRoot) {
      span.attributes.push(
        ['big.int', { i: -9_223_372_036_854_775_808n }],
        ['max.int', { i: 9_223_372_036_854_775_807n }],
        ['flag', { b: false }],
        ['blob', { bytes: new Uint8Array([0, 1, 2, 255]) }],
        ['list', { arr: [{ s: 'a' }, { i: 1n }, { d: -1.5 }, { arr: [] }] }],
        ['map', { kv: [['nested', { kv: [['deep', { b: true }]] }], ['empty', { s: '' }]] }],
        ['tiny', { d: 5e-324 }],
      );
      span.events = [{ timeNs: s0 + 10n, name: 'exception', attributes: [['exception.type', { s: 'IOError' }]] }];
      span.links = [{ traceId: hex(16), spanId: hex(8), traceState: 'vendor=x', attributes: [['link.kind', { s: 'follows' }]] }];
    }
    spans.push(span);
  }
  return spans;
}
