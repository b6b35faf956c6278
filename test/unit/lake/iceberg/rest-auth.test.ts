import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CatalogAuthError } from '../../../../src/lake/iceberg/errors.ts';
import { OAuth2ClientCredentials, parseCredential, refreshMarginMs } from '../../../../src/lake/iceberg/rest-auth.ts';
import { RestCatalog } from '../../../../src/lake/iceberg/rest-catalog.ts';
import { silentLogger } from '../../../../src/telemetry/logger.ts';
import { fakeServer, icebergError } from './rest-support.ts';

/** A token endpoint handing out tok-1, tok-2, … with the given lifetime. */
async function tokenEndpoint(expiresIn?: number) {
  let n = 0;
  return fakeServer((r) => {
    const form = new URLSearchParams(r.body);
    if (form.get('client_secret') !== 's3cr3t') return { status: 401, body: { error: 'invalid_client', error_description: 'bad client secret' } };
    n++;
    return { status: 200, body: { access_token: `tok-${n}`, token_type: 'bearer', ...(expiresIn !== undefined ? { expires_in: expiresIn } : {}) } };
  });
}

test('client credentials: the form the spec describes, cached until shortly before expires_in', async () => {
  const server = await tokenEndpoint(3600);
  let now = 1_000_000;
  const auth = new OAuth2ClientCredentials({ tokenUri: `${server.uri}/oauth/token`, clientId: 'svc', clientSecret: 's3cr3t', scope: 'catalog', timeoutMs: 2000, now: () => now });
  assert.equal(await auth.token(), 'tok-1');
  const form = new URLSearchParams(server.seen[0]!.body);
  assert.equal(server.seen[0]!.method, 'POST');
  assert.equal(server.seen[0]!.path, '/oauth/token');
  assert.match(String(server.seen[0]!.headers['content-type']), /application\/x-www-form-urlencoded/);
  assert.deepEqual(Object.fromEntries(form), { grant_type: 'client_credentials', client_id: 'svc', client_secret: 's3cr3t', scope: 'catalog' });

  now += 3600_000 - refreshMarginMs(3600) - 1;
  assert.equal(await auth.token(), 'tok-1', 'still valid: cached');
  assert.equal(auth.fetches, 1);
  now += 2;
  assert.equal(await auth.token(), 'tok-2', 'within the refresh margin: fetched again');
  assert.equal(refreshMarginMs(3600), 60_000);
  assert.equal(refreshMarginMs(10), 1000);

  // A 401 from the catalog invalidates the token it refused, not a newer one.
  auth.invalidate('tok-1');
  assert.equal(await auth.token(), 'tok-2');
  auth.invalidate('tok-2');
  assert.equal(await auth.token(), 'tok-3');
  await server.close();
});

test('concurrent callers share one token request; no expires_in means no timed refresh', async () => {
  const server = await tokenEndpoint();
  let now = 0;
  const auth = new OAuth2ClientCredentials({ tokenUri: server.uri, clientId: 'svc', clientSecret: 's3cr3t', scope: 'x', timeoutMs: 2000, now: () => now });
  const tokens = await Promise.all([auth.token(), auth.token(), auth.token()]);
  assert.deepEqual(tokens, ['tok-1', 'tok-1', 'tok-1']);
  assert.equal(server.seen.length, 1);
  now += 365 * 86_400_000;
  assert.equal(await auth.token(), 'tok-1');
  assert.equal(server.seen.length, 1);
  await server.close();
});

test('a refused client is TS_CATALOG_AUTH with the OAuth2 error, and the secret appears nowhere', async () => {
  const server = await tokenEndpoint();
  const auth = new OAuth2ClientCredentials({ tokenUri: server.uri, clientId: 'svc', clientSecret: 'WRONG-secret-value', scope: 'catalog', timeoutMs: 2000 });
  await assert.rejects(auth.token(), (e: unknown) =>
    e instanceof CatalogAuthError && e.status === 401 && /invalid_client: bad client secret/.test(e.message) && !e.message.includes('WRONG-secret-value'));
  await server.close();
});

test('parseCredential splits at the first colon', () => {
  assert.deepEqual(parseCredential('id:sec:ret'), { clientId: 'id', clientSecret: 'sec:ret' });
  assert.deepEqual(parseCredential('only-secret'), { clientId: '', clientSecret: 'only-secret' });
});

test('RestCatalog with credential: token from <uri>/v1/oauth/tokens, one fresh token and one retry after a 401', async () => {
  let tokens = 0;
  let acceptToken = 'tok-1';
  const server = await fakeServer((r) => {
    if (r.path === '/v1/oauth/tokens') {
      tokens++;
      const form = new URLSearchParams(r.body);
      assert.equal(form.get('scope'), 'catalog');
      assert.equal(form.get('client_id'), 'svc');
      return { status: 200, body: { access_token: `tok-${tokens}`, token_type: 'bearer', expires_in: 3600 } };
    }
    if (r.headers.authorization !== `Bearer ${acceptToken}`) return icebergError(401, 'NotAuthorizedException', 'Not authorized');
    if (r.path === '/v1/config') return { status: 200, body: { defaults: {}, overrides: {} } };
    return icebergError(404, 'NoSuchTableException', 'no table');
  });
  const catalog = await RestCatalog.open({ uri: server.uri, credential: 'svc:s3cr3t', requestTimeoutMs: 2000, logger: silentLogger() });
  assert.equal(tokens, 1);
  assert.equal(await catalog.loadTable({ namespace: 'ns', name: 't' }), null);
  assert.equal(tokens, 1, 'the cached token serves later requests');

  // The server starts refusing tok-1 (revoked): one new token, the same request again, success.
  acceptToken = 'tok-2';
  assert.equal(await catalog.loadTable({ namespace: 'ns', name: 't' }), null);
  assert.equal(tokens, 2);
  const last = server.seen.slice(-3).map((r) => `${r.path} ${String(r.headers.authorization ?? '')}`);
  assert.deepEqual(last, ['/v1/namespaces/ns/tables/t Bearer tok-1', '/v1/oauth/tokens ', '/v1/namespaces/ns/tables/t Bearer tok-2']);

  // Refused again with the fresh token: an auth error, not a loop.
  acceptToken = 'never';
  await assert.rejects(catalog.loadTable({ namespace: 'ns', name: 't' }), CatalogAuthError);
  assert.equal(tokens, 3);
  await server.close();
});
