import type { Component } from '../component.ts';
import type { StoredDecision } from './decision-store.ts';

/** How far an evaluator got with a partition of the traces, as the next owner needs it. */
export interface ShardProgress {
  /** Table sequence number the evaluator had read through. */
  seq: number;
  /** Every undecided trace's rows are in files with a sequence number above this. */
  low: number;
}

export interface RestoredPartition {
  /** Decisions still remembered for the partition's traces, the latest state of each. */
  decisions: StoredDecision[];
  /** The last progress recorded, or null when no evaluator ever recorded any. */
  progress: ShardProgress | null;
}

export interface ShardChange {
  assigned: readonly number[];
  revoked: readonly number[];
}

/**
 * The share of the traces one replica evaluates, and the shared record that lets another replica take
 * a share over. Traces are split into the partitions of the spool topic (a trace's partition is that
 * of its hex id as message key); the consumer group says which partitions this replica owns. Decisions
 * and progress are recorded per partition before they count, so the next owner of a partition
 * restores them: a trace is decided once, by whoever owns its partition, and none is forgotten.
 */
export interface EvaluatorShard extends Component {
  partitionOf(traceIdHex: string): number;
  /** The partitions this replica owns now (empty while the group rebalances). */
  owned(): ReadonlySet<number>;
  /** Called on every ownership change. Returns the unsubscribe function. */
  onChange(listener: (change: ShardChange) => void): () => void;
  /** Reads back what was recorded for `partitions` (on taking them over). */
  restore(partitions: readonly number[]): Promise<Map<number, RestoredPartition>>;
  /** Records decisions (new, or marked exported) durably; resolves once they are. */
  recordDecisions(decisions: readonly StoredDecision[]): Promise<void>;
  /** Records the same progress for each of `partitions`. */
  recordProgress(partitions: Iterable<number>, progress: ShardProgress): Promise<void>;
}
