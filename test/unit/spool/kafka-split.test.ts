import assert from 'node:assert/strict';
import { test } from 'node:test';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { KafkaRecordTooLargeError, KafkaSpoolError } from '../../../src/spool/kafka/errors.ts';
import { isTooLargeError } from '../../../src/errors.ts';
import { partitionForKey } from '../../../src/spool/kafka/partitioner.ts';
import { splitByTrace } from '../../../src/spool/kafka/split.ts';
import { ExportTraceServiceRequest, hex, u64 } from '../../fixtures/otlp/requests.ts';

const TracesData = opentelemetry.proto.trace.v1.TracesData;
const Span = opentelemetry.proto.trace.v1.Span;
type SpanProps = opentelemetry.proto.trace.v1.Span.$Properties;
type ResourceProps = opentelemetry.proto.resource.v1.Resource.$Properties;
type ScopeProps = opentelemetry.proto.common.v1.InstrumentationScope.$Properties;
/** A decoded TracesData: repeated fields are always arrays, as protobufjs decodes them. */
interface Decoded {
  resourceSpans: { resource: ResourceProps; schemaUrl: string; scopeSpans: { scope: ScopeProps; schemaUrl: string; spans: (SpanProps & { traceId: Uint8Array; name: string })[] }[] }[];
}
const decode = (b: Uint8Array): Decoded => TracesData.decode(b) as unknown as Decoded;

const T1 = '0af7651916cd43dd8448eb211c80319c';
const T2 = '4bf92f3577b34da6a3ce929d0e0e4736';
const T3 = 'ffffffffffffffff0000000000000001';

let spanCounter = 0;
function span(trace: string, name: string, extra: Partial<SpanProps> = {}): SpanProps {
  spanCounter++;
  return { traceId: hex(trace), spanId: hex(spanCounter.toString(16).padStart(16, '0')), name, kind: 2, ...extra };
}

const resA = { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }], droppedAttributesCount: 3 };
const resB = { attributes: [{ key: 'service.name', value: { stringValue: 'payments' } }] };
const scopeA1 = { name: 'io.opentelemetry.http', version: '1.2.3' };
const scopeA2 = { name: 'io.opentelemetry.db', attributes: [{ key: 'db', value: { stringValue: 'pg' } }] };
const scopeB1 = { name: 'io.opentelemetry.grpc' };

/** Three traces interleaved over two resources and three scopes. */
function mixedRequest() {
  const s = {
    t1a: span(T1, 't1-a', { attributes: [{ key: 'http.route', value: { stringValue: '/cart' } }] }),
    t2a: span(T2, 't2-a'),
    t1b: span(T1, 't1-b', { status: { code: 2, message: 'boom' } }),
    t3a: span(T3, 't3-a'),
    t1c: span(T1, 't1-c'),
    t2b: span(T2, 't2-b', { events: [{ name: 'retry', timeUnixNano: u64('5') }] }),
    t3b: span(T3, 't3-b'),
    t1d: span(T1, 't1-d'),
  };
  const request = {
    resourceSpans: [
      {
        resource: resA,
        schemaUrl: 'https://opentelemetry.io/schemas/1.30.0',
        scopeSpans: [
          { scope: scopeA1, schemaUrl: 'https://scope/a1', spans: [s.t1a, s.t2a, s.t1b] },
          { scope: scopeA2, spans: [s.t3a, s.t1c] },
        ],
      },
      { resource: resB, scopeSpans: [{ scope: scopeB1, spans: [s.t2b, s.t3b, s.t1d] }] },
    ],
  };
  return { request, s };
}

const Resource = opentelemetry.proto.resource.v1.Resource;
const Scope = opentelemetry.proto.common.v1.InstrumentationScope;
const resourceBytes = (r: ResourceProps | null | undefined) => Buffer.from(Resource.encode(r ?? {}).finish()).toString('hex');
const scopeBytes = (r: ScopeProps | null | undefined) => Buffer.from(Scope.encode(r ?? {}).finish()).toString('hex');

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

const spanBytes = (s: SpanProps) => Buffer.from(Span.encode(s).finish()).toString('hex');

