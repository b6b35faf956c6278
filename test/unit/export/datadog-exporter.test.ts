/**
 * The Datadog exporter against a real HTTP server on 127.0.0.1: what it sends to an Agent and to the
 * agentless intake (method, path, headers, bodies decoded back), how it answers per status, how a
 * request cut into several payloads is answered, and its config section.
 */
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { parseConfig } from '../../../src/config/load.ts';
import { datadogExporterSchema, type DatadogExporterConfig } from '../../../src/export/datadog/config.ts';
import { DatadogExporter, combine, intakeEndpoint } from '../../../src/export/datadog/exporter.ts';
import { ExportEncodeError, ExportRetriesExhaustedError, ExportSendError } from '../../../src/export/errors.ts';
import type { ExportResult } from '../../../src/export/exporter.ts';
import { createExporters } from '../../../src/export/factory.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { decodeAgentPayload, decodeV04 } from './datadog-support.ts';
import { buildRequest, counterValue, startHttpServer, type Handler } from './support.ts';

const TRACE_1 = '01010101010101010101010101010101';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function ddConfig(overrides: Record<string, unknown> = {}): DatadogExporterConfig {
  return datadogExporterSchema.parse({
    retry_on_failure: { initial_interval_ms: 1, max_interval_ms: 5, max_elapsed_time_ms: 10_000 },
    sending_queue: { queue_size: 10, num_consumers: 2 },
    timeout_ms: 5_000,
    ...overrides,
  });
}

async function setup(handler: Handler, overrides: (url: string) => Record<string, unknown> = (url) => ({ endpoint: url })) {
  const server = await startHttpServer(handler);
  cleanups.push(server.close);
  const metrics = new Metrics();
  const exporter = new DatadogExporter({ id: 'datadog', config: ddConfig(overrides(server.url)), metrics, logger: silentLogger(), shutdownDrainMs: 1_000 });
  await exporter.start();
  cleanups.push(() => exporter.shutdown());
  return { server, metrics, exporter };
}

const ok: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"rate_by_service":{}}');
};

