import type { Component } from '../component.ts';
import type { StoredDecision } from '../evaluate/decision-store.ts';
import type { TraceSummary } from '../sample/sampler.ts';

/**
 * Rows of a kept trace that arrived after its decision, in the file with sequence number `seq` (or
 * the files `seq` through `lastSeq`: a part of the trace spilled to disk when it was decided).
 */
export interface LateRows {
  decision: StoredDecision;
  seq: number;
  lastSeq?: number;
}

/** A fresh decision with what the evaluator knew of its trace when it decided. */
export interface DecidedTrace {
  decision: StoredDecision;
  summary: TraceSummary;
}

/**
 * The seam between deciding and everything that reacts to a decision (the Collector's tail sampler
 * hands its batches on the same way). The evaluator calls it with every batch of decisions, kept and
 * dropped, once they are recorded; the emitter, which sends kept traces to the exporters, is one
 * implementation, and an audit table or a stats aggregator would be others.
 *
 * Both calls resolve once the sink has durably taken what it needs (never after a delivery): a slow
 * destination must not hold up deciding.
 */
export interface DecisionSink extends Component {
  /**
   * Optional: fresh decisions with their trace summaries, called synchronously inside the
   * state-database transaction that records them, so what a sink keeps in that database (the audit
   * buffer) is durable exactly when the decisions are. No other I/O here; a throw rolls the
   * decisions back. Not called for decisions restored from another replica (audited where made).
   */
  recording?(traces: readonly DecidedTrace[]): void;
  /** Fresh decisions, or ones restored from another replica whose kept traces were not all exported. */
  decided(decisions: readonly StoredDecision[]): Promise<void>;
  /** Spans of kept traces that came after the decision. */
  late(rows: readonly LateRows[]): Promise<void>;
  /** Ownership moved (several replicas): traces `owns` says no to are another replica's now. */
  released(owns: (traceId: string) => boolean): Promise<void>;
}