test('spans of 3 traces across 2 resources and 3 scopes become 3 messages, one trace each, resources and scopes kept', () => {
  const { request, s } = mixedRequest();
  const messages = splitByTrace(ExportTraceServiceRequest.encode(request).finish(), 1_000_000);

  assert.deepEqual(messages.map((m) => m.key), [T1, T2, T3], 'one message per trace, keyed by lowercase hex trace id, in order of first span');
  assert.deepEqual(messages.map((m) => m.spans), [4, 2, 2]);

  const decoded = messages.map((m) => decode(m.value));
  for (const [i, d] of decoded.entries()) {
    for (const rs of d.resourceSpans) {
      for (const ss of rs.scopeSpans) {
        for (const sp of ss.spans) assert.equal(Buffer.from(sp.traceId).toString('hex'), messages[i]!.key, 'only its own trace');
      }
    }
  }

  // T1: resource A with both scopes, then resource B; each container exactly as sent, spans in order.
  const t1 = decoded[0]!;
  assert.equal(t1.resourceSpans.length, 2);
  const [rsA, rsB] = t1.resourceSpans;
  assert.equal(resourceBytes(rsA!.resource), resourceBytes(resA));
  assert.equal(rsA!.schemaUrl, 'https://opentelemetry.io/schemas/1.30.0');
  assert.equal(rsA!.scopeSpans.length, 2);
  assert.equal(scopeBytes(rsA!.scopeSpans[0]!.scope), scopeBytes(scopeA1));
  assert.equal(rsA!.scopeSpans[0]!.schemaUrl, 'https://scope/a1');
  assert.deepEqual(rsA!.scopeSpans[0]!.spans.map((x) => spanBytes(x)), [spanBytes(s.t1a), spanBytes(s.t1b)]);
  assert.equal(scopeBytes(rsA!.scopeSpans[1]!.scope), scopeBytes(scopeA2));
  assert.deepEqual(rsA!.scopeSpans[1]!.spans.map((x) => spanBytes(x)), [spanBytes(s.t1c)]);
  assert.equal(resourceBytes(rsB!.resource), resourceBytes(resB));
  assert.deepEqual(rsB!.scopeSpans.map((x) => x.spans.map((y) => spanBytes(y))), [[spanBytes(s.t1d)]]);

  // T2: one span under A/A1, one under B/B1.
  const t2 = decoded[1]!;
  assert.deepEqual(
    t2.resourceSpans.map((rs) => [rs.resource.attributes![0]!.value!.stringValue, rs.scopeSpans.map((ss) => [ss.scope.name, ss.spans.map((x) => x.name)])]),
    [['checkout', [['io.opentelemetry.http', ['t2-a']]]], ['payments', [['io.opentelemetry.grpc', ['t2-b']]]]],
  );
  assert.deepEqual(t2.resourceSpans[1]!.scopeSpans[0]!.spans.map((x) => spanBytes(x)), [spanBytes(s.t2b)]);

  // T3: A/A2 then B/B1.
  assert.deepEqual(
    decoded[2]!.resourceSpans.map((rs) => rs.scopeSpans.map((ss) => [ss.scope.name, ss.spans.map((x) => x.name)])),
    [[['io.opentelemetry.db', ['t3-a']]], [['io.opentelemetry.grpc', ['t3-b']]]],
  );
});

test('fields our generated code does not know are carried byte for byte', () => {
  const request = { resourceSpans: [{ resource: resA, scopeSpans: [{ scope: scopeA1, spans: [span(T1, 'x'), span(T2, 'y')] }] }] };
  // The request's only field: ResourceSpans (tag 0x0a, length, content). Append unknown field 99 (varint 7) to it.
  const rs = opentelemetry.proto.trace.v1.ResourceSpans.encode(request.resourceSpans[0]!).finish();
  const unknown = Buffer.from([0x98, 0x06, 0x07]); // tag (99 << 3 | 0) as varint, value 7
  const patched = Buffer.concat([Buffer.from([0x0a]), varint(rs.length + unknown.length), rs, unknown]);
  const messages = splitByTrace(patched, 1_000_000);
  assert.equal(messages.length, 2);
  for (const m of messages) assert.ok(m.value.includes(unknown), 'unknown ResourceSpans field kept in every message');
});

