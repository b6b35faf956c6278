import type { RuleStore } from '../sample/rules/rule-store.ts';
import { jsonResponse } from './openapi.ts';
import { RULE_STORE_HEALTH_SCHEMA } from './rules-openapi.ts';
import type { AdminRoute } from './route.ts';

const HEALTH_SCHEMA = {
  type: 'object',
  required: ['status', 'rule_store'],
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded'] },
    rule_store: { oneOf: [RULE_STORE_HEALTH_SCHEMA, { type: 'null' }], description: 'null when no rule store is configured.' },
  },
} as const;

/**
 * `GET /v1/health`, public: the admin API answers, and how the rule store is. 200 `ok`; 503
 * `degraded` while the store is unreachable (rules in force stay the last good set; writes fail).
 */
export function createHealthRoute(ruleStore: RuleStore | null): AdminRoute {
  return {
    method: 'GET',
    path: '/v1/health',
    public: true,
    openapi: {
      operationId: 'getHealth',
      summary: 'Health of the admin API and of the rule store',
      tags: ['meta'],
      responses: {
        '200': jsonResponse('Healthy', HEALTH_SCHEMA),
        '503': jsonResponse('The rule store cannot be reached (reads serve the last good set; writes fail)', HEALTH_SCHEMA),
      },
    },
    async handle() {
      if (ruleStore === null) return { status: 200, body: { status: 'ok', rule_store: null } };
      const h = ruleStore.health();
      const body = {
        status: h.connected ? 'ok' : 'degraded',
        rule_store: {
          connected: h.connected,
          rules: h.rules,
          last_load: h.lastLoadMs === null ? null : new Date(h.lastLoadMs).toISOString(),
          last_error: h.lastError,
        },
      };
      return { status: h.connected ? 200 : 503, body };
    },
  };
}
