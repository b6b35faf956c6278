import { z } from 'zod';
import { formatPath } from '../../config/load.ts';
import { RuleValidationError } from './errors.ts';
import type { ForceRule, RuleCondition, RuleIssue } from './rule-store.ts';

/** Longest a rule may stay in force at once (30 days); `extend` moves the expiry again. */
export const MAX_TTL_SECS = 30 * 24 * 3600;
export const MAX_CONDITIONS = 32;
export const MAX_IN_VALUES = 1000;
export const MAX_REGEX_LENGTH = 512;
export const MAX_VALUE_LENGTH = 4096;

export const RULE_OPS = ['eq', 'neq', 'contains', 'prefix', 'suffix', 'regex', 'in', 'exists', 'gt', 'gte', 'lt', 'lte'] as const;
type Op = RuleCondition['op'];
const NUMERIC_OPS: ReadonlySet<Op> = new Set(['gt', 'gte', 'lt', 'lte']);
const STRING_OPS: ReadonlySet<Op> = new Set(['contains', 'prefix', 'suffix', 'regex']);
const CODE_OPS: ReadonlySet<Op> = new Set(['eq', 'neq', 'in', 'exists']);

/** Span fields a span condition may name besides attributes. */
export const SPAN_FIELDS = ['name', 'kind', 'status', 'service.name'] as const;

const KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_NAMES = ['unset', 'ok', 'error'];

/** A span kind as written in a rule (`server`, `SPAN_KIND_SERVER`, 2, "2") → its code; undefined if none. */
export function spanKindCode(v: unknown): number | undefined {
  return enumCode(v, KIND_NAMES, 'span_kind_');
}

/** A status as written in a rule (`error`, `STATUS_CODE_ERROR`, 2, "2") → its code; undefined if none. */
export function statusCode(v: unknown): number | undefined {
  return enumCode(v, STATUS_NAMES, 'status_code_');
}

function enumCode(v: unknown, names: readonly string[], prefix: string): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v < names.length ? v : undefined;
  if (typeof v !== 'string') return undefined;
  if (/^\d+$/.test(v)) return enumCode(Number(v), names, prefix);
  let s = v.toLowerCase();
  if (s.startsWith(prefix)) s = s.slice(prefix.length);
  const i = names.indexOf(s);
  return i < 0 ? undefined : i;
}

const isScalar = (v: unknown): v is string | number | boolean =>
  typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

/** Whether `value` suits `op`, with a message at the value's path when not. */
function checkValue(c: { op: Op; value?: unknown }, ctx: z.RefinementCtx): void {
  const v = c.value;
  const issue = (message: string, path: PropertyKey[] = ['value']): void => ctx.addIssue({ code: 'custom', path, message });
  if (c.op === 'exists') {
    if (v !== undefined) issue('exists takes no value');
    return;
  }
  if (v === undefined) return issue(`${c.op} needs a value`);
  if (typeof v === 'string' && v.length > MAX_VALUE_LENGTH) return issue(`longer than ${MAX_VALUE_LENGTH} characters`);
  if (c.op === 'in') {
    if (!Array.isArray(v) || v.length === 0) return issue('in needs a non-empty list of strings or numbers');
    if (v.length > MAX_IN_VALUES) return issue(`in takes at most ${MAX_IN_VALUES} values`);
    v.forEach((x: unknown, i) => {
      if (!(typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x)))) issue('must be a string or a number', ['value', i]);
    });
    return;
  }
  if (NUMERIC_OPS.has(c.op)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) issue(`${c.op} compares numbers: value must be a number`);
    return;
  }
  if (STRING_OPS.has(c.op)) {
    if (typeof v !== 'string' || v === '') return issue(`${c.op} needs a non-empty string`);
    if (c.op === 'regex') {
      if (v.length > MAX_REGEX_LENGTH) return issue(`regular expression longer than ${MAX_REGEX_LENGTH} characters`);
      try {
        new RegExp(v);
      } catch (err) {
        issue(`invalid regular expression: ${(err as Error).message}`);
      }
    }
    return;
  }
  if (!isScalar(v)) issue(`${c.op} needs a string, a number or a boolean`);
}

