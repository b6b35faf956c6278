import type { ColumnName } from '../../lake/span-schema.ts';
import { NOT_SAMPLED, SAMPLED, type Decision, type EvalContext, type PolicyEvaluator } from './decision.ts';

/**
 * Trace duration = latest span end minus earliest span start, from the summary. Like otelcol the
 * duration is truncated to whole milliseconds; without an upper bound it must be >= threshold_ms,
 * with one it must be in (threshold_ms, upper_threshold_ms].
 */
export class LatencyPolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic = true;
  readonly #lower: number;
  readonly #upper: number;

  constructor(name: string, thresholdMs: number, upperThresholdMs: number) {
    this.name = name;
    this.#lower = thresholdMs;
    this.#upper = upperThresholdMs;
  }

  evaluate(ctx: EvalContext): Decision {
    const s = ctx.trace.summary;
    const ms = Number((s.maxEndNs - s.minStartNs) / 1_000_000n);
    if (this.#upper === 0) return ms >= this.#lower ? SAMPLED : NOT_SAMPLED;
    return ms > this.#lower && ms <= this.#upper ? SAMPLED : NOT_SAMPLED;
  }

  collectColumns(_into: Set<ColumnName>): void {}
}
