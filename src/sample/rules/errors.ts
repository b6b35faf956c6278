import { TailsamplerError } from '../../errors.ts';
import type { RuleIssue } from './rule-store.ts';

/** A submitted force rule (or a change to one) is refused: every reason, at its path in the JSON. */
export class RuleValidationError extends TailsamplerError {
  readonly issues: RuleIssue[];
  constructor(issues: RuleIssue[]) {
    super('TS_RULE_INVALID', `invalid rule:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
    this.name = 'RuleValidationError';
    this.issues = issues;
  }
}

/** The rule store cannot take a write now (Redis down or unreachable); rules in force stay as they were. */
export class RuleStoreUnavailableError extends TailsamplerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('TS_RULE_STORE_UNAVAILABLE', message, options);
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
