import type { RuleStore } from '../sample/rules/rule-store.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { createAuthenticator } from './auth.ts';
import type { AdminConfig } from './config.ts';
import { createHealthRoute } from './health-route.ts';
import type { AdminRoute } from './route.ts';
import { createRulesRoutes } from './rules-routes.ts';
import { createAdminServer, type AdminServer } from './server.ts';

export interface AdminParts {
  /** The shared force-rule store; null when none is configured (no rules routes then). */
  ruleStore: RuleStore | null;
  /** More routes (e.g. rescue), mounted as they are. */
  routes?: readonly AdminRoute[];
}

/** The admin API from its config section; null when the section is absent (the API is off). */
export function createAdmin(config: AdminConfig | null, parts: AdminParts, deps: { metrics: Metrics; logger: Logger }): AdminServer | null {
  if (config === null) return null;
  const routes = [
    createHealthRoute(parts.ruleStore),
    ...(parts.ruleStore === null ? [] : createRulesRoutes(parts.ruleStore)),
    ...(parts.routes ?? []),
  ];
  return createAdminServer(config, routes, { ...deps, authenticate: createAuthenticator(config) });
}
