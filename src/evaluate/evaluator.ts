import { join } from 'node:path';
import type { Component } from '../component.ts';
import { TailsamplerError } from '../errors.ts';
import type { TraceExporter } from '../export/exporter.ts';
import type { DataFileRef, SpanTable } from '../lake/table.ts';
import { HOT_COLUMNS, SPAN_COLUMNS, type ColumnName, type PartialSpanColumns } from '../lake/span-schema.ts';
import { concatColumns, selectRows } from '../lake/columns.ts';
import type { Sampler, SamplingDecision, TraceSummary } from '../sample/sampler.ts';
import { withThreshold } from '../sample/tracestate.ts';
import { columnsToRequest } from '../otlp/from-columns.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Logger } from '../telemetry/logger.ts';
import { DecisionStore, type StoredDecision } from './decision-store.ts';
import { readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import { TraceReader } from './trace-reader.ts';
import { TraceTable } from './trace-table.ts';
import type { EvaluatorShard } from './shard.ts';

export interface EvaluatorOptions {
  scanIntervalMs: number;
  inactivityMs: number;
  maxTraceAgeMs: number;
  batchSize: number;
  maxSpansPerTrace: number;
  maxBytesPerTrace: number;
  decisionTtlMs: number;
  stateDir: string;
  /** Spans per export request. */
  maxExportSpans: number;
}

export interface EvaluatorDeps {
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
  /** Evaluate only this replica's share of the traces (several replicas); absent: all traces. */
  shard?: EvaluatorShard;
}

/** Which rows of a file a fold takes, and whether rows of traces decided to keep are exported as late spans. */
interface RowFilter {
  fold(traceId: string): boolean;
  exportLate(traceId: string): boolean;
}

const STATUS_ERROR = 2;
/** What export reads back: every column OTLP has (not where the span sat in Kafka). */
const EXPORT_COLUMNS: readonly ColumnName[] = SPAN_COLUMNS.filter((c) => c.type !== 'kafka_metadata').map((c) => c.name);

interface ReadyTrace {
  summary: TraceSummary;
  firstSeq: number;
  lastSeq: number;
}

/**
 * Incremental tail-sampling evaluator. Each scan reads only the hot columns of data files committed
 * since the last scan, folds them into compact per-trace summaries, decides the traces that are
 * ready (inactive, too old, or over the span/byte caps), records decisions durably and exports the
 * kept traces by reading their full rows back from the table. Late spans follow the stored decision.
 */
export class Evaluator implements Component {
  private readonly table: SpanTable;
  private readonly sampler: Sampler;
  private readonly exporters: readonly TraceExporter[];
  private readonly opts: EvaluatorOptions;
  private readonly metrics: Metrics;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly reader: TraceReader;
  private readonly checkpointPath: string;
  private traces = new TraceTable();
  private decisions: DecisionStore | null = null;
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly shard: EvaluatorShard | null;
  /** Partitions owned (with a shard): null while the evaluator has not started. */
  private owned: ReadonlySet<number> | null = null;
  /** Owned partitions whose state is still to be restored from the shard's record. */
  private readonly takeOver = new Set<number>();
  private revoked = false;
  private unsubscribe: (() => void) | null = null;

  constructor(table: SpanTable, sampler: Sampler, exporters: readonly TraceExporter[], opts: EvaluatorOptions, deps: EvaluatorDeps) {
    this.table = table;
    this.sampler = sampler;
    this.exporters = exporters;
    this.opts = opts;
    this.metrics = deps.metrics;
    this.logger = deps.logger;
    this.now = deps.now ?? Date.now;
    this.shard = deps.shard ?? null;
    this.reader = new TraceReader(table);
    this.checkpointPath = join(opts.stateDir, 'live-traces.ckpt');
  }

  get liveTraces(): number {
    return this.traces.size;
  }

  /** Bytes the live-trace summaries occupy. */
  get summaryBytes(): number {
    return this.traces.byteSize();
  }

  async start(): Promise<void> {
    this.decisions = new DecisionStore(this.opts.stateDir);
    if (this.shard !== null) {
      this.startSharded(this.shard, (await this.table.currentSnapshot())?.sequenceNumber ?? 0);
      return;
    }
    const ckpt = await readCheckpoint(this.checkpointPath);
    if (ckpt !== null) {
      this.traces = ckpt.traces;
      this.seq = ckpt.sequenceNumber;
    }
    const current = (await this.table.currentSnapshot())?.sequenceNumber ?? 0;
    if (this.seq > current) {
      throw new TailsamplerError(
        'TS_EVALUATOR_STATE_AHEAD',
        `evaluator state in ${this.opts.stateDir} has read up to table sequence number ${this.seq}, but the table is at ${current}: ` +
          'the table was replaced. Restore it, or delete the state directory to start over.',
      );
    }
    const unexported = this.decisions.unexported();
    // Files back to the oldest trace still to be read must be in the index, though only files
    // after the checkpoint are folded again.
    let from = this.seq;
    for (let e = 0; e < this.traces.size; e++) from = Math.min(from, this.traces.firstSeq[e]! - 1);
    for (const d of unexported) from = Math.min(from, d.firstSeq - 1);
    const history = await this.table.changesSince(Math.max(0, from));
    this.reader.add(history.files);
    this.logger.info(
      { liveTraces: this.traces.size, sequenceNumber: this.seq, unexported: unexported.length, indexedFiles: this.reader.fileCount() },
      'evaluator resumed',
    );
    if (unexported.length > 0) await this.exportKept(unexported);
    this.schedule();
  }

  /**
   * With a shard, the state of each owned partition comes from the shard's record (restored at the
   * next scan), not from this process's own checkpoint: another replica may have owned it since.
   */
  private startSharded(shard: EvaluatorShard, currentSeq: number): void {
    this.seq = currentSeq;
    this.owned = shard.owned();
    for (const p of this.owned) this.takeOver.add(p);
    this.unsubscribe = shard.onChange((change) => {
      this.owned = shard.owned();
      for (const p of change.assigned) this.takeOver.add(p);
      for (const p of change.revoked) this.takeOver.delete(p);
      if (change.revoked.length > 0) this.revoked = true;
    });
    this.logger.info({ partitions: [...this.owned], sequenceNumber: this.seq }, 'evaluator started on its shard');
    this.schedule();
  }

  /**
   * Applies ownership changes at the start of a scan: summaries of partitions given away are dropped,
   * and partitions taken over are restored from the shard's record (decisions known, kept traces not
   * yet exported) and re-read from the table from their last owner's low mark, rows of those
   * partitions only. Rows the last owner had read (up to its recorded sequence number) of traces it
   * decided are not late spans.
   */
  private async syncShard(shard: EvaluatorShard, store: DecisionStore): Promise<void> {
    const owned = this.owned!;
    const taking = [...this.takeOver].filter((p) => owned.has(p));
    if (!this.revoked && taking.length === 0) return;
    const stale = new Set(taking);
    this.revoked = false;
    for (let e = this.traces.size - 1; e >= 0; e--) {
      const p = shard.partitionOf(this.traces.traceId(e));
      if (!owned.has(p) || stale.has(p)) this.traces.delete(e);
    }
    if (taking.length === 0) return;
    const restored = await shard.restore(taking);
    const lowOf = new Map<number, number>();
    const readThrough = new Map<number, number>();
    const unexported: StoredDecision[] = [];
    let from = this.seq;
    for (const [p, r] of restored) {
      store.restore(r.decisions);
      lowOf.set(p, r.progress?.low ?? 0);
      readThrough.set(p, r.progress?.seq ?? 0);
      from = Math.min(from, r.progress?.low ?? 0);
      for (const d of r.decisions) {
        if (!d.keep || d.exported) continue;
        unexported.push(d);
        from = Math.min(from, d.firstSeq - 1);
      }
    }
    const files = (await this.table.changesSince(Math.max(0, from))).files.filter((f) => f.sequenceNumber <= this.seq);
    this.reader.add(files);
    for (const file of files) {
      const filter: RowFilter = {
        fold: (id) => {
          const low = lowOf.get(shard.partitionOf(id));
          return low !== undefined && file.sequenceNumber > low;
        },
        exportLate: (id) => file.sequenceNumber > readThrough.get(shard.partitionOf(id))!,
      };
      await this.foldFiles([file], filter, this.now(), store);
    }
    if (unexported.length > 0) await this.exportKept(unexported);
    for (const p of taking) this.takeOver.delete(p);
    this.logger.info(
      { partitions: taking, decisions: [...restored.values()].reduce((n, r) => n + r.decisions.length, 0), files: files.length, liveTraces: this.traces.size },
      'evaluator took partitions over',
    );
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.running;
    this.unsubscribe?.();
    if (this.decisions !== null) {
      if (this.shard === null) await writeCheckpoint(this.checkpointPath, this.seq, this.traces);
      this.decisions.close();
      this.decisions = null;
    }
  }

  /** One scan; exposed so tests and the bench can drive the evaluator without waiting for the timer. */
  async scan(): Promise<void> {
    const store = this.decisions!;
    const end = this.metrics.scanDuration.startTimer();
    if (this.shard !== null) await this.syncShard(this.shard, store);
    const changes = await this.table.changesSince(this.seq);
    // Spans count as seen when the evaluator first reads them (at most a scan interval after their
    // commit), on the evaluator's own clock, which also decides inactivity.
    const seenMs = this.now();
    this.reader.add(changes.files);
    const shard = this.shard;
    const filter: RowFilter | null =
      shard === null ? null : { fold: (id) => this.owned!.has(shard.partitionOf(id)), exportLate: () => true };
    await this.foldFiles(changes.files, filter, seenMs, store);
    this.seq = Math.max(this.seq, changes.lastSequenceNumber);

    const now = this.now();
    const low = (await this.decideReady(now, store)) - 1;
    store.expireBefore(now - this.opts.decisionTtlMs);
    if (shard === null) await writeCheckpoint(this.checkpointPath, this.seq, this.traces);
    else await shard.recordProgress([...this.owned!].filter((p) => !this.takeOver.has(p)), { seq: this.seq, low });
    this.metrics.liveTraces.set(this.traces.size);
    end();
  }

  /** Reads the hot columns of `files` and folds them in, then exports the late spans of kept traces. */
  private async foldFiles(files: readonly DataFileRef[], filter: RowFilter | null, seenMs: number, store: DecisionStore): Promise<void> {
    const late = new Map<DataFileRef, Map<string, StoredDecision>>();
    for (const file of files) {
      const cols = await this.table.read(file, HOT_COLUMNS);
      this.fold(file, cols, filter, seenMs, store, late);
    }
    for (const [file, kept] of late) await this.exportFile(file, kept);
  }

  /**
   * Folds a file's hot columns (the rows `filter` takes) into the summaries; rows of already decided
   * traces are late spans.
   */
  private fold(
    file: DataFileRef,
    cols: PartialSpanColumns,
    filter: RowFilter | null,
    seenMs: number,
    store: DecisionStore,
    late: Map<DataFileRef, Map<string, StoredDecision>>,
  ): void {
    const ids = cols.trace_id!;
    // Rows are sorted by trace id: the filter is asked once per trace, not per row.
    const take = new Uint8Array(cols.length);
    for (let i = 0; i < cols.length; i++) take[i] = i > 0 && ids[i] === ids[i - 1] ? take[i - 1]! : filter === null || filter.fold(ids[i]!) ? 1 : 0;
    const parent = cols.parent_span_id!;
    const status = cols.status_code!;
    const start = cols.start_time_unix_nano!;
    const endNs = cols.end_time_unix_nano!;
    const size = cols.span_size!;
    const unknown = new Set<string>();
    for (let i = 0; i < cols.length; i++) if (take[i] === 1 && this.traces.find(ids[i]!) < 0) unknown.add(ids[i]!);
    const decided = unknown.size > 0 ? store.lookup([...unknown]) : new Map<string, StoredDecision>();
    const seq = file.sequenceNumber;
    for (let i = 0; i < cols.length; i++) {
      if (take[i] === 0) continue;
      const id = ids[i]!;
      const d = decided.get(id);
      if (d !== undefined) {
        if (filter !== null && !filter.exportLate(id)) continue;
        this.metrics.lateSpans.inc({ outcome: d.keep ? 'exported' : 'dropped' });
        if (d.keep) {
          let m = late.get(file);
          if (m === undefined) late.set(file, (m = new Map()));
          m.set(id, d);
        }
        continue;
      }
      this.traces.fold(id, parent[i] === null, status[i] === STATUS_ERROR, start[i]!, endNs[i]!, size[i]!, seenMs, seq);
    }
  }

  private isReady(slot: number, now: number): boolean {
    const t = this.traces;
    return (
      now - t.lastSeenMs[slot]! >= this.opts.inactivityMs ||
      now - t.firstSeenMs[slot]! >= this.opts.maxTraceAgeMs ||
      t.spanCount[slot]! >= this.opts.maxSpansPerTrace ||
      t.bytes[slot]! >= this.opts.maxBytesPerTrace
    );
  }

  private summary(slot: number): TraceSummary {
    const t = this.traces;
    return {
      traceId: t.traceId(slot),
      spanCount: t.spanCount[slot]!,
      errorCount: t.errorCount[slot]!,
      minStartNs: t.minStart[slot]!,
      maxEndNs: t.maxEnd[slot]!,
      bytes: t.bytes[slot]!,
      hasRoot: t.hasRoot(slot),
      firstSeenMs: t.firstSeenMs[slot]!,
      lastSeenMs: t.lastSeenMs[slot]!,
    };
  }

  /**
   * Decides ready traces in batches as it finds them, so memory holds one batch of summaries however
   * many traces are ready. Returns the lowest first sequence number of the traces left undecided. Entries are visited from the last down: deciding a batch deletes visited
   * entries only, and a delete moves the last entry (also visited) into the hole.
   */
  private async decideReady(now: number, store: DecisionStore): Promise<number> {
    const t = this.traces;
    let batch: ReadyTrace[] = [];
    let minSeq = this.seq + 1;
    for (let e = t.size - 1; e >= 0; e--) {
      if (!this.isReady(e, now)) {
        minSeq = Math.min(minSeq, t.firstSeq[e]!);
        continue;
      }
      batch.push({ summary: this.summary(e), firstSeq: t.firstSeq[e]!, lastSeq: t.lastSeq[e]! });
      if (batch.length === this.opts.batchSize) {
        await this.decideBatch(batch, now, store);
        if (this.stopped) return minSeq;
        batch = [];
      }
    }
    if (batch.length > 0) await this.decideBatch(batch, now, store);
    this.reader.prune(minSeq);
    return minSeq;
  }

  private async decideBatch(batch: ReadyTrace[], now: number, store: DecisionStore): Promise<void> {
    // A decision already stored (a crash between deciding and checkpointing) stands.
    const earlier = store.lookup(batch.map((b) => b.summary.traceId));
    // A trace whose partition moved to another replica during this scan is that replica's to decide.
    const shard = this.shard;
    const undecided = batch.filter((b) => !earlier.has(b.summary.traceId) && (shard === null || this.owned!.has(shard.partitionOf(b.summary.traceId))));
    const rows = await this.rowsForPolicies(undecided);
    const fresh: StoredDecision[] = [];
    for (const b of undecided) {
      const id = b.summary.traceId;
      const decision: SamplingDecision = this.sampler.decide({ summary: b.summary, spans: rows?.get(id) ?? null }, now);
      fresh.push({
        traceId: id,
        keep: decision.keep,
        policy: decision.policy,
        threshold: decision.threshold,
        decidedAtMs: now,
        firstSeq: b.firstSeq,
        lastSeq: b.lastSeq,
        exported: !decision.keep,
      });
      this.metrics.tracesDecided.inc({ policy: decision.policy, outcome: decision.keep ? 'sampled' : 'not_sampled' });
      this.metrics.decisionLag.observe(Math.max(0, now - b.summary.lastSeenMs) / 1000);
    }
    // Recorded before they count: the next owner of a partition must know what was decided.
    await shard?.recordDecisions(fresh);
    store.record(fresh);
    for (const b of batch) {
      const slot = this.traces.find(b.summary.traceId);
      if (slot >= 0) this.traces.delete(slot);
    }
    const kept = [...fresh, ...earlier.values()].filter((d) => d.keep && !d.exported);
    if (kept.length > 0) await this.exportKept(kept);
  }

  /** Rows of each trace for policies that need more than the summary, or null when none do. */
  private async rowsForPolicies(batch: ReadyTrace[]): Promise<Map<string, PartialSpanColumns> | null> {
    if (this.sampler.requiredColumns.length === 0 || batch.length === 0) return null;
    const locations = batch.map((b) => ({ traceId: b.summary.traceId, firstSeq: b.firstSeq, lastSeq: b.lastSeq }));
    const rowsByTrace = new Map<string, { part: PartialSpanColumns; rows: number[] }[]>();
    for await (const part of this.reader.read(locations, this.sampler.requiredColumns)) {
      const ids = part.trace_id!;
      const local = new Map<string, number[]>();
      for (let i = 0; i < part.length; i++) {
        let r = local.get(ids[i]!);
        if (r === undefined) local.set(ids[i]!, (r = []));
        r.push(i);
      }
      for (const [id, r] of local) {
        let list = rowsByTrace.get(id);
        if (list === undefined) rowsByTrace.set(id, (list = []));
        list.push({ part, rows: r });
      }
    }
    const out = new Map<string, PartialSpanColumns>();
    for (const [id, pieces] of rowsByTrace) out.set(id, concatColumns(pieces.map((p) => selectRows(p.part, p.rows))));
    return out;
  }

  /** Exports kept traces from their files, then marks them exported. */
  private async exportKept(kept: readonly StoredDecision[]): Promise<void> {
    const byId = new Map(kept.map((k) => [k.traceId, k]));
    for (const [file, ids] of this.reader.plan(kept)) {
      const decisions = new Map<string, { threshold: string | null }>();
      for (const id of ids) decisions.set(id, byId.get(id)!);
      await this.exportFile(file, decisions);
    }
    this.decisions!.markAsExported(kept.map((k) => k.traceId));
    await this.shard?.recordDecisions(kept.map((k) => ({ ...k, exported: true })));
  }

  /** Sends the rows of `traces` found in one file, with the effective sampling threshold in tracestate. */
  private async exportFile(file: DataFileRef, traces: ReadonlyMap<string, { threshold: string | null }>): Promise<void> {
    const cols = await this.reader.readFile(file, new Set(traces.keys()), EXPORT_COLUMNS);
    if (cols.length === 0) return;
    const ids = cols.trace_id!;
    const states = Array.from(cols.trace_state!);
    for (let i = 0; i < cols.length; i++) {
      const th = traces.get(ids[i]!)?.threshold ?? null;
      if (th !== null) states[i] = withThreshold(states[i] ?? null, th);
    }
    const withStates: PartialSpanColumns = { ...cols, trace_state: states };
    for (let from = 0; from < cols.length; from += this.opts.maxExportSpans) {
      const n = Math.min(this.opts.maxExportSpans, cols.length - from);
      const rows = Int32Array.from({ length: n }, (_, k) => from + k);
      const request = columnsToRequest(withStates, rows);
      await Promise.all(this.exporters.map((e) => e.export(request, n)));
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.scan()
        .catch((err: unknown) => this.logger.error({ err }, 'evaluator scan failed; retrying next interval'))
        .finally(() => {
          this.running = null;
          this.schedule();
        });
    }, this.opts.scanIntervalMs);
  }
}
