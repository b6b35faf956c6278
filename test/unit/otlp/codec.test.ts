import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestsToColumns } from '../../../src/otlp/to-columns.ts';
import { columnsToRequest } from '../../../src/otlp/from-columns.ts';
import { validateJsonRequest, validateProtobufRequest } from '../../../src/otlp/validate.ts';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { ExportTraceServiceRequest, encodeRequest, hex, richRequest, u64 } from '../../fixtures/otlp/requests.ts';
import { cellText } from '../../support/json-cells.ts';

function decode(bytes: Uint8Array): unknown {
  return ExportTraceServiceRequest.decode(bytes);
}

test('protobuf → validate → columns → protobuf round-trips every field', () => {
  const original = encodeRequest(richRequest());
  const v = validateProtobufRequest(original);
  assert.equal(v.payload, original, 'all spans valid: payload is the input bytes');
  assert.equal(v.accepted, 6);
  assert.equal(v.rejected, 0);
  const cols = requestsToColumns([v.payload]);
  assert.equal(cols.length, 6);
  const back = columnsToRequest(cols);
  assert.deepStrictEqual(decode(back), decode(original));
  // Byte-identical too: the rich request is in canonical field order with defaults omitted.
  assert.deepStrictEqual(Buffer.from(back), Buffer.from(original));
});

