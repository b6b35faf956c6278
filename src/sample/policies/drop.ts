import type { ColumnName } from '../../lake/span-schema.ts';
import { DROPPED, INVERT_NOT_SAMPLED, NOT_SAMPLED, type Decision, type EvalContext, type PolicyEvaluator } from './decision.ts';

/** Dropped iff every sub-policy would sample (otelcol's `drop`); a Dropped vote overrides all others. */
export class DropPolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic: boolean;
  readonly #subs: readonly PolicyEvaluator[];

  constructor(name: string, subs: readonly PolicyEvaluator[]) {
    this.name = name;
    this.#subs = subs;
    this.deterministic = subs.every((s) => s.deterministic);
  }

  evaluate(ctx: EvalContext): Decision {
    for (const sub of this.#subs) {
      const d = sub.evaluate(ctx);
      if (d === NOT_SAMPLED || d === INVERT_NOT_SAMPLED) return NOT_SAMPLED;
    }
    return DROPPED;
  }

  collectColumns(into: Set<ColumnName>): void {
    for (const s of this.#subs) s.collectColumns(into);
  }
}
