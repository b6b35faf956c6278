import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ForceRule } from '../../../src/sample/rules/rule-store.ts';
import { BAD_RULES, goodRule, withAdmin } from './support.ts';

type Err = { error: { code: string; message: string; issues?: { path: string; message: string }[] } };

it('create → 201 with id and Location; get, list (most urgent first), extend, disable, enable, delete', async () => {
  await withAdmin(async ({ call, store }) => {
    const before = Date.now();
    const a = await call('POST', '/v1/rules', goodRule());
    assert.equal(a.status, 201);
    const rule = a.json as ForceRule;
    assert.equal(a.headers.get('location'), `/v1/rules/${rule.id}`);
    assert.deepEqual(
      { action: rule.action, priority: rule.priority, reason: rule.reason, enabled: rule.enabled, created_by: rule.created_by, match: rule.match },
      { action: 'keep', priority: 100, reason: 'INC-1234', enabled: true, created_by: 'token', match: goodRule().match },
    );
    const expiry = Date.parse(rule.expires_at) - before;
    assert.ok(expiry >= 3_599_000 && expiry <= 3_601_000, `expires in about an hour (${expiry} ms)`);
    const b = (await call('POST', '/v1/rules', goodRule({ action: 'drop', priority: 500 }))).json as ForceRule;

    assert.deepEqual((await call('GET', `/v1/rules/${rule.id}`)).json, rule);
    const list = (await call('GET', '/v1/rules')).json as { rules: ForceRule[] };
    assert.deepEqual(list.rules.map((r) => r.id), [b.id, rule.id], 'priority 500 before 100');

    const extended = await call('POST', `/v1/rules/${rule.id}/extend`, { ttl_secs: 7200 });
    assert.equal(extended.status, 200);
    assert.ok(Date.parse((extended.json as ForceRule).expires_at) - before >= 7_199_000);
    assert.equal(store.rules.get(rule.id)?.expires_at, (extended.json as ForceRule).expires_at, 'the store holds the new expiry');

    const off = await call('POST', `/v1/rules/${rule.id}/disable`);
    assert.equal((off.json as ForceRule).enabled, false);
    assert.equal(store.rules.get(rule.id)?.enabled, false);
    assert.equal(((await call('POST', `/v1/rules/${rule.id}/enable`)).json as ForceRule).enabled, true);
    assert.equal(store.rules.get(rule.id)?.enabled, true);

    const del = await call('DELETE', `/v1/rules/${rule.id}`);
    assert.equal(del.status, 204);
    assert.equal(del.json, undefined);
    assert.equal(store.rules.has(rule.id), false);
    assert.equal((await call('DELETE', `/v1/rules/${rule.id}`)).status, 404);
  });
});

it('an unknown rule id is a 404 on every rule route', async () => {
  await withAdmin(async ({ call }) => {
    for (const [method, path, body] of [
      ['GET', '/v1/rules/nope', undefined],
      ['DELETE', '/v1/rules/nope', undefined],
      ['POST', '/v1/rules/nope/extend', { ttl_secs: 60 }],
      ['POST', '/v1/rules/nope/enable', undefined],
      ['POST', '/v1/rules/nope/disable', undefined],
    ] as const) {
      const r = await call(method, path, body);
      assert.equal(r.status, 404, `${method} ${path}`);
      assert.deepEqual(r.json, { error: { code: 'TS_ADMIN_NOT_FOUND', message: 'no rule nope' } });
    }
  });
});

it('every write without a token, or with a wrong one, is refused with 401 and changes nothing', async () => {
  await withAdmin(async ({ call, store }) => {
    const id = ((await call('POST', '/v1/rules', goodRule())).json as ForceRule).id;
    const snapshot = JSON.stringify([...store.rules]);
    for (const token of [null, 'wrong-token-wrong-token']) {
      for (const [method, path, body] of [
        ['POST', '/v1/rules', goodRule()],
        ['DELETE', `/v1/rules/${id}`, undefined],
        ['POST', `/v1/rules/${id}/extend`, { ttl_secs: 99 }],
        ['POST', `/v1/rules/${id}/disable`, undefined],
        ['POST', `/v1/rules/${id}/enable`, undefined],
        ['GET', '/v1/rules', undefined],
        ['GET', `/v1/rules/${id}`, undefined],
      ] as const) {
        const r = await call(method, path, body, { token });
        assert.equal(r.status, 401, `${method} ${path} with ${token}`);
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer /);
        assert.equal((r.json as Err).error.code, 'TS_ADMIN_UNAUTHORIZED');
      }
    }
    assert.equal(JSON.stringify([...store.rules]), snapshot);
  });
});

