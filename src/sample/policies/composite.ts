import type { ColumnName } from '../../lake/span-schema.ts';
import { INVERT_SAMPLED, NOT_SAMPLED, SAMPLED, type Decision, type EvalContext, type PolicyEvaluator } from './decision.ts';

export interface CompositeSub {
  evaluator: PolicyEvaluator;
  /** Spans per second this sub-policy may keep. */
  allocatedSps: number;
}

/**
 * otelcol's composite: sub-policies run in list order; the first that would sample decides. It
 * keeps the trace if that sub-policy's spans this wall-clock second, plus this trace's, stay within
 * its allocation (and max_total_spans_per_second), else the trace is not sampled; no later
 * sub-policy gets a say. Counters restart each second of `nowMs`.
 */
export class CompositePolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic = false;
  readonly #subs: readonly CompositeSub[];
  readonly #maxTotalSps: number;
  readonly #sampled: number[];
  #second = Number.NaN;

  constructor(name: string, maxTotalSps: number, subs: readonly CompositeSub[]) {
    this.name = name;
    this.#maxTotalSps = maxTotalSps;
    this.#subs = subs;
    this.#sampled = subs.map(() => 0);
  }

  evaluate(ctx: EvalContext): Decision {
    const second = Math.floor(ctx.nowMs / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#sampled.fill(0);
    }
    for (let i = 0; i < this.#subs.length; i++) {
      const sub = this.#subs[i]!;
      const d = sub.evaluator.evaluate(ctx);
      if (d !== SAMPLED && d !== INVERT_SAMPLED) continue;
      const ifSampled = this.#sampled[i]! + ctx.trace.summary.spanCount;
      if (ifSampled <= sub.allocatedSps && ifSampled <= this.#maxTotalSps) {
        this.#sampled[i] = ifSampled;
        ctx.threshold = null;
        return SAMPLED;
      }
      return NOT_SAMPLED;
    }
    return NOT_SAMPLED;
  }

  collectColumns(into: Set<ColumnName>): void {
    for (const s of this.#subs) s.evaluator.collectColumns(into);
  }
}

/**
 * otelcol's getRateAllocationMap: a listed policy gets percent% of the total (a listed 0% gets an
 * equal share); a sub-policy missing from rate_allocation gets 0, so it can never keep a trace.
 */
export function allocateRates(
  maxTotalSps: number,
  subNames: readonly string[],
  allocations: readonly { policy: string; percent: number }[],
): number[] {
  const byName = new Map<string, number>();
  const equalShare = maxTotalSps / subNames.length;
  for (const a of allocations) byName.set(a.policy, a.percent > 0 ? (a.percent / 100) * maxTotalSps : equalShare);
  // otelcol stores the allocation as int64, truncating.
  return subNames.map((n) => Math.trunc(byName.get(n) ?? 0));
}