test('hot columns follow the schema semantics', () => {
  const cols = requestsToColumns([encodeRequest(richRequest())]);
  assert.equal(cols.trace_id[0], '0af7651916cd43dd8448eb211c80319c');
  assert.equal(cols.span_id[0], 'b7ad6b7169203331');
  assert.equal(cols.parent_span_id[0], null);
  assert.equal(cols.parent_span_id[1], 'b7ad6b7169203331');
  assert.equal(cols.status_code[0], 2);
  assert.equal(cols.status_message[0], 'it broke');
  assert.equal(cols.status_message[1], null);
  assert.equal(cols.duration[0], 100_000_000n);
  assert.equal(cols.timestamp[0], 1700000000123456n);
  assert.equal(cols.start_time_unix_nano[0], 1700000000123456789n);
  assert.equal(cols.service_name[0], 'checkout');
  assert.equal(cols.service_name[3], null, 'service.name that is not a string');
  assert.equal(cols.operation_name[1], '');
  assert.equal(cols.span_kind[0], 2);
  assert.equal(cols.flags[0], 0x301n);
  assert.equal(cols.trace_state[0], 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
  assert.equal(cols.trace_state[1], null);
  assert.equal(cols.dropped_attributes_count[0], 7);
  assert.equal(cols.dropped_events_count[0], 4);
  assert.equal(cols.dropped_links_count[0], 5);
  assert.equal(cols.resource_schema_url[0], 'https://opentelemetry.io/schemas/1.24.0');
  assert.equal(cols.resource_schema_url[3], null);
  assert.equal(cols.scope_schema_url[0], 'https://opentelemetry.io/schemas/1.21.0');
  assert.equal(cols.scope_schema_url[2], null);
  // uint64 max start (bit 63 set) and end 1: values are the two's complement bits, difference kept.
  assert.equal(cols.start_time_unix_nano[2], -1n);
  assert.equal(cols.duration[2], 2n);
  assert.equal(cols.duration[3], 1000n);
  assert.equal(cols.timestamp[3], 0n);
  // span_size: the encoded Span message's length.
  const spans = (ExportTraceServiceRequest.decode(encodeRequest(richRequest())).resourceSpans[0]!.scopeSpans![0]!.spans!);
  const { Span } = opentelemetry.proto.trace.v1;
  assert.equal(cols.span_size[0], Span.encode(spans[0]!).finish().length);
});

test('heavy columns hold canonical OTLP/JSON', () => {
  const cols = requestsToColumns([encodeRequest(richRequest())]);
  const attrs = JSON.parse(cellText(cols.attributes[0]!)) as { key?: string; value?: Record<string, unknown> }[];
  const byKey = new Map(attrs.map((a) => [a.key ?? '', a.value]));
  assert.deepEqual(byKey.get('int.min'), { intValue: '-9223372036854775808' });
  assert.deepEqual(byKey.get('dbl.nan'), { doubleValue: 'NaN' });
  assert.deepEqual(byKey.get('dbl.ninf'), { doubleValue: '-Infinity' });
  assert.ok(Object.is(byKey.get('dbl.nzero')!.doubleValue, -0));
  assert.deepEqual(byKey.get('bytes'), { bytesValue: 'AAH+/z4/' });
  assert.deepEqual(byKey.get('empty.any'), {});
  assert.equal(byKey.get('no.value'), undefined);
  assert.deepEqual(byKey.get('arr.empty'), { arrayValue: {} });
  assert.equal(
    cols.resource[0],
    '{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}},{"key":"host.cpus","value":{"intValue":"8"}}],' +
      '"droppedAttributesCount":3,"entityRefs":[{"schemaUrl":"https://e","type":"service","idKeys":["service.name"],"descriptionKeys":["a","b"]}]}',
  );
  assert.equal(cols.scope[0], '{"name":"io.opentelemetry.http","version":"1.2.3","attributes":[{"key":"s","value":{"boolValue":true}}],"droppedAttributesCount":1}');
  assert.equal(cols.scope[3], '{}');
  assert.equal(
    cellText(cols.events[0]!),
    '[{"timeUnixNano":"1700000000150000000","name":"exception","attributes":[{"key":"exception.type","value":{"stringValue":"Boom"}}],"droppedAttributesCount":2},{"name":"no time"},{}]',
  );
  assert.equal(
    cellText(cols.links[0]!),
    '[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","traceState":"a=b","attributes":[{"key":"l","value":{"intValue":"1"}}],"droppedAttributesCount":9,"flags":257},' +
      '{"traceId":"5b8efff798038103d269b633813fc60d","spanId":"eee19b7ec3c1b175"}]',
  );
  assert.equal(cellText(cols.events[1]!), '[]');
  assert.equal(cellText(cols.links[1]!), '[]');
  assert.equal(cellText(cols.attributes[1]!), '[]');
});

test('columnsToRequest selects rows and regroups them by resource and scope', () => {
  const cols = requestsToColumns([encodeRequest(richRequest()), encodeRequest(richRequest())]);
  assert.equal(cols.length, 12);
  // Rows 5 (resource 3) then 0 and 7 (resource 1, same scope, from two payloads), then 3.
  const bytes = columnsToRequest(cols, [5, 0, 7, 3]);
  const req = ExportTraceServiceRequest.decode(bytes);
  assert.equal(req.resourceSpans.length, 3);
  // The hand-written envelope around the encoded spans is what protobufjs writes for the same request.
  assert.deepStrictEqual(Buffer.from(bytes), Buffer.from(ExportTraceServiceRequest.encode(req).finish()));
  const [r3, r1, r2] = req.resourceSpans;
  assert.equal(r3!.scopeSpans!.length, 1);
  assert.deepEqual(r1!.scopeSpans!.map((s) => s.spans!.map((sp) => Buffer.from(sp.spanId!).toString('hex'))), [['b7ad6b7169203331', '00000000000000a1']]);
  assert.equal(r2!.scopeSpans![0]!.spans!.length, 1);
  assert.equal(Buffer.from(r2!.scopeSpans![0]!.spans![0]!.traceId!).toString('hex'), 'ffffffffffffffffffffffffffffffff');
  assert.equal(ExportTraceServiceRequest.decode(columnsToRequest(cols, [])).resourceSpans.length, 0);
});

/** The rich request in OTLP/JSON, as an SDK's JSON exporter would write it. */
function richRequestJson(): string {
  const cols = requestsToColumns([encodeRequest(richRequest())]);
  const rs: unknown[] = [];
  // Built by hand from the columns' canonical texts, with snake_case mixed in to test both spellings.
  const byResource = new Map<string, { resource: unknown; schemaUrl?: string; scopes: Map<string, { scope: unknown; schemaUrl?: string; spans: unknown[] }> }>();
  for (let i = 0; i < cols.length; i++) {
    const rKey = `${cols.resource_schema_url[i]}|${cols.resource[i]}`;
    let r = byResource.get(rKey);
    if (!r) {
      r = { resource: JSON.parse(cols.resource[i]!), scopes: new Map() };
      if (cols.resource_schema_url[i]) r.schemaUrl = cols.resource_schema_url[i]!;
      byResource.set(rKey, r);
    }
    const sKey = `${cols.scope_schema_url[i]}|${cols.scope[i]}`;
    let s = r.scopes.get(sKey);
    if (!s) {
      s = { scope: JSON.parse(cols.scope[i]!), spans: [] };
      if (cols.scope_schema_url[i]) s.schemaUrl = cols.scope_schema_url[i]!;
      r.scopes.set(sKey, s);
    }
    s.spans.push({
      traceId: cols.trace_id[i]!.toUpperCase(),
      span_id: cols.span_id[i],
      parentSpanId: cols.parent_span_id[i] ?? '',
      traceState: cols.trace_state[i] ?? undefined,
      name: cols.operation_name[i],
      kind: cols.span_kind[i] === 2 ? 'SPAN_KIND_SERVER' : cols.span_kind[i],
      startTimeUnixNano: BigInt.asUintN(64, cols.start_time_unix_nano[i]!).toString(),
      end_time_unix_nano: BigInt.asUintN(64, cols.end_time_unix_nano[i]!).toString(),
      attributes: JSON.parse(cellText(cols.attributes[i]!)) as unknown,
      droppedAttributesCount: cols.dropped_attributes_count[i],
      events: JSON.parse(cellText(cols.events[i]!)) as unknown,
      droppedEventsCount: cols.dropped_events_count[i],
      links: JSON.parse(cellText(cols.links[i]!)) as unknown,
      droppedLinksCount: cols.dropped_links_count[i],
      status: cols.status_code[i] || cols.status_message[i] ? { code: cols.status_code[i], message: cols.status_message[i] ?? undefined } : undefined,
      flags: Number(cols.flags[i]),
      someFutureField: { ignored: true },
    });
  }
  for (const r of byResource.values()) {
    rs.push({ resource: r.resource, schemaUrl: r.schemaUrl, scope_spans: [...r.scopes.values()] });
  }
  // JSON.stringify writes -0 as 0; a JSON sender can write -0, and it must survive.
  return JSON.stringify({ resourceSpans: rs }).replace('{"key":"dbl.nzero","value":{"doubleValue":0}}', '{"key":"dbl.nzero","value":{"doubleValue":-0}}');
}

test('an OTLP/JSON request gives the same columns as the equivalent protobuf', () => {
  const json = richRequestJson();
  const v = validateJsonRequest(json);
  assert.equal(v.accepted, 6);
  assert.equal(v.rejected, 0);
  assert.deepStrictEqual(requestsToColumns([v.payload]), requestsToColumns([encodeRequest(richRequest())]));
});

test('JSON accepts int64 as numbers and enum names, rejects values of the wrong type', () => {
  const body = (span: Record<string, unknown>): string => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] });
  const base = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' };
  const v = validateJsonRequest(body({ ...base, startTimeUnixNano: 1000, kind: 'SPAN_KIND_CLIENT', status: { code: 'STATUS_CODE_ERROR' } }));
  const cols = requestsToColumns([v.payload]);
  assert.equal(cols.start_time_unix_nano[0], 1000n);
  assert.equal(cols.span_kind[0], 3);
  assert.equal(cols.status_code[0], 2);
  assert.throws(() => validateJsonRequest(body({ ...base, traceId: 'zz' })), { code: 'TS_RECEIVER_INVALID_REQUEST' });
  assert.throws(() => validateJsonRequest(body({ ...base, name: 5 })), { code: 'TS_RECEIVER_INVALID_REQUEST' });
  assert.throws(() => validateJsonRequest(body({ ...base, startTimeUnixNano: '-5' })), { code: 'TS_RECEIVER_INVALID_REQUEST' });
  assert.throws(() => validateJsonRequest(body({ ...base, attributes: [{ key: 'a', value: { intValue: 'x' } }] })), { code: 'TS_RECEIVER_INVALID_REQUEST' });
  assert.throws(() => validateJsonRequest(body({ ...base, attributes: [{ key: 'a', value: { intValue: '1', stringValue: 'x' } }] })), { code: 'TS_RECEIVER_INVALID_REQUEST' });
  assert.throws(() => validateJsonRequest('{"resourceSpans":'), { code: 'TS_RECEIVER_INVALID_REQUEST' });
  assert.throws(() => validateJsonRequest('[]'), { code: 'TS_RECEIVER_INVALID_REQUEST' });
});

