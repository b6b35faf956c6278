/** JSON schemas of force rules for the admin API's OpenAPI document (inline: routes carry their own). */

const OPS = ['eq', 'neq', 'contains', 'prefix', 'suffix', 'regex', 'in', 'exists', 'gt', 'gte', 'lt', 'lte'];

export const RULE_CONDITION_SCHEMA = {
  type: 'object',
  required: ['key', 'op'],
  additionalProperties: false,
  properties: {
    key: { type: 'string', minLength: 1, examples: ['service.name', 'http.route'] },
    op: { type: 'string', enum: OPS },
    value: {
      description: 'Absent for `exists`; an array for `in`; a number for `gt`/`gte`/`lt`/`lte`; else a string, number or boolean.',
      oneOf: [
        { type: 'string' },
        { type: 'number' },
        { type: 'boolean' },
        { type: 'array', items: { oneOf: [{ type: 'string' }, { type: 'number' }] } },
      ],
    },
  },
} as const;

export const RULE_MATCH_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  description: 'What a rule matches: all given parts must hold.',
  properties: {
    trace_id: { type: 'string', pattern: '^[0-9a-fA-F]{32}$', description: 'This trace only.' },
    resource: { type: 'array', items: RULE_CONDITION_SCHEMA, description: 'Resource conditions, ANDed.' },
    span: {
      type: 'array',
      items: RULE_CONDITION_SCHEMA,
      description: 'Span conditions: one span must satisfy them all. Keys are span attributes or `name`, `kind`, `status`, `service.name`.',
    },
  },
} as const;

export const RULE_INPUT_SCHEMA = {
  type: 'object',
  required: ['action', 'match', 'ttl_secs'],
  additionalProperties: false,
  properties: {
    action: { type: 'string', enum: ['keep', 'drop'] },
    match: RULE_MATCH_SCHEMA,
    ttl_secs: { type: 'integer', minimum: 1, description: 'The rule expires this long after it is created.' },
    priority: { type: 'integer', description: 'Higher first; ties go to the older rule.', default: 0 },
    enabled: { type: 'boolean', default: true },
    reason: { type: 'string', description: 'Why (shown in listings and audit).' },
  },
  examples: [
    {
      action: 'keep',
      ttl_secs: 3600,
      priority: 100,
      reason: 'INC-1234 checkout errors',
      match: { resource: [{ key: 'service.name', op: 'eq', value: 'checkout' }], span: [{ key: 'http.route', op: 'prefix', value: '/api' }] },
    },
  ],
} as const;

export const FORCE_RULE_SCHEMA = {
  type: 'object',
  required: ['id', 'action', 'match', 'priority', 'enabled', 'reason', 'created_by', 'created_at', 'expires_at'],
  properties: {
    id: { type: 'string' },
    action: { type: 'string', enum: ['keep', 'drop'] },
    match: RULE_MATCH_SCHEMA,
    priority: { type: 'integer' },
    enabled: { type: 'boolean' },
    reason: { type: 'string' },
    created_by: { type: 'string', description: 'Principal that created it (OIDC `sub`, or `token`).' },
    created_at: { type: 'string', format: 'date-time' },
    expires_at: { type: 'string', format: 'date-time' },
  },
} as const;

export const RULE_STORE_HEALTH_SCHEMA = {
  type: 'object',
  required: ['connected', 'rules', 'last_load', 'last_error'],
  properties: {
    connected: { type: 'boolean', description: 'The store (Redis) answers.' },
    rules: { type: 'integer', description: 'Rules in force in this replica (the last good set while the store is down).' },
    last_load: { type: ['string', 'null'], format: 'date-time', description: 'When the set in force was last loaded in full.' },
    last_error: { type: ['string', 'null'] },
  },
} as const;
