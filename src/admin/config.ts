import { z } from 'zod';
import { hostPort } from '../config/host-port.ts';


/** An empty value (e.g. `${TAILSAMPLER_ADMIN_TOKEN:-}`) means "not set". */
const optionalString = z.preprocess((v) => (v === '' ? null : v), z.string().nullable());

/** Bearer tokens that are JWTs from an OpenID Connect provider, checked against its published keys. */
const oidcSchema = z
  .object({
    /** Must equal the token's `iss`. */
    issuer: z.string().min(1),
    /** The token's `aud` must hold it. */
    audience: z.string().min(1),
    /** Where the provider publishes its signing keys (JWKS), fetched and cached by key id. */
    jwks_uri: z.url({ protocol: /^https?$/ }),
    /** Signature algorithms accepted. */
    algorithms: z.array(z.string().min(1)).min(1).default(['RS256', 'ES256']),
    /** Leeway on `exp` / `nbf`, for clock skew. */
    clock_tolerance_secs: z.number().int().min(0).default(30),
  })
  .strict();

/**
 * The admin API (force rules, rescue): its own listener, loopback by default. Absent or null → off.
 * Present → it needs a static `token`, an `oidc` provider, or both; every call but health carries a
 * bearer token.
 */
export const adminSchema = z
  .object({
    endpoint: hostPort('127.0.0.1:8889').default('127.0.0.1:8889'),
    /** Static bearer token (write `${TAILSAMPLER_ADMIN_TOKEN}`); never logged. */
    token: optionalString.default(null),
    oidc: oidcSchema.nullable().default(null),
    /** Largest request body accepted; larger → 413. */
    max_body_kib: z.number().int().positive().max(16 * 1024).default(64),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.token === null && a.oidc === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message: 'the admin API needs a bearer token or an oidc provider (set token, e.g. "${TAILSAMPLER_ADMIN_TOKEN}", or oidc; remove the admin section to turn it off)',
      });
    } else if (a.token !== null && a.token.length < 16) {
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'must be at least 16 characters (e.g. `openssl rand -hex 32`)' });
    }
  })
  .nullable()
  .default(null);

export type AdminConfig = NonNullable<z.infer<typeof adminSchema>>;
export type OidcConfig = NonNullable<AdminConfig['oidc']>;
