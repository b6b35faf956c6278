/**
 * Span records: the Confluent framing byte for byte, the generated .proto against the span columns,
 * and encoded spans decoded by protobufjs from the generated text (an independent decoder) against
 * the spans the test sent.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { SPAN_COLUMNS } from '../../../../src/lake/span-schema.ts';
import { opentelemetry } from '../../../../src/otlp/gen/otlp.js';
import { KafkaRecordTooLargeError, KafkaSpoolError } from '../../../../src/spool/kafka/errors.ts';
import { CONFLUENT_HEADER_BYTES, SPAN_RECORD_MESSAGE, SPAN_RECORD_PROTO, confluentHeader, spanRecordEncoder } from '../../../../src/spool/kafka/span-record.ts';
import { ExportTraceServiceRequest, hex, u64 } from '../../../fixtures/otlp/requests.ts';
import { canonical, jsonSpan, makeTrace, toProtobuf, type TestSpan } from '../../../support/traces.ts';

const Span = opentelemetry.proto.trace.v1.Span;

/** What each span column type must be in the message (the contract AutoMQ's conversion relies on). */
const PROTO_TYPE: Record<string, string> = { string: 'string', int: 'int32', long: 'int64', timestamptz: 'google.protobuf.Timestamp' };

function spanRecordType(): protobuf.Type {
  const root = new protobuf.Root();
  root.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')!.nested!);
  const parsed = protobuf.parse(SPAN_RECORD_PROTO, root, { keepCase: true });
  assert.equal(parsed.package, 'tailsampler.v1');
  assert.deepEqual(parsed.imports, ['google/protobuf/timestamp.proto']);
  root.resolveAll();
  return root.lookupType(SPAN_RECORD_MESSAGE);
}
const SpanRecord = spanRecordType();

/** A record as plain values: int64 as decimal strings, absent fields absent. */
type Decoded = Record<string, unknown> & { timestamp?: { seconds?: string; nanos?: number } };

/** Checks the framing, decodes the SpanRecord, and checks our bytes are what protobufjs writes for it. */
function decodeValue(value: Buffer, schemaId: number): Decoded {
  assert.deepEqual(value.subarray(0, CONFLUENT_HEADER_BYTES), confluentHeader(schemaId));
  const payload = value.subarray(CONFLUENT_HEADER_BYTES);
  const message = SpanRecord.decode(payload);
  assert.deepEqual(Buffer.from(SpanRecord.encode(message).finish()), payload, 'canonical proto3 encoding');
  return SpanRecord.toObject(message, { longs: String });
}

test('Confluent framing: magic byte, big-endian schema id, message index [0] as one 0x00', () => {
  assert.equal(CONFLUENT_HEADER_BYTES, 6);
  assert.deepEqual([...confluentHeader(1)], [0x00, 0x00, 0x00, 0x00, 0x01, 0x00]);
  assert.deepEqual([...confluentHeader(0x01020304)], [0x00, 0x01, 0x02, 0x03, 0x04, 0x00]);
  assert.deepEqual([...confluentHeader(100_000)], [0x00, 0x00, 0x01, 0x86, 0xa0, 0x00]);
  assert.deepEqual([...confluentHeader(0x7fffffff)], [0x00, 0x7f, 0xff, 0xff, 0xff, 0x00]);
  for (const bad of [0, -1, 1.5, 0x80000000, NaN]) assert.throws(() => confluentHeader(bad), RangeError, String(bad));
});

test('the generated .proto holds every primitive span column with its id, name and type', () => {
  const primitive = SPAN_COLUMNS.filter((c) => (c.type as string) in PROTO_TYPE);
  assert.ok(primitive.length >= 25);
  assert.equal(SpanRecord.fieldsArray.length, primitive.length);
  for (const c of SPAN_COLUMNS) {
    const field = SpanRecord.fields[c.name];
    const expected = PROTO_TYPE[c.type as string];
    if (expected === undefined) {
      assert.equal(field, undefined, `${c.name}: a struct column is not part of the message`);
      continue;
    }
    assert.ok(field, `${c.name} missing`);
    assert.equal(field.id, c.id, c.name);
    assert.equal(field.type, expected, c.name);
    assert.equal(field.repeated, false, c.name);
    if (c.type === 'timestamptz') assert.equal(field.resolvedType?.fullName, '.google.protobuf.Timestamp');
    // Nullable scalars are proto3 `optional` (→ nullable columns), the others plain (→ required).
    else assert.equal(field.options?.proto3_optional === true, !c.required, `${c.name} optional`);
  }
});

