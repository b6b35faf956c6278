import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { PipelineBusyError, TailsamplerError } from '../../../../src/errors.ts';
import { KafkaRecordTooLargeError } from '../../../../src/spool/kafka/errors.ts';
import { SpoolRecordTooLargeError } from '../../../../src/spool/local/errors.ts';
import { google } from '../../../../src/otlp/gen/otlp.js';
import { requestsToColumns } from '../../../../src/otlp/to-columns.ts';
import { ExportTraceServiceResponse, encodeRequest, hex, realisticRequest, richRequest } from '../../../fixtures/otlp/requests.ts';
import { MALFORMED } from '../../../fixtures/otlp/malformed.ts';
import { BAD_UTF8, PLACEHOLDER, withInvalidUtf8 } from '../../../fixtures/otlp/invalid-utf8.ts';
import { counter, post, startReceiver, type Harness } from '../../../fixtures/otlp/receiver-harness.ts';
import { cellText } from '../../../support/json-cells.ts';

const PB = { 'Content-Type': 'application/x-protobuf' };
const JSON_CT = { 'Content-Type': 'application/json' };
let h: Harness;

before(async () => {
  h = await startReceiver({ grpc: 1, http: 0.1 });
});
after(async () => {
  await h.receiver.shutdown();
});
beforeEach(() => {
  h.consumer.got.length = 0;
  h.consumer.failWith = null;
});

const mixed = () =>
  encodeRequest({
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: [
              { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203331'), name: 'good' },
              { traceId: hex('0af7651916cd43dd'), spanId: hex('b7ad6b7169203332'), name: 'short trace id' },
              { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('0000000000000000'), name: 'zero span id' },
            ],
          },
        ],
      },
    ],
  });

test('valid protobuf: 200, empty ExportTraceServiceResponse, spans handed to the consumer', async () => {
  const body = encodeRequest(richRequest());
  const r = await post(h.httpUrl, body, PB);
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'application/x-protobuf');
  assert.equal(ExportTraceServiceResponse.decode(r.body).partialSuccess ?? null, null);
  assert.equal(h.consumer.got.length, 1);
  assert.deepEqual(Buffer.from(h.consumer.got[0]!.request), Buffer.from(body));
  assert.equal(h.consumer.got[0]!.spanCount, 6);
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_accepted_spans_total', { transport: 'http' }), 6);
});

test('mixed request: valid spans consumed, invalid ones reported in partial_success', async () => {
  const r = await post(h.httpUrl, mixed(), PB);
  assert.equal(r.status, 200);
  const resp = ExportTraceServiceResponse.decode(r.body);
  assert.equal(resp.partialSuccess!.rejectedSpans!.toString(), '2');
  assert.match(resp.partialSuccess!.errorMessage!, /trace_id/);
  assert.equal(h.consumer.got.length, 1);
  assert.equal(h.consumer.got[0]!.spanCount, 1);
  assert.deepEqual(requestsToColumns([h.consumer.got[0]!.request]).operation_name, ['good']);
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_spans_total', { transport: 'http', reason: 'invalid' }), 2);
});

test('JSON request: 200 with JSON response; partial success in JSON with int64 as string', async () => {
  const body = JSON.stringify({
    resourceSpans: [{ scopeSpans: [{ spans: [
      { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', name: 'j' },
      { traceId: '0af7651916cd43dd8448eb211c8031', spanId: 'b7ad6b7169203331', name: 'bad length' },
    ] }] }],
  });
  const r = await post(h.httpUrl, body, { 'Content-Type': 'application/json; charset=utf-8' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(r.body.toString()), { partialSuccess: { rejectedSpans: '1', errorMessage: '1 invalid span(s) dropped: 1 × trace_id must be 16 bytes, not all zero' } });
  assert.deepEqual(requestsToColumns([h.consumer.got[0]!.request]).operation_name, ['j']);
});

test('zero spans → 200 and nothing consumed', async () => {
  const r = await post(h.httpUrl, '{}', JSON_CT);
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), '{}');
  assert.equal(h.consumer.got.length, 0);
});

test('all spans invalid → 200 with every span rejected, nothing consumed', async () => {
  const r = await post(h.httpUrl, encodeRequest({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'no ids' }] }] }] }), PB);
  assert.equal(r.status, 200);
  assert.equal(ExportTraceServiceResponse.decode(r.body).partialSuccess!.rejectedSpans!.toString(), '1');
  assert.equal(h.consumer.got.length, 0);
});

test('malformed protobuf corpus → 400 with a google.rpc.Status, nothing consumed', async () => {
  for (const [name, bytes] of MALFORMED) {
    const r = await post(h.httpUrl, bytes, PB);
    assert.equal(r.status, 400, name);
    const status = google.rpc.Status.decode(r.body);
    assert.equal(status.code, 3, name);
    assert.match(status.message, /malformed/, name);
  }
  assert.equal(h.consumer.got.length, 0);
});

