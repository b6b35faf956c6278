import { z } from 'zod';

/**
 * The otelcol tail_sampling `policies:` list, with the same YAML keys as the Collector so a pasted
 * list validates as is. Every block is strict: an unknown key (or a block belonging to another type,
 * such as `string_attribute:` under `type: boolean_attribute`) is an error at its path, where
 * otelcol's decoder would either fail or silently ignore it.
 *
 * Nesting follows otelcol: `and`/`drop` hold leaf policies (and `not`), `composite` holds leaves,
 * `not` and `and`, and `not` wraps exactly one leaf.
 */

const name = z.string().min(1, 'policy name must not be empty');
const key = z.string().min(1, 'attribute key must not be empty');
const nonNegInt = z.number().int().min(0);
const int64 = z.number().int();

const latencyCfg = z
  .strictObject({
    /** Lower bound: with no upper bound the trace duration must be >= this; with one, > this. */
    threshold_ms: nonNegInt.default(0),
    /** Upper bound, inclusive; 0 = none (otelcol's convention). */
    upper_threshold_ms: nonNegInt.default(0),
  })
  .refine((c) => c.upper_threshold_ms === 0 || c.upper_threshold_ms > c.threshold_ms, {
    message: 'upper_threshold_ms must be greater than threshold_ms (or 0 for no upper bound)',
    path: ['upper_threshold_ms'],
  });

const numericAttributeCfg = z
  .strictObject({
    key,
    /** otelcol treats 0 as "not set" (unbounded), and so do we, so a pasted config keeps its meaning. */
    min_value: int64.default(0),
    max_value: int64.default(0),
    invert_match: z.boolean().default(false),
  })
  .refine((c) => c.min_value !== 0 || c.max_value !== 0, {
    message: 'at least one of min_value and max_value must be set (non-zero)',
  })
  .refine((c) => c.min_value === 0 || c.max_value === 0 || c.min_value <= c.max_value, {
    message: 'min_value must not exceed max_value',
    path: ['min_value'],
  });

const probabilisticCfg = z.strictObject({
  /** Accepted for compatibility; our decision uses OTel consistent probability sampling, not a salted hash. */
  hash_salt: z.string().optional(),
  sampling_percentage: z.number().min(0).max(100, 'sampling_percentage must be at most 100'),
});

const statusCodeCfg = z.strictObject({
  status_codes: z.array(z.enum(['ERROR', 'OK', 'UNSET'])).min(1, 'status_codes must list at least one of ERROR, OK, UNSET'),
});

const stringAttributeCfg = z
  .strictObject({
    key,
    values: z.array(z.string()).min(1, 'values must not be empty'),
    enabled_regex_matching: z.boolean().default(false),
    /** Accepted for compatibility (otelcol's regex result LRU size). */
    cache_max_size: nonNegInt.optional(),
    invert_match: z.boolean().default(false),
  })
  .superRefine((c, ctx) => {
    if (!c.enabled_regex_matching) return;
    c.values.forEach((v, i) => {
      try {
        new RegExp(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: ['values', i], message: `invalid regular expression: ${(e as Error).message}` });
      }
    });
  });

const rateLimitingCfg = z.strictObject({ spans_per_second: z.number().int().positive() });

const bytesLimitingCfg = z.strictObject({
  bytes_per_second: z.number().int().positive(),
  /** Token bucket size; otelcol's default is twice bytes_per_second. */
  burst_capacity: z.number().int().positive().optional(),
});

const spanCountCfg = z
  .strictObject({
    min_spans: nonNegInt.default(0),
    /** 0 = no upper bound (otelcol's convention). */
    max_spans: nonNegInt.default(0),
  })
  .refine((c) => c.max_spans === 0 || c.max_spans >= c.min_spans, {
    message: 'max_spans must be at least min_spans (or 0 for no upper bound)',
    path: ['max_spans'],
  });

const traceStateCfg = z.strictObject({
  key,
  values: z.array(z.string()).min(1, 'values must not be empty'),
});

const booleanAttributeCfg = z.strictObject({
  key,
  value: z.boolean(),
  invert_match: z.boolean().default(false),
});

/**
 * This service's `dynamic` policy (Refinery's EMAThroughputSampler; not an otelcol type). Refinery's
 * defaults, except adjustment_interval_secs (30 rather than 15: decisions come one scan at a time,
 * every query.scan_interval_secs, 10 by default, and an interval should hold several scans).
 */
const dynamicCfg = z.strictObject({
  /** Fields whose values make a trace's key: `service.name`, `span.name`, `span.kind`, `span.status`, or an attribute key. */
  key_fields: z
    .array(z.string().min(1, 'key field must not be empty'))
    .min(1, 'key_fields must list at least one field')
    .superRefine((fields, ctx) => {
      fields.forEach((f, i) => {
        if (fields.indexOf(f) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `duplicate key field "${f}"` });
      });
    }),
  /** Spans per second to keep over all keys (per replica). */
  goal_throughput_per_sec: z.number().positive('goal_throughput_per_sec must be greater than 0'),
  adjustment_interval_secs: z.number().min(1, 'adjustment_interval_secs must be at least 1').default(30),
  weight: z.number().gt(0, 'weight must be between 0 and 1 (exclusive)').lt(1, 'weight must be between 0 and 1 (exclusive)').default(0.5),
  /** Default: weight. */
  age_out_value: z.number().positive('age_out_value must be greater than 0').optional(),
  /** 0 disables burst detection. */
  burst_multiple: z.number().min(0, 'burst_multiple must be at least 0 (0 disables burst detection)').default(2),
  burst_detection_delay: nonNegInt.default(3),
  initial_sample_rate: z.number().min(1, 'initial_sample_rate must be at least 1').default(10),
  max_keys: z.number().int().positive('max_keys must be at least 1').default(500),
  overflow_sample_rate: z.number().min(1, 'overflow_sample_rate must be at least 1').default(1),
});

