import type { SamplingConfig } from '../config/schema.ts';
import { AndPolicy } from './policies/and.ts';
import { buildEvaluator, type PolicyHooks } from './policies/build-evaluator.ts';
import type { PolicyEvaluator } from './policies/decision.ts';
import { LatencyPolicy } from './policies/latency.ts';
import { ProbabilisticPolicy } from './policies/probabilistic.ts';
import { StatusCodePolicy } from './policies/status-code.ts';
import { AttributeKeys } from './policies/trace-view.ts';
import { PolicyEngine } from './policy-engine.ts';
import type { Sampler } from './sampler.ts';
import { SamplerTelemetry, type SamplerDeps } from './sampler-telemetry.ts';

/** Names of the policies the shorthands stand for (metrics labels, SamplingDecision.policy). */
export const SAMPLE_ERRORS_POLICY = 'sample_errors';
export const SAMPLE_LATENCY_POLICY = 'sample_latency';

/**
 * Builds the sampler from a validated `sampling:` section.
 *
 * otelcol first: a non-empty `policies` list alone decides, exactly as the same list would in the
 * Collector, and the shorthands (sample_errors, sample_latency, …) are ignored, because they default
 * to on and would otherwise silently widen a pasted otelcol list. With an empty list the shorthands
 * become policies: `sample_errors` keeps traces with an ERROR span, with probability
 * error_sample_rate (consistent probability sampling on the trace's randomness), and
 * `sample_latency` keeps traces lasting at least latency_threshold_ms. With neither, nothing is kept.
 *
 * `deps` receive what goes wrong while deciding: policy evaluation errors by policy and unreadable
 * attribute texts by column, as metrics and rate-limited log lines.
 */
export function buildSampler(config: SamplingConfig, deps: SamplerDeps): Sampler {
  const keys = new AttributeKeys();
  const overflow = deps.metrics.dynamicKeyOverflow;
  const hooks: PolicyHooks = { dynamicPolicyBuilt: (policy) => overflow.inc({ policy }, 0), dynamicKeyOverflow: (policy) => overflow.inc({ policy }) };
  const policies: PolicyEvaluator[] =
    config.policies.length > 0 ? config.policies.map((p) => buildEvaluator(p, keys, hooks)) : shorthandPolicies(config);
  return new PolicyEngine(policies, keys, new SamplerTelemetry(deps, policies.map((p) => p.name)));
}

function shorthandPolicies(config: SamplingConfig): PolicyEvaluator[] {
  const out: PolicyEvaluator[] = [];
  if (config.sample_errors && config.error_sample_rate > 0) {
    const errors = new StatusCodePolicy(SAMPLE_ERRORS_POLICY, ['ERROR']);
    out.push(
      config.error_sample_rate >= 1
        ? errors
        : new AndPolicy(SAMPLE_ERRORS_POLICY, [errors, new ProbabilisticPolicy(SAMPLE_ERRORS_POLICY, config.error_sample_rate)]),
    );
  }
  if (config.sample_latency) out.push(new LatencyPolicy(SAMPLE_LATENCY_POLICY, config.latency_threshold_ms, 0));
  return out;
}
