import type { ColumnName } from '../lake/span-schema.ts';
import type { SamplingDecision, Sampler, TraceData } from './sampler.ts';
import { thresholdToHex } from './threshold.ts';
import {
  ALWAYS_THRESHOLD,
  DROPPED,
  INVERT_NOT_SAMPLED,
  INVERT_SAMPLED,
  NEVER_THRESHOLD,
  NOT_SAMPLED,
  SAMPLED,
  type EvalContext,
  type PolicyEvaluator,
} from './policies/decision.ts';
import { DropPolicy } from './policies/drop.ts';
import { TraceView, type AttributeKeys } from './policies/trace-view.ts';
import type { SamplerTelemetry } from './sampler-telemetry.ts';

interface MutableContext extends EvalContext {
  trace: TraceData;
  nowMs: number;
}

/**
 * Runs the top-level policies and combines their votes exactly as otelcol's makeDecision:
 * drop policies run first and a Dropped vote ends evaluation; then, in precedence order,
 * Dropped → not kept; any InvertNotSampled → not kept; any Sampled → kept (the first Sampled
 * policy is named); InvertSampled with no NotSampled anywhere → kept; otherwise not kept.
 *
 * A policy that throws has no vote on that trace, as otelcol's Error decision, which makeDecision
 * records and then leaves out of the combination: it keeps nothing, vetoes nothing and is not a
 * NotSampled (an InvertSampled elsewhere still keeps); the other policies decide, and a trace on
 * which no policy voted is not kept. A sub-policy's error (and, not, drop, composite) fails its
 * top-level policy, as otelcol's combinators return it. Each failure is counted by policy name and
 * logged at most once per policy per interval (`telemetry`), never per trace.
 */
export class PolicyEngine implements Sampler {
  readonly requiredColumns: readonly ColumnName[];
  readonly policyNames: readonly string[];
  readonly #ordered: readonly PolicyEvaluator[];
  readonly #ctx: MutableContext;
  readonly #telemetry: SamplerTelemetry;

  constructor(policies: readonly PolicyEvaluator[], keys: AttributeKeys, telemetry: SamplerTelemetry) {
    this.policyNames = policies.map((p) => p.name);
    this.#ordered = [...policies.filter((p) => p instanceof DropPolicy), ...policies.filter((p) => !(p instanceof DropPolicy))];
    const columns = new Set<ColumnName>();
    for (const p of policies) p.collectColumns(columns);
    this.requiredColumns = [...columns];
    this.#telemetry = telemetry;
    const view = new TraceView(keys, (column, traceId, err) => telemetry.attributesUnreadable(column, traceId, err));
    this.#ctx = { trace: null!, view, nowMs: 0, threshold: ALWAYS_THRESHOLD };
  }

  decide(trace: TraceData, nowMs: number): SamplingDecision {
    const ctx = this.#ctx;
    ctx.trace = trace;
    ctx.nowMs = nowMs;
    ctx.view.reset(trace);
    let sampled: PolicyEvaluator | null = null;
    let invertSampled: PolicyEvaluator | null = null;
    let invertNotSampled: PolicyEvaluator | null = null;
    let dropped: PolicyEvaluator | null = null;
    let anyNotSampled = false;
    // Keep threshold: the smallest over all Sampled votes, since the trace is kept when any of them
    // would keep it; unknown when a vote of unknown probability keeps it and no certain one does.
    let minThreshold = NEVER_THRESHOLD;
    let unknownThreshold = false;
    for (const p of this.#ordered) {
      ctx.threshold = ALWAYS_THRESHOLD;
      let d;
      try {
        d = p.evaluate(ctx);
      } catch (err) {
        this.#telemetry.policyFailed(p.name, trace.summary.traceId, err);
        continue;
      }
      if (d === DROPPED) {
        dropped = p;
        break;
      } else if (d === SAMPLED) {
        sampled ??= p;
        const t = ctx.threshold;
        if (t === null) unknownThreshold = true;
        else if (t < minThreshold) minThreshold = t;
      } else if (d === NOT_SAMPLED) anyNotSampled = true;
      else if (d === INVERT_SAMPLED) invertSampled ??= p;
      else if (d === INVERT_NOT_SAMPLED) invertNotSampled ??= p;
    }
    ctx.trace = null!;
    if (dropped !== null) return { keep: false, policy: dropped.name, threshold: null };
    if (invertNotSampled !== null) return { keep: false, policy: invertNotSampled.name, threshold: null };
    if (sampled !== null) {
      const threshold = unknownThreshold && minThreshold !== ALWAYS_THRESHOLD ? null : thresholdToHex(minThreshold);
      return { keep: true, policy: sampled.name, threshold };
    }
    if (invertSampled !== null && !anyNotSampled) return { keep: true, policy: invertSampled.name, threshold: '0' };
    return { keep: false, policy: '', threshold: null };
  }
}
