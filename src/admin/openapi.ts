import type { AdminRoute } from './route.ts';

export const ERROR_SCHEMA_REF = '#/components/schemas/Error';

/** A JSON schema of `{"error": {code, message, issues?}}`, the body of every error answer. */
const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'Stable error code (TS_…), as in the README\'s error table.', examples: ['TS_RULE_INVALID'] },
        message: { type: 'string' },
        issues: {
          type: 'array',
          description: 'Every reason a rule was refused, at its path in the submitted JSON.',
          items: {
            type: 'object',
            required: ['path', 'message'],
            properties: { path: { type: 'string', examples: ['match.span[0].op'] }, message: { type: 'string' } },
          },
        },
      },
    },
  },
} as const;

/** An error response object pointing at the shared Error schema. */
export function errorResponse(description: string): Record<string, unknown> {
  return { description, content: { 'application/json': { schema: { $ref: ERROR_SCHEMA_REF } } } };
}

/** A JSON response object with an inline schema. */
export function jsonResponse(description: string, schema: unknown): Record<string, unknown> {
  return { description, content: { 'application/json': { schema } } };
}

/** A JSON request body. */
export function jsonBody(schema: unknown, description?: string): Record<string, unknown> {
  return { required: true, ...(description === undefined ? {} : { description }), content: { 'application/json': { schema } } };
}

const PARAM = /\{([^}]+)\}/g;

/** `{name}` parameters of a path template, in order. */
export function templateParams(path: string): string[] {
  return [...path.matchAll(PARAM)].map((m) => m[1]!);
}

export interface OpenApiInfo {
  version: string;
  /** Base URL the document is served under, e.g. `http://127.0.0.1:8889`; omitted when null. */
  serverUrl?: string | null;
}

/**
 * The OpenAPI 3.1 document of the admin API, assembled from the routes themselves: each route's
 * operation under its path and method, path parameters declared from the template, the bearer scheme
 * required everywhere but on public routes (`security: []`), and their 401 added where a route left it out.
 */
export function buildOpenApiDocument(routes: readonly AdminRoute[], info: OpenApiInfo): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const item = (paths[r.path] ??= {});
    const params = templateParams(r.path);
    if (params.length > 0 && item.parameters === undefined) {
      item.parameters = params.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
    }
    const op: Record<string, unknown> = { ...r.openapi };
    const responses = { ...(op.responses as Record<string, unknown> | undefined) };
    if (r.public === true) op.security = [];
    else responses['401'] ??= errorResponse('No bearer token, or not a valid one (`WWW-Authenticate: Bearer`).');
    op.responses = responses;
    item[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'tailsampler admin API',
      version: info.version,
      description:
        'Force rules (keep or drop the traces they match, for a while) and the other operator calls of tailsampler. ' +
        'JSON in and out; every call but health and this document needs `Authorization: Bearer <token>` ' +
        '(the static admin token, or a JWT of the configured OIDC provider).',
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'admin.token, or a JWT from admin.oidc (its `sub` is the principal).' },
      },
      schemas: { Error: ERROR_SCHEMA },
    },
  };
}
