import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { forceRulesSchema } from '../../../src/sample/rules/config.ts';
import { RuleStoreUnavailableError } from '../../../src/sample/rules/errors.ts';
import { withForceRules } from '../../../src/sample/rules/factory.ts';
import { RedisRuleStore } from '../../../src/sample/rules/redis-rule-store.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { infraEnv } from '../../support/infra.ts';
import { OwnRedis } from '../../support/redis-server.ts';
import { counterValue, samplerFor } from '../../unit/sample/helpers.ts';
import { ruleTrace } from '../../unit/sample/rules/helpers.ts';

const SHARED_URL = infraEnv('redis').TAILSAMPLER_REDIS_URL!;

/** A replica's store on `url` under `prefix`, stopped after the test. */
async function replica(t: TestContext, url: string, prefix: string, extra: Record<string, unknown> = {}) {
  const config = forceRulesSchema.parse({ redis: { endpoint: url, key_prefix: prefix, connect_timeout_ms: 1000, command_timeout_ms: 1000 }, reload_interval_secs: 3600, ...extra })!;
  const metrics = new Metrics();
  const store = new RedisRuleStore(config, { metrics, logger: silentLogger() });
  await store.start();
  t.after(() => store.shutdown());
  return { store, metrics };
}

async function gauge(metrics: Metrics, name: 'forceRulesInForce' | 'forceRulesStoreUp'): Promise<number> {
  return (await metrics[name].get()).values[0]?.value ?? NaN;
}

