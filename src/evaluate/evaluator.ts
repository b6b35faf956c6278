import type { Component } from '../component.ts';
import type { DataFileRef, SpanTable } from '../lake/table.ts';
import { HOT_COLUMNS, type PartialSpanColumns } from '../lake/span-schema.ts';
import { concatColumns, selectRows } from '../lake/columns.ts';
import type { DecidedTrace, DecisionSink, LateRows } from '../pipeline/decision-sink.ts';
import { policyLabel } from '../sample/rules/force-rule-sampler.ts';
import type { Sampler, SamplingDecision, TraceSummary } from '../sample/sampler.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { DecisionStore, StoredDecision } from './decision-store.ts';
import type { EvaluatorScope, EvaluatorState, RowFilter } from './scope.ts';
import type { TraceReader } from './trace-reader.ts';
import type { SummarySpill } from './summary-spill.ts';
import { TraceTable, U32_MAX } from './trace-table.ts';
import { compareLongs, longWords } from '../lake/long-words.ts';

export interface EvaluatorOptions {
  scanIntervalMs: number;
  inactivityMs: number;
  maxTraceAgeMs: number;
  batchSize: number;
  maxSpansPerTrace: number;
  maxBytesPerTrace: number;
  decisionTtlMs: number;
  /**
   * A summary this long without a new span, and due no sooner than that, goes to disk until it is due
   * (src/evaluate/summary-spill.ts); Infinity keeps every summary in memory.
   */
  spillIdleMs: number;
}

export interface EvaluatorDeps {
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
}

/** Where the evaluator reads, decides and hands decisions on. */
export interface EvaluatorParts {
  table: SpanTable;
  /** File index shared with the emitter. */
  reader: TraceReader;
  store: DecisionStore;
  sampler: Sampler;
  sink: DecisionSink;
  /** Which traces this replica decides, and where its progress is kept. */
  scope: EvaluatorScope;
  /** Where idle summaries wait until they are due. */
  spill: SummarySpill;
}

const STATUS_ERROR = 2;
/** What the store says of a file whose traces are all live. */
const NONE_DECIDED: ReadonlyMap<string, StoredDecision> = new Map();

interface ReadyTrace {
  summary: TraceSummary;
  firstSeq: number;
  lastSeq: number;
}

/**
 * Incremental tail-sampling evaluator. Each scan reads only the hot columns of data files committed
 * since the last scan, folds them into compact per-trace summaries, decides the traces that are ready
 * (inactive, too old, or over the span/byte caps), records the decisions durably and hands each batch
 * to the decision sink (the emitter sends the kept ones). Late spans follow the stored decision.
 */
export class Evaluator implements Component, EvaluatorState {
  readonly table: SpanTable;
  readonly reader: TraceReader;
  readonly store: DecisionStore;
  readonly sink: DecisionSink;
  readonly logger: Logger;
  readonly spill: SummarySpill;
  readonly #sampler: Sampler;
  readonly #scope: EvaluatorScope;
  readonly #opts: EvaluatorOptions;
  readonly #metrics: Metrics;
  readonly #now: () => number;
  /** Rows of this replica's traces; of a decided trace, a late span. */
  readonly #filter: RowFilter;
  traces = new TraceTable();
  seq = 0;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  /** New data was committed while a scan ran: scan again as soon as it ends. */
  #nudged = false;
  #stopped = false;
  #started = false;
  /**
   * Summaries whose trace's first file is at or below this sequence number may belong to traces
   * decided where this evaluator did not see it: before a restart, after the checkpoint that holds
   * them, or by another replica whose decisions were restored. Those are looked up again before
   * deciding. Any later summary was made from rows of newer files, after a lookup found its trace
   * undecided, and only this evaluator decides it from then on.
   */
  #recheckThroughSeq = 0;
  /** {@link DecisionStore.restores} when `#recheckThroughSeq` was last set. */
  #restoresSeen = 0;

  constructor(parts: EvaluatorParts, opts: EvaluatorOptions, deps: EvaluatorDeps) {
    this.table = parts.table;
    this.reader = parts.reader;
    this.store = parts.store;
    this.sink = parts.sink;
    this.spill = parts.spill;
    this.#sampler = parts.sampler;
    this.#scope = parts.scope;
    this.#opts = opts;
    this.#metrics = deps.metrics;
    this.logger = deps.logger;
    this.#now = deps.now ?? Date.now;
    this.#filter = { fold: (id) => this.#scope.owns(id), late: () => true };
  }

