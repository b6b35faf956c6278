import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Component } from '../component.ts';
import { splitHostPort } from '../config/host-port.ts';
import { isTailsamplerError } from '../errors.ts';
import { HttpListener } from '../net/http-listener.ts';
import { RuleValidationError } from '../sample/rules/errors.ts';
import { LogGate } from '../telemetry/log-gate.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Authenticator } from './auth.ts';
import type { AdminConfig } from './config.ts';
import { AdminHttpError, errorBody, notFound } from './errors.ts';
import { buildOpenApiDocument, templateParams } from './openapi.ts';
import type { AdminRequest, AdminResponse, AdminRoute } from './route.ts';

export const OPENAPI_PATH = '/v1/openapi.json';

export interface AdminServerDeps {
  metrics: Metrics;
  logger: Logger;
  authenticate: Authenticator;
  /** Version written into the OpenAPI document's `info.version`. */
  version?: string;
}

export type AdminServer = Component & {
  /** `host:port` actually bound (resolves port 0), or null while not listening. */
  address(): string | null;
  /** The OpenAPI document served at /v1/openapi.json. */
  readonly openapi: Readonly<Record<string, unknown>>;
};

interface CompiledRoute {
  route: AdminRoute;
  pattern: RegExp;
  params: string[];
  label: string;
}

function compile(route: AdminRoute): CompiledRoute {
  const params = templateParams(route.path);
  const source = route.path
    .split(/\{[^}]+\}/)
    .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
    .join('([^/]+)');
  return { route, pattern: new RegExp(`^${source}$`), params, label: `${route.method} ${route.path}` };
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

/** Reads the body up to `limit` bytes; past it, a 413 (the rest is not read: the connection closes). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (): AdminHttpError =>
    new AdminHttpError(413, 'TS_ADMIN_BODY_TOO_LARGE', `request body larger than ${limit} bytes (admin.max_body_kib)`, { headers: { connection: 'close' } });
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseJson(bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (err) {
    throw new AdminHttpError(400, 'TS_ADMIN_BAD_REQUEST', `request body is not JSON: ${(err as Error).message}`);
  }
}

function send(res: ServerResponse, r: AdminResponse): void {
  const headers: Record<string, string> = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...r.headers };
  if (r.body === undefined) {
    res.writeHead(r.status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(r.body);
  res.writeHead(r.status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/**
 * The admin API listener: routes by OpenAPI path template, bearer-token auth on every route but the
 * public ones, JSON bodies up to `max_body_kib`, errors as `{"error": {code, message, issues?}}`, and
 * every request counted in `tailsampler_admin_requests_total{route,code}`. The OpenAPI document
 * (public, it holds no secret) is assembled from the routes and served at /v1/openapi.json.
 */
