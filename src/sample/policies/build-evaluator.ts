import { SamplingPolicyError } from '../errors.ts';
import { AlwaysSample } from './always-sample.ts';
import { AndPolicy } from './and.ts';
import { BooleanAttributePolicy } from './boolean-attribute.ts';
import { BytesLimitingPolicy } from './bytes-limiting.ts';
import { allocateRates, CompositePolicy } from './composite.ts';
import type { PolicyConfig } from './config.ts';
import type { PolicyEvaluator } from './decision.ts';
import { DropPolicy } from './drop.ts';
import { DynamicPolicy } from './dynamic.ts';
import { LatencyPolicy } from './latency.ts';
import { NotPolicy } from './not.ts';
import { NumericAttributePolicy } from './numeric-attribute.ts';
import { ProbabilisticPolicy } from './probabilistic.ts';
import { RateLimitingPolicy } from './rate-limiting.ts';
import { SpanCountPolicy } from './span-count.ts';
import { StatusCodePolicy } from './status-code.ts';
import { StringAttributePolicy } from './string-attribute.ts';
import type { AttributeKeys } from './trace-view.ts';
import { TraceStatePolicy } from './trace-state.ts';

/** What stateful policies report while deciding (metrics), by policy name; all optional. */
export interface PolicyHooks {
  /** A `dynamic` policy of this name exists (its series start at 0). */
  dynamicPolicyBuilt?: (policy: string) => void;
  /** A `dynamic` policy could not count a trace's key: `max_keys` keys already were. */
  dynamicKeyOverflow?: (policy: string) => void;
}

/**
 * Builds the evaluator for one validated policy (any depth). Attribute policies register their key
 * in `keys`, so the trace view extracts exactly the keys some policy reads.
 */
export function buildEvaluator(cfg: PolicyConfig, keys: AttributeKeys, hooks: PolicyHooks = {}): PolicyEvaluator {
  switch (cfg.type) {
    case 'always_sample':
      return new AlwaysSample(cfg.name);
    case 'latency':
      return new LatencyPolicy(cfg.name, cfg.latency.threshold_ms, cfg.latency.upper_threshold_ms);
    case 'numeric_attribute': {
      const c = cfg.numeric_attribute;
      return new NumericAttributePolicy(cfg.name, keys, c.key, c.min_value, c.max_value, c.invert_match);
    }
    case 'probabilistic':
      return new ProbabilisticPolicy(cfg.name, cfg.probabilistic.sampling_percentage / 100);
    case 'status_code':
      return new StatusCodePolicy(cfg.name, cfg.status_code.status_codes);
    case 'string_attribute':
      return new StringAttributePolicy(cfg.name, keys, cfg.string_attribute);
    case 'rate_limiting':
      return new RateLimitingPolicy(cfg.name, cfg.rate_limiting.spans_per_second);
    case 'bytes_limiting':
      return new BytesLimitingPolicy(cfg.name, cfg.bytes_limiting.bytes_per_second, cfg.bytes_limiting.burst_capacity);
    case 'span_count':
      return new SpanCountPolicy(cfg.name, cfg.span_count.min_spans, cfg.span_count.max_spans);
    case 'trace_state':
      return new TraceStatePolicy(cfg.name, cfg.trace_state.key, cfg.trace_state.values);
    case 'boolean_attribute': {
      const c = cfg.boolean_attribute;
      return new BooleanAttributePolicy(cfg.name, keys, c.key, c.value, c.invert_match);
    }
    case 'dynamic':
      return new DynamicPolicy(cfg.name, cfg.dynamic, keys, hooks);
    case 'not':
      return new NotPolicy(cfg.name, buildEvaluator(cfg.not.not_sub_policy, keys, hooks));
    case 'and':
      return new AndPolicy(cfg.name, cfg.and.and_sub_policy.map((p) => buildEvaluator(p, keys, hooks)));
    case 'drop':
      return new DropPolicy(cfg.name, cfg.drop.drop_sub_policy.map((p) => buildEvaluator(p, keys, hooks)));
    case 'composite': {
      const c = cfg.composite;
      const rates = allocateRates(
        c.max_total_spans_per_second,
        c.composite_sub_policy.map((p) => p.name ?? ''),
        c.rate_allocation,
      );
      return new CompositePolicy(
        cfg.name,
        c.max_total_spans_per_second,
        c.composite_sub_policy.map((p, i) => ({ evaluator: buildEvaluator(p, keys, hooks), allocatedSps: rates[i]! })),
      );
    }
    case 'ottl_condition': {
      const name = (cfg as { name?: unknown }).name;
      throw new SamplingPolicyError(typeof name === 'string' ? name : '', 'policy type ottl_condition is not supported');
    }
  }
}
