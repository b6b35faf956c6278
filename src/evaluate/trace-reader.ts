import type { DataFileRef, SpanTable } from '../lake/table.ts';
import type { ColumnName, PartialSpanColumns } from '../lake/span-schema.ts';
import { TRACE_ID_BUCKETS } from '../lake/span-schema.ts';
import { bucketString } from '../lake/transforms.ts';

/** Who reads through the index: the evaluator (rows its policies need) and the emitter (kept traces). */
export type IndexOwner = 'evaluator' | 'emitter';

/** Where a trace's spans can be: its id and the sequence numbers of the first and last files holding them. */
export interface TraceLocation {
  traceId: string;
  firstSeq: number;
  lastSeq: number;
}

/**
 * Knows the table's recent data files and reads traces back from them, for the evaluator (rows its
 * policies need) and the emitter (kept traces). A batch of traces is read
 * file by file — each candidate file once, pruned by partition bucket, sequence range and trace_id
 * bounds — never once per trace.
 */
export class TraceReader {
  private readonly table: SpanTable;
  /** Files by their trace id bucket; the last list holds files of tables not partitioned by it (any trace may be in them). */
  private readonly byBucket: DataFileRef[][] = Array.from({ length: TRACE_ID_BUCKETS + 1 }, () => []);
  private readonly paths = new Set<string>();
  /**
   * Per owner, the oldest sequence number it may still read. Every owner starts at 0: nothing is
   * forgotten until each has said what it needs (an owner that restores state at start must not lose
   * files to one that had nothing to keep).
   */
  private readonly marks = new Map<IndexOwner, number>([
    ['evaluator', 0],
    ['emitter', 0],
  ]);

  constructor(table: SpanTable) {
    this.table = table;
  }

  /**
   * Adds committed files; a file already indexed is skipped. Keeps a slim copy, not the
   * entry with its column statistics: the index lives as long as the oldest undecided trace.
   */
  add(files: readonly DataFileRef[]): void {
    for (const f of files) {
      const { path, partition, recordCount, fileSizeInBytes, sequenceNumber, traceIdMin, traceIdMax, traceIdBucket } = f;
      if (this.paths.has(path)) continue;
      this.paths.add(path);
      const list = this.byBucket[traceIdBucket ?? TRACE_ID_BUCKETS]!;
      // Files already indexed may be newer (a shard taken over adds older history): keep sequence order.
      let at = list.length;
      while (at > 0 && list[at - 1]!.sequenceNumber > sequenceNumber) at--;
      list.splice(at, 0, { path, partition, recordCount, fileSizeInBytes, sequenceNumber, traceIdMin, traceIdMax, traceIdBucket });
    }
  }

  /**
   * Says that `owner` still needs files from sequence number `minSeq` on; files older than every
   * owner's mark are forgotten.
   */
  retain(owner: IndexOwner, minSeq: number): void {
    this.marks.set(owner, minSeq);
    this.prune();
  }

  /** Like retain, but only ever lowers `owner`'s mark (more files become needed, e.g. on a take-over). */
  reserve(owner: IndexOwner, minSeq: number): void {
    this.marks.set(owner, Math.min(this.marks.get(owner)!, minSeq));
  }

  private prune(): void {
    let min = Infinity;
    for (const m of this.marks.values()) min = Math.min(min, m);
    for (const files of this.byBucket) {
      let drop = 0;
      while (drop < files.length && files[drop]!.sequenceNumber < min) this.paths.delete(files[drop++]!.path);
      if (drop > 0) files.splice(0, drop);
    }
  }

  fileCount(): number {
    return this.byBucket.reduce((n, f) => n + f.length, 0);
  }

  /** Candidate files for the traces, each with the ids of the traces it may hold. */
  plan(traces: readonly TraceLocation[]): Map<DataFileRef, Set<string>> {
    const plan = new Map<DataFileRef, Set<string>>();
    const unbucketed = this.byBucket[TRACE_ID_BUCKETS]!;
    for (const t of traces) {
      planFrom(plan, this.byBucket[bucketString(t.traceId, TRACE_ID_BUCKETS)]!, t);
      if (unbucketed.length > 0) planFrom(plan, unbucketed, t);
    }
    return plan;
  }

  /** Reads `columns` (trace_id included) of the traces' rows, one file at a time. */
  async *read(traces: readonly TraceLocation[], columns: readonly ColumnName[]): AsyncGenerator<PartialSpanColumns> {
    const cols: ColumnName[] = columns.includes('trace_id') ? [...columns] : ['trace_id', ...columns];
    for (const [file, ids] of this.plan(traces)) {
      const part = await this.table.read(file, cols, ids);
      if (part.length > 0) yield part;
    }
  }

  /** Reads the rows of one file for the given traces (late spans found while folding). */
  async readFile(file: DataFileRef, traceIds: ReadonlySet<string>, columns: readonly ColumnName[]): Promise<PartialSpanColumns> {
    return this.table.read(file, columns, traceIds);
  }
}

/** Adds the files of `files` (in sequence order) that may hold trace `t` to the plan. */
function planFrom(plan: Map<DataFileRef, Set<string>>, files: readonly DataFileRef[], t: TraceLocation): void {
  for (const f of files) {
    if (f.sequenceNumber < t.firstSeq) continue;
    if (f.sequenceNumber > t.lastSeq) break;
    if (f.traceIdMin !== null && t.traceId < f.traceIdMin) continue;
    if (f.traceIdMax !== null && t.traceId > f.traceIdMax) continue;
    let ids = plan.get(f);
    if (ids === undefined) plan.set(f, (ids = new Set()));
    ids.add(t.traceId);
  }
}