/** The record's Timestamp (absent seconds or nanos: 0) in microseconds; it must hold whole microseconds. */
function timestampMicros(r: Decoded): bigint {
  assert.ok(r.timestamp, 'timestamp present');
  const nanos = r.timestamp.nanos ?? 0;
  assert.ok(nanos >= 0 && nanos < 1e9 && nanos % 1000 === 0, String(nanos));
  return BigInt(r.timestamp.seconds ?? '0') * 1_000_000n + BigInt(nanos / 1000);
}

test('a request of several traces and resources → one message per span, keyed by trace id, with its values', () => {
  const checkout = [...makeTrace({ n: 3, startMs: 1_700_000_000_123, durationMs: 40, rich: true }), ...makeTrace({ n: 2, startMs: 1_700_000_001_000, durationMs: 5, error: true })];
  const payments = makeTrace({ n: 2, startMs: 1_700_000_002_000, durationMs: 7, traceState: 'vendor=a' });
  const resources = [
    { service: 'checkout', schemaUrl: 'https://opentelemetry.io/schemas/1.30.0', scope: { name: 'io.opentelemetry.http', version: '1.2.3' }, spans: checkout },
    { service: 'payments', scope: { name: 'io.opentelemetry.grpc' }, spans: payments },
  ];
  const payload = toProtobuf(resources);
  const sizes = new Map<string, number>();
  for (const rs of ExportTraceServiceRequest.decode(payload).resourceSpans) {
    for (const sp of rs.scopeSpans![0]!.spans!) sizes.set(Buffer.from(sp.spanId!).toString('hex'), Span.encode(sp).finish().length);
  }

  const messages = spanRecordEncoder(77)(payload, 1_000_000);
  const sent: { span: TestSpan; service: string; resource: (typeof resources)[number] }[] = resources.flatMap((r) => r.spans.map((span) => ({ span, service: r.service, resource: r })));
  assert.equal(messages.length, sent.length);
  for (let i = 0; i < sent.length; i++) {
    const { span: s, resource } = sent[i]!;
    const m = messages[i]!;
    assert.equal(m.key, s.traceId);
    assert.equal(m.spans, 1);
    const r = decodeValue(m.value, 77);
    const json = jsonSpan(s);
    assert.equal(r.trace_id, s.traceId);
    assert.equal(r.span_id, s.spanId);
    if (s.parentSpanId === undefined) assert.ok(!('parent_span_id' in r), 'root span: no parent');
    else assert.equal(r.parent_span_id, s.parentSpanId);
    assert.equal(r.operation_name, s.name);
    assert.equal(r.span_kind, s.kind);
    assert.equal(r.start_time_unix_nano, String(s.startNs));
    assert.equal(r.end_time_unix_nano, String(s.endNs));
    assert.equal(r.duration, String(s.endNs - s.startNs));
    assert.equal(timestampMicros(r), s.startNs / 1000n);
    assert.equal(r.status_code ?? 0, s.status?.code ?? 0);
    if (s.status?.message === undefined) assert.ok(!('status_message' in r));
    else assert.equal(r.status_message, s.status.message);
    if (s.traceState === undefined) assert.ok(!('trace_state' in r));
    else assert.equal(r.trace_state, s.traceState);
    assert.equal(r.flags, String(s.flags ?? 0));
    assert.equal(r.span_size, sizes.get(s.spanId));
    assert.equal(r.service_name, resource.service);
    if (resource.schemaUrl === undefined) assert.ok(!('resource_schema_url' in r));
    else assert.equal(r.resource_schema_url, resource.schemaUrl);
    assert.ok(!('scope_schema_url' in r));
    assert.deepEqual(canonical(JSON.parse(r.attributes as string)), canonical(json.attributes));
    assert.deepEqual(canonical(JSON.parse(r.events as string)), canonical(json.events));
    assert.deepEqual(canonical(JSON.parse(r.links as string)), canonical(json.links));
    assert.deepEqual(canonical(JSON.parse(r.scope as string)), canonical({ name: resource.scope.name, version: resource.scope.version ?? '' }));
    assert.deepEqual(
      canonical(JSON.parse(r.resource as string)),
      canonical({ attributes: [{ key: 'service.name', value: { stringValue: resource.service } }] }),
    );
  }
  assert.ok(messages.some((m) => decodeValue(m.value, 77).status_code === 2), 'an error span was checked');
  assert.ok(messages.some((m) => (JSON.parse(decodeValue(m.value, 77).links as string) as unknown[]).length > 0), 'a span with links was checked');
});

