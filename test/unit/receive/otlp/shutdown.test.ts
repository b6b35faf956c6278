import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeRequest, richRequest } from '../../../fixtures/otlp/requests.ts';
import { grpcExport, post, startReceiver } from '../../../fixtures/otlp/receiver-harness.ts';

test('shutdown finishes in-flight requests on both transports, then refuses new ones', async () => {
  const h = await startReceiver();
  let release!: () => void;
  h.consumer.gate = new Promise((r) => (release = r));
  const body = encodeRequest(richRequest());
  const httpReq = post(h.httpUrl, body, { 'Content-Type': 'application/x-protobuf' });
  const grpcReq = grpcExport(h.grpcAddress, body);
  // Both calls are in flight once two consume() calls are parked on the gate.
  while (h.consumer.entered < 2) await new Promise((r) => setTimeout(r, 5));
  let stopped = false;
  const stopping = h.receiver.shutdown().then(() => (stopped = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(stopped, false, 'shutdown waits for requests in flight');
  release();
  assert.equal((await httpReq).status, 200);
  assert.equal((await grpcReq).error, null);
  await stopping;
  assert.equal(h.consumer.got.length, 2);
  await assert.rejects(post(h.httpUrl, body, { 'Content-Type': 'application/x-protobuf' }));
});