describe('Datadog exporter, through an Agent', () => {
  it('PUTs msgpack v0.4 to <endpoint>/v0.4/traces with the trace count and tracer headers', async () => {
    const { server, metrics, exporter } = await setup(ok);
    const result = await exporter.export(buildRequest(3), 3, { policies: new Map([[TRACE_1, 'keep-errors']]) });
    assert.deepEqual(result, { ok: true, rejectedSpans: 0 });
    assert.equal(server.requests.length, 1);
    const [req] = server.requests;
    assert.equal(req!.method, 'PUT');
    assert.equal(req!.url, '/v0.4/traces');
    assert.equal(req!.headers['content-type'], 'application/msgpack');
    assert.equal(req!.headers['x-datadog-trace-count'], '1');
    assert.equal(req!.headers['datadog-meta-lang'], 'otlp');
    assert.match(String(req!.headers['datadog-meta-tracer-version']), /^tailsampler-\d+\.\d+\.\d+/);
    assert.equal(req!.headers['datadog-client-computed-stats'], undefined, 'the Agent computes stats unless apm_stats says otherwise');
    assert.equal(req!.headers['dd-api-key'], undefined);
    const traces = decodeV04(req!.body);
    assert.equal(traces.length, 1);
    assert.equal(traces[0]!.length, 3);
    assert.ok(traces[0]!.every((s) => s.meta['tailsampling.policy'] === 'keep-errors'));
    assert.equal(traces[0]![0]!.metrics._sampling_priority_v1, 2);
    assert.equal(await counterValue(metrics.exporterSentSpans, { exporter: 'datadog' }), 3);
  });

  it('apm_stats: says the stats are computed elsewhere (Datadog-Client-Computed-Stats: yes)', async () => {
    const { server, exporter } = await setup(ok, (url) => ({ endpoint: url, apm_stats: true }));
    assert.equal((await exporter.export(buildRequest(1), 1)).ok, true);
    assert.equal(server.requests[0]!.headers['datadog-client-computed-stats'], 'yes');
  });

  it('an endpoint with a path keeps it: <endpoint>/v0.4/traces under it', async () => {
    const { server, exporter } = await setup(ok, (url) => ({ endpoint: `${url}/agent` }));
    assert.equal((await exporter.export(buildRequest(1), 1)).ok, true);
    assert.equal(server.requests[0]!.url, '/agent/v0.4/traces');
  });

  it('retries 503, 429 and 408 (Retry-After honoured) and succeeds once the Agent takes it', async () => {
    const { server, metrics, exporter } = await setup((req, res, n) => {
      if (n === 1) res.writeHead(503).end('busy');
      else if (n === 2) res.writeHead(429, { 'retry-after': '0' }).end();
      else if (n === 3) res.writeHead(408).end();
      else ok(req, res, n);
    });
    assert.deepEqual(await exporter.export(buildRequest(2), 2), { ok: true, rejectedSpans: 0 });
    assert.equal(server.requests.length, 4);
    assert.ok(server.requests.every((r) => r.body.equals(server.requests[0]!.body)), 'the same payload is resent');
    assert.equal(await counterValue(metrics.exporterSentSpans, { exporter: 'datadog' }), 2);
  });

  it('a 400 is permanent: not retried, counted, the error says what the Agent answered', async () => {
    const { server, metrics, exporter } = await setup((_req, res) => res.writeHead(400).end('cannot decode v0.4 traces payload'));
    const result = await exporter.export(buildRequest(2), 2);
    assert.equal(result.ok, false);
    assert.ok(!result.ok && !result.retryable);
    assert.ok(!result.ok && result.error instanceof ExportSendError);
    assert.match(!result.ok ? result.error.message : '', /answered 400: cannot decode/);
    assert.equal(server.requests.length, 1);
    assert.equal(await counterValue(metrics.exporterFailedSpans, { exporter: 'datadog', outcome: 'permanent' }), 2);
  });

  it('an Agent that is not there is retryable until the retry budget runs out', async () => {
    const server = await startHttpServer(ok);
    const url = server.url;
    await server.close();
    const metrics = new Metrics();
    const exporter = new DatadogExporter({
      id: 'datadog/down',
      config: ddConfig({ endpoint: url, retry_on_failure: { initial_interval_ms: 1, max_interval_ms: 2, max_elapsed_time_ms: 20 } }),
      metrics,
      logger: silentLogger(),
    });
    cleanups.push(() => exporter.shutdown());
    const result = await exporter.export(buildRequest(1), 1);
    assert.ok(!result.ok && result.retryable && result.error instanceof ExportRetriesExhaustedError);
    assert.equal(await counterValue(metrics.exporterFailedSpans, { exporter: 'datadog/down', outcome: 'retries_exhausted' }), 1);
  });

  it('bytes that are not an ExportTraceServiceRequest fail permanently without a request', async () => {
    const { server, metrics, exporter } = await setup(ok);
    const result = await exporter.export(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), 4);
    assert.ok(!result.ok && !result.retryable && result.error instanceof ExportEncodeError);
    assert.equal(server.requests.length, 0);
    assert.equal(await counterValue(metrics.exporterFailedSpans, { exporter: 'datadog', outcome: 'permanent' }), 4);
  });

  it('a request bigger than max_request_bytes goes as several payloads; accepted when all are', async () => {
    const { server, metrics, exporter } = await setup(ok, (url) => ({ endpoint: url, max_request_bytes: 1500 }));
    assert.deepEqual(await exporter.export(buildRequest(12), 12), { ok: true, rejectedSpans: 0 });
    assert.ok(server.requests.length > 1, `${server.requests.length} requests`);
    let spans = 0;
    for (const r of server.requests) {
      assert.ok(r.body.length <= 1500);
      const traces = decodeV04(r.body);
      assert.equal(r.headers['x-datadog-trace-count'], String(traces.length));
      for (const t of traces) {
        spans += t.length;
        assert.equal(t.filter((s) => s.metrics._sampling_priority_v1 === 2).length, 1, 'every piece of the trace carries the decision');
      }
    }
    assert.equal(spans, 12);
    assert.equal(await counterValue(metrics.exporterSentSpans, { exporter: 'datadog' }), 12);
  });

  it('one payload refused for good makes the whole request permanent', async () => {
    const { exporter } = await setup((req, res, n) => (n === 2 ? res.writeHead(413).end('too large') : ok(req, res, n)), (url) => ({ endpoint: url, max_request_bytes: 1500 }));
    const result = await exporter.export(buildRequest(12), 12);
    assert.ok(!result.ok && !result.retryable);
  });
});

