import type { ColumnName } from '../../lake/span-schema.ts';
import { probabilityToThreshold } from '../threshold.ts';
import { NOT_SAMPLED, SAMPLED, type Decision, type EvalContext, type PolicyEvaluator } from './decision.ts';

/**
 * Keeps a trace iff its randomness R (tracestate `rv`, else the trace id's low 56 bits) is at least
 * T = (1 - p)·2^56: OTel consistent probability sampling, so the same trace gets the same answer
 * everywhere and a lower rate keeps a subset of a higher one. otelcol hashes the trace id with
 * FNV-1a and `hash_salt` instead; the rate is the same but the chosen traces differ, and hash_salt
 * has no effect here (consistency across tiers is the point of the OTel scheme).
 */
export class ProbabilisticPolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic = false;
  readonly threshold: bigint;

  constructor(name: string, probability: number) {
    this.name = name;
    this.threshold = probabilityToThreshold(probability);
  }

  evaluate(ctx: EvalContext): Decision {
    if (this.threshold === 0n) return SAMPLED;
    if (ctx.view.randomness() < this.threshold) return NOT_SAMPLED;
    ctx.threshold = this.threshold;
    return SAMPLED;
  }

  /** trace_state carries `rv`; when the column is absent the trace id is used. */
  collectColumns(into: Set<ColumnName>): void {
    if (this.threshold !== 0n) into.add('trace_state');
  }
}
