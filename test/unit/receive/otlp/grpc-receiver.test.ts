import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { status as grpcStatus } from '@grpc/grpc-js';
import { PipelineBusyError } from '../../../../src/errors.ts';
import { KafkaRecordTooLargeError } from '../../../../src/spool/kafka/errors.ts';
import { google } from '../../../../src/otlp/gen/otlp.js';
import { requestsToColumns } from '../../../../src/otlp/to-columns.ts';
import { ExportTraceServiceResponse, encodeRequest, hex, realisticRequest, richRequest } from '../../../fixtures/otlp/requests.ts';
import { MALFORMED } from '../../../fixtures/otlp/malformed.ts';
import { BAD_UTF8, PLACEHOLDER, withInvalidUtf8 } from '../../../fixtures/otlp/invalid-utf8.ts';
import { counter, grpcExport, startReceiver, type Harness } from '../../../fixtures/otlp/receiver-harness.ts';

let h: Harness;

before(async () => {
  h = await startReceiver({ grpc: 0.1, http: 1 });
});
after(async () => {
  await h.receiver.shutdown();
});
beforeEach(() => {
  h.consumer.got.length = 0;
  h.consumer.failWith = null;
  h.consumer.gate = null;
});

test('Export over a real grpc-js client, plain and gzip-compressed', async () => {
  const body = encodeRequest(richRequest());
  for (const gzip of [false, true]) {
    const r = await grpcExport(h.grpcAddress, body, { gzip });
    assert.equal(r.error, null);
    assert.equal(ExportTraceServiceResponse.decode(r.response!).partialSuccess ?? null, null);
  }
  assert.equal(h.consumer.got.length, 2);
  for (const g of h.consumer.got) {
    assert.deepEqual(Buffer.from(g.request), Buffer.from(body));
    assert.equal(g.spanCount, 6);
  }
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_accepted_spans_total', { transport: 'grpc' }), 12);
});

