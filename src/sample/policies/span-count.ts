import type { ColumnName } from '../../lake/span-schema.ts';
import { NOT_SAMPLED, SAMPLED, type Decision, type EvalContext, type PolicyEvaluator } from './decision.ts';

/** Span count within [min_spans, max_spans], inclusive; max_spans 0 = no upper bound (otelcol). */
export class SpanCountPolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic = true;
  readonly #min: number;
  readonly #max: number;

  constructor(name: string, minSpans: number, maxSpans: number) {
    this.name = name;
    this.#min = minSpans;
    this.#max = maxSpans === 0 ? Infinity : maxSpans;
  }

  evaluate(ctx: EvalContext): Decision {
    const n = ctx.trace.summary.spanCount;
    return n >= this.#min && n <= this.#max ? SAMPLED : NOT_SAMPLED;
  }

  collectColumns(_into: Set<ColumnName>): void {}
}
