import { CatalogAuthError, CatalogUnavailableError } from './errors.ts';

/**
 * OAuth2 client-credentials flow for an Iceberg REST catalog (RFC 6749 §4.4, the request the REST
 * spec's `OAuthClientCredentialsRequest` describes): POST a form with grant_type, client_id,
 * client_secret and scope to the token endpoint, use `access_token` as a bearer token. The token is
 * cached; it is fetched again shortly before `expires_in` runs out, and at once after the catalog
 * answers 401 (`invalidate`). Concurrent callers share one token request.
 */

export interface OAuth2ClientCredentialsOptions {
  tokenUri: string;
  clientId: string;
  clientSecret: string;
  scope: string;
  timeoutMs: number;
  /** Clock, for tests. */
  now?: () => number;
}

interface CachedToken {
  value: string;
  /** When to fetch a new one (ms since epoch); null when the server gave no lifetime. */
  refreshAtMs: number | null;
}

/** Refresh this long before expiry: a tenth of the lifetime, at most a minute. */
export function refreshMarginMs(expiresInSecs: number): number {
  return Math.min(60_000, (expiresInSecs * 1000) / 10);
}

/** Splits `client_id:client_secret` (the Iceberg `credential` property); a bare value is a secret with no id. */
export function parseCredential(credential: string): { clientId: string; clientSecret: string } {
  const i = credential.indexOf(':');
  return i < 0 ? { clientId: '', clientSecret: credential } : { clientId: credential.slice(0, i), clientSecret: credential.slice(i + 1) };
}

export class OAuth2ClientCredentials {
  private readonly options: OAuth2ClientCredentialsOptions;
  private readonly now: () => number;
  private cached: CachedToken | null = null;
  private inflight: Promise<string> | null = null;
  /** Token requests made so far (for tests and metrics). */
  fetches = 0;

  constructor(options: OAuth2ClientCredentialsOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** A valid access token, from the cache when it is not about to expire. */
  async token(): Promise<string> {
    const c = this.cached;
    if (c !== null && (c.refreshAtMs === null || this.now() < c.refreshAtMs)) return c.value;
    this.inflight ??= this.fetchToken().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /** The catalog refused `token` (401): the next `token()` fetches a new one. */
  invalidate(token: string): void {
    if (this.cached?.value === token) this.cached = null;
  }

  private async fetchToken(): Promise<string> {
    const { tokenUri, clientId, clientSecret, scope, timeoutMs } = this.options;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_secret: clientSecret, scope });
    if (clientId !== '') form.set('client_id', clientId);
    this.fetches++;
    const started = this.now();
    let res: Response;
    try {
      res = await fetch(tokenUri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new CatalogUnavailableError(`OAuth2 token endpoint ${tokenUri} unreachable: ${(e as Error).message}`, { cause: e });
    }
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Reported below with the status.
    }
    if (!res.ok) {
      // OAuth2 error response: {error, error_description}. Never echo the request (it holds the secret).
      const what = [body.error, body.error_description].filter((x) => typeof x === 'string').join(': ') || `HTTP ${res.status}`;
      if (res.status >= 500) throw new CatalogUnavailableError(`OAuth2 token endpoint ${tokenUri} failed: ${what}`, { status: res.status });
      throw new CatalogAuthError(`OAuth2 token endpoint ${tokenUri} refused the client credentials: ${what}`, res.status);
    }
    const value = body.access_token;
    if (typeof value !== 'string' || value === '') {
      throw new CatalogAuthError(`OAuth2 token endpoint ${tokenUri} answered without an access_token`, res.status);
    }
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : Number(body.expires_in ?? NaN);
    const refreshAtMs = Number.isFinite(expiresIn) && expiresIn > 0 ? started + expiresIn * 1000 - refreshMarginMs(expiresIn) : null;
    this.cached = { value, refreshAtMs };
    return value;
  }
}