test('mixed request → OK with partial_success; only the valid span is consumed', async () => {
  const body = encodeRequest({
    resourceSpans: [{ scopeSpans: [{ spans: [
      { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203331'), name: 'good' },
      { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203331'), parentSpanId: hex('0102'), name: 'bad parent' },
    ] }] }],
  });
  const r = await grpcExport(h.grpcAddress, body);
  assert.equal(r.error, null);
  const ps = ExportTraceServiceResponse.decode(r.response!).partialSuccess!;
  assert.equal(ps.rejectedSpans!.toString(), '1');
  assert.match(ps.errorMessage!, /parent_span_id/);
  assert.deepEqual(requestsToColumns([h.consumer.got[0]!.request]).operation_name, ['good']);
});

test('malformed requests → INVALID_ARGUMENT, nothing consumed', async () => {
  for (const [name, bytes] of MALFORMED) {
    const r = await grpcExport(h.grpcAddress, bytes);
    assert.equal(r.error?.code, grpcStatus.INVALID_ARGUMENT, name);
  }
  assert.equal(h.consumer.got.length, 0);
});

test('oversize message → RESOURCE_EXHAUSTED (plain or inflating past the limit), counted as a too_large request', async () => {
  const tooLarge = { transport: 'grpc', reason: 'too_large' };
  const before = await counter(h.metrics, 'tailsampler_receiver_refused_requests_total', tooLarge);
  const r = await grpcExport(h.grpcAddress, realisticRequest(400));
  assert.equal(r.error?.code, grpcStatus.RESOURCE_EXHAUSTED);
  // ~200 KiB of repetitive spans compress far below the 0.1 MiB limit: refused when inflated.
  const z = await grpcExport(h.grpcAddress, realisticRequest(400), { gzip: true });
  assert.equal(z.error?.code, grpcStatus.RESOURCE_EXHAUSTED);
  assert.equal(h.consumer.got.length, 0);
  // grpc-js refuses these before the handler: the spans are unknown, the requests are counted.
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_requests_total', tooLarge), before + 2);
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_spans_total', tooLarge), 0);
  // The interceptor lets everything else through.
  assert.equal((await grpcExport(h.grpcAddress, encodeRequest(richRequest()))).error, null);
});

test('a span too large for the spool → RESOURCE_EXHAUSTED without RetryInfo, its spans counted once as too_large', async () => {
  const tooLarge = { transport: 'grpc', reason: 'too_large' };
  const requestsBefore = await counter(h.metrics, 'tailsampler_receiver_refused_requests_total', tooLarge);
  h.consumer.failWith = new KafkaRecordTooLargeError('a span of trace 0af7 is 1200000 bytes', 1_200_000, 999_000);
  const r = await grpcExport(h.grpcAddress, encodeRequest(richRequest()));
  assert.equal(r.error?.code, grpcStatus.RESOURCE_EXHAUSTED);
  assert.equal(r.error?.details, 'a span of trace 0af7 is 1200000 bytes');
  const details = r.error.metadata.get('grpc-status-details-bin')[0];
  assert.ok(Buffer.isBuffer(details), 'status details sent');
  assert.equal(google.rpc.Status.decode(details).details.length, 0, 'no RetryInfo: not retryable');
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_spans_total', tooLarge), 6);
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_requests_total', tooLarge), requestsBefore + 1, 'not counted again by the interceptor');
});

test('invalid UTF-8 over gRPC → OK with partial_success naming it; the valid spans are consumed', async () => {
  const invalidBefore = await counter(h.metrics, 'tailsampler_receiver_refused_spans_total', { transport: 'grpc', reason: 'invalid' });
  const body = withInvalidUtf8(
    encodeRequest({
      resourceSpans: [{ scopeSpans: [{ spans: [
        { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203331'), name: 'good' },
        { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203332'), name: PLACEHOLDER },
        { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203333'), attributes: [{ key: PLACEHOLDER, value: { stringValue: 'v' } }] },
        { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203334'), attributes: [{ key: 'k', value: { stringValue: PLACEHOLDER } }] },
      ] }] }, { resource: { attributes: [{ key: 'service.name', value: { stringValue: PLACEHOLDER } }] }, scopeSpans: [{ spans: [
        { traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203335'), name: 'under a bad resource' },
      ] }] }],
    }),
    BAD_UTF8.lone,
  );
  const r = await grpcExport(h.grpcAddress, body);
  assert.equal(r.error, null);
  const ps = ExportTraceServiceResponse.decode(r.response!).partialSuccess!;
  assert.equal(ps.rejectedSpans!.toString(), '4');
  assert.equal(ps.errorMessage, '4 invalid span(s) dropped: 1 × invalid UTF-8 in span name; 2 × invalid UTF-8 in span attributes; 1 × invalid UTF-8 in resource');
  assert.deepEqual(requestsToColumns([h.consumer.got[0]!.request]).operation_name, ['good']);
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_spans_total', { transport: 'grpc', reason: 'invalid' }), invalidBefore + 4);
});

test('PipelineBusyError → UNAVAILABLE with RetryInfo in grpc-status-details-bin', async () => {
  h.consumer.failWith = new PipelineBusyError('spool full', 1500);
  const r = await grpcExport(h.grpcAddress, encodeRequest(richRequest()));
  assert.equal(r.error?.code, grpcStatus.UNAVAILABLE);
  const [details] = r.error.metadata.get('grpc-status-details-bin') as Buffer[];
  const st = google.rpc.Status.decode(details!);
  assert.equal(st.code, grpcStatus.UNAVAILABLE);
  assert.equal(st.details[0]!.type_url, 'type.googleapis.com/google.rpc.RetryInfo');
  const info = google.rpc.RetryInfo.decode(st.details[0]!.value!);
  assert.equal(info.retryDelay!.seconds!.toString(), '1');
  assert.equal(info.retryDelay!.nanos, 500_000_000);
  assert.equal(await counter(h.metrics, 'tailsampler_receiver_refused_spans_total', { transport: 'grpc', reason: 'busy' }), 6);
});

test('a permanent consumer error → INTERNAL', async () => {
  h.consumer.failWith = new Error('bug');
  const r = await grpcExport(h.grpcAddress, encodeRequest(richRequest()));
  assert.equal(r.error?.code, grpcStatus.INTERNAL);
});

test('the reply waits for the consumer: no acknowledgement before spans are durable', async () => {
  let release!: () => void;
  h.consumer.gate = new Promise((r) => (release = r));
  let answered = false;
  const pending = grpcExport(h.grpcAddress, encodeRequest(richRequest())).then((r) => {
    answered = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(answered, false);
  release();
  assert.equal((await pending).error, null);
  assert.equal(h.consumer.got.length, 1);
});
