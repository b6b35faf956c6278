import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { requestsToColumns } from '../../../src/otlp/to-columns.ts';
import { validateJsonRequest, validateProtobufRequest } from '../../../src/otlp/validate.ts';
import { ExportTraceServiceRequest, encodeRequest, hex } from '../../fixtures/otlp/requests.ts';
import { BAD_UTF8, PLACEHOLDER, withInvalidUtf8 } from '../../fixtures/otlp/invalid-utf8.ts';
import { cellText } from '../../support/json-cells.ts';

type RequestProps = Parameters<typeof encodeRequest>[0];
type ResourceSpansProps = opentelemetry.proto.trace.v1.ResourceSpans.$Properties;
type SpanProps = opentelemetry.proto.trace.v1.Span.$Properties;

const T = '0af7651916cd43dd8448eb211c80319c';
let n = 0;
const span = (name: string, extra: SpanProps = {}): SpanProps => ({ traceId: hex(T), spanId: hex((++n).toString(16).padStart(16, '0')), name, ...extra });

/** One request: resource A (scope s1: good, bad, good), resource B (scope s2: good). `bad` gets the placeholder somewhere. */
function request(bad: SpanProps, resourceA: ResourceSpansProps = {}): RequestProps {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'a' } }] },
        ...resourceA,
        scopeSpans: [{ scope: { name: 's1' }, spans: [span('good-1'), bad, span('good-2')] }],
      },
      { resource: { attributes: [{ key: 'service.name', value: { stringValue: 'b' } }] }, scopeSpans: [{ scope: { name: 's2' }, spans: [span('good-3')] }] },
    ],
  };
}

const names = (payload: Uint8Array): string[] => Array.from(requestsToColumns([payload]).operation_name);

test('invalid UTF-8 in a span string → that span alone is rejected and named; nothing is rewritten', () => {
  const cases: [string, SpanProps][] = [
    ['span name', span(PLACEHOLDER)],
    ['span attributes', span('bad', { attributes: [{ key: PLACEHOLDER, value: { stringValue: 'v' } }] })],
    ['span attributes', span('bad', { attributes: [{ key: 'k', value: { stringValue: `x${PLACEHOLDER}y` } }] })],
    ['span attributes', span('bad', { attributes: [{ key: 'k', value: { arrayValue: { values: [{ kvlistValue: { values: [{ key: 'deep', value: { stringValue: PLACEHOLDER } }] } }] } } }] })],
    ['span events', span('bad', { events: [{ name: PLACEHOLDER }] })],
    ['span links', span('bad', { links: [{ traceId: hex(T), spanId: hex('0102030405060708'), traceState: PLACEHOLDER }] })],
    ['span status message', span('bad', { status: { code: 2, message: PLACEHOLDER } })],
    ['span trace_state', span('bad', { traceState: PLACEHOLDER })],
  ];
  for (const [where, bad] of cases) {
    for (const [kind, bytes] of Object.entries(BAD_UTF8)) {
      const payload = withInvalidUtf8(encodeRequest(request(bad)), bytes);
      const v = validateProtobufRequest(payload);
      assert.equal(v.rejected, 1, `${where} (${kind})`);
      assert.equal(v.accepted, 3);
      assert.equal(v.rejectionMessage, `1 invalid span(s) dropped: 1 × invalid UTF-8 in ${where}`);
      assert.deepEqual(names(v.payload), ['good-1', 'good-2', 'good-3']);
      assert.ok(!Buffer.from(v.payload).includes(Buffer.from(bytes)), 'the bad bytes are gone, not kept or rewritten');
      // The materializer never sees them: the payload decodes without a replacement character.
      assert.ok(!Array.from(requestsToColumns([v.payload]).attributes).some((a) => cellText(a).includes('\ufffd')));
    }
  }
});

test('spans with the same attributes: each with invalid UTF-8 is rejected, named as before (the first bad string on the wire)', () => {
  const attrs = (value: string) => [{ key: 'http.route', value: { stringValue: value } }, { key: 'n', value: { boolValue: true } }];
  const spans = [
    span('ok-1', { attributes: attrs('/a') }),
    span('ok-2', { attributes: attrs('/a') }), // the same bytes as ok-1
    span('bad-1', { attributes: attrs(`/${PLACEHOLDER}`) }),
    span('bad-2', { attributes: attrs(`/${PLACEHOLDER}`) }), // the same invalid bytes as bad-1
    span('bad-3', { attributes: attrs(`/${PLACEHOLDER}`), events: [{ name: PLACEHOLDER }] }), // events (11) after attributes (9)
    span('bad-4', { attributes: attrs(`/${PLACEHOLDER}`), traceState: PLACEHOLDER }), // trace_state (3) before them
  ];
  const v = validateProtobufRequest(withInvalidUtf8(encodeRequest({ resourceSpans: [{ scopeSpans: [{ spans }] }] }), BAD_UTF8.lone));
  assert.deepEqual(names(v.payload), ['ok-1', 'ok-2']);
  assert.equal(v.rejectionMessage, '4 invalid span(s) dropped: 3 × invalid UTF-8 in span attributes; 1 × invalid UTF-8 in span trace_state');
});