export function createAdminServer(config: AdminConfig, routes: readonly AdminRoute[], deps: AdminServerDeps): AdminServer {
  const log = deps.logger.child({ component: 'admin-server' });
  const authGate = new LogGate(60_000);
  let document: Record<string, unknown> = {};
  const openapiRoute: AdminRoute = {
    method: 'GET',
    path: OPENAPI_PATH,
    public: true,
    openapi: {
      operationId: 'getOpenApi',
      summary: 'This document (OpenAPI 3.1)',
      tags: ['meta'],
      responses: { '200': { description: 'The OpenAPI document', content: { 'application/json': { schema: { type: 'object' } } } } },
    },
    handle: async () => ({ status: 200, body: document }),
  };
  const all = [...routes, openapiRoute];
  const seen = new Set<string>();
  for (const r of all) {
    const key = `${r.method} ${r.path}`;
    if (seen.has(key)) throw new Error(`admin route ${key} is defined twice`);
    seen.add(key);
  }
  document = buildOpenApiDocument(all, { version: deps.version ?? '1' });
  const compiled = all.map(compile);
  const limit = config.max_body_kib * 1024;

  /** What a request came to, for its metric and log line. */
  interface Outcome {
    label: string;
    principal: string | null;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, out: Outcome): Promise<number> {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const matches = compiled.map((c) => ({ c, m: c.pattern.exec(url.pathname) })).filter((x) => x.m !== null);
    if (matches.length === 0) throw notFound(`no route ${url.pathname}`);
    const hit = matches.find((x) => x.c.route.method === req.method);
    if (hit === undefined) {
      const allow = matches.map((x) => x.c.route.method).join(', ');
      throw new AdminHttpError(405, 'TS_ADMIN_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname} (allowed: ${allow})`, { headers: { allow } });
    }
    const { c, m } = hit as { c: CompiledRoute; m: RegExpExecArray };
    out.label = c.label;
    let principal = 'anonymous';
    if (c.route.public !== true) {
      const auth = await deps.authenticate(req.headers.authorization);
      if (!auth.ok) {
        const skipped = authGate.pass('unauthorized');
        if (skipped >= 0) log.warn({ route: c.label, remote: req.socket.remoteAddress, reason: auth.reason, skipped }, 'admin API call refused: not authorized');
        // RFC 6750: no error attribute when no credentials were presented at all.
        const challenge = req.headers.authorization === undefined ? 'Bearer realm="tailsampler"' : 'Bearer realm="tailsampler", error="invalid_token"';
        throw new AdminHttpError(401, 'TS_ADMIN_UNAUTHORIZED', auth.reason, { headers: { 'www-authenticate': challenge } });
      }
      principal = auth.principal;
    }
    out.principal = principal;
    const params: Record<string, string> = {};
    c.params.forEach((name, i) => {
      try {
        params[name] = decodeURIComponent(m[i + 1]!);
      } catch {
        throw new AdminHttpError(400, 'TS_ADMIN_BAD_REQUEST', `path parameter ${name} is not valid percent-encoding`);
      }
    });
    const request: AdminRequest = { params, query: url.searchParams, body: parseJson(await readBody(req, limit)), principal };
    const response = await c.route.handle(request);
    send(res, response);
    return response.status;
  }

  function fail(res: ServerResponse, err: unknown): number {
    if (err instanceof AdminHttpError) {
      send(res, { status: err.status, headers: err.headers, body: errorBody(err.code, err.message, err.issues) });
      return err.status;
    }
    if (err instanceof RuleValidationError) {
      send(res, { status: 400, body: errorBody(err.code, 'the rule is refused; see issues', err.issues) });
      return 400;
    }
    if (isTailsamplerError(err) && err.retryable) {
      send(res, { status: 503, headers: { 'retry-after': '5' }, body: errorBody(err.code, err.message) });
      return 503;
    }
    log.error({ err }, 'admin API call failed');
    send(res, { status: 500, body: errorBody('TS_ADMIN_INTERNAL', 'internal error (see the service log)') });
    return 500;
  }

  const server = createServer((req, res) => {
    const out: Outcome = { label: 'unmatched', principal: null };
    handle(req, res, out)
      .catch((err: unknown) => (res.headersSent ? res.statusCode : fail(res, err)))
      .then((status) => {
        deps.metrics.adminRequests.inc({ route: out.label, code: String(status) });
        if (req.method !== 'GET' && out.principal !== null) log.info({ route: out.label, status, principal: out.principal }, 'admin API call');
      })
      .catch((err: unknown) => log.error({ err }, 'admin API bookkeeping failed'));
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  const listener = new HttpListener(server);
  return {
    openapi: document,
    async start(): Promise<void> {
      await listener.listen(config.endpoint);
      const auth = [config.token !== null ? 'token' : null, config.oidc !== null ? 'oidc' : null].filter((a) => a !== null);
      log.info({ endpoint: listener.address(), auth }, 'admin API listening');
      if (!LOOPBACK_HOSTS.has(splitHostPort(config.endpoint).host)) {
        log.warn({ endpoint: config.endpoint }, 'admin API listens beyond loopback over plain HTTP: put it behind TLS (a proxy or a mesh) so tokens do not cross the network in clear');
      }
    },
    shutdown: () => listener.close(),
    address: () => listener.address(),
  };
}
