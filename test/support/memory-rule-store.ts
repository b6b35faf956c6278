import { z } from 'zod';
import { formatPath } from '../../src/config/load.ts';
import { RuleStoreUnavailableError, RuleValidationError } from '../../src/sample/rules/errors.ts';
import type { ForceRule, RuleInput, RuleStore, RuleStoreHealth } from '../../src/sample/rules/rule-store.ts';

/**
 * TEST DOUBLE: a RuleStore in memory, for unit tests of the admin API and the CLI only. Its
 * validation mirrors the RuleStore contract (every issue with its JSON path) so the API's error
 * shape can be tested; the real validation and storage are the Redis store's. `down = true` makes
 * writes fail as a store that cannot be reached does.
 */
export class InMemoryRuleStoreDouble implements RuleStore {
  readonly rules = new Map<string, ForceRule>();
  down = false;
  #next = 1;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async list(): Promise<ForceRule[]> {
    return [...this.rules.values()].filter((r) => Date.parse(r.expires_at) > this.#now());
  }

  async get(id: string): Promise<ForceRule | null> {
    return this.rules.get(id) ?? null;
  }

  async create(input: unknown, principal: string): Promise<ForceRule> {
    const parsed = ruleInputSchema.safeParse(input);
    if (!parsed.success) throw new RuleValidationError(parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })));
    this.#writable();
    const r: RuleInput = parsed.data;
    const now = this.#now();
    const rule: ForceRule = {
      id: `r${String(this.#next++).padStart(4, '0')}`,
      action: r.action,
      match: r.match,
      priority: r.priority ?? 0,
      enabled: r.enabled ?? true,
      reason: r.reason ?? '',
      created_by: principal,
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + r.ttl_secs * 1000).toISOString(),
    };
    this.rules.set(rule.id, rule);
    return rule;
  }

  async extend(id: string, ttlSecs: number): Promise<ForceRule | null> {
    this.#writable();
    return this.#update(id, { expires_at: new Date(this.#now() + ttlSecs * 1000).toISOString() });
  }

  async setEnabled(id: string, enabled: boolean): Promise<ForceRule | null> {
    this.#writable();
    return this.#update(id, { enabled });
  }

  async delete(id: string): Promise<boolean> {
    this.#writable();
    return this.rules.delete(id);
  }

  health(): RuleStoreHealth {
    return { connected: !this.down, rules: this.rules.size, lastLoadMs: 1_767_225_600_000, lastError: this.down ? 'connect ECONNREFUSED 127.0.0.1:6379' : null };
  }

  #writable(): void {
    if (this.down) throw new RuleStoreUnavailableError('rule store unreachable (test double is down)');
  }

  #update(id: string, change: Partial<ForceRule>): ForceRule | null {
    const r = this.rules.get(id);
    if (r === undefined) return null;
    const updated = { ...r, ...change };
    this.rules.set(id, updated);
    return updated;
  }
}

const COMPARISONS = new Set(['gt', 'gte', 'lt', 'lte']);

const conditionSchema = z
  .object({
    key: z.string().min(1, 'must not be empty'),
    op: z.enum(['eq', 'neq', 'contains', 'prefix', 'suffix', 'regex', 'in', 'exists', 'gt', 'gte', 'lt', 'lte']),
    value: z.union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number()]))]).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const at = (message: string): void => void ctx.addIssue({ code: 'custom', path: ['value'], message });
    if (c.op === 'exists') {
      if (c.value !== undefined) at('exists takes no value');
    } else if (c.op === 'in') {
      if (!Array.isArray(c.value) || c.value.length === 0) at('in needs a non-empty array of values');
    } else if (COMPARISONS.has(c.op)) {
      if (typeof c.value !== 'number') at(`${c.op} needs a number`);
    } else if (c.value === undefined || Array.isArray(c.value)) {
      at(`${c.op} needs one value`);
    } else if (c.op === 'regex') {
      try {
        new RegExp(String(c.value));
      } catch (err) {
        at(`not a valid regular expression: ${(err as Error).message}`);
      }
    }
  });

const ruleInputSchema = z
  .object({
    action: z.enum(['keep', 'drop']),
    match: z
      .object({
        trace_id: z.string().regex(/^[0-9a-fA-F]{32}$/, 'must be 32 hex characters').optional(),
        resource: z.array(conditionSchema).optional(),
        span: z.array(conditionSchema).optional(),
      })
      .strict()
      .refine((m) => m.trace_id !== undefined || (m.resource?.length ?? 0) > 0 || (m.span?.length ?? 0) > 0, 'must match something: trace_id, resource or span'),
    ttl_secs: z.number().int('must be a whole number').positive().max(7 * 86_400, 'at most 7 days (604800)'),
    priority: z.number().int().optional(),
    enabled: z.boolean().optional(),
    reason: z.string().max(500).optional(),
  })
  .strict();
