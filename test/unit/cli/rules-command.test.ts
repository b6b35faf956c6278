import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { UsageError } from '../../../src/cli/rule-syntax.ts';
import { parseRulesCommand } from '../../../src/cli/rules.ts';

const ENV = { TAILSAMPLER_ADMIN_URL: 'http://admin.test:9999', TAILSAMPLER_ADMIN_TOKEN: 'env-token' };

it('rules add with flags builds the API body', () => {
  const call = parseRulesCommand(
    ['add', '--keep', '--ttl', '1h', '--priority', '100', '--reason', 'INC-1', '--trace-id', 'ab'.repeat(16), '--resource', 'service.name=checkout', '--span', 'http.route^=/api', '--span', 'http.status_code>=500'],
    ENV,
  );
  assert.equal(call.method, 'POST');
  assert.equal(call.path, '/v1/rules');
  assert.deepEqual(call.body, {
    action: 'keep',
    ttl_secs: 3600,
    priority: 100,
    reason: 'INC-1',
    match: {
      trace_id: 'ab'.repeat(16),
      resource: [{ key: 'service.name', op: 'eq', value: 'checkout' }],
      span: [
        { key: 'http.route', op: 'prefix', value: '/api' },
        { key: 'http.status_code', op: 'gte', value: 500 },
      ],
    },
  });
  assert.deepEqual(call.client, { url: 'http://admin.test:9999', token: 'env-token' });
  assert.equal(call.json, false);
});

it('--match-json is merged with the condition flags; --disabled and --drop', () => {
  const call = parseRulesCommand(['add', '--drop', '--ttl', '30m', '--disabled', '--match-json', '{"span":[{"key":"a","op":"eq","value":1}]}', '--span', 'b exists'], ENV);
  assert.deepEqual(call.body, {
    action: 'drop',
    ttl_secs: 1800,
    enabled: false,
    match: { span: [{ key: 'a', op: 'eq', value: 1 }, { key: 'b', op: 'exists' }] },
  });
});

it('--body takes the whole rule as JSON or @file, and refuses rule flags beside it', () => {
  const rule = { action: 'keep', ttl_secs: 60, match: { trace_id: 'a'.repeat(32) } };
  assert.deepEqual(parseRulesCommand(['add', '--body', JSON.stringify(rule)], ENV).body, rule);
  const file = join(mkdtempSync(join(tmpdir(), 'rules-')), 'rule.json');
  writeFileSync(file, JSON.stringify(rule));
  assert.deepEqual(parseRulesCommand(['add', '--body', `@${file}`], ENV).body, rule);
  assert.throws(() => parseRulesCommand(['add', '--body', '{}', '--keep'], ENV), /--body holds the whole rule; drop --keep/);
  assert.throws(() => parseRulesCommand(['add', '--body', '{nope'], ENV), /--body is not JSON/);
});

it('the other subcommands map to their routes, ids encoded', () => {
  const m = (args: string[]) => {
    const c = parseRulesCommand(args, ENV);
    return [c.method, c.path, c.body];
  };
  assert.deepEqual(m(['list']), ['GET', '/v1/rules', undefined]);
  assert.deepEqual(m(['get', 'r1']), ['GET', '/v1/rules/r1', undefined]);
  assert.deepEqual(m(['delete', 'a/b']), ['DELETE', '/v1/rules/a%2Fb', undefined]);
  assert.deepEqual(m(['enable', 'r1']), ['POST', '/v1/rules/r1/enable', undefined]);
  assert.deepEqual(m(['disable', 'r1']), ['POST', '/v1/rules/r1/disable', undefined]);
  assert.deepEqual(m(['extend', 'r1', '--ttl', '2d']), ['POST', '/v1/rules/r1/extend', { ttl_secs: 172_800 }]);
  assert.equal(parseRulesCommand(['list', '--json'], ENV).json, true);
});

it('admin URL and token: --admin over the env, --token-file over the env, defaults without either', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rules-'));
  writeFileSync(join(dir, 'token'), 'file-token\n');
  assert.deepEqual(parseRulesCommand(['list', '--admin', 'http://h:1', '--token-file', join(dir, 'token')], ENV).client, { url: 'http://h:1', token: 'file-token' });
  assert.deepEqual(parseRulesCommand(['list'], {}).client, { url: 'http://127.0.0.1:8889', token: null });
});

it('usage errors: missing action or ttl, both actions, bad priority, unknown flag or command, a token flag', () => {
  const bad: string[][] = [
    ['add', '--ttl', '1h', '--span', 'a=b'],
    ['add', '--keep', '--drop', '--ttl', '1h'],
    ['add', '--keep', '--span', 'a=b'],
    ['add', '--keep', '--ttl', 'soon'],
    ['add', '--keep', '--ttl', '1h', '--priority', 'high'],
    ['add', '--keep', '--ttl', '1h', '--span', 'nonsense'],
    ['add', '--keep', '--ttl', '1h', '--match-json', '[1]'],
    ['get'],
    ['get', 'a', 'b'],
    ['extend', 'r1'],
    ['list', '--token', 'secret'],
    ['frobnicate'],
  ];
  for (const args of bad) assert.throws(() => parseRulesCommand(args, ENV), UsageError, args.join(' '));
});