test('a trace bigger than max bytes is cut into several messages of whole spans, same key, nothing lost', () => {
  const big = Array.from({ length: 40 }, (_, i) => span(T1, `s${i}`, { attributes: [{ key: 'pad', value: { stringValue: 'x'.repeat(900) } }] }));
  const request = {
    resourceSpans: [
      { resource: resA, scopeSpans: [{ scope: scopeA1, spans: big.slice(0, 25) }, { scope: scopeA2, spans: [span(T2, 'other')] }] },
      { resource: resB, scopeSpans: [{ scope: scopeB1, spans: big.slice(25) }] },
    ],
  };
  const max = 8_000;
  const messages = splitByTrace(ExportTraceServiceRequest.encode(request).finish(), max);
  const t1 = messages.filter((m) => m.key === T1);
  assert.ok(t1.length >= 5, `expected the 40 KB trace in several messages, got ${t1.length}`);
  for (const m of t1) assert.ok(m.value.length <= max, `message of ${m.value.length} bytes exceeds ${max}`);
  const names: string[] = [];
  for (const m of t1) {
    for (const rs of decode(m.value).resourceSpans) {
      assert.ok(rs.resource.attributes!.length > 0, 'every piece keeps its resource');
      for (const ss of rs.scopeSpans) for (const sp of ss.spans) names.push(sp.name);
    }
  }
  assert.deepEqual(names, big.map((b) => b.name));
  assert.deepEqual(messages.filter((m) => m.key === T2).map((m) => m.spans), [1]);
});

test('a span that does not fit one message even alone is refused as too large, not handed to Kafka', () => {
  const huge = span(T1, 'huge', { attributes: [{ key: 'pad', value: { stringValue: 'x'.repeat(9_000) } }] });
  const request = { resourceSpans: [{ resource: resA, scopeSpans: [{ scope: scopeA1, spans: [span(T2, 'small'), huge] }] }] };
  assert.throws(
    () => splitByTrace(ExportTraceServiceRequest.encode(request).finish(), 8_000),
    (e: unknown) =>
      e instanceof KafkaRecordTooLargeError &&
      e.code === 'TS_SPOOL_KAFKA_RECORD_TOO_LARGE' &&
      isTooLargeError(e) &&
      !e.retryable &&
      e.max === 8_000 &&
      e.bytes > 9_000 &&
      e.message.includes(T1),
  );
  // With room for it, the same request splits as usual.
  assert.deepEqual(splitByTrace(ExportTraceServiceRequest.encode(request).finish(), 10_000).map((m) => m.spans), [1, 1]);
});

test('an empty request gives no message; bytes that are not OTLP are a typed error', () => {
  assert.deepEqual(splitByTrace(new Uint8Array(0), 1000), []);
  assert.deepEqual(splitByTrace(ExportTraceServiceRequest.encode({ resourceSpans: [{ resource: resA, scopeSpans: [{ scope: scopeA1 }] }] }).finish(), 1000), []);
  assert.throws(
    () => splitByTrace(Buffer.from([0x0a, 0x10, 0x12]), 1000),
    (e: unknown) => e instanceof KafkaSpoolError && e.code === 'TS_SPOOL_KAFKA' && !e.retryable,
  );
});

test('partitions match the Collector kafkaexporter (franz-go, Sarama-compatible FNV-1a)', () => {
  // Expected values printed by Go's hash/fnv with kgo.SaramaCompatHasher's arithmetic
  // (int32(fnv32a(key)) % n, negated when negative), the Collector's default partitioner.
  const golden: Record<string, number[]> = {
    '0af7651916cd43dd8448eb211c80319c': [0, 1, 11, 99],
    '4bf92f3577b34da6a3ce929d0e0e4736': [0, 0, 14, 10],
    '00000000000000000000000000000001': [0, 0, 14, 6],
    ffffffffffffffffffffffffffffffff: [0, 0, 11, 75],
    a: [0, 0, 4, 76],
    foobar: [0, 0, 8, 76],
  };
  for (const [key, expected] of Object.entries(golden)) {
    assert.deepEqual([1, 3, 16, 100].map((n) => partitionForKey(key, n)), expected, key);
  }
});