test('spans with unusable ids are cut out and counted; the rest is kept intact', () => {
  const good = { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203331'), name: 'ok', startTimeUnixNano: u64('5') };
  const req = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'a' } }] },
        scopeSpans: [
          { scope: { name: 's1' }, spans: [good, { ...good, traceId: hex('00000000000000000000000000000000') }, { ...good, name: 'ok2' }] },
          { scope: { name: 's2' }, spans: [{ ...good, spanId: hex('b7ad6b71') }] },
        ],
        schemaUrl: 'https://x',
      },
      { scopeSpans: [{ spans: [{ ...good, parentSpanId: hex('01') }, { ...good, spanId: undefined }] }] },
      { scopeSpans: [{ spans: [{ ...good, name: 'ok3' }] }] },
    ],
  };
  const v = validateProtobufRequest(encodeRequest(req));
  assert.equal(v.accepted, 3);
  assert.equal(v.rejected, 4);
  assert.match(v.rejectionMessage, /4 invalid span/);
  assert.match(v.rejectionMessage, /trace_id/);
  assert.match(v.rejectionMessage, /span_id/);
  assert.match(v.rejectionMessage, /parent_span_id/);
  const out = ExportTraceServiceRequest.decode(v.payload);
  assert.equal(out.resourceSpans.length, 2, 'the resource left without spans is dropped');
  assert.equal(out.resourceSpans[0]!.schemaUrl, 'https://x');
  assert.equal(out.resourceSpans[0]!.scopeSpans!.length, 1);
  assert.deepEqual(out.resourceSpans[0]!.scopeSpans![0]!.spans!.map((s) => s.name), ['ok', 'ok2']);
  assert.deepEqual(out.resourceSpans[1]!.scopeSpans![0]!.spans!.map((s) => s.name), ['ok3']);
  assert.deepEqual(requestsToColumns([v.payload]).operation_name, ['ok', 'ok2', 'ok3']);
});