export type DynamicConfig = z.infer<typeof dynamicCfg>;

const leafVariants = [
  z.strictObject({ name, type: z.literal('always_sample') }),
  z.strictObject({ name, type: z.literal('latency'), latency: latencyCfg }),
  z.strictObject({ name, type: z.literal('numeric_attribute'), numeric_attribute: numericAttributeCfg }),
  z.strictObject({ name, type: z.literal('probabilistic'), probabilistic: probabilisticCfg }),
  z.strictObject({ name, type: z.literal('status_code'), status_code: statusCodeCfg }),
  z.strictObject({ name, type: z.literal('string_attribute'), string_attribute: stringAttributeCfg }),
  z.strictObject({ name, type: z.literal('rate_limiting'), rate_limiting: rateLimitingCfg }),
  z.strictObject({ name, type: z.literal('bytes_limiting'), bytes_limiting: bytesLimitingCfg }),
  z.strictObject({ name, type: z.literal('span_count'), span_count: spanCountCfg }),
  z.strictObject({ name, type: z.literal('trace_state'), trace_state: traceStateCfg }),
  z.strictObject({ name, type: z.literal('boolean_attribute'), boolean_attribute: booleanAttributeCfg }),
  z.strictObject({ name, type: z.literal('dynamic'), dynamic: dynamicCfg }),
] as const;

/** OTTL needs an OTTL interpreter; rejected with a clear message rather than silently never matching. */
const ottlVariant = z.looseObject({ name: z.string().optional(), type: z.literal('ottl_condition') }).superRefine((_v, ctx) => {
  ctx.addIssue({
    code: 'custom',
    path: ['type'],
    message: 'policy type ottl_condition is not supported by tailsampler; express the condition with attribute, status_code or latency policies',
  });
});

const leafPolicy = z.discriminatedUnion('type', [...leafVariants, ottlVariant]);

const notVariant = z.strictObject({
  name,
  type: z.literal('not'),
  not: z.strictObject({ not_sub_policy: leafPolicy }),
});

const AT_LEAST_ONE = 'must list at least one sub-policy';

const andVariant = z.strictObject({
  name,
  type: z.literal('and'),
  and: z.strictObject({ and_sub_policy: z.array(z.discriminatedUnion('type', [...leafVariants, ottlVariant, notVariant])).min(1, AT_LEAST_ONE).superRefine(uniqueNames) }),
});

const dropVariant = z.strictObject({
  name,
  type: z.literal('drop'),
  drop: z.strictObject({ drop_sub_policy: z.array(z.discriminatedUnion('type', [...leafVariants, ottlVariant, notVariant])).min(1, AT_LEAST_ONE).superRefine(uniqueNames) }),
});

const compositeVariant = z.strictObject({
  name,
  type: z.literal('composite'),
  composite: z
    .strictObject({
      max_total_spans_per_second: z.number().int().positive(),
      /** Validated (every name must be a sub-policy) but, as in otelcol, sub-policies run in list order. */
      policy_order: z.array(z.string()).default([]),
      composite_sub_policy: z
        .array(z.discriminatedUnion('type', [...leafVariants, ottlVariant, notVariant, andVariant]))
        .min(1, AT_LEAST_ONE)
        .superRefine(uniqueNames),
      rate_allocation: z
        .array(z.strictObject({ policy: z.string().min(1), percent: z.number().min(0).max(100, 'percent must be at most 100') }))
        .default([]),
    })
    .superRefine((c, ctx) => {
      const names = new Set(c.composite_sub_policy.map((p) => p.name));
      c.policy_order.forEach((n, i) => {
        if (!names.has(n)) ctx.addIssue({ code: 'custom', path: ['policy_order', i], message: `no composite_sub_policy named "${n}"` });
      });
      let total = 0;
      c.rate_allocation.forEach((r, i) => {
        if (!names.has(r.policy)) ctx.addIssue({ code: 'custom', path: ['rate_allocation', i, 'policy'], message: `no composite_sub_policy named "${r.policy}"` });
        total += r.percent;
      });
      if (total > 100) ctx.addIssue({ code: 'custom', path: ['rate_allocation'], message: `percentages add up to ${total}, more than 100` });
    }),
});

function uniqueNames(list: readonly { name?: string | undefined }[], ctx: z.RefinementCtx<readonly unknown[]>): void {
  const seen = new Set<string | undefined>();
  list.forEach((p, i) => {
    if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate policy name "${String(p.name)}"` });
    seen.add(p.name);
  });
}

export const policySchema = z.discriminatedUnion('type', [...leafVariants, ottlVariant, notVariant, andVariant, dropVariant, compositeVariant]);

export const policyListSchema = z.array(policySchema).superRefine(uniqueNames);

export type PolicyConfig = z.infer<typeof policySchema>;
/** Any policy at any depth, minus the rejected ottl_condition. */
export type AnyPolicyConfig = Exclude<PolicyConfig, { type: 'ottl_condition' }>;
export type LeafPolicyConfig = Exclude<AnyPolicyConfig, { type: 'not' | 'and' | 'drop' | 'composite' }>;
export type PolicyType = PolicyConfig['type'];
