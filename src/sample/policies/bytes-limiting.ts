import type { ColumnName } from '../../lake/span-schema.ts';
import { NOT_SAMPLED, SAMPLED, type Decision, type EvalContext, type PolicyEvaluator } from './decision.ts';
import { TokenBucket } from './token-bucket.ts';

/**
 * Keeps traces while their bytes fit in a token bucket refilled at bytes_per_second, holding
 * burst_capacity (default twice the rate, as otelcol). A trace's bytes are the sum of its spans'
 * OTLP protobuf sizes (summary.bytes), where otelcol uses an estimate of the in-memory size.
 */
export class BytesLimitingPolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic = false;
  readonly #bucket: TokenBucket;

  constructor(name: string, bytesPerSecond: number, burstCapacity: number | undefined) {
    this.name = name;
    this.#bucket = new TokenBucket(bytesPerSecond, burstCapacity ?? bytesPerSecond * 2);
  }

  evaluate(ctx: EvalContext): Decision {
    if (!this.#bucket.allow(ctx.trace.summary.bytes, ctx.nowMs)) return NOT_SAMPLED;
    ctx.threshold = null;
    return SAMPLED;
  }

  collectColumns(_into: Set<ColumnName>): void {}
}