test('invalid UTF-8 in a resource or scope → every span under it is rejected, with its container', () => {
  const resourceAttr = { resource: { attributes: [{ key: 'service.name', value: { stringValue: PLACEHOLDER } }] } };
  const resourceEntity = { resource: { entityRefs: [{ type: 'service', idKeys: [PLACEHOLDER] }] } };
  const resourceSchema = { schemaUrl: `https://${PLACEHOLDER}` };
  for (const [extra, reason] of [
    [resourceAttr, 'invalid UTF-8 in resource'],
    [resourceEntity, 'invalid UTF-8 in resource'],
    [resourceSchema, 'invalid UTF-8 in resource schema_url'],
  ] as [ResourceSpansProps, string][]) {
    const v = validateProtobufRequest(withInvalidUtf8(encodeRequest(request(span('also-bad', { name: `n${PLACEHOLDER}` }), extra)), BAD_UTF8.lone));
    assert.equal(v.rejected, 3, reason);
    assert.equal(v.accepted, 1);
    // The span with its own bad name is counted once, under its own reason.
    assert.equal(v.rejectionMessage, `3 invalid span(s) dropped: 1 × invalid UTF-8 in span name; 2 × ${reason}`);
    const out = ExportTraceServiceRequest.decode(v.payload);
    assert.equal(out.resourceSpans.length, 1, 'the bad resource is gone with its spans');
    assert.deepEqual(names(v.payload), ['good-3']);
  }
  const scoped = (scope: object) => ({
    resourceSpans: [{ scopeSpans: [{ ...scope, spans: [span('x1'), span('x2')] }, { scope: { name: 'fine' }, spans: [span('kept')] }] }],
  });
  for (const [scope, reason] of [
    [{ scope: { name: PLACEHOLDER } }, 'invalid UTF-8 in scope'],
    [{ scope: { version: PLACEHOLDER } }, 'invalid UTF-8 in scope'],
    [{ scope: { attributes: [{ key: 'k', value: { stringValue: PLACEHOLDER } }] } }, 'invalid UTF-8 in scope'],
    [{ scope: { name: 's' }, schemaUrl: PLACEHOLDER }, 'invalid UTF-8 in scope schema_url'],
  ] as const) {
    const v = validateProtobufRequest(withInvalidUtf8(encodeRequest(scoped(scope)), BAD_UTF8.truncated));
    assert.equal(v.rejectionMessage, `2 invalid span(s) dropped: 2 × ${reason}`);
    assert.equal(v.accepted, 1);
    const out = ExportTraceServiceRequest.decode(v.payload);
    assert.equal(out.resourceSpans[0]!.scopeSpans!.length, 1);
    assert.deepEqual(names(v.payload), ['kept']);
  }
  // A bad resource without spans rejects nothing but is not stored either (the materializer would refuse it).
  const empty = withInvalidUtf8(
    encodeRequest({ resourceSpans: [{ resource: { attributes: [{ key: PLACEHOLDER }] } }, { scopeSpans: [{ spans: [span('only')] }] }] }),
    BAD_UTF8.overlong,
  );
  const v = validateProtobufRequest(empty);
  assert.deepEqual([v.accepted, v.rejected, v.rejectionMessage], [1, 0, '']);
  assert.equal(ExportTraceServiceRequest.decode(v.payload).resourceSpans.length, 1);
  assert.deepEqual(names(v.payload), ['only']);
});

test('valid non-ASCII text is untouched (no false positives)', () => {
  const text = 'hé ✓ 日本 😀 \u{10FFFF} \u2028';
  const bytes = encodeRequest(request(span(text, { attributes: [{ key: text, value: { stringValue: text } }], status: { message: text } }), { schemaUrl: text }));
  const v = validateProtobufRequest(bytes);
  assert.equal(v.rejected, 0);
  assert.equal(v.payload, bytes);
  const cols = requestsToColumns([v.payload]);
  assert.equal(cols.operation_name[1], text);
  assert.equal(cellText(cols.attributes[1]!), `[{"key":${JSON.stringify(text)},"value":{"stringValue":${JSON.stringify(text)}}}]`);
});

