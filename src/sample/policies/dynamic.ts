import type { ColumnName } from '../../lake/span-schema.ts';
import { probabilityToThreshold } from '../threshold.ts';
import type { DynamicConfig } from './config.ts';
import { NOT_SAMPLED, SAMPLED, type Decision, type EvalContext, type PolicyEvaluator } from './decision.ts';
import { EmaThroughput } from './ema-throughput.ts';
import { SampleKey } from './sample-key.ts';
import type { AttributeKeys } from './trace-view.ts';
import type { PolicyHooks } from './build-evaluator.ts';

/**
 * This service's `dynamic` policy (not an otelcol type): Refinery's EMA throughput sampling. Each
 * trace's key (from `key_fields`) and span count feed an {@link EmaThroughput}, whose per-key rate N
 * becomes a consistent-probability keep: the trace is kept iff its randomness (tracestate `rv`, else
 * the trace id's low 56 bits) passes the threshold of probability 1/N, and that threshold is the `th`
 * its kept spans carry, so downstream counts each kept trace N times. Time is the decision's `nowMs`.
 */
export class DynamicPolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic = false;
  readonly #key: SampleKey;
  readonly #ema: EmaThroughput;
  /** Thresholds of recent rates: an unchanged rate table costs no bigint arithmetic per trace. */
  readonly #thresholds = new Map<number, bigint>();

  constructor(name: string, cfg: DynamicConfig, keys: AttributeKeys, hooks: PolicyHooks = {}) {
    this.name = name;
    this.#key = new SampleKey(cfg.key_fields, keys);
    this.#ema = new EmaThroughput({
      goalThroughputPerSec: cfg.goal_throughput_per_sec,
      adjustmentIntervalMs: cfg.adjustment_interval_secs * 1000,
      weight: cfg.weight,
      ageOutValue: cfg.age_out_value ?? cfg.weight,
      burstMultiple: cfg.burst_multiple,
      burstDetectionDelay: cfg.burst_detection_delay,
      initialSampleRate: cfg.initial_sample_rate,
      maxKeys: cfg.max_keys,
      overflowSampleRate: cfg.overflow_sample_rate,
      onOverflow: hooks.dynamicKeyOverflow && (() => hooks.dynamicKeyOverflow!(name)),
    });
    hooks.dynamicPolicyBuilt?.(name);
  }

  evaluate(ctx: EvalContext): Decision {
    const rate = this.#ema.observe(this.#key.build(ctx.view), ctx.trace.summary.spanCount, ctx.nowMs);
    if (rate <= 1) return SAMPLED; // th:0, the engine's default
    const threshold = this.#threshold(rate);
    if (ctx.view.randomness() < threshold) return NOT_SAMPLED;
    ctx.threshold = threshold;
    return SAMPLED;
  }

  collectColumns(into: Set<ColumnName>): void {
    this.#key.collectColumns(into);
    into.add('trace_state');
  }

  /** The sampler's rate table, for tests and diagnostics. */
  rates(): ReadonlyMap<string, number> {
    return this.#ema.rates();
  }

  #threshold(rate: number): bigint {
    let t = this.#thresholds.get(rate);
    if (t === undefined) {
      // Rates change once per interval; the cache holds at most about max_keys of them at a time.
      if (this.#thresholds.size >= 4096) this.#thresholds.clear();
      t = probabilityToThreshold(1 / rate);
      this.#thresholds.set(rate, t);
    }
    return t;
  }
}
