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
import { TraceReader, type TraceLocation } from './trace-reader.ts';
import { TraceTable } from './trace-table.ts';

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
}

const STATUS_ERROR = 2;
const ALL_COLUMNS: readonly ColumnName[] = SPAN_COLUMNS.map((c) => c.name);

interface KeptTrace extends TraceLocation {
  threshold: string | null;
}

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

  constructor(table: SpanTable, sampler: Sampler, exporters: readonly TraceExporter[], opts: EvaluatorOptions, deps: EvaluatorDeps) {
    this.table = table;
    this.sampler = sampler;
    this.exporters = exporters;
    this.opts = opts;
    this.metrics = deps.metrics;
    this.logger = deps.logger;
    this.now = deps.now ?? Date.now;
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
    if (unexported.length > 0) await this.exportKept(unexported.map(keptOf));
    this.schedule();
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.running;
    if (this.decisions !== null) {
      await writeCheckpoint(this.checkpointPath, this.seq, this.traces);
      this.decisions.close();
      this.decisions = null;
    }
  }

  /** One scan; exposed so tests and the bench can drive the evaluator without waiting for the timer. */
  async scan(): Promise<void> {
    const store = this.decisions!;
    const end = this.metrics.scanDuration.startTimer();
    const changes = await this.table.changesSince(this.seq);
    // Spans count as seen when the evaluator first reads them (at most a scan interval after their
    // commit), on the evaluator's own clock, which also decides inactivity.
    const seenMs = this.now();
    this.reader.add(changes.files);
    const late = new Map<DataFileRef, Map<string, StoredDecision>>();
    for (const file of changes.files) {
      const cols = await this.table.read(file, HOT_COLUMNS);
      this.fold(file, cols, seenMs, store, late);
    }
    this.seq = Math.max(this.seq, changes.lastSequenceNumber);
    for (const [file, kept] of late) await this.exportFile(file, kept);

    const now = this.now();
    await this.decideReady(now, store);
    store.expireBefore(now - this.opts.decisionTtlMs);
    await writeCheckpoint(this.checkpointPath, this.seq, this.traces);
    this.metrics.liveTraces.set(this.traces.size);
    end();
  }

  /** Folds a file's hot columns into the summaries; rows of already decided traces are late spans. */
  private fold(file: DataFileRef, cols: PartialSpanColumns, seenMs: number, store: DecisionStore, late: Map<DataFileRef, Map<string, StoredDecision>>): void {
    const ids = cols.trace_id!;
    const parent = cols.parent_span_id!;
    const status = cols.status_code!;
    const start = cols.start_time_unix_nano!;
    const endNs = cols.end_time_unix_nano!;
    const size = cols.span_size!;
    const unknown = new Set<string>();
    for (let i = 0; i < cols.length; i++) if (this.traces.find(ids[i]!) < 0) unknown.add(ids[i]!);
    const decided = unknown.size > 0 ? store.lookup([...unknown]) : new Map<string, StoredDecision>();
    const seq = file.sequenceNumber;
    for (let i = 0; i < cols.length; i++) {
      const id = ids[i]!;
      const d = decided.get(id);
      if (d !== undefined) {
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
   * many traces are ready. Entries are visited from the last down: deciding a batch deletes visited
   * entries only, and a delete moves the last entry (also visited) into the hole.
   */
  private async decideReady(now: number, store: DecisionStore): Promise<void> {
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
        if (this.stopped) return;
        batch = [];
      }
    }
    if (batch.length > 0) await this.decideBatch(batch, now, store);
    this.reader.prune(minSeq);
  }

  private async decideBatch(batch: ReadyTrace[], now: number, store: DecisionStore): Promise<void> {
    // A decision already stored (a crash between deciding and checkpointing) stands.
    const earlier = store.lookup(batch.map((b) => b.summary.traceId));
    const undecided = batch.filter((b) => !earlier.has(b.summary.traceId));
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
    store.record(fresh);
    for (const b of batch) {
      const slot = this.traces.find(b.summary.traceId);
      if (slot >= 0) this.traces.delete(slot);
    }
    const kept = [...fresh, ...earlier.values()].filter((d) => d.keep && !d.exported).map(keptOf);
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
  private async exportKept(kept: readonly KeptTrace[]): Promise<void> {
    const byId = new Map(kept.map((k) => [k.traceId, k]));
    for (const [file, ids] of this.reader.plan(kept)) {
      const decisions = new Map<string, { threshold: string | null }>();
      for (const id of ids) decisions.set(id, byId.get(id)!);
      await this.exportFile(file, decisions);
    }
    this.decisions!.markAsExported(kept.map((k) => k.traceId));
  }

  /** Sends the rows of `traces` found in one file, with the effective sampling threshold in tracestate. */
  private async exportFile(file: DataFileRef, traces: ReadonlyMap<string, { threshold: string | null }>): Promise<void> {
    const cols = await this.reader.readFile(file, new Set(traces.keys()), ALL_COLUMNS);
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

function keptOf(d: StoredDecision): KeptTrace {
  return { traceId: d.traceId, firstSeq: d.firstSeq, lastSeq: d.lastSeq, threshold: d.threshold };
}
