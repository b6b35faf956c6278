import type { EvaluatorScope, EvaluatorState, RowFilter } from './scope.ts';
import type { StoredDecision } from './decision-store.ts';
import type { EvaluatorShard } from './shard.ts';

/**
 * One replica of several: it decides the traces of the spool partitions the consumer group assigns
 * it, and keeps decisions and progress in the shard's shared record instead of a local checkpoint, so
 * whoever owns a partition next restores them (take-over).
 */
export class ShardScope implements EvaluatorScope {
  readonly #shard: EvaluatorShard;
  #owned: ReadonlySet<number> = new Set();
  /** Owned partitions whose state is still to be restored from the shard's record. */
  readonly #takeOver = new Set<number>();
  #revoked = false;
  #unsubscribe: (() => void) | null = null;

  constructor(shard: EvaluatorShard) {
    this.#shard = shard;
  }

  /** Reads nothing yet: each owned partition is restored at the first scan, as on any take-over. */
  async start(state: EvaluatorState): Promise<void> {
    state.seq = (await state.table.currentSnapshot())?.sequenceNumber ?? 0;
    // Summaries an earlier run spilled are stale: each partition is restored from the shard's record.
    await state.spill.restore([]);
    this.#owned = this.#shard.owned();
    for (const p of this.#owned) this.#takeOver.add(p);
    this.#unsubscribe = this.#shard.onChange((change) => {
      this.#owned = this.#shard.owned();
      for (const p of change.assigned) this.#takeOver.add(p);
      for (const p of change.revoked) this.#takeOver.delete(p);
      if (change.revoked.length > 0) this.#revoked = true;
    });
    state.logger.info({ partitions: [...this.#owned], sequenceNumber: state.seq }, 'evaluator started on its shard');
  }

  owns(traceId: string): boolean {
    return this.#owned.has(this.#shard.partitionOf(traceId));
  }

  /**
   * Summaries of partitions given away are dropped, and partitions taken over are restored from the
   * shard's record (decisions known, kept traces not yet exported, handed to the sink again) and
   * re-read from the table from their last owner's low mark, rows of those partitions only. Rows the
   * last owner had read (up to its recorded sequence number) of traces it decided are not late spans.
   */
  async sync(state: EvaluatorState): Promise<void> {
    const owned = this.#owned;
    const taking = [...this.#takeOver].filter((p) => owned.has(p));
    if (!this.#revoked && taking.length === 0) return;
    const stale = new Set(taking);
    this.#revoked = false;
    // Spilled summaries come back first (those of partitions no longer owned are left out) so the
    // ones of partitions taken over again are dropped with the rest.
    await state.unspillAll();
    const t = state.traces;
    for (let e = t.size - 1; e >= 0; e--) {
      const p = this.#shard.partitionOf(t.traceId(e));
      if (!owned.has(p) || stale.has(p)) t.delete(e);
    }
    await state.sink.released((id) => owned.has(this.#shard.partitionOf(id)));
    if (taking.length === 0) return;
    const restored = await this.#shard.restore(taking);
    const lowOf = new Map<number, number>();
    const readThrough = new Map<number, number>();
    const unexported: StoredDecision[] = [];
    let from = state.seq;
    for (const [p, r] of restored) {
      state.store.restore(r.decisions);
      lowOf.set(p, r.progress?.low ?? 0);
      readThrough.set(p, r.progress?.seq ?? 0);
      from = Math.min(from, r.progress?.low ?? 0);
      for (const d of r.decisions) {
        if (!d.keep || d.exported) continue;
        unexported.push(d);
        from = Math.min(from, d.firstSeq - 1);
      }
    }
    const files = (await state.table.changesSince(Math.max(0, from))).files.filter((f) => f.sequenceNumber <= state.seq);
    // The restored traces need these older files until they are decided (the next mark covers them).
    state.reader.reserve('evaluator', Math.max(0, from) + 1);
    state.reader.add(files);
    for (const file of files) {
      const filter: RowFilter = {
        fold: (id) => {
          const low = lowOf.get(this.#shard.partitionOf(id));
          return low !== undefined && file.sequenceNumber > low;
        },
        late: (id) => file.sequenceNumber > readThrough.get(this.#shard.partitionOf(id))!,
      };
      await state.fold([file], filter);
    }
    await state.sink.decided(unexported);
    for (const p of taking) this.#takeOver.delete(p);
    state.logger.info(
      { partitions: taking, decisions: [...restored.values()].reduce((n, r) => n + r.decisions.length, 0), files: files.length, liveTraces: t.size },
      'evaluator took partitions over',
    );
  }

  async recordDecisions(decisions: readonly StoredDecision[]): Promise<void> {
    await this.#shard.recordDecisions(decisions);
  }

  async saveProgress(state: EvaluatorState, low: number): Promise<void> {
    await this.#shard.recordProgress([...this.#owned].filter((p) => !this.#takeOver.has(p)), { seq: state.seq, low });
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
  }
}
