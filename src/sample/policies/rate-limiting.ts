import type { ColumnName } from '../../lake/span-schema.ts';
import { NOT_SAMPLED, SAMPLED, type Decision, type EvalContext, type PolicyEvaluator } from './decision.ts';
import { TokenBucket } from './token-bucket.ts';

/**
 * Keeps traces while spans fit in a token bucket refilled at spans_per_second with room for twice
 * that (current otelcol). The keep probability is unknown, so the threshold is null.
 */
export class RateLimitingPolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic = false;
  readonly #bucket: TokenBucket;

  constructor(name: string, spansPerSecond: number) {
    this.name = name;
    this.#bucket = new TokenBucket(spansPerSecond, spansPerSecond * 2);
  }

  evaluate(ctx: EvalContext): Decision {
    if (!this.#bucket.allow(ctx.trace.summary.spanCount, ctx.nowMs)) return NOT_SAMPLED;
    ctx.threshold = null;
    return SAMPLED;
  }

  collectColumns(_into: Set<ColumnName>): void {}
}
