import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { ConfigError, parseConfig } from '../../../src/config/load.ts';

const TOKEN = '0123456789abcdef0123';

function issues(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(yaml, 'inline', env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

it('the admin API is off without an admin section', () => {
  assert.equal(parseConfig('', 'inline', {}).admin, null);
  assert.equal(parseConfig('admin: null', 'inline', {}).admin, null);
});

it('with a token from the environment it listens on loopback :8889 by default', () => {
  const c = parseConfig('admin: { token: "${TAILSAMPLER_ADMIN_TOKEN}" }', 'inline', { TAILSAMPLER_ADMIN_TOKEN: TOKEN });
  assert.deepEqual(c.admin, { endpoint: '127.0.0.1:8889', token: TOKEN, oidc: null, max_body_kib: 64 });
});

it('an admin section with neither a token nor oidc is refused at admin.token, an empty ${VAR:-} too', () => {
  for (const yaml of ['admin: {}', 'admin: { endpoint: 127.0.0.1:9000 }', 'admin: { token: "${T:-}" }']) {
    const found = issues(yaml);
    assert.equal(found.length, 1, yaml);
    assert.match(found[0]!, /^admin\.token: the admin API needs a bearer token or an oidc provider/, yaml);
  }
});

it('a short token, a bad endpoint and an incomplete oidc section are refused with their paths', () => {
  assert.deepEqual(issues('admin: { token: short }'), ['admin.token: must be at least 16 characters (e.g. `openssl rand -hex 32`)']);
  assert.match(issues(`admin: { token: ${TOKEN}, endpoint: "8889" }`)[0]!, /^admin\.endpoint: must be host:port/);
  const oidc = issues('admin: { oidc: { issuer: https://idp.example/, jwks_uri: "ftp://x" } }');
  assert.ok(oidc.some((i) => i.startsWith('admin.oidc.audience:')), oidc.join('\n'));
  assert.ok(oidc.some((i) => i.startsWith('admin.oidc.jwks_uri:')), oidc.join('\n'));
  assert.ok(issues(`admin: { token: ${TOKEN}, tokn: x }`).some((i) => /tokn/.test(i)));
});

it('oidc alone is enough, with its defaults', () => {
  const c = parseConfig('admin: { oidc: { issuer: "https://idp.example/", audience: tailsampler, jwks_uri: "https://idp.example/jwks" } }', 'inline', {});
  assert.deepEqual(c.admin?.oidc, { issuer: 'https://idp.example/', audience: 'tailsampler', jwks_uri: 'https://idp.example/jwks', algorithms: ['RS256', 'ES256'], clock_tolerance_secs: 30 });
  assert.equal(c.admin?.token, null);
});

it('the README configuration reference lists every admin key', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const c = parseConfig(`admin: { token: ${TOKEN}, oidc: { issuer: i, audience: a, jwks_uri: "https://x/jwks" } }`, 'inline', {});
  const keys: string[] = ['admin'];
  const walk = (node: unknown, path: string): void => {
    keys.push(path);
    if (node !== null && typeof node === 'object' && !Array.isArray(node)) for (const [k, v] of Object.entries(node)) walk(v, `${path}.${k}`);
  };
  for (const [k, v] of Object.entries(c.admin!)) walk(v, `admin.${k}`);
  assert.deepEqual(keys.filter((k) => !readme.includes(`| \`${k}\` |`)), []);
});
