import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import type { ForceRule } from '../../../src/sample/rules/rule-store.ts';
import { BIN, freePort } from '../../support/service.ts';
import { TOKEN, withAdmin } from '../admin/support.ts';


/** Runs the real CLI in a child process (async: the admin server answers from this process). */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'rules', ...args], { env: { PATH: process.env.PATH ?? '', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

it('tailsampler rules against a running admin API: add, list, get, extend, disable, delete; refusals exit 1, usage 2', async () => {
  await withAdmin(async ({ base, store }) => {
    const env = { TAILSAMPLER_ADMIN_URL: base, TAILSAMPLER_ADMIN_TOKEN: TOKEN };

    const added = await cli(['add', '--keep', '--ttl', '1h', '--priority', '100', '--reason', 'INC-1234', '--resource', 'service.name=checkout', '--span', 'http.route^=/api', '--json'], env);
    assert.equal(added.code, 0, added.stderr);
    const rule = JSON.parse(added.stdout) as ForceRule;
    assert.deepEqual(store.rules.get(rule.id), rule, 'the rule printed is the rule stored');
    assert.deepEqual(rule.match, { resource: [{ key: 'service.name', op: 'eq', value: 'checkout' }], span: [{ key: 'http.route', op: 'prefix', value: '/api' }] });

    const list = await cli(['list'], env);
    assert.equal(list.code, 0, list.stderr);
    const [header, row, ...more] = list.stdout.trimEnd().split('\n');
    assert.match(header!, /^ID\s+ACTION\s+PRIORITY\s+ENABLED\s+EXPIRES IN\s+MATCH\s+REASON$/);
    assert.match(row!, new RegExp(`^${rule.id}\\s+keep\\s+100\\s+yes\\s+(59m\\d+s|1h)\\s+resource:service.name=checkout span:http.route\\^=/api\\s+INC-1234$`));
    assert.deepEqual(more, []);

    const get = await cli(['get', rule.id], env);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /^action\s+keep$/m);
    assert.match(get.stdout, /^created\s+\S+ by token$/m);

    const ext = await cli(['extend', rule.id, '--ttl', '2h', '--json'], env);
    assert.equal(ext.code, 0, ext.stderr);
    assert.ok(Date.parse((JSON.parse(ext.stdout) as ForceRule).expires_at) - Date.now() > 7_000_000);

    const off = await cli(['disable', rule.id], env);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /^enabled\s+no$/m);
    assert.equal(store.rules.get(rule.id)?.enabled, false);

    // Refused by the server: exit 1 with its code, message and every issue with its path.
    const bad = await cli(['add', '--keep', '--ttl', '31d', '--span', 'http.status_code>=500', '--match-json', '{"span":[{"key":"a","op":"like","value":"x"}]}'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error \(HTTP 400\): TS_RULE_INVALID: /);
    assert.match(bad.stderr, /^ {2}ttl_secs: at most 2592000 s \(30 days\)$/m);
    assert.match(bad.stderr, /^ {2}match\.span\[0\]\.op: /m);
    const badJson = await cli(['add', '--keep', '--ttl', '31d', '--span', 'a=b', '--json'], env);
    assert.equal(badJson.code, 1);
    const e = JSON.parse(badJson.stderr) as { error: { code: string; status: number; issues: { path: string }[] } };
    assert.equal(e.error.code, 'TS_RULE_INVALID');
    assert.equal(e.error.status, 400);
    assert.deepEqual(e.error.issues.map((i) => i.path), ['ttl_secs']);

    const missing = await cli(['get', 'nope'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /HTTP 404.*TS_ADMIN_NOT_FOUND: no rule nope/);

    const noToken = await cli(['list'], { TAILSAMPLER_ADMIN_URL: base });
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /HTTP 401.*TS_ADMIN_UNAUTHORIZED/);
    // The token from a file works; a wrong one from a file is refused.
    const dir = mkdtempSync(join(tmpdir(), 'rules-e2e-'));
    writeFileSync(join(dir, 'good'), `${TOKEN}\n`);
    writeFileSync(join(dir, 'bad'), 'not-the-token\n');
    assert.equal((await cli(['list', '--token-file', join(dir, 'good')], { TAILSAMPLER_ADMIN_URL: base })).code, 0);
    assert.equal((await cli(['list', '--token-file', join(dir, 'bad')], env)).code, 1);

    const usage = await cli(['add', '--keep'], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /rules add needs --ttl/);
    assert.equal(store.rules.size, 1, 'refused and usage runs stored nothing');

    const del = await cli(['delete', rule.id], env);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(del.stdout, `deleted ${rule.id}\n`);
    assert.equal(store.rules.size, 0);
    assert.equal((await cli(['list'], env)).stdout, 'no rules\n');
  });
});

it('an unreachable admin API is exit 1 with where it looked', async () => {
  const port = await freePort();
  const r = await cli(['list'], { TAILSAMPLER_ADMIN_URL: `http://127.0.0.1:${port}`, TAILSAMPLER_ADMIN_TOKEN: TOKEN });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `error: TS_ADMIN_REQUEST_FAILED: cannot reach the admin API at http://127.0.0.1:${port} (ECONNREFUSED)\n`);
});
