/** One request to the admin API, parsed and authenticated before a route sees it. */
export interface AdminRequest {
  /** Path parameters by name (`/v1/rules/{id}` → `{ id }`). */
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  /** Parsed JSON body; undefined when the request had none. */
  body: unknown;
  /** Who made the call (token subject, or "token" for the static bearer token). */
  principal: string;
}

export interface AdminResponse {
  status: number;
  /** Sent as JSON; undefined sends no body. */
  body?: unknown;
  headers?: Readonly<Record<string, string>>;
}

/**
 * A route of the admin API. Each carries its OpenAPI operation, so the served document is assembled
 * from the routes themselves and cannot drift from them.
 */
export interface AdminRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** OpenAPI path template, e.g. `/v1/rules/{id}`. */
  path: string;
  /** Reachable without a token (health only). */
  public?: boolean;
  /** OpenAPI 3.1 Operation object (summary, requestBody, responses…). */
  openapi: Readonly<Record<string, unknown>>;
  handle(req: AdminRequest): Promise<AdminResponse>;
}