test('a request with no spans is valid', () => {
  const v = validateProtobufRequest(new Uint8Array(0));
  assert.deepEqual([v.accepted, v.rejected], [0, 0]);
  assert.equal(validateJsonRequest('{}').accepted, 0);
  assert.equal(requestsToColumns([new Uint8Array(0)]).length, 0);
});

test('JSON text escapes like JSON.stringify and does not depend on wire field order', () => {
  const tricky = 'ctl\u0000\u0001\u001f tab\t nl\n cr\r bs\b ff\f quote" backslash\\ slash/ ü 日本 😀 \u2028';
  const base = encodeRequest({
    resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203331'), attributes: [{ key: tricky, value: { stringValue: tricky } }] }] }] }],
  });
  const cols = requestsToColumns([base]);
  assert.equal(cellText(cols.attributes[0]!), `[{"key":${JSON.stringify(tricky)},"value":{"stringValue":${JSON.stringify(tricky)}}}]`);
  // A KeyValue with value before key, and an AnyValue sent twice (last member wins).
  const kv = Buffer.from([0x12, 0x05, 0x0a, 0x01, 0x61, 0x18, 0x07, 0x0a, 0x01, 0x6b]);
  const span = Buffer.concat([Buffer.from([0x0a, 16]), Buffer.alloc(16, 1), Buffer.from([0x12, 8]), Buffer.alloc(8, 2), Buffer.from([0x4a, kv.length]), kv]);
  const req = Buffer.concat([Buffer.from([0x0a, span.length + 4, 0x12, span.length + 2, 0x12, span.length]), span]);
  const c2 = requestsToColumns([validateProtobufRequest(req).payload]);
  assert.equal(cellText(c2.attributes[0]!), '[{"key":"k","value":{"intValue":"7"}}]');
});