test('edge values: dropped counts, optional strings present, times at 0 and before 1970, negative status code', () => {
  const payload = ExportTraceServiceRequest.encode({
    resourceSpans: [
      {
        scopeSpans: [
          {
            schemaUrl: 'https://scope/1',
            spans: [
              {
                traceId: hex('0af7651916cd43dd8448eb211c80319c'),
                spanId: hex('00000000000000aa'),
                name: '',
                droppedAttributesCount: 3,
                droppedEventsCount: 4,
                droppedLinksCount: 300,
                status: { code: -5 as never, message: 'odd' },
                flags: 0xffffffff,
              },
              {
                traceId: hex('0af7651916cd43dd8448eb211c80319c'),
                spanId: hex('00000000000000bb'),
                name: 'before epoch',
                // -1.5 ms as an int64 (the uint64 field read as signed by the table's long/timestamp columns)
                startTimeUnixNano: u64((2n ** 64n - 1_500_000n).toString()),
                endTimeUnixNano: u64('1000'),
              },
            ],
          },
        ],
      },
    ],
  }).finish();
  const [a, b] = spanRecordEncoder(1)(payload, 10_000);
  const ra = decodeValue(a!.value, 1);
  assert.equal(ra.dropped_attributes_count, 3);
  assert.equal(ra.dropped_events_count, 4);
  assert.equal(ra.dropped_links_count, 300);
  assert.equal(ra.status_code, -5);
  assert.equal(ra.status_message, 'odd');
  assert.equal(ra.flags, '4294967295');
  assert.equal(ra.scope_schema_url, 'https://scope/1');
  assert.ok(!('service_name' in ra), 'no service.name: null');
  assert.ok(!('operation_name' in ra), 'empty name: the proto3 default');
  assert.deepEqual(ra.timestamp, {}, 'start 0: epoch, a present but empty Timestamp');
  const rb = decodeValue(b!.value, 1);
  assert.equal(rb.start_time_unix_nano, '-1500000');
  assert.equal(rb.duration, '1501000');
  assert.deepEqual(rb.timestamp, { seconds: '-1', nanos: 998_500_000 }, '-1500 µs');
  assert.equal(timestampMicros(rb), -1500n);
});

test('a span record larger than the message budget is refused with KafkaRecordTooLargeError', () => {
  const [span] = makeTrace({ n: 1, startMs: 1_700_000_000_000, durationMs: 1 });
  span!.attributes.push(['big', { s: 'x'.repeat(5000) }]);
  const payload = toProtobuf([{ service: 's', scope: { name: 'x' }, spans: [span!] }]);
  const encode = spanRecordEncoder(3);
  const size = encode(payload, 1_000_000)[0]!.value.length;
  assert.ok(size > 5000);
  assert.equal(encode(payload, size).length, 1, 'exactly the budget fits');
  assert.throws(
    () => encode(payload, size - 1),
    (e: unknown) =>
      e instanceof KafkaRecordTooLargeError &&
      e instanceof KafkaSpoolError &&
      e.code === 'TS_SPOOL_KAFKA_RECORD_TOO_LARGE' &&
      !e.retryable &&
      e.bytes === size &&
      e.max === size - 1 &&
      e.message.includes(span!.spanId) &&
      e.message.includes('max_message_bytes'),
  );
});

test('a payload that is not an ExportTraceServiceRequest is refused, not skipped', () => {
  const payload = toProtobuf([{ service: 's', scope: { name: 'x' }, spans: makeTrace({ n: 3, startMs: 1_700_000_000_000, durationMs: 1 }) }]);
  for (const bad of [payload.subarray(0, payload.length - 3), Buffer.from([0x0a, 0x05, 0x01])]) {
    assert.throws(
      () => spanRecordEncoder(3)(bad, 1_000_000),
      (e: unknown) => e instanceof KafkaSpoolError && e.code === 'TS_SPOOL_KAFKA' && /not a valid ExportTraceServiceRequest/.test(e.message),
    );
  }
  assert.deepEqual(spanRecordEncoder(3)(new Uint8Array(0), 1_000_000), [], 'an empty request has no spans');
});
