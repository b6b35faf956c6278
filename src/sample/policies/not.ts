import type { ColumnName } from '../../lake/span-schema.ts';
import { ALWAYS_THRESHOLD, NOT_SAMPLED, SAMPLED, type Decision, type EvalContext, type PolicyEvaluator } from './decision.ts';

/**
 * Swaps Sampled and NotSampled of its one sub-policy, as otelcol's `not`; every other vote,
 * including the Invert* ones, passes through unchanged (otelcol does the same, so `not` around an
 * invert_match filter is a no-op there too). Negating a probabilistic or rate-limited vote does not
 * give a consistent-probability keep, so its threshold is unknown.
 */
export class NotPolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic: boolean;
  readonly #sub: PolicyEvaluator;

  constructor(name: string, sub: PolicyEvaluator) {
    this.name = name;
    this.#sub = sub;
    this.deterministic = sub.deterministic;
  }

  evaluate(ctx: EvalContext): Decision {
    const d = this.#sub.evaluate(ctx);
    if (d === SAMPLED) return NOT_SAMPLED;
    if (d === NOT_SAMPLED) {
      ctx.threshold = this.#sub.deterministic ? ALWAYS_THRESHOLD : null;
      return SAMPLED;
    }
    return d;
  }

  collectColumns(into: Set<ColumnName>): void {
    this.#sub.collectColumns(into);
  }
}
