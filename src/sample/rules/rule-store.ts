/** A condition on one field of a trace's spans or resource. */
export interface RuleCondition {
  key: string;
  op: 'eq' | 'neq' | 'contains' | 'prefix' | 'suffix' | 'regex' | 'in' | 'exists' | 'gt' | 'gte' | 'lt' | 'lte';
  /** Absent for `exists`; an array for `in`; a number for the comparisons. */
  value?: string | number | boolean | readonly (string | number)[];
}

export interface RuleMatch {
  /** 32 hex characters: this trace only. */
  trace_id?: string;
  /** Resource conditions, ANDed (over the resource of any span of the trace). */
  resource?: readonly RuleCondition[];
  /**
   * Span conditions: the rule matches when one span satisfies them all. Keys are span attributes,
   * or the span fields `name`, `kind`, `status` and `service.name`.
   */
  span?: readonly RuleCondition[];
}

/** A force rule as stored and served. Times are RFC 3339 strings. */
export interface ForceRule {
  id: string;
  action: 'keep' | 'drop';
  match: RuleMatch;
  /** Higher first; ties broken by the older rule. */
  priority: number;
  enabled: boolean;
  reason: string;
  created_by: string;
  created_at: string;
  expires_at: string;
}

/** A rule as a client submits it (`POST /v1/rules`). */
export interface RuleInput {
  action: 'keep' | 'drop';
  match: RuleMatch;
  ttl_secs: number;
  priority?: number;
  enabled?: boolean;
  reason?: string;
}

/** One reason a rule was refused, at its path in the submitted JSON (`match.span[0].op`). */
export interface RuleIssue {
  path: string;
  message: string;
}

export interface RuleStoreHealth {
  /** The store answers (Redis connected). */
  connected: boolean;
  /** Rules in force in this replica (the last good set while the store is down). */
  rules: number;
  /** When the set in force was last loaded in full, ms since epoch; null before the first load. */
  lastLoadMs: number | null;
  lastError: string | null;
}

/**
 * Where force rules live (Redis): shared by every replica, changed through the admin API. Writes
 * validate first and throw `RuleValidationError` (its `issues`) for a bad rule.
 */
export interface RuleStore {
  list(): Promise<ForceRule[]>;
  get(id: string): Promise<ForceRule | null>;
  create(input: unknown, principal: string): Promise<ForceRule>;
  /** Moves the expiry to now + ttlSecs; null when there is no such rule. */
  extend(id: string, ttlSecs: number): Promise<ForceRule | null>;
  setEnabled(id: string, enabled: boolean): Promise<ForceRule | null>;
  delete(id: string): Promise<boolean>;
  health(): RuleStoreHealth;
}
