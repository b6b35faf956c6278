import { join } from 'node:path';
import { TailsamplerError } from '../errors.ts';
import type { DataFileRef, SpanTable } from '../lake/table.ts';
import type { DecisionSink } from '../pipeline/decision-sink.ts';
import type { Logger } from '../telemetry/logger.ts';
import { readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import type { DecisionStore, StoredDecision } from './decision-store.ts';
import type { SummarySpill } from './summary-spill.ts';
import type { TraceReader } from './trace-reader.ts';
import type { TraceTable } from './trace-table.ts';

/** Which rows of a file a fold takes, and whether rows of traces already decided count as late spans. */
export interface RowFilter {
  fold(traceId: string): boolean;
  late(traceId: string): boolean;
}

/** The evaluator's state as a scope sees it: what it restores at start and changes on a take-over. */
export interface EvaluatorState {
  readonly table: SpanTable;
  readonly reader: TraceReader;
  readonly store: DecisionStore;
  readonly sink: DecisionSink;
  readonly logger: Logger;
  /** Live summaries of undecided traces, in memory. */
  traces: TraceTable;
  /** Live summaries of undecided traces, spilled to disk until they are due. */
  readonly spill: SummarySpill;
  /** Table sequence number every file up to which is folded in. */
  seq: number;
  /** Folds the rows `filter` takes of `files` into the summaries (late spans go to the sink). */
  fold(files: readonly DataFileRef[], filter: RowFilter | null): Promise<void>;
  /** Brings every spilled summary back into `traces`. */
  unspillAll(): Promise<void>;
}

/**
 * Which traces an evaluator decides and where its progress is kept: all of them with a local
 * checkpoint (one replica), or the partitions a consumer group assigns with a shared record (several).
 */
export interface EvaluatorScope {
  /** Restores the state at start. */
  start(state: EvaluatorState): Promise<void>;
  /** Whether this replica decides the trace now. */
  owns(traceId: string): boolean;
  /** At the start of each scan: applies ownership changes. */
  sync(state: EvaluatorState): Promise<void>;
  /** Records decisions where the next owner finds them, before they count. */
  recordDecisions(decisions: readonly StoredDecision[]): Promise<void>;
  /** Saves progress at the end of a scan: every undecided trace's rows are in files above `low`. */
  saveProgress(state: EvaluatorState, low: number): Promise<void>;
  /** At shutdown, after the last scan. */
  stop(state: EvaluatorState): Promise<void>;
}

/** One evaluator decides every trace; its summaries and position survive restarts in a checkpoint file. */
export class LocalScope implements EvaluatorScope {
  readonly #path: string;
  readonly #stateDir: string;

  constructor(stateDir: string) {
    this.#stateDir = stateDir;
    this.#path = join(stateDir, 'live-traces.ckpt');
  }

  async start(state: EvaluatorState): Promise<void> {
    const ckpt = await readCheckpoint(this.#path);
    if (ckpt !== null) {
      state.traces = ckpt.traces;
      state.seq = ckpt.sequenceNumber;
    }
    await state.spill.restore(ckpt?.spilled ?? []);
    const current = (await state.table.currentSnapshot())?.sequenceNumber ?? 0;
    if (state.seq > current) {
      throw new TailsamplerError(
        'TS_EVALUATOR_STATE_AHEAD',
        `evaluator state in ${this.#stateDir} has read up to table sequence number ${state.seq}, but the table is at ${current}: ` +
          'the table was replaced. Restore it, or delete the state directory to start over.',
      );
    }
    // Files back to the oldest live trace must be in the index (policies may read its rows), though
    // only files after the checkpoint are folded again.
    let from = Math.min(state.seq, state.spill.minFirstSeq() - 1);
    const t = state.traces;
    for (let e = 0; e < t.size; e++) from = Math.min(from, t.firstSeq[e]! - 1);
    state.reader.add((await state.table.changesSince(Math.max(0, from))).files);
    state.logger.info({ liveTraces: t.size, spilledTraces: state.spill.count, sequenceNumber: state.seq, indexedFiles: state.reader.fileCount() }, 'evaluator resumed');
  }

  owns(): boolean {
    return true;
  }

  async sync(): Promise<void> {}

  async recordDecisions(): Promise<void> {}

  async saveProgress(state: EvaluatorState): Promise<void> {
    await writeCheckpoint(this.#path, state.seq, state.traces, state.spill.segments);
  }

  async stop(state: EvaluatorState): Promise<void> {
    await writeCheckpoint(this.#path, state.seq, state.traces, state.spill.segments);
  }
}
