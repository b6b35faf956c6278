import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import Long from 'long';
import { Metadata, Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { createExporters } from '../../../src/export/factory.ts';
import { ExportRetriesExhaustedError, ExportSendError } from '../../../src/export/errors.ts';
import type { TraceExporter } from '../../../src/export/exporter.ts';
import { grpcTarget } from '../../../src/export/otlp-grpc-sender.ts';
import { google, opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import type { OtlpExporterConfig } from '../../../src/config/schema.ts';
import { buildRequest, counterValue, otlpConfig } from './support.ts';

const { ExportTraceServiceResponse } = opentelemetry.proto.collector.trace.v1;

interface Call {
  body: Buffer;
  metadata: Metadata;
}
type Answer = (n: number) => { error: { code: number; details: string; metadata?: Metadata } } | { response: Uint8Array };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real grpc-js server for TraceService/Export with raw bytes in and out. */
async function startGrpcServer(answer: Answer): Promise<{ endpoint: string; calls: Call[] }> {
  const calls: Call[] = [];
  const server = new Server();
  server.register(
    '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      calls.push({ body: call.request, metadata: call.metadata });
      const a = answer(calls.length);
      if ('error' in a) callback(a.error);
      else callback(null, Buffer.from(a.response));
    },
    (r: Buffer) => r,
    (b: Buffer) => b,
    'unary',
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  cleanups.push(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  return { endpoint: `127.0.0.1:${port}`, calls };
}

async function setup(answer: Answer, overrides: Partial<OtlpExporterConfig> = {}, endpointPrefix = '') {
  const server = await startGrpcServer(answer);
  const metrics = new Metrics();
  const [exporter] = createExporters(
    [{ id: 'otlp', type: 'otlp', config: otlpConfig(endpointPrefix + server.endpoint, { protocol: 'grpc', ...overrides }) }],
    { metrics, logger: silentLogger(), shutdownDrainMs: 1_000 },
  ) as [TraceExporter];
  cleanups.push(() => exporter.shutdown());
  return { server, metrics, exporter };
}

const OK = { response: new Uint8Array() };

function retryInfo(seconds: number, nanos = 0): Metadata {
  const md = new Metadata();
  const detail = google.rpc.RetryInfo.encode({ retryDelay: { seconds: Long.fromNumber(seconds), nanos } }).finish();
  const st = google.rpc.Status.encode({
    code: status.RESOURCE_EXHAUSTED,
    message: 'slow down',
    details: [{ type_url: 'type.googleapis.com/google.rpc.RetryInfo', value: detail }],
  }).finish();
  md.set('grpc-status-details-bin', Buffer.from(st));
  return md;
}

describe('OTLP grpc exporter', () => {
  it('sends the request bytes unchanged with headers as metadata, over http:// endpoints too', async () => {
    const { server, metrics, exporter } = await setup(() => OK, { headers: { 'X-Tenant': 'a' }, compression: 'gzip' }, 'http://');
    const body = buildRequest(3);
    assert.deepEqual(await exporter.export(body, 3), { ok: true, rejectedSpans: 0 });
    assert.equal(server.calls.length, 1);
    assert.ok(server.calls[0]!.body.equals(Buffer.from(body)));
    assert.deepEqual(server.calls[0]!.metadata.get('x-tenant'), ['a']);
    assert.equal(await counterValue(metrics.exporterSentSpans, { exporter: 'otlp' }), 3);
  });

  it('retries UNAVAILABLE until the server accepts', async () => {
    const { server, exporter } = await setup((n) => (n < 3 ? { error: { code: status.UNAVAILABLE, details: 'down' } } : OK));
    assert.deepEqual(await exporter.export(buildRequest(1), 1), { ok: true, rejectedSpans: 0 });
    assert.equal(server.calls.length, 3);
  });

  it('does not retry INVALID_ARGUMENT', async () => {
    const { server, metrics, exporter } = await setup(() => ({ error: { code: status.INVALID_ARGUMENT, details: 'bad' } }));
    const result = await exporter.export(buildRequest(2), 2);
    assert.ok(!result.ok && !result.retryable && result.error instanceof ExportSendError);
    assert.equal(server.calls.length, 1);
    assert.equal(await counterValue(metrics.exporterFailedSpans, { exporter: 'otlp', outcome: 'permanent' }), 2);
  });

  it('treats RESOURCE_EXHAUSTED as permanent without RetryInfo and retries it with RetryInfo', async () => {
    const plain = await setup(() => ({ error: { code: status.RESOURCE_EXHAUSTED, details: 'full' } }));
    const r1 = await plain.exporter.export(buildRequest(1), 1);
    assert.ok(!r1.ok && !r1.retryable);
    assert.equal(plain.server.calls.length, 1);

    const hinted = await setup((n) =>
      n === 1 ? { error: { code: status.RESOURCE_EXHAUSTED, details: 'full', metadata: retryInfo(0, 1_000_000) } } : OK,
    );
    assert.deepEqual(await hinted.exporter.export(buildRequest(1), 1), { ok: true, rejectedSpans: 0 });
    assert.equal(hinted.server.calls.length, 2);
  });

  it('honours RetryInfo: a delay past max_elapsed_time_ms ends retrying at once', async () => {
    const { server, exporter } = await setup(
      () => ({ error: { code: status.UNAVAILABLE, details: 'later', metadata: retryInfo(3600) } }),
      { retry_on_failure: { enabled: true, initial_interval_ms: 1, max_interval_ms: 1, max_elapsed_time_ms: 60_000 } },
    );
    const result = await exporter.export(buildRequest(1), 1);
    assert.ok(!result.ok && result.error instanceof ExportRetriesExhaustedError);
    assert.equal(server.calls.length, 1);
  });

  it('counts spans rejected in a partial success', async () => {
    const response = ExportTraceServiceResponse.encode({ partialSuccess: { rejectedSpans: Long.fromNumber(1), errorMessage: 'dup' } }).finish();
    const { metrics, exporter } = await setup(() => ({ response }));
    assert.deepEqual(await exporter.export(buildRequest(4), 4), { ok: true, rejectedSpans: 1 });
    assert.equal(await counterValue(metrics.exporterSentSpans, { exporter: 'otlp' }), 3);
    assert.equal(await counterValue(metrics.exporterFailedSpans, { exporter: 'otlp', outcome: 'rejected' }), 1);
  });
});

describe('grpcTarget', () => {
  it('accepts http(s)://host:port and host:port', () => {
    assert.deepEqual(grpcTarget('http://h:4317'), { target: 'h:4317', tls: false });
    assert.deepEqual(grpcTarget('https://h'), { target: 'h:443', tls: true });
    assert.deepEqual(grpcTarget('h:4317'), { target: 'h:4317', tls: false });
    assert.throws(() => grpcTarget('ftp://h:1'));
  });
});