describe('Datadog exporter, agentless', () => {
  it('POSTs a gzipped AgentPayload to <api.endpoint>/api/v0.2/traces with DD-API-KEY', async () => {
    const { server, metrics, exporter } = await setup(
      (_req, res) => res.writeHead(202).end('{}'),
      (url) => ({ endpoint: 'http://127.0.0.1:1', api: { key: 'test-api-key', endpoint: url } }),
    );
    assert.deepEqual(await exporter.export(buildRequest(3), 3, { policies: new Map([[TRACE_1, 'p']]) }), { ok: true, rejectedSpans: 0 });
    const [req] = server.requests;
    assert.equal(req!.method, 'POST');
    assert.equal(req!.url, '/api/v0.2/traces');
    assert.equal(req!.headers['dd-api-key'], 'test-api-key');
    assert.equal(req!.headers['content-type'], 'application/x-protobuf');
    assert.equal(req!.headers['content-encoding'], 'gzip');
    assert.equal(req!.headers['x-datadog-trace-count'], undefined);
    const payload = decodeAgentPayload(gunzipSync(req!.body));
    assert.match(payload.agentVersion ?? '', /^tailsampler-/);
    assert.ok((payload.hostName ?? '').length > 0);
    const chunk = payload.tracerPayloads[0]!.chunks[0]!;
    assert.equal(chunk.priority, 2);
    assert.equal(chunk.tags?.['_dd.p.dm'], '-4');
    assert.equal(chunk.spans.length, 3);
    assert.ok(chunk.spans.every((s) => s.meta?.['tailsampling.policy'] === 'p'));
    assert.equal(await counterValue(metrics.exporterSentSpans, { exporter: 'datadog' }), 3);
  });

  it('a 403 (bad API key) is permanent and the key appears in no error', async () => {
    const { exporter } = await setup((_req, res) => res.writeHead(403).end('Forbidden'), (url) => ({ api: { key: 'secret-xyz', endpoint: url } }));
    const result = await exporter.export(buildRequest(1), 1);
    assert.ok(!result.ok && !result.retryable);
    assert.ok(!result.ok && !result.error.message.includes('secret-xyz'));
    assert.match(!result.ok ? result.error.message : '', /answered 403/);
  });

  it('the intake of a site is https://trace.agent.<site> unless api.endpoint says otherwise', () => {
    assert.equal(intakeEndpoint({ key: 'k', site: 'datadoghq.eu', endpoint: null }), 'https://trace.agent.datadoghq.eu');
    assert.equal(intakeEndpoint({ key: 'k', site: 'datadoghq.eu', endpoint: 'http://proxy:8080' }), 'http://proxy:8080');
  });
});

describe('Datadog exporter: answers of several payloads', () => {
  const okR: ExportResult = { ok: true, rejectedSpans: 0 };
  const retry = (ms?: number): ExportResult => ({ ok: false, retryable: true, error: new Error(`r${ms}`), ...(ms === undefined ? {} : { retryAfterMs: ms }) });
  const perm: ExportResult = { ok: false, retryable: false, error: new Error('p') };
  it('all accepted → accepted; any permanent → permanent; else retryable with the longest hint', () => {
    assert.deepEqual(combine([okR, okR]), okR);
    assert.equal(combine([okR, retry(5), perm, retry()]), perm);
    const r = combine([retry(5), okR, retry(50), retry()]);
    assert.ok(!r.ok && r.retryable && r.retryAfterMs === 50);
    assert.deepEqual(combine([]), okR);
  });
});

describe('Datadog exporter config', () => {
  it('defaults: through the Agent on localhost:8126, no stats claim, 3.2 MB payloads', () => {
    const c = parseConfig('exporters: { datadog: {} }', 'inline', {}).exporters[0]!;
    assert.equal(c.type, 'datadog');
    assert.deepEqual(c.type === 'datadog' && { endpoint: c.config.endpoint, api: c.config.api, apm_stats: c.config.apm_stats, max: c.config.max_request_bytes, batch: c.config.max_batch_spans }, {
      endpoint: 'http://localhost:8126',
      api: null,
      apm_stats: false,
      max: 3_200_000,
      batch: 8192,
    });
  });

  it('datadog/<name> ids, agentless with the key from the environment and a site', () => {
    const c = parseConfig('exporters: { datadog/eu: { api: { key: "${DD_API_KEY}", site: datadoghq.eu } } }', 'inline', { DD_API_KEY: 'abc' }).exporters[0]!;
    assert.equal(c.id, 'datadog/eu');
    assert.ok(c.type === 'datadog' && c.config.api?.key === 'abc' && c.config.api.site === 'datadoghq.eu' && c.config.api.endpoint === null);
    const exporters = createExporters([c], { metrics: new Metrics(), logger: silentLogger() });
    assert.ok(exporters[0] instanceof DatadogExporter);
    assert.equal(exporters[0].id, 'datadog/eu');
  });

  it('problems are reported with their paths', () => {
    assert.throws(
      () => parseConfig('exporters: { datadog: { api: { site: "not a site" }, endpoint: "ftp://x", max_request_bytes: 0, bogus: 1 } }', 'inline', {}),
      (e: unknown) => {
        const text = String(e);
        for (const p of ['exporters.datadog.api.key', 'exporters.datadog.api.site', 'exporters.datadog.endpoint', 'exporters.datadog.max_request_bytes', 'exporters.datadog']) assert.ok(text.includes(p), `${p} in ${text}`);
        return true;
      },
    );
  });
});
