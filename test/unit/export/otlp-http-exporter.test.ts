import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import Long from 'long';
import { gunzipSync } from 'node:zlib';
import { createExporters } from '../../../src/export/factory.ts';
import { ExportRetriesExhaustedError, ExportTimeoutError, ExportSendError } from '../../../src/export/errors.ts';
import type { TraceExporter } from '../../../src/export/exporter.ts';
import { tracesUrl } from '../../../src/export/otlp-http-sender.ts';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import type { OtlpExporterConfig } from '../../../src/config/schema.ts';
import { buildRequest, counterValue, otlpConfig, startHttpServer, type Handler } from './support.ts';

const { ExportTraceServiceResponse, ExportTraceServiceRequest } = opentelemetry.proto.collector.trace.v1;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(handler: Handler, overrides: Partial<OtlpExporterConfig> = {}) {
  const server = await startHttpServer(handler);
  cleanups.push(server.close);
  const metrics = new Metrics();
  const [exporter] = createExporters(
    [{ id: 'otlp', type: 'otlp', config: otlpConfig(server.url, overrides) }],
    { metrics, logger: silentLogger(), shutdownDrainMs: 1_000 },
  ) as [TraceExporter];
  await exporter.start();
  cleanups.push(() => exporter.shutdown());
  return { server, metrics, exporter };
}

const ok: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
};

