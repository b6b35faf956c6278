import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, Redis } from 'ioredis';
import { parseConfig } from '../../../../src/config/load.ts';
import { configIssuePaths } from '../../../support/config.ts';
import { createRedisClient, describeEndpoint } from '../../../../src/sample/rules/redis-client.ts';
import { RuleStoreConfigError } from '../../../../src/sample/rules/errors.ts';

test('force_rules is off by default; the contract shape parses with its defaults', () => {
  assert.equal(parseConfig('', 'inline', {}).force_rules, null);
  const c = parseConfig('force_rules: { redis: { endpoint: "redis://127.0.0.1:6379" } }', 'inline', {}).force_rules!;
  assert.equal(c.redis.key_prefix, 'tailsampler:');
  assert.equal(c.reload_interval_secs, 30);
  assert.equal(c.redis.sentinel, null);
  assert.equal(c.redis.password, null);
  const p = parseConfig('force_rules: { redis: { password: "${PW}" } }', 'inline', { PW: 's3cret' }).force_rules!;
  assert.equal(p.redis.password, 's3cret');
});

test('bad force_rules settings are reported at their paths', () => {
  assert.deepEqual(configIssuePaths('force_rules: { redis: { endpoint: "http://x:1" } }'), ['force_rules.redis.endpoint']);
  assert.deepEqual(configIssuePaths('force_rules: { redis: { sentinel: { master_name: m, sentinels: [a:1] }, cluster: { nodes: [b:2] } } }'), ['force_rules.redis.cluster']);
  assert.deepEqual(configIssuePaths('force_rules: { redis: { cluster: { nodes: [nohost] } } }'), ['force_rules.redis.cluster.nodes[0]']);
  assert.deepEqual(configIssuePaths('force_rules: { redis: { tls: { cert_file: a.pem } } }'), ['force_rules.redis.tls.key_file']);
  assert.deepEqual(configIssuePaths('force_rules: { reload_interval_secs: 0 }'), ['force_rules.reload_interval_secs']);
});

const redisConfig = (yaml: string) => parseConfig(`force_rules: { redis: ${yaml} }`, 'inline', {}).force_rules!.redis;

test('client options: the endpoint URL, with username/password/tls from the config taking precedence', async () => {
  const c = await createRedisClient(redisConfig('{ endpoint: "rediss://u:p@redis.example:6380/2", password: "other" }'));
  assert.ok(c instanceof Redis);
  assert.equal(c.options.host, 'redis.example');
  assert.equal(c.options.port, 6380);
  assert.equal(c.options.db, 2);
  assert.equal(c.options.username, 'u');
  assert.equal(c.options.password, 'other');
  assert.deepEqual(c.options.tls, {}, 'rediss:// means TLS');
  assert.equal(c.options.enableOfflineQueue, false, 'fail fast while disconnected');
  assert.equal(c.status, 'wait', 'not connected until started');
  assert.equal(describeEndpoint(redisConfig('{ endpoint: "redis://u:p@h:1/3" }')), 'redis://h:1/3', 'no credentials in logs');
  c.disconnect();
});

test('client options: Sentinel and Cluster', async () => {
  const s = await createRedisClient(redisConfig('{ sentinel: { master_name: mymaster, sentinels: ["s1:26379", "[::1]:26380"], password: sp }, tls: { insecure_skip_verify: true } }'));
  assert.ok(s instanceof Redis);
  assert.equal(s.options.name, 'mymaster');
  assert.deepEqual(s.options.sentinels, [{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }]);
  assert.equal(s.options.sentinelPassword, 'sp');
  assert.equal(s.options.enableTLSForSentinelMode, true);
  assert.deepEqual(s.options.tls, { rejectUnauthorized: false });
  s.disconnect();
  const c = await createRedisClient(redisConfig('{ cluster: { nodes: ["n1:7000", "n2:7001"] }, username: app, password: pw }'));
  assert.ok(c instanceof Cluster);
  assert.equal(c.options.redisOptions?.username, 'app');
  assert.equal(c.options.redisOptions?.password, 'pw');
  c.disconnect();
});

test('an unreadable TLS file is a TS_RULE_STORE_CONFIG error naming the key', async () => {
  await assert.rejects(createRedisClient(redisConfig('{ tls: { ca_file: /nonexistent/ca.pem } }')), (e: unknown) => {
    assert.ok(e instanceof RuleStoreConfigError);
    assert.equal(e.code, 'TS_RULE_STORE_CONFIG');
    assert.match(e.message, /force_rules\.redis\.tls\.ca_file/);
    return true;
  });
});
