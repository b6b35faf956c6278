import type { Component } from '../component.ts';
import type { StoredDecision } from '../evaluate/decision-store.ts';

/** Rows of a kept trace that arrived after its decision, in the file with sequence number `seq`. */
export interface LateRows {
  decision: StoredDecision;
  seq: number;
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
  /** Fresh decisions, or ones restored from another replica whose kept traces were not all exported. */
  decided(decisions: readonly StoredDecision[]): Promise<void>;
  /** Spans of kept traces that came after the decision. */
  late(rows: readonly LateRows[]): Promise<void>;
  /** Ownership moved (several replicas): traces `owns` says no to are another replica's now. */
  released(owns: (traceId: string) => boolean): Promise<void>;
}
