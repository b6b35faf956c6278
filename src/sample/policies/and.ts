import type { ColumnName } from '../../lake/span-schema.ts';
import { ALWAYS_THRESHOLD, INVERT_NOT_SAMPLED, NOT_SAMPLED, SAMPLED, type Decision, type EvalContext, type PolicyEvaluator } from './decision.ts';

/**
 * Sampled iff no sub-policy says NotSampled/InvertNotSampled; stops at the first that does (so a
 * rate limit listed after a failing filter spends nothing), as otelcol. The keep threshold is the
 * largest of the sub-policies' (a trace passes AND iff it passes the strictest); unknown if any is.
 */
export class AndPolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic: boolean;
  readonly #subs: readonly PolicyEvaluator[];

  constructor(name: string, subs: readonly PolicyEvaluator[]) {
    this.name = name;
    this.#subs = subs;
    this.deterministic = subs.every((s) => s.deterministic);
  }

  evaluate(ctx: EvalContext): Decision {
    let threshold: bigint | null = ALWAYS_THRESHOLD;
    for (const sub of this.#subs) {
      ctx.threshold = ALWAYS_THRESHOLD;
      const d = sub.evaluate(ctx);
      if (d === NOT_SAMPLED || d === INVERT_NOT_SAMPLED) return NOT_SAMPLED;
      const t: bigint | null = ctx.threshold;
      if (threshold !== null) threshold = t === null ? null : t > threshold ? t : threshold;
    }
    ctx.threshold = threshold;
    return SAMPLED;
  }

  collectColumns(into: Set<ColumnName>): void {
    for (const s of this.#subs) s.collectColumns(into);
  }
}
