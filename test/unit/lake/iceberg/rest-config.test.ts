import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { ConfigError, parseConfig } from '../../../../src/config/load.ts';
import { restCatalogConfigSchema } from '../../../../src/lake/iceberg/rest-config.ts';

const LAKEKEEPER = `
storage:
  catalog:
    type: rest
    uri: http://lakekeeper:8181/catalog
    warehouse: production
    headers: { x-project-id: "\${PROJECT_ID}" }
    token: \${CATALOG_TOKEN}
`;

test('a REST catalog section parses with defaults; numeric-looking secrets stay text', () => {
  const c = parseConfig(LAKEKEEPER, 'inline', { PROJECT_ID: '12345', CATALOG_TOKEN: '987654321' }).storage.catalog;
  assert.equal(c.type, 'rest');
  if (c.type !== 'rest') return;
  assert.equal(c.uri, 'http://lakekeeper:8181/catalog');
  assert.equal(c.warehouse, 'production');
  assert.equal(c.token, '987654321');
  assert.deepEqual(c.headers, { 'x-project-id': '12345' });
  assert.equal(c.scope, 'catalog');
  assert.equal(c.vended_credentials, false);
  assert.equal(c.request_timeout_ms, 30_000);
  assert.equal(c.credential, null);
  assert.equal(c.prefix, null);
});

test('REST catalog mistakes are reported with their paths', () => {
  const cases: [string, string, RegExp][] = [
    ['{type: rest}', 'storage.catalog.uri', /./],
    ['{type: rest, uri: "ftp://x"}', 'storage.catalog.uri', /./],
    ['{type: rest, uri: "http://x", token: a, credential: "id:b"}', 'storage.catalog.credential', /not both/],
    ['{type: rest, uri: "http://x", credential: no-colon}', 'storage.catalog.credential', /client_id:client_secret/],
    ['{type: rest, uri: "http://x", oauth2_server_uri: "http://idp/token"}', 'storage.catalog.oauth2_server_uri', /only used with credential/],
    ['{type: rest, uri: "http://x", name: default}', 'storage.catalog', /name/],
    ['{type: hive}', 'storage.catalog.type', /./],
  ];
  for (const [catalog, path, message] of cases) {
    assert.throws(
      () => parseConfig(`storage: { catalog: ${catalog} }`, 'inline', {}),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, catalog);
        const issue = e.issues.find((i) => i.path === path);
        assert.ok(issue, `${catalog}: no issue at ${path} in ${e.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
        assert.match(issue.message, message);
        return true;
      },
    );
  }
});

test('the README documents every REST catalog key, with Lakekeeper and Unity Catalog examples', () => {
  const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
  for (const key of Object.keys(restCatalogConfigSchema.shape)) {
    if (key === 'type') continue;
    assert.ok(readme.includes(`| \`storage.catalog.${key}\` |`), `storage.catalog.${key} missing from the README table`);
  }
  assert.match(readme, /uri: http:\/\/lakekeeper:8181\/catalog/);
  assert.match(readme, /x-project-id/);
  assert.match(readme, /\/api\/2\.1\/unity-catalog\/iceberg-rest/);
});

test('catalog secrets never reach a log line', () => {
  // The service's own logger (createLogger writes to stdout), in a child process whose output we read.
  const script = `
    import { createLogger } from ${JSON.stringify(new URL('../../../../src/telemetry/logger.ts', import.meta.url).href)};
    import { parseConfig } from ${JSON.stringify(new URL('../../../../src/config/load.ts', import.meta.url).href)};
    const config = parseConfig(process.env.LAKEKEEPER, 'inline', { PROJECT_ID: 'proj-secret-1', CATALOG_TOKEN: 'tok-secret-2' });
    const other = parseConfig('storage: { catalog: { type: rest, uri: "http://x", credential: "id:cred-secret-3" } }', 'inline', {});
    const logger = createLogger('info');
    logger.info({ config }, 'config');
    logger.info({ storage: other.storage }, 'storage');
    logger.info({ catalog: other.storage.catalog }, 'catalog');
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, LAKEKEEPER } });
  assert.equal(out.trim().split('\n').length, 3);
  for (const secret of ['proj-secret-1', 'tok-secret-2', 'cred-secret-3']) assert.ok(!out.includes(secret), `${secret} logged: ${out}`);
  assert.ok(out.includes('lakekeeper:8181'), 'the rest of the config is still logged');
});
