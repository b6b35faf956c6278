import { RuleStoreUnavailableError } from '../../src/sample/rules/errors.ts';
import { parseRuleInput, parseTtl } from '../../src/sample/rules/rule-schema.ts';
import type { ForceRule, RuleStore, RuleStoreHealth } from '../../src/sample/rules/rule-store.ts';

/**
 * TEST DOUBLE: a RuleStore in memory, for unit tests of the admin API and the CLI only. It validates
 * with the real validator (src/sample/rules/rule-schema.ts), as the Redis store does; only the
 * storage is a double. `down = true` makes writes fail as a store that cannot be reached does.
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
    const r = parseRuleInput(input);
    this.#writable();
    const now = this.#now();
    const rule: ForceRule = {
      id: `r${String(this.#next++).padStart(4, '0')}`,
      action: r.action,
      match: r.match,
      priority: r.priority,
      enabled: r.enabled,
      reason: r.reason,
      created_by: principal,
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + r.ttl_secs * 1000).toISOString(),
    };
    this.rules.set(rule.id, rule);
    return rule;
  }

  async extend(id: string, ttlSecs: number): Promise<ForceRule | null> {
    const ttl = parseTtl(ttlSecs);
    this.#writable();
    return this.#update(id, { expires_at: new Date(this.#now() + ttl * 1000).toISOString() });
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
