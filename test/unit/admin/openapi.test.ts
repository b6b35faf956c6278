import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createHealthRoute } from '../../../src/admin/health-route.ts';
import { rescueRoutes } from '../../../src/admin/rescue-routes.ts';
import type { AdminRoute } from '../../../src/admin/route.ts';
import { createRulesRoutes } from '../../../src/admin/rules-routes.ts';
import { rescueSchema } from '../../../src/rescue/config.ts';
import type { ForceRule } from '../../../src/sample/rules/rule-store.ts';
import { InMemoryRuleStoreDouble } from '../../support/memory-rule-store.ts';
import { goodRule, withAdmin } from './support.ts';

type Doc = {
  openapi: string;
  info: { title: string; version: string };
  security: Record<string, string[]>[];
  paths: Record<string, Record<string, unknown>>;
  components: { securitySchemes: Record<string, { type: string; scheme?: string }>; schemas: Record<string, unknown> };
};
type Operation = {
  operationId?: string;
  security?: unknown[];
  requestBody?: { content: Record<string, { schema: { examples?: unknown[] } }> };
  responses: Record<string, { description?: string; content?: Record<string, unknown> }>;
};
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function operations(doc: Doc): { path: string; method: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([k]) => METHODS.includes(k))
      .map(([method, op]) => ({ path, method, op: op as Operation })),
  );
}

/** Every `$ref` in the document, with where it is. */
function refs(node: unknown, at = '#'): { ref: string; at: string }[] {
  if (Array.isArray(node)) return node.flatMap((v, i) => refs(v, `${at}/${i}`));
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([k, v]) => (k === '$ref' && typeof v === 'string' ? [{ ref: v, at }] : refs(v, `${at}/${k}`)));
}

/**
 * Every route a running service mounts: health, rules and rescue. The rescuer is never called by
 * these document tests (they read the routes' OpenAPI parts), so it refuses any call.
 */
function serviceRoutes(store: InMemoryRuleStoreDouble): AdminRoute[] {
  const unused = (): never => assert.fail('the document tests do not call the rescuer');
  return [createHealthRoute(store), ...createRulesRoutes(store), ...rescueRoutes({ submit: unused, wait: unused, get: unused, list: unused }, rescueSchema.parse({}))];
}

function resolve(doc: unknown, ref: string): unknown {
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>((n, k) => (n !== null && typeof n === 'object' ? (n as Record<string, unknown>)[k.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), doc);
}

it('the document is served publicly, is OpenAPI 3.1 in structure, and every reference resolves (rules and rescue routes)', async () => {
  await withAdmin(async ({ call, server }) => {
    const r = await call('GET', '/v1/openapi.json', undefined, { token: null });
    assert.equal(r.status, 200);
    const doc = r.json as Doc;
    assert.deepEqual(doc, server.openapi);
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.info.title.length > 0 && doc.info.version.length > 0);
    assert.deepEqual(doc.security, [{ bearer: [] }]);
    assert.deepEqual(doc.components.securitySchemes.bearer?.type, 'http');
    assert.deepEqual(doc.components.securitySchemes.bearer?.scheme, 'bearer');
    const ids = new Set<string>();
    for (const { path, method, op } of operations(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      assert.match(path, /^\/v1\//, where);
      assert.ok(typeof op.operationId === 'string' && !ids.has(op.operationId), `${where}: a unique operationId`);
      ids.add(op.operationId);
      const codes = Object.keys(op.responses);
      assert.ok(codes.some((c) => /^2\d\d$/.test(c)), `${where}: a success response`);
      for (const [code, resp] of Object.entries(op.responses)) {
        assert.match(code, /^[1-5]\d\d$/, where);
        assert.ok(typeof resp.description === 'string' && resp.description !== '', `${where} ${code}: a description (required by 3.1)`);
      }
      if (op.security === undefined) assert.ok('401' in op.responses, `${where}: authed, so it documents 401`);
      // Every {param} of the template is declared on the path item, as OpenAPI requires.
      const declared = ((doc.paths[path]!.parameters ?? []) as { name: string; in: string; required: boolean }[]).filter((p) => p.in === 'path');
      const inTemplate = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      assert.deepEqual(declared.map((p) => p.name), inTemplate, `${where}: path parameters`);
      assert.ok(declared.every((p) => p.required), where);
    }
    const all = refs(doc);
    assert.ok(all.length > 0);
    for (const { ref, at } of all) assert.notEqual(resolve(doc, ref), undefined, `${ref} at ${at}`);
  }, { routes: serviceRoutes(new InMemoryRuleStoreDouble()) });
});

it('every route is in the document with its method, rescue routes included; only health and the document itself are public', async () => {
  const routes = serviceRoutes(new InMemoryRuleStoreDouble());
  await withAdmin(
    async ({ server }) => {
      const doc = server.openapi as Doc;
      const documented = operations(doc).map((o) => `${o.method.toUpperCase()} ${o.path}`).sort();
      const expected = [...routes.map((r) => `${r.method} ${r.path}`), 'GET /v1/openapi.json'].sort();
      assert.deepEqual(documented, expected);
      const open = operations(doc).filter((o) => Array.isArray(o.op.security) && o.op.security.length === 0).map((o) => `${o.method.toUpperCase()} ${o.path}`).sort();
      assert.deepEqual(open, ['GET /v1/health', 'GET /v1/openapi.json']);
      for (const r of ['GET /v1/rules', 'POST /v1/rules', 'GET /v1/rules/{id}', 'DELETE /v1/rules/{id}', 'POST /v1/rules/{id}/extend', 'POST /v1/rules/{id}/enable', 'POST /v1/rules/{id}/disable', 'GET /v1/health', 'POST /v1/rescue', 'GET /v1/rescue', 'GET /v1/rescue/{id}']) {
        assert.ok(documented.includes(r), r);
      }
    },
    { routes },
  );
});

it('every documented operation answers with a status it documents (the POST example included)', async () => {
  await withAdmin(async ({ call, server }) => {
    const doc = server.openapi as Doc;
    const id = ((await call('POST', '/v1/rules', goodRule())).json as ForceRule).id;
    // Delete last, so the other calls find the rule.
    const ops = operations(doc).sort((a, b) => Number(a.method === 'delete') - Number(b.method === 'delete'));
    for (const { path, method, op } of ops) {
      const example = op.requestBody?.content['application/json']?.schema.examples?.[0];
      const body = op.requestBody === undefined ? undefined : (example ?? (path.endsWith('/extend') ? { ttl_secs: 60 } : {}));
      const r = await call(method.toUpperCase(), path.replace('{id}', id), body);
      assert.ok(r.status in op.responses, `${method.toUpperCase()} ${path} answered ${r.status}, documented ${Object.keys(op.responses).join(', ')}`);
      assert.ok(r.status < 300, `${method.toUpperCase()} ${path} succeeds (${r.status}: ${JSON.stringify(r.json)})`);
      if (op.responses[String(r.status)]?.content !== undefined) assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    }
  });
});
