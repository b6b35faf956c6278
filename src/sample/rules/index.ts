export type { ForceRulesConfig, RedisRulesConfig } from './config.ts';
export { RuleStoreConfigError, RuleStoreUnavailableError, RuleValidationError } from './errors.ts';
export { createRuleStore, withForceRules } from './factory.ts';
export { FORCE_RULE_LABEL, FORCE_RULE_POLICY_PREFIX, ForceRuleSampler, policyLabel, RuleSet, type RuleSource } from './force-rule-sampler.ts';
export { RedisRuleStore, type RedisRuleStoreDeps } from './redis-rule-store.ts';
export { parseRuleInput } from './rule-schema.ts';
export type { ForceRule, RuleCondition, RuleInput, RuleIssue, RuleMatch, RuleStore, RuleStoreHealth } from './rule-store.ts';