test('OTLP/JSON: an unpaired surrogate rejects its span (or its resource/scope spans); a body that is not UTF-8 is refused', () => {
  const spanJson = (id: string, extra = '') => `{"traceId":"${T}","spanId":"${id}","name":"s${id.slice(-2)}"${extra}}`;
  const req = (resource: string, spans: string[]) =>
    `{"resourceSpans":[{"resource":${resource},"scopeSpans":[{"scope":{"name":"s"},"spans":[${spans.join(',')}]}]},` +
    `{"scopeSpans":[{"spans":[${spanJson('00000000000000f1')}]}]}]}`;
  const good = '{"attributes":[]}';
  const cases: [string, string][] = [
    [',"name":"\\ud800"', 'span name'],
    [',"attributes":[{"key":"\\udc00x","value":{"stringValue":"v"}}]', 'span attributes'],
    [',"attributes":[{"key":"k","value":{"stringValue":"a\\ud83d"}}]', 'span attributes'],
    [',"events":[{"name":"\\ude00"}]', 'span events'],
    [',"status":{"message":"\\ud800\\ud800"}', 'span status'],
  ];
  for (const [extra, where] of cases) {
    const v = validateJsonRequest(req(good, [spanJson('0000000000000001'), spanJson('0000000000000002', extra)]));
    assert.equal(v.rejected, 1, extra);
    assert.equal(v.rejectionMessage, `1 invalid span(s) dropped: 1 × invalid Unicode (unpaired surrogate) in ${where}`);
    assert.deepEqual(names(v.payload), ['s01', 'sf1']);
  }
  // A valid surrogate pair is fine.
  assert.equal(validateJsonRequest(req(good, [spanJson('0000000000000001', ',"name":"\\ud83d\\ude00"')])).rejected, 0);
  const r = validateJsonRequest(req('{"attributes":[{"key":"service.name","value":{"stringValue":"\\udfff"}}]}', [spanJson('0000000000000001'), spanJson('0000000000000002')]));
  assert.equal(r.rejectionMessage, '2 invalid span(s) dropped: 2 × invalid Unicode (unpaired surrogate) in resource attributes');
  assert.equal(r.accepted, 1);
  assert.equal(ExportTraceServiceRequest.decode(r.payload).resourceSpans.length, 1);
  const s = validateJsonRequest(
    `{"resourceSpans":[{"scopeSpans":[{"scope":{"name":"\\ud800"},"spans":[${spanJson('0000000000000001')}]},{"spans":[${spanJson('0000000000000002')}]}]}]}`,
  );
  assert.equal(s.rejectionMessage, '1 invalid span(s) dropped: 1 × invalid Unicode (unpaired surrogate) in scope name');
  assert.deepEqual(names(s.payload), ['s02']);
  // Raw bytes that are not UTF-8 cannot be tied to a span before parsing: the whole body is refused.
  const raw = Buffer.concat([Buffer.from(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${T}","spanId":"0000000000000001","name":"`), Buffer.from([0xff]), Buffer.from('"}]}]}]}')]);
  assert.throws(() => validateJsonRequest(raw), { code: 'TS_RECEIVER_INVALID_REQUEST', message: 'request body is not valid UTF-8' });
  assert.equal(validateJsonRequest(Buffer.from(req(good, [spanJson('0000000000000001', ',"name":"日本 ✓"')]))).rejected, 0);
});

test('the materializer path refuses invalid UTF-8 instead of decoding it to U+FFFD', () => {
  // Bytes a Collector may have written to the Kafka topic without our receiver's checks.
  for (const bad of [span(PLACEHOLDER), span('a', { attributes: [{ key: 'k', value: { stringValue: PLACEHOLDER } }] }), span('s', { status: { message: PLACEHOLDER } })]) {
    const payload = withInvalidUtf8(encodeRequest(request(bad)), BAD_UTF8.lone);
    assert.throws(() => requestsToColumns([payload]), (e: unknown) => (e as { code?: string }).code === 'TS_OTLP_CORRUPT_PAYLOAD' && /invalid UTF-8/.test((e as Error).message));
  }
  const resource = withInvalidUtf8(encodeRequest(request(span('x'), { resource: { attributes: [{ key: 'service.name', value: { stringValue: PLACEHOLDER } }] } })), BAD_UTF8.lone);
  const corrupt: number[] = [];
  const good = encodeRequest(request(span('fine')));
  const cols = requestsToColumns([good, resource, good], (i) => corrupt.push(i));
  assert.deepEqual(corrupt, [1]);
  assert.equal(cols.length, 8);
  assert.ok(!Array.from(cols.resource).some((r) => r.includes('\ufffd')));
});
