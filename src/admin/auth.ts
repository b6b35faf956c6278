import { createHash, timingSafeEqual } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { AdminConfig, OidcConfig } from './config.ts';

export type AuthResult = { ok: true; principal: string } | { ok: false; reason: string };

/** Checks the `Authorization` header of an admin API call; says who called, or why not. */
export type Authenticator = (authorization: string | undefined) => Promise<AuthResult>;

/** Principal of a call made with the static token (the token itself names no one). */
export const TOKEN_PRINCIPAL = 'token';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * Bearer tokens: the static `token` (compared in constant time, over digests so that the length
 * leaks nothing either) and/or JWTs from `oidc` (signature against the provider's JWKS, `iss`, `aud`,
 * `exp`/`nbf`; principal = `sub`). A JWT that fails is refused with why, the token is never echoed.
 */
export function createAuthenticator(config: Pick<AdminConfig, 'token' | 'oidc'>, jwks?: JWTVerifyGetKey): Authenticator {
  const expected = config.token === null ? null : digest(config.token);
  const oidc = config.oidc === null ? null : oidcVerifier(config.oidc, jwks);
  return async (authorization) => {
    if (authorization === undefined || authorization === '') return { ok: false, reason: 'missing bearer token (Authorization: Bearer …)' };
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (m === null) return { ok: false, reason: 'the Authorization header must be "Bearer <token>"' };
    const presented = m[1]!;
    if (expected !== null && timingSafeEqual(digest(presented), expected)) return { ok: true, principal: TOKEN_PRINCIPAL };
    if (oidc !== null && presented.split('.').length === 3) return oidc(presented);
    return { ok: false, reason: 'invalid bearer token' };
  };
}

function oidcVerifier(config: OidcConfig, jwks: JWTVerifyGetKey | undefined): (jwt: string) => Promise<AuthResult> {
  const keys = jwks ?? createRemoteJWKSet(new URL(config.jwks_uri));
  return async (jwt) => {
    try {
      const { payload } = await jwtVerify(jwt, keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: config.algorithms,
        clockTolerance: config.clock_tolerance_secs,
      });
      if (typeof payload.sub !== 'string' || payload.sub === '') return { ok: false, reason: 'the token has no subject (sub)' };
      return { ok: true, principal: payload.sub };
    } catch (err) {
      // jose's messages name the failed check ("unexpected \"aud\" claim value", "\"exp\" claim
      // timestamp check failed") and never the token.
      return { ok: false, reason: `token refused: ${(err as Error).message}` };
    }
  };
}
