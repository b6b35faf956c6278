import type { Sampler } from '../sampler.ts';
import { SamplerTelemetry, type SamplerDeps } from '../sampler-telemetry.ts';
import type { ForceRulesConfig } from './config.ts';
import { FORCE_RULE_LABEL, ForceRuleSampler, type RuleSource } from './force-rule-sampler.ts';
import { RedisRuleStore, type RedisRuleStoreDeps } from './redis-rule-store.ts';

/** The Redis rule store of a `force_rules:` section, or null when the section is absent. */
export function createRuleStore(config: ForceRulesConfig | null, deps: RedisRuleStoreDeps): RedisRuleStore | null {
  return config === null ? null : new RedisRuleStore(config, deps);
}

/** `sampler` with the rules of `source` consulted first. */
export function withForceRules(sampler: Sampler, source: RuleSource, deps: SamplerDeps): Sampler {
  return new ForceRuleSampler(sampler, source, new SamplerTelemetry(deps, [FORCE_RULE_LABEL]));
}