  get liveTraces(): number {
    return this.traces.size + this.spill.count;
  }

  async start(): Promise<void> {
    await this.#scope.start(this);
    this.#recheckAll();
    this.#started = true;
    this.#schedule();
  }

  async shutdown(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    await this.#running;
    if (this.#started) {
      await this.store.sync();
      await this.#scope.stop(this);
      await this.spill.prune();
    }
    this.#started = false;
  }

  /** One scan; exposed so tests and the bench can drive the evaluator without waiting for the timer. */
  async scan(): Promise<void> {
    const end = this.#metrics.scanDuration.startTimer();
    await this.#scope.sync(this);
    if (this.store.restores !== this.#restoresSeen) this.#recheckAll();
    const changes = await this.table.changesSince(this.seq);
    this.reader.add(changes.files);
    await this.fold(changes.files, this.#filter);
    this.seq = Math.max(this.seq, changes.lastSequenceNumber);

    const now = this.#now();
    await this.#unspill(now);
    const live = await this.#decideReady(now);
    if (this.#stopped) return;
    await this.spill.spill(this.traces, now, (e) => this.#dueMs(e));
    // Every undecided trace's rows are in files from here on, in memory or spilled.
    const low = Math.min(live, this.spill.minFirstSeq());
    this.reader.retain('evaluator', low);
    this.store.expireBefore(now - this.#opts.decisionTtlMs);
    // The progress saved leaves out the traces decided: their decisions must be on disk first.
    await this.store.sync();
    await this.#scope.saveProgress(this, low - 1);
    await this.spill.prune();
    this.#metrics.liveTraces.set(this.liveTraces);
    this.#metrics.spilledTraces.set(this.spill.count);
    this.#metrics.summaryBytes.set(this.traces.byteSize());
    end();
  }

  /** Folds every spilled summary back in (ownership is about to change). */
  unspillAll(): Promise<void> {
    return this.#unspill(Infinity);
  }

  /** Folds the spilled summaries due by `now` back in; a spilled part of a trace decided meanwhile follows its decision as late spans do. */
  async #unspill(now: number): Promise<void> {
    const late: LateRows[] = [];
    await this.spill.reload(this.traces, now, (id) => this.#scope.owns(id), (part) => {
      const d = this.store.lookup([part.traceId]).get(part.traceId);
      if (d === undefined) return false;
      this.#metrics.lateSpans.inc({ outcome: d.keep ? 'exported' : 'dropped' }, part.spans);
      if (d.keep) late.push({ decision: d, seq: part.firstSeq, lastSeq: part.lastSeq });
      return true;
    });
    if (late.length > 0) await this.sink.late(late);
  }

  /** Every summary held now is looked up again before it is decided (see `#recheckThroughSeq`). */
  #recheckAll(): void {
    this.#recheckThroughSeq = this.seq;
    this.#restoresSeen = this.store.restores;
  }

  /** When trace entry `e` is ready by time (inactive or too old), ms since epoch. */
  #dueMs(e: number): number {
    const t = this.traces;
    return Math.min(t.lastSeenMs(e) + this.#opts.inactivityMs, t.firstSeenMs(e) + this.#opts.maxTraceAgeMs);
  }

  /** Reads the hot columns of `files` and folds the rows `filter` takes in; late spans of kept traces go to the sink. */
  async fold(files: readonly DataFileRef[], filter: RowFilter): Promise<void> {
    // Spans count as seen when the evaluator first reads them (at most a scan interval after their
    // commit), on the evaluator's own clock, which also decides inactivity: a span received but not
    // yet committed must not let its trace look inactive. When they were received (for the lag
    // metrics) comes with the hot columns of files this process committed.
    const seenMs = this.#now();
    const late: LateRows[] = [];
    for (const file of files) {
      const cols = await this.table.read(file, HOT_COLUMNS);
      this.#foldFile(file, cols, filter, seenMs, late);
    }
    await this.sink.late(late);
  }

  /**
   * Folds a file's hot columns (the rows `filter` takes) into the summaries; rows of already decided
   * traces are late spans.
   */
  #foldFile(file: DataFileRef, cols: PartialSpanColumns, filter: RowFilter, seenMs: number, late: LateRows[]): void {
    const ids = cols.trace_id!;
    // Rows are sorted by trace id: the filter is asked once per trace, not per row.
    const take = new Uint8Array(cols.length);
    for (let i = 0; i < cols.length; i++) take[i] = i > 0 && ids[i] === ids[i - 1] ? take[i - 1]! : filter.fold(ids[i]!) ? 1 : 0;
    const parent = cols.parent_span_id!;
    const status = cols.status_code!;
    const start = cols.start_time_unix_nano!;
    const endNs = cols.end_time_unix_nano!;
    const size = cols.span_size!;
    const received = cols.receivedMs;
    // Traces the table does not hold may be decided already: asked of the store once per trace (a
    // trace's rows are adjacent), in one lookup per file.
    const unknown: string[] = [];
    for (let i = 0; i < cols.length; i++) {
      if (take[i] === 1 && (i === 0 || ids[i] !== ids[i - 1]) && this.traces.find(ids[i]!) < 0) unknown.push(ids[i]!);
    }
    const decided = unknown.length > 0 ? this.store.lookup(unknown) : NONE_DECIDED;
    const seq = file.sequenceNumber;
    const startWords = longWords(start);
    const endWords = longWords(endNs);
    // One run of rows per trace: the summary takes the run's totals in one fold.
    for (let i = 0; i < cols.length; ) {
      const id = ids[i]!;
      let to = i + 1;
      while (to < cols.length && ids[to] === id) to++;
      const from = i;
      i = to;
      if (take[from] === 0) continue;
      const d = decided.get(id);
      if (d !== undefined) {
        this.#lateRun(d, id, to - from, filter, seq, late);
        continue;
      }
      let errors = 0;
      let root = false;
      let bytes = 0;
      let receivedMs = -Infinity;
      let first = from;
      let last = from;
      for (let k = from; k < to; k++) {
        if (status[k] === STATUS_ERROR) errors++;
        if (parent[k] === null) root = true;
        bytes += size[k]!;
        receivedMs = Math.max(receivedMs, received?.[k] ?? seenMs);
        if (compareLongs(startWords, k, first) < 0) first = k;
        if (compareLongs(endWords, k, last) > 0) last = k;
      }
      this.traces.fold(id, to - from, errors, root, start[first]!, endNs[last]!, bytes, seenMs, receivedMs, seq);
    }
  }

  /** `rows` late spans of a decided trace (the filter answers per trace): counted, and a kept trace's rows owed to the sink. */
  #lateRun(d: StoredDecision, id: string, rows: number, filter: RowFilter, seq: number, late: LateRows[]): void {
    if (!filter.late(id)) return;
    this.#metrics.lateSpans.inc({ outcome: d.keep ? 'exported' : 'dropped' }, rows);
    if (d.keep) late.push({ decision: d, seq });
  }