describe('OTLP http/protobuf exporter', () => {
  it('POSTs the request bytes to <endpoint>/v1/traces with content type and configured headers', async () => {
    const { server, metrics, exporter } = await setup(ok, { headers: { 'x-tenant': 'a' } });
    const body = buildRequest(3);
    assert.deepEqual(await exporter.export(body, 3), { ok: true, rejectedSpans: 0 });
    assert.equal(server.requests.length, 1);
    const [req] = server.requests;
    assert.equal(req!.method, 'POST');
    assert.equal(req!.url, '/v1/traces');
    assert.equal(req!.headers['content-type'], 'application/x-protobuf');
    assert.equal(req!.headers['x-tenant'], 'a');
    assert.equal(req!.headers['content-encoding'], undefined);
    assert.ok(req!.body.equals(Buffer.from(body)), "body is the request bytes unchanged");
    assert.equal(exporter.id, 'otlp');
    assert.equal(await counterValue(metrics.exporterSentSpans, { exporter: 'otlp' }), 3);
  });

  it('gzips the body when compression is gzip', async () => {
    const { server, exporter } = await setup(ok, { compression: 'gzip' });
    const body = buildRequest(5);
    assert.equal((await exporter.export(body, 5)).ok, true);
    const [req] = server.requests;
    assert.equal(req!.headers['content-encoding'], 'gzip');
    assert.deepEqual([req!.body[0], req!.body[1]], [0x1f, 0x8b], 'gzip magic bytes');
    const decoded = ExportTraceServiceRequest.decode(gunzipSync(req!.body));
    assert.equal(decoded.resourceSpans[0]!.scopeSpans![0]!.spans!.length, 5);
  });

  it('retries 503 and succeeds once the destination recovers', async () => {
    const { server, metrics, exporter } = await setup((_req, res, n) => {
      if (n === 1) res.writeHead(503, { 'retry-after': '0' }).end('busy');
      else ok(_req, res, n);
    });
    assert.deepEqual(await exporter.export(buildRequest(2), 2), { ok: true, rejectedSpans: 0 });
    assert.equal(server.requests.length, 2);
    assert.deepEqual(server.requests[0]!.body, server.requests[1]!.body, 'the same request is resent');
    assert.equal(await counterValue(metrics.exporterSentSpans, { exporter: 'otlp' }), 2);
    assert.equal(await counterValue(metrics.exporterFailedSpans, { exporter: 'otlp', outcome: 'retries_exhausted' }), 0);
  });

  it('honours Retry-After: a wait longer than max_elapsed_time_ms gives up instead of retrying sooner', async () => {
    const { server, metrics, exporter } = await setup((_req, res) => res.writeHead(429, { 'retry-after': '3600' }).end(), {
      retry_on_failure: { enabled: true, initial_interval_ms: 1, max_interval_ms: 5, max_elapsed_time_ms: 60_000 },
    });
    const result = await exporter.export(buildRequest(4), 4);
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.error instanceof ExportRetriesExhaustedError);
    assert.equal(server.requests.length, 1, 'a 1 ms backoff would have retried; Retry-After: 3600 must not');
    assert.equal(await counterValue(metrics.exporterFailedSpans, { exporter: 'otlp', outcome: 'retries_exhausted' }), 4);
  });

  it('does not retry a 400 and counts the spans as permanently failed', async () => {
    const { server, metrics, exporter } = await setup((_req, res) => res.writeHead(400).end('bad request'));
    const result = await exporter.export(buildRequest(3), 3);
    assert.equal(result.ok, false);
    assert.ok(!result.ok && !result.retryable);
    assert.ok(!result.ok && result.error instanceof ExportSendError && result.error.status === 400);
    assert.equal(server.requests.length, 1);
    assert.equal(await counterValue(metrics.exporterFailedSpans, { exporter: 'otlp', outcome: 'permanent' }), 3);
    assert.equal(await counterValue(metrics.exporterSentSpans, { exporter: 'otlp' }), 0);
  });

  it('times out a slow destination per attempt and gives up after max_elapsed_time_ms', async () => {
    // Never answers; the exporter's timeout must end each attempt.
    const { server, exporter, metrics } = await setup(() => {}, {
      timeout_ms: 50,
      retry_on_failure: { enabled: true, initial_interval_ms: 1, max_interval_ms: 1, max_elapsed_time_ms: 300 },
    });
    const result = await exporter.export(buildRequest(1), 1);
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.retryable);
    assert.ok(!result.ok && result.error instanceof ExportRetriesExhaustedError);
    assert.ok(!result.ok && result.error.cause instanceof ExportTimeoutError);
    assert.ok(server.requests.length >= 2, `timed-out attempts are retried (saw ${server.requests.length})`);
    assert.equal(await counterValue(metrics.exporterFailedSpans, { exporter: 'otlp', outcome: 'retries_exhausted' }), 1);
  });

  it('does not retry when retry_on_failure is disabled', async () => {
    const { server, exporter } = await setup((_req, res) => res.writeHead(503).end(), {
      retry_on_failure: { enabled: false, initial_interval_ms: 1, max_interval_ms: 1, max_elapsed_time_ms: 1000 },
    });
    const result = await exporter.export(buildRequest(1), 1);
    assert.equal(result.ok, false);
    assert.equal(server.requests.length, 1);
  });

  it('counts spans rejected in a partial success and does not resend', async () => {
    const response = ExportTraceServiceResponse.encode({
      partialSuccess: { rejectedSpans: Long.fromNumber(2), errorMessage: 'spans too old' },
    }).finish();
    const { server, metrics, exporter } = await setup((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(response),
    );
    assert.deepEqual(await exporter.export(buildRequest(5), 5), { ok: true, rejectedSpans: 2 });
    assert.equal(server.requests.length, 1);
    assert.equal(await counterValue(metrics.exporterSentSpans, { exporter: 'otlp' }), 3);
    assert.equal(await counterValue(metrics.exporterFailedSpans, { exporter: 'otlp', outcome: 'rejected' }), 2);
  });

  it('treats a refused connection as retryable', async () => {
    const server = await startHttpServer(ok);
    const url = server.url;
    await server.close();
    const metrics = new Metrics();
    const [exporter] = createExporters(
      [{ id: 'otlp', type: 'otlp', config: otlpConfig(url, { retry_on_failure: { enabled: true, initial_interval_ms: 1, max_interval_ms: 2, max_elapsed_time_ms: 50 } }) }],
      { metrics, logger: silentLogger() },
    ) as [TraceExporter];
    const result = await exporter.export(buildRequest(1), 1);
    await exporter.shutdown();
    assert.ok(!result.ok && result.retryable && result.error instanceof ExportRetriesExhaustedError);
  });
});

describe('tracesUrl', () => {
  it('appends /v1/traces to a bare endpoint and keeps an explicit path', () => {
    assert.equal(tracesUrl('http://h:4318').href, 'http://h:4318/v1/traces');
    assert.equal(tracesUrl('http://h:4318/').href, 'http://h:4318/v1/traces');
    assert.equal(tracesUrl('https://h/custom/traces').href, 'https://h/custom/traces');
    assert.throws(() => tracesUrl('ftp://h'), /http/);
  });
});
