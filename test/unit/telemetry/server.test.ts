import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { it } from 'node:test';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { createTelemetryServer } from '../../../src/telemetry/server.ts';

async function withServer(
  ready: () => boolean,
  fn: (base: string, metrics: Metrics) => Promise<void>,
): Promise<void> {
  const metrics = new Metrics();
  const server = createTelemetryServer({ endpoint: '127.0.0.1:0', log_level: 'info' }, { metrics, logger: silentLogger(), ready });
  assert.equal(server.address(), null);
  await server.start();
  const addr = server.address();
  assert.match(addr ?? '', /^127\.0\.0\.1:\d+$/);
  assert.notEqual(addr, '127.0.0.1:0');
  try {
    await fn(`http://${addr}`, metrics);
  } finally {
    await server.shutdown();
  }
  assert.equal(server.address(), null);
}

it('serves Prometheus metrics with the registry content type', async () => {
  await withServer(
    () => true,
    async (base, metrics) => {
      metrics.spoolPendingBytes.set(1234);
      metrics.tracesDecided.inc({ policy: 'errors', outcome: 'sampled' }, 3);
      const res = await fetch(`${base}/metrics`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), metrics.registry.contentType);
      assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      assert.match(text, /^tailsampler_spool_pending_bytes 1234$/m);
      assert.match(text, /^tailsampler_traces_decided_total\{policy="errors",outcome="sampled"\} 3$/m);
    },
  );
});

it('answers /healthz while running and /readyz from ready()', async () => {
  let ready = false;
  await withServer(
    () => ready,
    async (base) => {
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      assert.equal((await fetch(`${base}/readyz`)).status, 503);
      ready = true;
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
      ready = false;
      assert.equal((await fetch(`${base}/readyz`)).status, 503);
    },
  );
});

it('returns 404 for unknown paths and 405 for other methods', async () => {
  await withServer(
    () => true,
    async (base) => {
      const nf = await fetch(`${base}/nope`);
      assert.equal(nf.status, 404);
      await nf.body?.cancel();
      const post = await fetch(`${base}/metrics`, { method: 'POST' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
      await post.body?.cancel();
      const q = await fetch(`${base}/healthz?verbose=1`);
      assert.equal(q.status, 200);
      await q.body?.cancel();
    },
  );
});

it('fails start when the port is taken', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const { port } = blocker.address() as { port: number };
  try {
    const server = createTelemetryServer(
      { endpoint: `127.0.0.1:${port}`, log_level: 'info' },
      { metrics: new Metrics(), logger: silentLogger(), ready: () => true },
    );
    await assert.rejects(server.start(), { code: 'EADDRINUSE' });
  } finally {
    await new Promise((r) => blocker.close(r));
  }
});