it(`${BAD_RULES.length} bad rules are refused with 400 TS_RULE_INVALID and each reason at its path; none is stored`, async () => {
  assert.equal(BAD_RULES.length, 20);
  await withAdmin(async ({ call, store }) => {
    for (const { what, body, path, message } of BAD_RULES) {
      const r = await call('POST', '/v1/rules', body);
      assert.equal(r.status, 400, what);
      const e = (r.json as Err).error;
      assert.equal(e.code, 'TS_RULE_INVALID', what);
      assert.ok(Array.isArray(e.issues) && e.issues.length > 0, what);
      const issue = e.issues.find((i) => i.path === path);
      assert.ok(issue !== undefined, `${what}: an issue at ${JSON.stringify(path)}, got ${JSON.stringify(e.issues)}`);
      assert.ok(issue.message.includes(message), `${what}: ${JSON.stringify(issue.message)} says ${JSON.stringify(message)}`);
    }
    assert.equal(store.rules.size, 0);
  });
});

it('several problems in one rule come back together', async () => {
  await withAdmin(async ({ call }) => {
    const r = await call('POST', '/v1/rules', { action: 'nope', ttl_secs: -1, match: { span: [{ key: 'a', op: 'gt', value: 'x' }] } });
    assert.equal(r.status, 400);
    assert.deepEqual(((r.json as Err).error.issues ?? []).map((i) => i.path).sort(), ['action', 'match.span[0].value', 'ttl_secs']);
  });
});

it('extend refuses a bad ttl_secs with its path', async () => {
  await withAdmin(async ({ call }) => {
    const id = ((await call('POST', '/v1/rules', goodRule())).json as ForceRule).id;
    for (const body of [{}, { ttl_secs: 0 }, { ttl_secs: 'soon' }, { ttl_secs: 60, extra: 1 }]) {
      const r = await call('POST', `/v1/rules/${id}/extend`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal((r.json as Err).error.code, 'TS_RULE_INVALID');
      assert.ok((r.json as Err).error.issues!.length > 0);
    }
  });
});

it('writes while the store is down are 503 with Retry-After; reads and health say so', async () => {
  await withAdmin(async ({ call, store }) => {
    const id = ((await call('POST', '/v1/rules', goodRule())).json as ForceRule).id;
    assert.deepEqual((await call('GET', '/v1/health', undefined, { token: null })).json, {
      status: 'ok',
      rule_store: { connected: true, rules: 1, last_load: '2026-01-01T00:00:00.000Z', last_error: null },
    });
    store.down = true;
    for (const [method, path, body] of [
      ['POST', '/v1/rules', goodRule()],
      ['POST', `/v1/rules/${id}/extend`, { ttl_secs: 60 }],
      ['POST', `/v1/rules/${id}/disable`, undefined],
      ['DELETE', `/v1/rules/${id}`, undefined],
    ] as const) {
      const r = await call(method, path, body);
      assert.equal(r.status, 503, `${method} ${path}`);
      assert.equal(r.headers.get('retry-after'), '5');
      assert.equal((r.json as Err).error.code, 'TS_RULE_STORE_UNAVAILABLE');
    }
    const health = await call('GET', '/v1/health', undefined, { token: null });
    assert.equal(health.status, 503);
    assert.deepEqual(health.json, {
      status: 'degraded',
      rule_store: { connected: false, rules: 1, last_load: '2026-01-01T00:00:00.000Z', last_error: 'connect ECONNREFUSED 127.0.0.1:6379' },
    });
    assert.equal(store.rules.get(id)?.enabled, true, 'nothing changed');
  });
});