  #isReady(slot: number, now: number): boolean {
    const t = this.traces;
    return now >= this.#dueMs(slot) || this.#overCap(t.spanCount[slot]!, t.bytes[slot]!);
  }

  /** Whether a trace of `spans` spans and `bytes` bytes is over a cap: ready whatever its times. */
  #overCap(spans: number, bytes: number): boolean {
    const o = this.#opts;
    // bytes saturates at U32_MAX: a saturated sum is over any larger cap too.
    return spans >= o.maxSpansPerTrace || bytes >= Math.min(o.maxBytesPerTrace, U32_MAX);
  }

  #summary(slot: number): TraceSummary {
    const t = this.traces;
    return {
      traceId: t.traceId(slot),
      spanCount: t.spanCount[slot]!,
      errorCount: t.errorCount[slot]!,
      minStartNs: t.minStart[slot]!,
      maxEndNs: t.maxEnd[slot]!,
      bytes: t.bytes[slot]!,
      hasRoot: t.hasRoot(slot),
      firstSeenMs: t.firstSeenMs(slot),
      lastSeenMs: t.lastSeenMs(slot),
      lastReceivedMs: t.lastReceivedMs(slot),
    };
  }

  /**
   * Decides ready traces in batches as it finds them, so memory holds one batch of summaries however
   * many traces are ready. Returns the lowest first sequence number of the traces left undecided.
   * Entries are visited from the last down: deciding a batch deletes visited entries only, and a
   * delete moves the last entry (also visited) into the hole.
   */
  async #decideReady(now: number): Promise<number> {
    const t = this.traces;
    let batch: ReadyTrace[] = [];
    let minSeq = this.seq + 1;
    for (let e = t.size - 1; e >= 0; e--) {
      if (!this.#isReady(e, now)) {
        minSeq = Math.min(minSeq, t.firstSeq[e]!);
        continue;
      }
      batch.push({ summary: this.#summary(e), firstSeq: t.firstSeq[e]!, lastSeq: t.lastSeq[e]! });
      if (batch.length === this.#opts.batchSize) {
        await this.#decideBatch(batch, now);
        if (this.#stopped) return minSeq;
        batch = [];
      }
    }
    if (batch.length > 0) await this.#decideBatch(batch, now);
    return minSeq;
  }

  async #decideBatch(batch: ReadyTrace[], now: number): Promise<void> {
    // A decision already stored (a crash between deciding and checkpointing, or restored from another
    // replica) stands; if its trace was kept, the emitter still owes it (or requeues it at start).
    const recheck = batch.filter((b) => b.firstSeq <= this.#recheckThroughSeq);
    const earlier = recheck.length > 0 ? this.store.lookup(recheck.map((b) => b.summary.traceId)) : NONE_DECIDED;
    // A trace whose partition moved to another replica during this scan is that replica's to decide.
    const undecided = batch.filter((b) => !earlier.has(b.summary.traceId) && this.#scope.owns(b.summary.traceId));
    const rows = await this.#rowsForPolicies(undecided);
    const fresh: StoredDecision[] = [];
    const traced: DecidedTrace[] = [];
    for (const b of undecided) {
      const id = b.summary.traceId;
      const decision: SamplingDecision = this.#sampler.decide({ summary: b.summary, spans: rows?.get(id) ?? null }, now);
      const stored: StoredDecision = {
        traceId: id,
        keep: decision.keep,
        policy: decision.policy,
        threshold: decision.threshold,
        decidedAtMs: now,
        firstSeq: b.firstSeq,
        lastSeq: b.lastSeq,
        exported: !decision.keep,
        lastReceivedMs: b.summary.lastReceivedMs,
      };
      fresh.push(stored);
      traced.push({ decision: stored, summary: b.summary });
      this.#metrics.tracesDecided.inc({ policy: policyLabel(decision.policy), outcome: decision.keep ? 'sampled' : 'not_sampled' });
      this.#metrics.decisionLag.observe(Math.max(0, now - b.summary.lastReceivedMs) / 1000);
      if (this.#overCap(b.summary.spanCount, b.summary.bytes)) this.spill.decidedByCap(id);
    }
    // Recorded before they count: the next owner of a partition must know what was decided.
    await this.#scope.recordDecisions(fresh);
    // What the sinks keep of fresh decisions in the state database (the audit buffer) commits with them.
    this.store.transaction(() => {
      this.store.record(fresh);
      if (traced.length > 0) this.sink.recording?.(traced);
    });
    for (const b of batch) {
      const slot = this.traces.find(b.summary.traceId);
      if (slot >= 0) this.traces.delete(slot);
    }
    await this.sink.decided(fresh);
  }

  /** Rows of each trace for policies that need more than the summary, or null when none do. */
  async #rowsForPolicies(batch: ReadyTrace[]): Promise<Map<string, PartialSpanColumns> | null> {
    if (this.#sampler.requiredColumns.length === 0 || batch.length === 0) return null;
    const locations = batch.map((b) => ({ traceId: b.summary.traceId, firstSeq: b.firstSeq, lastSeq: b.lastSeq }));
    const rowsByTrace = new Map<string, { part: PartialSpanColumns; rows: number[] }[]>();
    for await (const part of this.reader.read(locations, this.#sampler.requiredColumns)) {
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

  /**
   * The table just gained rows (this process's materializer committed): scan now rather than at the
   * end of the interval, so their traces' inactivity starts counting when they are committed. The
   * interval restarts after that scan, so scans are no more frequent than before, only in step with
   * the commits.
   */
  nudge(): void {
    if (this.#stopped || !this.#started) return;
    if (this.#running !== null) {
      this.#nudged = true;
      return;
    }
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#schedule(0);
  }

  #schedule(delayMs = this.#nudged ? 0 : this.#opts.scanIntervalMs): void {
    if (this.#stopped) return;
    this.#nudged = false;
    this.#timer = setTimeout(() => {
      this.#running = this.scan()
        .catch((err: unknown) => this.logger.error({ err }, 'evaluator scan failed; retrying next interval'))
        .finally(() => {
          this.#running = null;
          this.#schedule();
        });
    }, delayMs);
  }
}
