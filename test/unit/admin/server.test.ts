import assert from 'node:assert/strict';
import { request } from 'node:http';
import { it } from 'node:test';
import type { AdminRoute } from '../../../src/admin/route.ts';
import { TOKEN, withAdmin } from './support.ts';

type Err = { error: { code: string; message: string; issues?: unknown } };

it('an unknown route is a 404 with the error shape, before and without auth', async () => {
  await withAdmin(async ({ call }) => {
    for (const token of [null, TOKEN]) {
      const r = await call('GET', '/v1/nope', undefined, { token });
      assert.equal(r.status, 404);
      assert.equal((r.json as Err).error.code, 'TS_ADMIN_NOT_FOUND');
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    }
    assert.equal((await call('GET', '/v1/rules/x/y/z')).status, 404);
  });
});

it('a known path with another method is a 405 listing the allowed methods', async () => {
  await withAdmin(async ({ call }) => {
    const r = await call('PUT', '/v1/rules', {});
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, POST');
    assert.equal((r.json as Err).error.code, 'TS_ADMIN_METHOD_NOT_ALLOWED');
    const one = await call('PATCH', '/v1/rules/r1');
    assert.equal(one.status, 405);
    assert.equal(one.headers.get('allow'), 'GET, DELETE');
  });
});

it('a body over max_body_kib is a 413, declared or streamed without a length', async () => {
  await withAdmin(
    async ({ base, call, store }) => {
      const big = JSON.stringify({ action: 'keep', ttl_secs: 60, match: { trace_id: 'a'.repeat(32) }, reason: 'x'.repeat(2000) });
      const r = await call('POST', '/v1/rules', undefined, { raw: big });
      assert.equal(r.status, 413);
      assert.equal((r.json as Err).error.code, 'TS_ADMIN_BODY_TOO_LARGE');
      // Chunked, no content-length: cut off while streaming.
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${base}/v1/rules`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        for (let i = 0; i < 4; i++) req.write(big.slice(i * 500, (i + 1) * 500));
        req.end(big.slice(2000));
      });
      assert.equal(status, 413);
      assert.equal(store.rules.size, 0);
      // Just under the limit passes the size check (and then the store's validation).
      assert.equal((await call('POST', '/v1/rules', { action: 'keep', ttl_secs: 60, match: { trace_id: 'a'.repeat(32) } })).status, 201);
    },
    { config: { max_body_kib: 1 } },
  );
});

it('a body that is not JSON, or not an object, is a 400 TS_ADMIN_BAD_REQUEST', async () => {
  await withAdmin(async ({ call, store }) => {
    const r = await call('POST', '/v1/rules', undefined, { raw: '{"action": "keep",' });
    assert.equal(r.status, 400);
    assert.equal((r.json as Err).error.code, 'TS_ADMIN_BAD_REQUEST');
    assert.match((r.json as Err).error.message, /not JSON/);
    for (const raw of ['[]', '"keep"', 'null', '']) {
      const x = await call('POST', '/v1/rules', undefined, { raw });
      assert.equal(x.status, 400, raw);
      assert.equal((x.json as Err).error.code, 'TS_ADMIN_BAD_REQUEST', raw);
    }
    assert.equal(store.rules.size, 0);
  });
});

it('an unexpected failure is a 500 that leaks nothing; requests are counted by route template and code', async () => {
  const boom: AdminRoute = {
    method: 'GET',
    path: '/v1/boom/{id}',
    openapi: { operationId: 'boom', responses: { '200': { description: 'never' } } },
    handle: async () => {
      throw new Error('secret internals');
    },
  };
  await withAdmin(
    async ({ call, metrics }) => {
      const r = await call('GET', '/v1/boom/1');
      assert.equal(r.status, 500);
      assert.deepEqual(r.json, { error: { code: 'TS_ADMIN_INTERNAL', message: 'internal error (see the service log)' } });
      await call('GET', '/v1/boom/2', undefined, { token: null });
      await call('GET', '/nowhere');
      const text = await metrics.registry.metrics();
      assert.match(text, /^tailsampler_admin_requests_total\{route="GET \/v1\/boom\/\{id\}",code="500"\} 1$/m);
      assert.match(text, /^tailsampler_admin_requests_total\{route="GET \/v1\/boom\/\{id\}",code="401"\} 1$/m);
      assert.match(text, /^tailsampler_admin_requests_total\{route="unmatched",code="404"\} 1$/m);
    },
    { routes: [boom] },
  );
});

it('two routes with the same method and path are refused at construction', async () => {
  const r: AdminRoute = { method: 'GET', path: '/v1/x', openapi: {}, handle: async () => ({ status: 200 }) };
  await assert.rejects(withAdmin(async () => {}, { routes: [r, r] }), /GET \/v1\/x is defined twice/);
});