test('spans with the same attributes share one cell; attributes split by other fields are all in theirs', () => {
  const field = (tag: number, body: Buffer): Buffer => {
    const len: number[] = [];
    for (let n = body.length; ; n >>>= 7) {
      if (n < 0x80) {
        len.push(n);
        break;
      }
      len.push((n & 0x7f) | 0x80);
    }
    return Buffer.concat([Buffer.from([tag, ...len]), body]);
  };
  const attr = (k: string, v: Buffer | string): Buffer => field(0x4a, Buffer.concat([field(0x0a, Buffer.from(k)), field(0x12, field(0x0a, Buffer.from(v)))]));
  const ids = (n: number): Buffer => Buffer.concat([field(0x0a, Buffer.alloc(16, 1)), field(0x12, Buffer.alloc(8, n))]);
  const name = field(0x2a, Buffer.from('n'));
  const request = (spans: Buffer[]): Buffer => field(0x0a, field(0x12, Buffer.concat(spans.map((sp) => field(0x12, sp)))));
  const req = request([
    Buffer.concat([ids(1), attr('a', 'x'), attr('b', 'y')]),
    Buffer.concat([ids(2), attr('a', 'x'), attr('b', 'y'), name]),
    Buffer.concat([ids(3), attr('a', 'x'), name, attr('b', 'z')]), // split: both attributes, not a's cell alone
    Buffer.concat([ids(4), attr('a', 'x')]),
    Buffer.concat([ids(5), attr('a', 'x'), attr('b', 'Y')]),
  ]);
  const cols = requestsToColumns([validateProtobufRequest(req).payload]);
  const ab = '[{"key":"a","value":{"stringValue":"x"}},{"key":"b","value":{"stringValue":"y"}}]';
  assert.deepEqual(Array.from(cols.attributes, cellText), [
    ab,
    ab,
    '[{"key":"a","value":{"stringValue":"x"}},{"key":"b","value":{"stringValue":"z"}}]',
    '[{"key":"a","value":{"stringValue":"x"}}]',
    '[{"key":"a","value":{"stringValue":"x"}},{"key":"b","value":{"stringValue":"Y"}}]',
  ]);
  assert.equal(cols.attributes[1], cols.attributes[0], 'the same bytes give the same cell');
  // Invalid UTF-8 is refused on every span that holds it, not only the first.
  const bad = request([Buffer.concat([ids(9), attr('a', Buffer.from([0xff]))])]);
  for (let k = 0; k < 2; k++) assert.throws(() => requestsToColumns([bad]), /UTF-8/);
});

test('a corrupt payload throws, or with onCorrupt is left out whole while the others decode', () => {
  const good = encodeRequest(richRequest());
  const one = requestsToColumns([good]);
  // Valid spans first, then bytes that are not protobuf: the spans before the damage must not stay.
  const damaged = new Uint8Array([...good, 0x7b, 0x22, 0x72]);
  assert.throws(() => requestsToColumns([good, damaged]), (e: unknown) => (e as { code?: string }).code === 'TS_OTLP_CORRUPT_PAYLOAD');
  const corrupt: number[] = [];
  const cols = requestsToColumns([good, damaged, good], (i, err) => {
    assert.equal(err.code, 'TS_OTLP_CORRUPT_PAYLOAD');
    corrupt.push(i);
  });
  assert.deepEqual(corrupt, [1]);
  assert.equal(cols.length, 2 * one.length);
  const twice = <T>(a: ArrayLike<T>) => [...Array.from(a), ...Array.from(a)];
  assert.deepEqual(Array.from(cols.span_id), twice(one.span_id));
  assert.deepEqual(Array.from(cols.status_code), twice(one.status_code));
});

test('int64 columns as any array-like of bigint encode as the typed ones do', () => {
  const cols = requestsToColumns([encodeRequest(richRequest())]);
  const typed = Buffer.from(columnsToRequest(cols));
  const plain = {
    ...cols,
    start_time_unix_nano: Array.from(cols.start_time_unix_nano),
    end_time_unix_nano: Array.from(cols.end_time_unix_nano),
    flags: Array.from(cols.flags),
  };
  assert.deepStrictEqual(Buffer.from(columnsToRequest(plain)), typed);
  // A view into a larger buffer (as a reader's subarray) too.
  const wide = new BigInt64Array(cols.length + 3);
  wide.set(cols.start_time_unix_nano, 3);
  assert.deepStrictEqual(Buffer.from(columnsToRequest({ ...cols, start_time_unix_nano: wide.subarray(3) })), typed);
});

test('a payload of many tiny spans outgrows the index sized from its bytes, and every span is decoded in order', () => {
  const spans = Array.from({ length: 1000 }, (_, i) => ({ traceId: Buffer.alloc(16, (i % 250) + 1), spanId: Buffer.alloc(8, 1), name: `s${i}` }));
  const cols = requestsToColumns([encodeRequest({ resourceSpans: [{ scopeSpans: [{ spans }] }] })]);
  assert.equal(cols.length, 1000);
  assert.equal(cols.operation_name[999], 's999');
  assert.equal(cols.trace_id[999], 'fa'.repeat(16));
});
