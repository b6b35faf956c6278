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