test('bad JSON → 400 with a JSON Status', async () => {
  const cases = [
    '{"resourceSpans": [',
    'garbage',
    '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"not-hex-not-hex-not-hex-not-hex0","spanId":"b7ad6b7169203331"}]}]}]}',
    '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319","spanId":"b7ad6b7169203331"}]}]}]}',
    '{"resourceSpans":{"not":"an array"}}',
  ];
  for (const body of cases) {
    const r = await post(h.httpUrl, body, JSON_CT);
    assert.equal(r.status, 400, body);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal((JSON.parse(r.body.toString()) as { code: number }).code, 3);
  }
  assert.equal(h.consumer.got.length, 0);
});

test('gzip and deflate bodies are inflated; broken gzip → 400', async () => {
  const body = encodeRequest(richRequest());
  assert.equal((await post(h.httpUrl, zlib.gzipSync(body), { ...PB, 'Content-Encoding': 'gzip' })).status, 200);
  assert.equal((await post(h.httpUrl, zlib.deflateSync(body), { ...PB, 'Content-Encoding': 'deflate' })).status, 200);
  assert.equal(h.consumer.got.length, 2);
  assert.deepEqual(Buffer.from(h.consumer.got[0]!.request), Buffer.from(body));
  const bad = await post(h.httpUrl, Buffer.from('definitely not gzip'), { ...PB, 'Content-Encoding': 'gzip' });
  assert.equal(bad.status, 400);
  assert.match(google.rpc.Status.decode(bad.body).message, /decompress/);
  const unknown = await post(h.httpUrl, body, { ...PB, 'Content-Encoding': 'snappy-ish' });
  assert.equal(unknown.status, 400);
  assert.equal(h.consumer.got.length, 2);
});

test('bodies over the limit → 413, also when only the inflated size is too large; counted as too_large requests', async () => {
  const tooLarge = { transport: 'http', reason: 'too_large' };
  const before = await counter(h.metrics, 'tailsampler_receiver_refused_requests_total', tooLarge);
  const big = realisticRequest(400); // ~200 KiB > 0.1 MiB
  assert.ok(big.length > 0.1 * 1024 * 1024);
  const r = await post(h.httpUrl, big, PB);
  assert.equal(r.status, 413);
  assert.equal(google.rpc.Status.decode(r.body).code, 8);
  const bomb = zlib.gzipSync(Buffer.alloc(5 * 1024 * 1024));
  assert.ok(bomb.length < 0.1 * 1024 * 1024);
  const g = await post(h.httpUrl, bomb, { ...PB, 'Content-Encoding': 'gzip' });
  assert.equal(g.status, 413);
  assert.equal(h.consumer.got.length, 0);
  // Neither body was read to the end, so their spans are unknown: the requests are counted, 0 spans.
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_requests_total', tooLarge), before + 2);
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_spans_total', tooLarge), 0);
});

test('a span or trace too large for the spool → 413 RESOURCE_EXHAUSTED, its spans counted as too_large', async () => {
  const tooLarge = { transport: 'http', reason: 'too_large' };
  const spansBefore = await counter(h.metrics, 'tailsampler_receiver_refused_spans_total', tooLarge);
  const requestsBefore = await counter(h.metrics, 'tailsampler_receiver_refused_requests_total', tooLarge);
  for (const err of [new KafkaRecordTooLargeError('span 01 of trace 02 is 2000000 bytes, more than 999000', 2_000_000, 999_000), new SpoolRecordTooLargeError(600 << 20, 512 << 20)]) {
    h.consumer.failWith = err;
    const r = await post(h.httpUrl, encodeRequest(richRequest()), PB);
    assert.equal(r.status, 413);
    const status = google.rpc.Status.decode(r.body);
    assert.equal(status.code, 8);
    assert.equal(status.message, err.message);
    assert.equal(status.details.length, 0, 'no RetryInfo: retrying the same request cannot succeed');
    const j = await post(h.httpUrl, '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331"}]}]}]}', JSON_CT);
    assert.equal(j.status, 413);
    assert.equal((JSON.parse(j.body.toString()) as { code: number }).code, 8);
  }
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_spans_total', tooLarge), spansBefore + 2 * (6 + 1));
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_requests_total', tooLarge), requestsBefore + 4);
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_spans_total', { transport: 'http', reason: 'error' }), 0);
});

