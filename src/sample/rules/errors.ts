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

/** `force_rules.redis` cannot work as given. */
export class RuleStoreConfigError extends TailsamplerError {
  constructor(message: string, cause?: unknown) {
    super('TS_RULE_STORE_CONFIG', message, { cause });
    this.name = 'RuleStoreConfigError';
  }
}
