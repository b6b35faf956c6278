import { TailsamplerError } from '../../errors.ts';
import type { RuleIssue } from './rule-store.ts';

/** A submitted force rule (or a change to one) does not validate; `issues` says where and why. */
export class RuleValidationError extends TailsamplerError {
  readonly issues: readonly RuleIssue[];
  constructor(issues: readonly RuleIssue[]) {
    super('TS_RULE_INVALID', `invalid force rule:\n${issues.map((i) => `  ${i.path || '(rule)'}: ${i.message}`).join('\n')}`);
    this.name = 'RuleValidationError';
    this.issues = issues;
  }
}

/** Redis could not be reached or did not answer; the last good set stays in force meanwhile. */
export class RuleStoreUnavailableError extends TailsamplerError {
  constructor(message: string, cause?: unknown) {
    super('TS_RULE_STORE_UNAVAILABLE', message, { cause });
    this.name = 'RuleStoreUnavailableError';
  }
}

/**
 * Whether `e` refuses a rule with issues. Checked by shape as well as by class, so any store's
 * validation error (code TS_RULE_INVALID, an `issues` array of {path, message}) is recognised.
 */
export function isRuleValidationError(e: unknown): e is { code: 'TS_RULE_INVALID'; message: string; issues: RuleIssue[] } {
  if (e instanceof RuleValidationError) return true;
  if (typeof e !== 'object' || e === null) return false;
  const { code, issues } = e as { code?: unknown; issues?: unknown };
  return (
    code === 'TS_RULE_INVALID' &&
    Array.isArray(issues) &&
    issues.every((i) => typeof i === 'object' && i !== null && typeof (i as RuleIssue).path === 'string' && typeof (i as RuleIssue).message === 'string')
  );
}

/** `force_rules.redis` cannot work as given. */
export class RuleStoreConfigError extends TailsamplerError {
  constructor(message: string, cause?: unknown) {
    super('TS_RULE_STORE_CONFIG', message, { cause });
    this.name = 'RuleStoreConfigError';
  }
}
