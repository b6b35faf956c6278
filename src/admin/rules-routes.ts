import type { ForceRule, RuleStore } from '../sample/rules/rule-store.ts';
import { RuleValidationError } from '../sample/rules/errors.ts';
import { badRequest, notFound } from './errors.ts';
import { errorResponse, jsonBody, jsonResponse } from './openapi.ts';
import { FORCE_RULE_SCHEMA, RULE_INPUT_SCHEMA } from './rules-openapi.ts';
import type { AdminRequest, AdminResponse, AdminRoute } from './route.ts';

const TAGS = ['rules'];
const BAD_RULE = errorResponse('The rule is refused: `error.code` TS_RULE_INVALID, every reason in `error.issues` with its path; or the body is not JSON (TS_ADMIN_BAD_REQUEST)');
const NO_RULE = errorResponse('No rule with that id (TS_ADMIN_NOT_FOUND)');
const STORE_DOWN = errorResponse('The rule store cannot take writes now (TS_RULE_STORE_UNAVAILABLE); retry later');
const RULE_OK = (d: string): Record<string, unknown> => jsonResponse(d, FORCE_RULE_SCHEMA);

function found(rule: ForceRule | null, id: string): ForceRule {
  if (rule === null) throw notFound(`no rule ${id}`);
  return rule;
}

function object(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** Most urgent first: priority descending, then the older rule, as the evaluator applies them. */
function byPrecedence(a: ForceRule, b: ForceRule): number {
  return b.priority - a.priority || a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id);
}

function enableRoute(store: RuleStore, enabled: boolean): AdminRoute {
  const verb = enabled ? 'enable' : 'disable';
  return {
    method: 'POST',
    path: `/v1/rules/{id}/${verb}`,
    openapi: {
      operationId: `${verb}Rule`,
      summary: enabled ? 'Put a rule back in force (its expiry unchanged)' : 'Take a rule out of force without deleting it',
      tags: TAGS,
      responses: { '200': RULE_OK(`The rule, ${verb}d`), '404': NO_RULE, '503': STORE_DOWN },
    },
    handle: async (req) => ({ status: 200, body: found(await store.setEnabled(req.params.id!, enabled), req.params.id!) }),
  };
}

/** The force-rule routes of the admin API over a RuleStore (validation is the store's: its issues come back as 400). */
export function createRulesRoutes(store: RuleStore): AdminRoute[] {
  return [
    {
      method: 'GET',
      path: '/v1/rules',
      openapi: {
        operationId: 'listRules',
        summary: 'Every force rule not yet expired, most urgent first',
        tags: TAGS,
        responses: {
          '200': jsonResponse('The rules', { type: 'object', required: ['rules'], properties: { rules: { type: 'array', items: FORCE_RULE_SCHEMA } } }),
        },
      },
      handle: async () => ({ status: 200, body: { rules: (await store.list()).sort(byPrecedence) } }),
    },
    {
      method: 'POST',
      path: '/v1/rules',
      openapi: {
        operationId: 'createRule',
        summary: 'Create a force rule: keep (or drop) the traces it matches until it expires',
        tags: TAGS,
        requestBody: jsonBody(RULE_INPUT_SCHEMA),
        responses: {
          '201': {
            ...RULE_OK('The rule as stored, with its id'),
            headers: { location: { description: 'The rule\'s URL', schema: { type: 'string' } } },
          },
          '400': BAD_RULE,
          '413': errorResponse('The body is larger than admin.max_body_kib (TS_ADMIN_BODY_TOO_LARGE)'),
          '503': STORE_DOWN,
        },
      },
      async handle(req: AdminRequest): Promise<AdminResponse> {
        const rule = await store.create(object(req.body), req.principal);
        return { status: 201, body: rule, headers: { location: `/v1/rules/${encodeURIComponent(rule.id)}` } };
      },
    },
    {
      method: 'GET',
      path: '/v1/rules/{id}',
      openapi: { operationId: 'getRule', summary: 'One force rule', tags: TAGS, responses: { '200': RULE_OK('The rule'), '404': NO_RULE } },
      handle: async (req) => ({ status: 200, body: found(await store.get(req.params.id!), req.params.id!) }),
    },
    {
      method: 'DELETE',
      path: '/v1/rules/{id}',
      openapi: {
        operationId: 'deleteRule',
        summary: 'Delete a force rule (it stops applying at once, in every replica)',
        tags: TAGS,
        responses: { '204': { description: 'Deleted' }, '404': NO_RULE, '503': STORE_DOWN },
      },
      async handle(req: AdminRequest): Promise<AdminResponse> {
        if (!(await store.delete(req.params.id!))) throw notFound(`no rule ${req.params.id!}`);
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      path: '/v1/rules/{id}/extend',
      openapi: {
        operationId: 'extendRule',
        summary: 'Move a rule\'s expiry to now + ttl_secs',
        tags: TAGS,
        requestBody: jsonBody({ type: 'object', required: ['ttl_secs'], additionalProperties: false, properties: { ttl_secs: { type: 'integer', minimum: 1 } } }),
        responses: { '200': RULE_OK('The rule with its new expiry'), '400': BAD_RULE, '404': NO_RULE, '503': STORE_DOWN },
      },
      async handle(req: AdminRequest): Promise<AdminResponse> {
        const body = object(req.body);
        const ttl = body.ttl_secs;
        const issues = [];
        if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl <= 0) issues.push({ path: 'ttl_secs', message: 'must be a positive whole number of seconds' });
        for (const k of Object.keys(body)) if (k !== 'ttl_secs') issues.push({ path: k, message: 'unknown field' });
        if (issues.length > 0) throw new RuleValidationError(issues);
        return { status: 200, body: found(await store.extend(req.params.id!, ttl as number), req.params.id!) };
      },
    },
    enableRoute(store, true),
    enableRoute(store, false),
  ];
}
