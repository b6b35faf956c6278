import type { ColumnName } from '../../lake/span-schema.ts';
import type { TraceData } from '../sampler.ts';
import type { TraceView } from './trace-view.ts';

/**
 * A policy's vote, as otelcol's sampling.Decision: the Invert* values come from `invert_match`
 * and are combined specially (an InvertNotSampled vetoes every Sampled; InvertSampled keeps only
 * when no policy said NotSampled). Plain numbers, not objects, so evaluation allocates nothing.
 */
export const SAMPLED = 1;
export const NOT_SAMPLED = 2;
export const DROPPED = 3;
export const INVERT_SAMPLED = 4;
export const INVERT_NOT_SAMPLED = 5;
export type Decision = typeof SAMPLED | typeof NOT_SAMPLED | typeof DROPPED | typeof INVERT_SAMPLED | typeof INVERT_NOT_SAMPLED;

/** Threshold meaning "kept with probability 1" (th:0). */
export const ALWAYS_THRESHOLD = 0n;
/** 2^56: no randomness value reaches it, so "never kept". */
export const NEVER_THRESHOLD = 1n << 56n;

/** Per-trace evaluation state shared by all policies of one decision. */
export interface EvalContext {
  readonly trace: TraceData;
  readonly view: TraceView;
  readonly nowMs: number;
  /**
   * Out-parameter: when a policy returns SAMPLED it leaves here the consistent-probability threshold
   * at which it keeps this trace (0n when the match does not depend on randomness, null when the keep
   * probability is unknown, as with rate limits). The engine resets it to 0n before each policy.
   */
  threshold: bigint | null;
}

export interface PolicyEvaluator {
  readonly name: string;
  /**
   * True when the vote depends only on the trace's content, not on randomness or state, so the
   * negation of a NotSampled vote (by `not`) is a certain keep.
   */
  readonly deterministic: boolean;
  evaluate(ctx: EvalContext): Decision;
  /** Adds the span columns this policy reads beyond the summary. */
  collectColumns(into: Set<ColumnName>): void;
}