/** Polls `check` every 10 ms until it holds; returns how long that took (ms), fails after `limitMs`. */
async function within(limitMs: number, what: string, check: () => boolean | Promise<boolean>): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > limitMs) assert.fail(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * How long a change may take to reach another replica by its notice. The replicas here reload only
 * hourly, so anything within this bound came by pub/sub; the time it took is printed (timings are
 * for benchmarks and diagnostics, not pass/fail: these machines are shared).
 */
const NOTICE_LIMIT_MS = 10_000;

const prefix = () => `test:force-rules:${randomUUID()}:`;
const checkout = { resource: [{ key: 'service.name', op: 'eq', value: 'checkout' }], span: [{ key: 'http.route', op: 'prefix', value: '/api' }] };

test('a rule created on one replica is in force on another by its notice alone (pub/sub, no periodic reload)', async (t) => {
  const p = prefix();
  const a = await replica(t, SHARED_URL, p);
  const b = await replica(t, SHARED_URL, p);
  const sampler = withForceRules(samplerFor([{ name: 'none', type: 'always_sample' }]), b.store, { metrics: b.metrics, logger: silentLogger() });
  const matching = ruleTrace([{ service: 'checkout', attrs: { 'http.route': '/api/pay' } }]);
  const other = ruleTrace([{ service: 'cart', attrs: { 'http.route': '/api/pay' } }]);
  assert.equal(sampler.decide(matching, Date.now()).policy, 'none');
  assert.deepEqual(sampler.requiredColumns, [], 'no rule, nothing read');

  const t0 = performance.now();
  const rule = await a.store.create({ action: 'drop', ttl_secs: 600, priority: 100, reason: 'incident 42', match: checkout }, 'alice');
  await within(NOTICE_LIMIT_MS, 'rule in force on replica b', () => b.store.current().size === 1);
  const took = performance.now() - t0;
  t.diagnostic(`in force on the other replica ${took.toFixed(0)} ms after the create call began`);
  assert.equal(rule.created_by, 'alice');
  assert.equal(rule.reason, 'incident 42');
  assert.deepEqual(sampler.decide(matching, Date.now()), { keep: false, policy: `force_rule:${rule.id}`, threshold: null });
  assert.equal(sampler.decide(other, Date.now()).policy, 'none', 'only the matching trace');
  assert.deepEqual([...sampler.requiredColumns].sort(), ['attributes', 'service_name']);
  assert.equal(await gauge(b.metrics, 'forceRulesInForce'), 1);
  assert.deepEqual(await b.store.get(rule.id), rule);
  assert.deepEqual((await b.store.list()).map((r) => r.id), [rule.id]);

  // Disabling, re-enabling and deleting reach the other replica the same way.
  assert.equal((await a.store.setEnabled(rule.id, false))!.enabled, false);
  await within(NOTICE_LIMIT_MS, 'disabled on b', () => b.store.current().size === 0);
  assert.equal(sampler.decide(matching, Date.now()).policy, 'none');
  await a.store.setEnabled(rule.id, true);
  await within(NOTICE_LIMIT_MS, 're-enabled on b', () => b.store.current().size === 1);
  assert.equal(await a.store.delete(rule.id), true);
  assert.equal(await a.store.delete(rule.id), false);
  await within(NOTICE_LIMIT_MS, 'deleted on b', () => b.store.current().size === 0);
  assert.equal(await b.store.get(rule.id), null);
  assert.equal(await b.store.extend(rule.id, 60), null);
});

test('rules expire on time, and extend moves the expiry', async (t) => {
  const p = prefix();
  const a = await replica(t, SHARED_URL, p);
  const sampler = withForceRules(samplerFor([{ name: 'none', type: 'always_sample' }]), a.store, { metrics: a.metrics, logger: silentLogger() });
  const trace = ruleTrace([{ service: 'checkout', attrs: { 'http.route': '/api/pay' } }]);
  const short = await a.store.create({ action: 'drop', ttl_secs: 1, match: checkout }, 'bob');
  const long = await a.store.create({ action: 'drop', ttl_secs: 1, match: { trace_id: trace.summary.traceId } }, 'bob');
  const extended = await a.store.extend(long.id, 60);
  assert.ok(Date.parse(extended!.expires_at) - Date.now() > 55_000);
  assert.equal(sampler.decide(trace, Date.now()).policy, `force_rule:${short.id}`, 'created first, same priority');
  const expiresMs = Date.parse(short.expires_at);
  assert.equal(sampler.decide(trace, expiresMs - 1).policy, `force_rule:${short.id}`);
  assert.equal(sampler.decide(trace, expiresMs).policy, `force_rule:${long.id}`, 'expired at expires_at exactly');
  // The store follows on its own: the expired rule leaves the set, the gauge and the hash.
  await within(3000, 'expired rule pruned', async () => (await gauge(a.metrics, 'forceRulesInForce')) === 1 && a.store.current().size === 1);
  const raw = new Redis(SHARED_URL);
  t.after(() => raw.disconnect());
  assert.deepEqual(await raw.hkeys(`${p}rules`), [long.id]);
  assert.deepEqual((await a.store.list()).map((r) => r.id), [long.id]);
});

test('the periodic full reload catches a change written without a notice; an invalid entry is skipped and counted', async (t) => {
  const p = prefix();
  const a = await replica(t, SHARED_URL, p, { reload_interval_secs: 0.3 });
  const raw = new Redis(SHARED_URL);
  t.after(() => raw.disconnect());
  const rule = await a.store.create({ action: 'keep', ttl_secs: 60, match: checkout }, 'carol');
  const copy = { ...rule, id: 'written-by-hand' };
  await raw.hset(`${p}rules`, copy.id, JSON.stringify(copy), 'garbage', '{"id":"garbage"');
  await within(1500, 'hand-written rule loaded', () => a.store.current().size === 2);
  assert.ok((await counterValue(a.metrics.forceRulesErrors, { reason: 'invalid_rule' })) >= 1);
  assert.equal(a.store.health().rules, 2);
});

test('rules stay in force while Redis is down, the metrics say so, and the store reconnects and reloads after a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-force-rules-redis-'));
  const redis = await OwnRedis.start(dir);
  t.after(() => redis.kill());
  const p = prefix();
  const a = await replica(t, redis.url, p, { reload_interval_secs: 0.5 });
  const b = await replica(t, redis.url, p, { reload_interval_secs: 0.5 });
  const rule = await a.store.create({ action: 'keep', ttl_secs: 600, match: checkout }, 'dave');
  await within(NOTICE_LIMIT_MS, 'in force on b', () => b.store.current().size === 1);
  assert.equal(await gauge(b.metrics, 'forceRulesStoreUp'), 1);

  await redis.kill();
  await within(3000, 'store down on both', async () => (await gauge(a.metrics, 'forceRulesStoreUp')) === 0 && (await gauge(b.metrics, 'forceRulesStoreUp')) === 0);
  await within(3000, 'failed reloads counted', async () => (await counterValue(b.metrics.forceRulesErrors, { reason: 'reload' })) >= 1);
  assert.equal(b.store.health().connected, false);
  assert.equal(b.store.current().size, 1, 'the last good set stays in force');
  assert.equal(b.store.health().rules, 1);
  assert.equal(await gauge(b.metrics, 'forceRulesInForce'), 1);
  await assert.rejects(a.store.create({ action: 'keep', ttl_secs: 60, match: checkout }, 'dave'), RuleStoreUnavailableError);
  await assert.rejects(b.store.list(), (e: unknown) => e instanceof RuleStoreUnavailableError && e.retryable);

  const downSince = b.store.health().lastLoadMs!;
  await redis.start();
  await within(10_000, 'reconnected and reloaded', async () => (await gauge(b.metrics, 'forceRulesStoreUp')) === 1 && b.store.health().lastLoadMs! > downSince);
  assert.deepEqual(b.store.current().rules.map((r) => r.rule.id), [rule.id], 'the rule survived the restart in Redis');
  assert.deepEqual(await b.store.get(rule.id), rule);
  // Pub/sub works again after the reconnect: a change on a reaches b at once.
  await within(10_000, 'a reconnected', () => a.store.health().connected);
  await a.store.delete(rule.id);
  await within(1000, 'deletion reached b', () => b.store.current().size === 0);
});

test('a replica started while Redis is down runs without rules, then loads them and follows notices once Redis answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-force-rules-redis-'));
  const redis = await OwnRedis.start(dir);
  t.after(() => redis.kill());
  const p = prefix();
  const a = await replica(t, redis.url, p);
  const rule = await a.store.create({ action: 'keep', ttl_secs: 600, match: checkout }, 'erin');
  await redis.kill();

  const late = await replica(t, redis.url, p);
  assert.equal(late.store.current().size, 0);
  assert.equal(late.store.health().connected, false);
  assert.equal(late.store.health().lastLoadMs, null);
  assert.equal(await gauge(late.metrics, 'forceRulesStoreUp'), 0);

  await redis.start();
  await within(10_000, 'loaded once Redis answers', () => late.store.current().size === 1 && late.store.health().connected);
  assert.equal(late.store.current().rules[0]!.rule.id, rule.id);
  // Subscribed although Redis was down at start (the periodic reload is an hour away).
  await within(10_000, 'a reconnected', () => a.store.health().connected);
  await a.store.setEnabled(rule.id, false);
  await within(1000, 'the change notice reached the late replica', () => late.store.current().size === 0);
});