/** Span fields: kind and status take their names or codes (eq, neq, in, exists); name and service.name are strings. */
function checkSpanField(c: { key: string; op: Op; value?: unknown }, ctx: z.RefinementCtx): void {
  const issue = (message: string, path: PropertyKey[]): void => ctx.addIssue({ code: 'custom', path, message });
  if (c.key === 'kind' || c.key === 'status') {
    if (!CODE_OPS.has(c.op)) return issue(`${c.key} takes eq, neq, in or exists, not ${c.op}`, ['op']);
    const code = c.key === 'kind' ? spanKindCode : statusCode;
    const known = c.key === 'kind' ? `${KIND_NAMES.join(', ')}, SPAN_KIND_SERVER… or 0–5` : `${STATUS_NAMES.join(', ')}, STATUS_CODE_ERROR… or 0–2`;
    const values = Array.isArray(c.value) ? c.value : c.value === undefined ? [] : [c.value];
    values.forEach((x: unknown, i) => {
      if (code(x) === undefined) issue(`unknown ${c.key} ${JSON.stringify(x)} (${known})`, Array.isArray(c.value) ? ['value', i] : ['value']);
    });
  } else if ((c.key === 'name' || c.key === 'service.name') && NUMERIC_OPS.has(c.op)) {
    issue(`${c.key} is a string: ${c.op} does not apply`, ['op']);
  }
}

function conditionSchema(where: 'resource' | 'span') {
  return z
    .object({
      key: z.string().min(1, 'must not be empty').max(256),
      op: z.enum(RULE_OPS),
      value: z.unknown().optional(),
    })
    .strict()
    .superRefine((c, ctx) => {
      if (where === 'span') checkSpanField(c, ctx);
      checkValue(c, ctx);
    })
    .transform((c) => c as RuleCondition);
}

const conditions = (where: 'resource' | 'span') => z.array(conditionSchema(where)).max(MAX_CONDITIONS, `at most ${MAX_CONDITIONS} conditions`);

export const matchSchema = z
  .object({
    trace_id: z
      .string()
      .regex(/^[0-9a-fA-F]{32}$/, 'must be 32 hex characters')
      .refine((id) => !/^0+$/.test(id), 'the all-zero trace id is invalid')
      .transform((id) => id.toLowerCase())
      .optional(),
    resource: conditions('resource').optional(),
    span: conditions('span').optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.trace_id === undefined && !m.resource?.length && !m.span?.length) {
      ctx.addIssue({ code: 'custom', path: [], message: 'needs at least one of trace_id, resource, span: a rule matching every trace is refused' });
    }
  });

const action = z.enum(['keep', 'drop']);
const priority = z.number().int().min(-1_000_000).max(1_000_000);
export const ttlSchema = z.number().int('must be a whole number of seconds').min(1).max(MAX_TTL_SECS, `at most ${MAX_TTL_SECS} s (30 days)`);

/** A rule as a client submits it (`RuleInput`), with defaults filled in. */
export const ruleInputSchema = z
  .object({
    action,
    match: matchSchema,
    ttl_secs: ttlSchema,
    priority: priority.default(0),
    enabled: z.boolean().default(true),
    reason: z.string().max(1024).default(''),
  })
  .strict();

export type ValidRuleInput = z.infer<typeof ruleInputSchema>;

/** A rule as stored in Redis; unknown fields (a newer writer's) are ignored. */
const storedRuleSchema = z.object({
  id: z.string().min(1),
  action,
  match: matchSchema,
  priority,
  enabled: z.boolean(),
  reason: z.string(),
  created_by: z.string(),
  created_at: z.iso.datetime({ offset: true }),
  expires_at: z.iso.datetime({ offset: true }),
});

function issuesOf(error: z.ZodError): RuleIssue[] {
  // The rule as a whole: "" (formatPath says "(root)", as config errors do).
  return error.issues.map((i) => ({ path: i.path.length === 0 ? '' : formatPath(i.path), message: i.message }));
}

/** Validates a submitted rule; throws RuleValidationError with every issue at its path. */
export function parseRuleInput(input: unknown): ValidRuleInput {
  const r = ruleInputSchema.safeParse(input);
  if (!r.success) throw new RuleValidationError(issuesOf(r.error));
  return r.data;
}

/** Validates a TTL given on its own (`extend`), reported at `ttl_secs`. */
export function parseTtl(ttlSecs: unknown): number {
  const r = ttlSchema.safeParse(ttlSecs);
  if (!r.success) throw new RuleValidationError(r.error.issues.map((i) => ({ path: 'ttl_secs', message: i.message })));
  return r.data;
}

/** A stored rule's JSON text → the rule, or the reason it is not one. */
export function parseStoredRule(text: string): ForceRule | Error {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return err as Error;
  }
  const r = storedRuleSchema.safeParse(v);
  if (!r.success) return new Error(issuesOf(r.error).map((i) => `${i.path}: ${i.message}`).join('; '));
  return r.data;
}