test('invalid UTF-8 over HTTP protobuf → partial_success names it; the other spans are stored untouched', async () => {
  const invalidBefore = await counter(h.metrics, 'tailsampler_receiver_refused_spans_total', { transport: 'http', reason: 'invalid' });
  const body = withInvalidUtf8(
    encodeRequest({
      resourceSpans: [
        { scopeSpans: [{ spans: [
          { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203331'), name: 'good' },
          { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203332'), name: PLACEHOLDER },
          { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203333'), name: 'k', attributes: [{ key: PLACEHOLDER, value: { stringValue: 'v' } }] },
          { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203334'), name: 'v', attributes: [{ key: 'k', value: { stringValue: PLACEHOLDER } }] },
        ] }] },
        { resource: { attributes: [{ key: 'service.name', value: { stringValue: PLACEHOLDER } }] }, scopeSpans: [{ spans: [
          { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203335'), name: 'under a bad resource' },
        ] }] },
      ],
    }),
    BAD_UTF8.invalid,
  );
  const r = await post(h.httpUrl, body, PB);
  assert.equal(r.status, 200);
  const ps = ExportTraceServiceResponse.decode(r.body).partialSuccess!;
  assert.equal(ps.rejectedSpans!.toString(), '4');
  assert.equal(ps.errorMessage, '4 invalid span(s) dropped: 1 × invalid UTF-8 in span name; 2 × invalid UTF-8 in span attributes; 1 × invalid UTF-8 in resource');
  assert.equal(h.consumer.got.length, 1);
  assert.equal(h.consumer.got[0]!.spanCount, 1);
  assert.deepEqual(requestsToColumns([h.consumer.got[0]!.request]).operation_name, ['good']);
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_spans_total', { transport: 'http', reason: 'invalid' }), invalidBefore + 4);
});

test('OTLP/JSON: unpaired surrogates reject their span; a body that is not UTF-8 → 400; numbers keep every digit', async () => {
  const span = (id: string, extra: string) => `{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"${id}"${extra}}`;
  const body = `{"resourceSpans":[{"scopeSpans":[{"spans":[${span('b7ad6b7169203331', ',"name":"ok","startTimeUnixNano":1764620000123456789,"attributes":[{"key":"max","value":{"intValue":9223372036854775807}},{"key":"min","value":{"intValue":-9223372036854775808}}]')},${span('b7ad6b7169203332', ',"name":"\\ud800"')}]}]}]}`;
  const r = await post(h.httpUrl, body, JSON_CT);
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body.toString()), { partialSuccess: { rejectedSpans: '1', errorMessage: '1 invalid span(s) dropped: 1 × invalid Unicode (unpaired surrogate) in span name' } });
  const cols = requestsToColumns([h.consumer.got[0]!.request]);
  assert.deepEqual(cols.operation_name, ['ok']);
  assert.equal(cols.start_time_unix_nano[0], 1764620000123456789n);
  assert.equal(cellText(cols.attributes[0]!), '[{"key":"max","value":{"intValue":"9223372036854775807"}},{"key":"min","value":{"intValue":"-9223372036854775808"}}]');
  const raw = Buffer.concat([Buffer.from(`{"resourceSpans":[{"scopeSpans":[{"spans":[${span('b7ad6b7169203331', ',"name":"')}`.slice(0, -2)), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}]}]}')]);
  const bad = await post(h.httpUrl, raw, JSON_CT);
  assert.equal(bad.status, 400);
  assert.deepEqual(JSON.parse(bad.body.toString()), { code: 3, message: 'request body is not valid UTF-8' });
  const out = await post(h.httpUrl, body.replace('9223372036854775807', '9223372036854775808'), JSON_CT);
  assert.equal(out.status, 400);
  assert.match((JSON.parse(out.body.toString()) as { message: string }).message, /resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.attributes\[0\]\.value\.intValue: 9223372036854775808 is out of range for int64/);
  assert.equal(h.consumer.got.length, 1);
});

test('wrong content type → 415, wrong method → 405, other path → 404', async () => {
  const body = encodeRequest(richRequest());
  assert.equal((await post(h.httpUrl, body, { 'Content-Type': 'text/plain' })).status, 415);
  assert.equal((await post(h.httpUrl, body, {})).status, 415);
  const put = await post(h.httpUrl, body, PB, 'PUT');
  assert.equal(put.status, 405);
  assert.equal(put.headers.allow, 'POST');
  assert.equal((await post(h.httpUrl, '', PB, 'GET')).status, 405);
  assert.equal((await post(h.httpUrl.replace('/v1/traces', '/v1/metrics'), body, PB)).status, 404);
  assert.equal(h.consumer.got.length, 0);
});

test('back-pressure: PipelineBusyError → 503 with Retry-After and RetryInfo', async () => {
  h.consumer.failWith = new PipelineBusyError('spool full', 2500);
  const r = await post(h.httpUrl, encodeRequest(richRequest()), PB);
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '3');
  const status = google.rpc.Status.decode(r.body);
  assert.equal(status.code, 14);
  assert.equal(status.details[0]!.type_url, 'type.googleapis.com/google.rpc.RetryInfo');
  const info = google.rpc.RetryInfo.decode(status.details[0]!.value!);
  assert.equal(info.retryDelay!.seconds!.toString(), '2');
  assert.equal(info.retryDelay!.nanos, 500_000_000);
  const j = await post(h.httpUrl, '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331"}]}]}]}', JSON_CT);
  assert.equal(j.status, 503);
  assert.equal((JSON.parse(j.body.toString()) as { code: number }).code, 14);
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_spans_total', { transport: 'http', reason: 'busy' }), 7);
});

test('other consumer errors: retryable → 503, permanent → 500', async () => {
  h.consumer.failWith = new TailsamplerError('TS_SPOOL_WRITE', 'disk hiccup');
  assert.equal((await post(h.httpUrl, encodeRequest(richRequest()), PB)).status, 503);
  h.consumer.failWith = new Error('bug');
  const r = await post(h.httpUrl, encodeRequest(richRequest()), PB);
  assert.equal(r.status, 500);
  assert.equal(google.rpc.Status.decode(r.body).code, 13);
});
