import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createAuthenticator, TOKEN_PRINCIPAL } from '../../../src/admin/auth.ts';
import type { OidcConfig } from '../../../src/admin/config.ts';
import { TOKEN, withAdmin } from './support.ts';

describe('static bearer token', () => {
  const auth = createAuthenticator({ token: TOKEN, oidc: null });

  it('accepts the token, scheme case-insensitive, as the principal "token"', async () => {
    assert.deepEqual(await auth(`Bearer ${TOKEN}`), { ok: true, principal: TOKEN_PRINCIPAL });
    assert.deepEqual(await auth(`bearer ${TOKEN}`), { ok: true, principal: TOKEN_PRINCIPAL });
  });

  it('refuses a missing, malformed, wrong, prefix or longer token, never echoing it', async () => {
    for (const header of [undefined, '', 'Basic dXNlcjpwYXNz', TOKEN, 'Bearer', 'Bearer wrong', `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`]) {
      const r = await auth(header);
      assert.equal(r.ok, false, String(header));
      if (!r.ok) assert.ok(!r.reason.includes('wrong') && !r.reason.includes(TOKEN.slice(0, 8)), r.reason);
    }
  });

  it('over HTTP: 401 with WWW-Authenticate: Bearer and the error shape; the token opens it', async () => {
    await withAdmin(async ({ call }) => {
      const none = await call('GET', '/v1/rules', undefined, { token: null });
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="tailsampler"');
      assert.deepEqual(none.json, { error: { code: 'TS_ADMIN_UNAUTHORIZED', message: 'missing bearer token (Authorization: Bearer …)' } });
      const wrong = await call('GET', '/v1/rules', undefined, { token: 'not-the-token' });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.headers.get('www-authenticate'), 'Bearer realm="tailsampler", error="invalid_token"');
      assert.equal((await call('GET', '/v1/rules')).status, 200);
    });
  });
});

describe('OIDC: JWTs checked against a JWKS served over HTTP', () => {
  const ISSUER = 'https://idp.example.test/';
  const AUDIENCE = 'tailsampler-admin';
  let jwks: Server;
  let jwksUri: string;
  let key: CryptoKey;
  let strangerKey: CryptoKey;
  let jwksFetches = 0;

  before(async () => {
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    strangerKey = (await generateKeyPair('ES256')).privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    jwks = createServer((_req, res) => {
      jwksFetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    jwksUri = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks.json`;
  });
  after(() => new Promise<void>((r) => jwks.close(() => r())));

  const config = (): OidcConfig => ({ issuer: ISSUER, audience: AUDIENCE, jwks_uri: jwksUri, algorithms: ['ES256'], clock_tolerance_secs: 5 });
  const sign = (claims: { iss?: string; aud?: string; sub?: string; exp?: number | string }, signer = key): Promise<string> => {
    const jwt = new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuedAt();
    if (claims.iss !== undefined) jwt.setIssuer(claims.iss);
    if (claims.aud !== undefined) jwt.setAudience(claims.aud);
    if (claims.sub !== undefined) jwt.setSubject(claims.sub);
    jwt.setExpirationTime(claims.exp ?? '5m');
    return jwt.sign(signer);
  };

  it('a valid token passes with its sub as the principal (keys fetched from the JWKS URL)', async () => {
    const auth = createAuthenticator({ token: null, oidc: config() });
    const before = jwksFetches;
    const r = await auth(`Bearer ${await sign({ iss: ISSUER, aud: AUDIENCE, sub: 'alice@example.com' })}`);
    assert.deepEqual(r, { ok: true, principal: 'alice@example.com' });
    assert.ok(jwksFetches > before, 'the JWKS was fetched over HTTP');
  });

  it('refuses a wrong audience, a wrong issuer, an expired token, a foreign key and no sub, saying which check failed', async () => {
    const auth = createAuthenticator({ token: null, oidc: config() });
    const cases: [string, Promise<string>, RegExp][] = [
      ['wrong audience', sign({ iss: ISSUER, aud: 'someone-else', sub: 'a' }), /aud/],
      ['wrong issuer', sign({ iss: 'https://evil.example/', aud: AUDIENCE, sub: 'a' }), /iss/],
      ['expired', sign({ iss: ISSUER, aud: AUDIENCE, sub: 'a', exp: Math.floor(Date.now() / 1000) - 60 }), /exp/],
      ['foreign key', sign({ iss: ISSUER, aud: AUDIENCE, sub: 'a' }, strangerKey), /signature/],
      ['no sub', sign({ iss: ISSUER, aud: AUDIENCE }), /subject/],
    ];
    for (const [what, jwt, reason] of cases) {
      const r = await auth(`Bearer ${await jwt}`);
      assert.equal(r.ok, false, what);
      if (!r.ok) assert.match(r.reason, reason, what);
    }
  });

  it('with both configured, the static token and a JWT are each accepted; over HTTP a bad JWT is a 401', async () => {
    const auth = createAuthenticator({ token: TOKEN, oidc: config() });
    assert.deepEqual(await auth(`Bearer ${TOKEN}`), { ok: true, principal: 'token' });
    const jwt = await sign({ iss: ISSUER, aud: AUDIENCE, sub: 'bob' });
    assert.deepEqual(await auth(`Bearer ${jwt}`), { ok: true, principal: 'bob' });
    await withAdmin(
      async ({ call, store }) => {
        const created = await call('POST', '/v1/rules', { action: 'keep', ttl_secs: 60, match: { trace_id: 'a'.repeat(32) } }, { token: jwt });
        assert.equal(created.status, 201);
        assert.equal((created.json as { created_by: string }).created_by, 'bob', 'the principal is the token subject');
        const bad = await call('POST', '/v1/rules', { action: 'keep', ttl_secs: 60, match: { trace_id: 'a'.repeat(32) } }, { token: await sign({ iss: ISSUER, aud: 'x', sub: 'bob' }) });
        assert.equal(bad.status, 401);
        assert.match((bad.json as { error: { message: string } }).error.message, /aud/);
        assert.equal(store.rules.size, 1);
      },
      { config: { token: TOKEN, oidc: config() } },
    );
  });
});
