import { createAuthenticator, type Authenticator } from '../../../src/admin/auth.ts';
import type { AdminConfig } from '../../../src/admin/config.ts';
import { createHealthRoute } from '../../../src/admin/health-route.ts';
import type { AdminRoute } from '../../../src/admin/route.ts';
import { createRulesRoutes } from '../../../src/admin/rules-routes.ts';
import { createAdminServer, type AdminServer } from '../../../src/admin/server.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { InMemoryRuleStoreDouble } from '../../support/memory-rule-store.ts';

export const TOKEN = 'test-admin-token-0123456789abcdef';

export interface AdminHarness {
  base: string;
  server: AdminServer;
  metrics: Metrics;
  store: InMemoryRuleStoreDouble;
  /** fetch against the server with the token (unless `token: null`) and a JSON body. */
  call: (method: string, path: string, body?: unknown, o?: { token?: string | null; raw?: string }) => Promise<{ status: number; headers: Headers; json: unknown }>;
}

export async function withAdmin(
  fn: (h: AdminHarness) => Promise<void>,
  o: { config?: Partial<AdminConfig>; routes?: AdminRoute[]; authenticate?: Authenticator } = {},
): Promise<void> {
  const config: AdminConfig = { endpoint: '127.0.0.1:0', token: TOKEN, oidc: null, max_body_kib: 64, ...o.config };
  const store = new InMemoryRuleStoreDouble();
  const metrics = new Metrics();
  const routes = o.routes ?? [createHealthRoute(store), ...createRulesRoutes(store)];
  const server = createAdminServer(config, routes, { metrics, logger: silentLogger(), authenticate: o.authenticate ?? createAuthenticator(config) });
  await server.start();
  const base = `http://${server.address()}`;
  const call: AdminHarness['call'] = async (method, path, body, co = {}) => {
    const token = co.token === undefined ? TOKEN : co.token;
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const payload = co.raw ?? (body === undefined ? undefined : JSON.stringify(body));
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body: payload });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text === '' ? undefined : JSON.parse(text) };
  };
  try {
    await fn({ base, server, metrics, store, call });
  } finally {
    await server.shutdown();
  }
}

/** A good rule body, as the example. */
export function goodRule(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    action: 'keep',
    ttl_secs: 3600,
    priority: 100,
    reason: 'INC-1234',
    match: { resource: [{ key: 'service.name', op: 'eq', value: 'checkout' }], span: [{ key: 'http.route', op: 'prefix', value: '/api' }] },
    ...over,
  };
}

/**
 * 20 bad rules, each with the path and (part of) the message the real validator
 * (src/sample/rules/rule-schema.ts) reports: for the admin unit tests and the operator e2e test.
 */
export const BAD_RULES: readonly { what: string; body: Record<string, unknown>; path: string; message: string }[] = [
  { what: 'unknown action', body: goodRule({ action: 'sample' }), path: 'action', message: 'expected one of "keep"|"drop"' },
  { what: 'no ttl', body: goodRule({ ttl_secs: undefined }), path: 'ttl_secs', message: 'expected number, received undefined' },
  { what: 'zero ttl', body: goodRule({ ttl_secs: 0 }), path: 'ttl_secs', message: 'expected number to be >=1' },
  { what: 'fractional ttl', body: goodRule({ ttl_secs: 1.5 }), path: 'ttl_secs', message: 'must be a whole number of seconds' },
  { what: 'ttl beyond the cap', body: goodRule({ ttl_secs: 31 * 86_400 }), path: 'ttl_secs', message: 'at most 2592000 s (30 days)' },
  { what: 'priority as text', body: goodRule({ priority: 'high' }), path: 'priority', message: 'expected number, received string' },
  { what: 'enabled as text', body: goodRule({ enabled: 'yes' }), path: 'enabled', message: 'expected boolean, received string' },
  { what: 'unknown field', body: goodRule({ colour: 'red' }), path: '', message: 'Unrecognized key: "colour"' },
  { what: 'no match', body: goodRule({ match: undefined }), path: 'match', message: 'expected object, received undefined' },
  { what: 'empty match', body: goodRule({ match: {} }), path: 'match', message: 'needs at least one of trace_id, resource, span' },
  { what: 'short trace id', body: goodRule({ match: { trace_id: 'abc' } }), path: 'match.trace_id', message: 'must be 32 hex characters' },
  { what: 'all-zero trace id', body: goodRule({ match: { trace_id: '0'.repeat(32) } }), path: 'match.trace_id', message: 'the all-zero trace id is invalid' },
  { what: 'unknown op', body: goodRule({ match: { span: [{ key: 'http.route', op: 'like', value: '/api' }] } }), path: 'match.span[0].op', message: 'expected one of "eq"|"neq"' },
  { what: 'empty key', body: goodRule({ match: { resource: [{ key: '', op: 'eq', value: 'x' }] } }), path: 'match.resource[0].key', message: 'must not be empty' },
  {
    what: 'exists with a value',
    body: goodRule({ match: { span: [{ key: 'a', op: 'eq', value: 'b' }, { key: 'error', op: 'exists', value: true }] } }),
    path: 'match.span[1].value',
    message: 'exists takes no value',
  },
  { what: 'in without a list', body: goodRule({ match: { span: [{ key: 'a', op: 'in', value: 'b' }] } }), path: 'match.span[0].value', message: 'in needs a non-empty list' },
  { what: 'gt with a string', body: goodRule({ match: { span: [{ key: 'http.status_code', op: 'gt', value: '500' }] } }), path: 'match.span[0].value', message: 'gt compares numbers' },
  { what: 'bad regex', body: goodRule({ match: { span: [{ key: 'http.route', op: 'regex', value: '(' }] } }), path: 'match.span[0].value', message: 'invalid regular expression' },
  { what: 'kind with prefix', body: goodRule({ match: { span: [{ key: 'kind', op: 'prefix', value: 'ser' }] } }), path: 'match.span[0].op', message: 'kind takes eq, neq, in or exists, not prefix' },
  { what: 'unknown status', body: goodRule({ match: { span: [{ key: 'status', op: 'eq', value: 'broken' }] } }), path: 'match.span[0].value', message: 'unknown status "broken"' },
];
