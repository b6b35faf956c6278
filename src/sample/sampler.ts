import type { ColumnName, PartialSpanColumns } from '../lake/span-schema.ts';

/** What the evaluator knows of a trace from the hot columns alone. */
export interface TraceSummary {
  /** 32 lowercase hex characters. */
  traceId: string;
  spanCount: number;
  /** Spans with status_code ERROR. */
  errorCount: number;
  /** Earliest start and latest end over the trace's spans, ns since epoch. */
  minStartNs: bigint;
  maxEndNs: bigint;
  /** Sum of span_size. */
  bytes: number;
  /** A span without parent was seen. */
  hasRoot: boolean;
  /** When the evaluator first and last saw spans of this trace (ms since epoch, ingest clock). */
  firstSeenMs: number;
  lastSeenMs: number;
  /** When the trace's last span reached the service (ms since epoch; its lastSeenMs where unknown). */
  lastReceivedMs: number;
}

/** A trace as policies see it: the summary, plus its rows when the sampler asked for columns. */
export interface TraceData {
  summary: TraceSummary;
  /** Rows of this trace only, with at least the sampler's `requiredColumns`; null if none were asked for. */
  spans: PartialSpanColumns | null;
}

export interface SamplingDecision {
  keep: boolean;
  /** Name of the policy that decided (for dropped traces: the drop policy, or "" when none matched). */
  policy: string;
  /**
   * OTel consistent-probability rejection threshold (`th` in `ot=` tracestate, hex without trailing
   * zeros, "0" = kept with probability 1) to record on kept spans; null when the keep probability is not known.
   */
  threshold: string | null;
}

/** Decides traces from the configured policies (otelcol tail_sampling semantics) and shorthands. */
export interface Sampler {
  /** Span columns the policies need beyond the summary; empty when the summary is enough. */
  readonly requiredColumns: readonly ColumnName[];
  /** Names of all configured top-level policies (for metrics labels). */
  readonly policyNames: readonly string[];
  decide(trace: TraceData, nowMs: number): SamplingDecision;
}
