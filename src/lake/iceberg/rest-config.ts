import { z } from 'zod';

/**
 * `storage.catalog` with `type: rest`: an Iceberg REST catalog (Apache Iceberg's server, Lakekeeper,
 * Databricks Unity Catalog, Polaris, Nessie's /iceberg…). Secrets come in through `${VAR}`.
 */

/** A `${VAR}` that reads as a number would be turned into one by interpolation: take it back as text. */
const text = z.union([z.string(), z.number()]).transform(String);
/** `${VAR:-}` (empty) means "not set". */
const optionalText = z.preprocess((v) => (v === '' ? null : v), text.nullable()).default(null);
const httpUrl = z.url({ protocol: /^https?$/ });

export const restCatalogConfigSchema = z
  .object({
    type: z.literal('rest'),
    /** Base URI: paths are `<uri>/v1/…` (Lakekeeper: `http://host:8181/catalog`). */
    uri: httpUrl,
    /** `GET /v1/config?warehouse=`: a location, or a warehouse/catalog name (Lakekeeper, Unity). */
    warehouse: optionalText,
    /** Client-side `prefix`; the server's config can default or override it. */
    prefix: optionalText,
    /** Static bearer token (never logged). */
    token: optionalText,
    /** OAuth2 client credentials `client_id:client_secret` (never logged). */
    credential: optionalText,
    /** Token endpoint for `credential`; default `<uri>/v1/oauth/tokens`. */
    oauth2_server_uri: z.preprocess((v) => (v === '' ? null : v), httpUrl.nullable()).default(null),
    scope: z.string().min(1).default('catalog'),
    /** Extra request headers, e.g. Lakekeeper's `x-project-id` (values never logged). */
    headers: z.record(z.string(), text).default({}),
    /** Ask the catalog for storage credentials (`X-Iceberg-Access-Delegation: vended-credentials`). */
    vended_credentials: z.boolean().default(false),
    request_timeout_ms: z.number().int().positive().default(30_000),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.token !== null && c.credential !== null) {
      ctx.addIssue({ code: 'custom', path: ['credential'], message: 'set token or credential, not both' });
    }
    if (c.credential !== null && !c.credential.includes(':')) {
      ctx.addIssue({ code: 'custom', path: ['credential'], message: 'must be client_id:client_secret' });
    }
    if (c.oauth2_server_uri !== null && c.credential === null) {
      ctx.addIssue({ code: 'custom', path: ['oauth2_server_uri'], message: 'only used with credential (OAuth2 client credentials)' });
    }
  });

export type RestCatalogConfig = z.infer<typeof restCatalogConfigSchema>;
