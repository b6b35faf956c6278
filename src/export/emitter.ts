import type { StoredDecision } from '../evaluate/decision-store.ts';
import type { TraceLocation, TraceReader } from '../evaluate/trace-reader.ts';
import { isTailsamplerError } from '../errors.ts';
import { concatColumns } from '../lake/columns.ts';
import { FileNotFoundError } from '../lake/file-io-errors.ts';
import { SPAN_COLUMNS, type ColumnName, type PartialSpanColumns } from '../lake/span-schema.ts';
import type { DataFileRef, SpanTable } from '../lake/table.ts';
import { columnsToRequest } from '../otlp/from-columns.ts';
import { RESCUE_POLICY } from '../rescue/mark.ts';
import type { DecisionSink, LateRows } from '../pipeline/decision-sink.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { deliveryKey, type Delivery, type DeliveryStore } from './delivery-store.ts';
import { outcomeOf, type Attempt, type Lane } from './attempts.ts';
import { messageOf } from './errors.ts';
import type { ExportResult, TraceExporter } from './exporter.ts';
import { outgoingRows } from './outgoing-rows.ts';
import { DeliveryReport } from './delivery-report.ts';

/** What export reads back: every column OTLP has (not where the span sat in Kafka). */
const EXPORT_COLUMNS: readonly ColumnName[] = SPAN_COLUMNS.filter((c) => c.type !== 'kafka_metadata').map((c) => c.name);

export interface EmitterOptions {
  /** Deliveries one exporter takes per round. */
  batchSize: number;
  /** How often due retries are looked for when nothing else wakes the emitter. */
  pollIntervalMs?: number;
}

export interface EmitterDeps {
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
  /** Told of kept traces every exporter is done with (to record them exported for the next owner of their partition). */
  onExported?: (decisions: StoredDecision[]) => Promise<void>;
}

/** The rows one round reads for a set of deliveries with the same exporters. */
interface Item {
  traceId: string;
  firstSeq: number;
  lastSeq: number;
  threshold: string | null;
  /** The policy that kept the trace (passed to exporters that tag it, e.g. Datadog). */
  policy: string;
  /** The rescue asking for it (its spans are marked), or null for a kept trace's own delivery. */
  rescue: string | null;
  attempts: Attempt[];
  readFailed: string | null;
}

/**
 * Sends kept traces to the exporters: a DecisionSink that queues each kept trace durably for every
 * exporter (trace ids in the state database; the spans stay in the table), then, in rounds, plans
 * reads, reads the rows back once per set of exporters, sets the sampling threshold in tracestate,
 * encodes and fans the requests out. A trace counts as delivered to an exporter only when that
 * exporter accepted every request holding its rows; a retryable failure keeps it owed, retried with
 * backoff across rounds and restarts; a permanent one puts it on the dead-letter list. Each exporter
 * takes work only while it has room, so a slow or dead one builds its own backlog and never stalls
 * deciding or the other exporters.
 */
export class Emitter implements DecisionSink {
  readonly #table: SpanTable;
  readonly #reader: TraceReader;
  readonly #store: DeliveryStore;
  readonly #lanes: Lane[];
  readonly #opts: Required<EmitterOptions>;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #onExported: ((decisions: StoredDecision[]) => Promise<void>) | null;
  #timer: NodeJS.Timeout | null = null;
  #pumping: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  #started: TraceExporter[] = [];
  readonly #report: DeliveryReport;

  constructor(table: SpanTable, reader: TraceReader, store: DeliveryStore, exporters: readonly TraceExporter[], opts: EmitterOptions, deps: EmitterDeps) {
    this.#table = table;
    this.#reader = reader;
    this.#store = store;
    this.#lanes = exporters.map((exporter) => ({ exporter, outstanding: 0, sending: new Set(), backlog: 0 }));
    this.#opts = { pollIntervalMs: 1000, ...opts };
    this.#metrics = deps.metrics;
    this.#logger = deps.logger.child({ component: 'emitter' });
    this.#report = new DeliveryReport(this.#metrics, this.#logger);
    this.#now = deps.now ?? Date.now;
    this.#onExported = deps.onExported ?? null;
  }

  /** Starts the exporters, repairs the backlog after a crash, indexes the files it still needs and starts sending. */
  async start(): Promise<void> {
    try {
      await this.#start();
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  async #start(): Promise<void> {
    for (const lane of this.#lanes) {
      await lane.exporter.start();
      this.#started.push(lane.exporter);
    }
    const now = this.#now();
    const { requeued, orphaned } = this.#store.reconcile(this.#lanes.map((l) => l.exporter.id), now);
    if (orphaned > 0) this.#logger.error({ traces: orphaned }, 'kept traces owed to exporters no longer configured were dead-lettered');
    for (const lane of this.#lanes) lane.backlog = this.#store.backlog(lane.exporter.id);
    const from = this.#store.minFirstSeq();
    if (from !== null) this.#reader.add((await this.#table.changesSince(Math.max(0, from - 1))).files);
    this.#retainFiles();
    this.#logger.info(
      { backlog: Object.fromEntries(this.#lanes.map((l) => [l.exporter.id, l.backlog])), requeued },
      'emitter started',
    );
    this.#updateGauges();
    this.#timer = setInterval(() => this.#kick(), this.#opts.pollIntervalMs);
    this.#kick();
  }

  /**
   * Stops taking work, then shuts the exporters down (each drains its queue for a bounded time). What
   * was not accepted by then stays owed and is sent after the next start.
   */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#pumping;
    for (const e of this.#started.splice(0).reverse()) await e.shutdown();
  }

  async decided(decisions: readonly StoredDecision[]): Promise<void> {
    const kept = decisions.filter((d) => d.keep && !d.exported);
    this.#report.decided(kept);
    this.#enqueue(kept.map((d) => owedRow(d, d.firstSeq, d.lastSeq)));
  }

  async late(rows: readonly LateRows[]): Promise<void> {
    this.#enqueue(rows.map((r) => owedRow(r.decision, r.seq, r.lastSeq ?? r.seq)));
  }

  /**
   * Queues a rescue: each trace is owed to every exporter like a kept trace (durable, retried,
   * dead-lettered) but marked as rescued (src/rescue/mark.ts) and without a sampling threshold,
   * whatever its decision. `files` are the data files the traces were found in, indexed here so the
   * rounds can read them. Returns the ids of traces taken for at least one exporter (the others were
   * already owed with the same rows) and how many deliveries that made, those dead-lettered at once
   * for a full backlog included.
   */
  rescue(traces: readonly TraceLocation[], files: readonly DataFileRef[], rescueId: string): { traces: Set<string>; deliveries: number } {
    this.#reader.add(files);
    const now = this.#now();
    const added = new Set<string>();
    let deliveries = 0;
    this.#enqueue(
      traces.map((t) => ({ traceId: t.traceId, firstSeq: t.firstSeq, lastSeq: t.lastSeq, threshold: null, policy: RESCUE_POLICY, decidedAtMs: now, rescue: rescueId })),
      (d) => {
        added.add(d.traceId);
        deliveries++;
      },
    );
    return { traces: added, deliveries };
  }

  async released(owns: (traceId: string) => boolean): Promise<void> {
    const removed = this.#store.release(owns);
    this.#forget(removed);
    const n = [...removed.values()].reduce((a, b) => a + b, 0);
    if (n > 0) this.#logger.info({ deliveries: n }, 'deliveries of traces now decided by another replica released');
    this.#retainFiles();
    this.#updateGauges();
  }

  /** Per exporter: traces owed, and how long ago the oldest was decided. For /readyz. */
  status(): Record<string, { backlog: number; oldestPendingSecs: number | null; full: boolean }> {
    const now = this.#now();
    const out: Record<string, { backlog: number; oldestPendingSecs: number | null; full: boolean }> = {};
    for (const lane of this.#lanes) {
      const oldest = this.#store.oldestDecidedAt(lane.exporter.id);
      out[lane.exporter.id] = {
        backlog: lane.backlog,
        oldestPendingSecs: oldest === null ? null : Math.max(0, now - oldest) / 1000,
        full: lane.backlog >= lane.exporter.delivery.maxBacklogTraces,
      };
    }
    return out;
  }

  /**
   * Resolves once no round runs and every request handed out is answered, sending what is due first;
   * for tests and the bench (with a dead destination it waits for the exporters' own retries to end).
   */
  async settled(): Promise<void> {
    this.#kick();
    while (this.#pumping !== null || this.#lanes.some((l) => l.outstanding > 0)) {
      await this.#pumping;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  #enqueue(items: readonly Omit<Delivery, 'attempts' | 'exporter'>[], onAdded?: (d: Omit<Delivery, 'attempts'>) => void): void {
    if (items.length === 0) return;
    const now = this.#now();
    for (const lane of this.#lanes) {
      const id = lane.exporter.id;
      const room = Math.max(0, lane.exporter.delivery.maxBacklogTraces - lane.backlog);
      const rows = items.map((item) => ({ ...item, exporter: id }));
      lane.backlog += this.#store.enqueue(rows.slice(0, room), now, onAdded);
      const over = rows.slice(room);
      if (over.length > 0) {
        const error = `exporter ${id} backlog is full (${lane.exporter.delivery.maxBacklogTraces} traces)`;
        this.#store.deadLetter(over, 'backlog_full', error, now);
        this.#metrics.exporterDeadLetteredTraces.inc({ exporter: id, reason: 'backlog_full' }, over.length);
        // Taken all the same: a rescue sees them as dead-lettered deliveries of its own.
        for (const r of over) onAdded?.(r);
        const rescued = over.filter((r) => r.rescue != null).length;
        if (rescued > 0) this.#metrics.rescueDeliveries.inc({ exporter: id, outcome: 'dead_lettered' }, rescued);
        this.#logger.error({ exporter: id, traces: over.length, traceIds: over.slice(0, 10).map((r) => r.traceId) }, 'kept traces dead-lettered: backlog full');
      }
    }
    this.#retainFiles();
    this.#updateGauges();
    this.#kick();
  }

  /** Tells the file index which files what is owed still needs (none: Infinity, so the index shrinks). */
  #retainFiles(): void {
    this.#reader.retain('emitter', this.#store.minFirstSeq() ?? Infinity);
  }

  #kick(): void {
    if (this.#stopped) return;
    if (this.#pumping !== null) {
      this.#again = true;
      return;
    }
    this.#pumping = this.#pump().finally(() => {
      this.#pumping = null;
    });
  }

  async #pump(): Promise<void> {
    do {
      this.#again = false;
      try {
        if (await this.#round()) this.#again = true;
      } catch (err) {
        // Nothing was settled: the deliveries stay owed and are taken again at the next poll.
        this.#metrics.emitterErrors.inc();
        this.#logger.error({ err }, 'emitter round failed; retrying at the next poll');
        return;
      }
    } while (this.#again && !this.#stopped);
  }

  /** Takes due deliveries of every exporter with room and sends them; true when more may be due. */
  async #round(): Promise<boolean> {
    const now = this.#now();
    const items = new Map<string, Item>();
    let more = false;
    const taken: Delivery[][] = this.#lanes.map((lane) => {
      if (lane.outstanding >= lane.exporter.delivery.capacity) return [];
      const due = this.#store.due(lane.exporter.id, now, this.#opts.batchSize, lane.sending);
      if (due.length === this.#opts.batchSize) more = true;
      return due;
    });
    // A trace's rows go out with one mark per round (rescued or not, by which rescue): a delivery of the
    // same trace with another mark waits for the next round rather than share rows with this one.
    const markOf = new Map<string, string>();
    this.#lanes.forEach((lane, i) => {
      for (const d of taken[i]!) {
        const rescue = d.rescue ?? null;
        const mark = markOf.get(d.traceId);
        if (mark === undefined) markOf.set(d.traceId, rescue ?? '');
        else if (mark !== (rescue ?? '')) {
          more = true;
          continue;
        }
        const key = `${d.traceId} ${d.firstSeq}`;
        let item = items.get(key);
        if (item === undefined) {
          item = { traceId: d.traceId, firstSeq: d.firstSeq, lastSeq: d.lastSeq, threshold: d.threshold, policy: d.policy, rescue, attempts: [], readFailed: null };
          items.set(key, item);
        }
        lane.sending.add(deliveryKey(d));
        item.attempts.push({ lane, delivery: d, open: 0, dispatched: false, rows: 0, retryError: null, rejected: null, partial: null });
      }
    });
    // Traces owed to the same exporters are read once and sent to all of them.
    const groups = new Map<string, Item[]>();
    for (const item of items.values()) {
      const key = item.attempts.map((a) => a.lane.exporter.id).join('\n');
      let g = groups.get(key);
      if (g === undefined) groups.set(key, (g = []));
      g.push(item);
    }
    for (const group of groups.values()) {
      try {
        await this.#send(group);
      } catch (err) {
        // Say, rows that cannot be encoded: the group's traces stay owed and are tried again after a backoff.
        this.#metrics.emitterErrors.inc();
        this.#logger.error({ err, traces: group.length }, 'sending kept traces failed; they stay owed');
        const done: Attempt[] = [];
        for (const a of group.flatMap((item) => item.attempts)) {
          a.retryError ??= messageOf(err);
          a.dispatched = true;
          if (a.open === 0) done.push(a);
        }
        this.#finish(done, this.#now());
      }
    }
    return more;
  }

  /**
   * Reads the group's rows file by file and hands them to every exporter the group owes, in requests
   * of up to the smallest `maxBatchSpans` of those exporters: rows of several files share a request
   * (kept traces are spread thin over many files, and a request per file carried a few traces).
   */
  async #send(group: Item[]): Promise<void> {
    const lanes = group[0]!.attempts.map((a) => a.lane);
    const maxSpans = Math.min(...lanes.map((l) => l.exporter.delivery.maxBatchSpans));
    const byTrace = new Map<string, Item[]>();
    for (const item of group) {
      const list = byTrace.get(item.traceId);
      if (list === undefined) byTrace.set(item.traceId, [item]);
      else list.push(item);
    }
    const itemOf = (traceId: string, seq: number): Item | undefined =>
      byTrace.get(traceId)?.find((item) => seq >= item.firstSeq && seq <= item.lastSeq);
    /** Rows read and not sent yet: files' outgoing columns and each row's item. */
    let pending: PartialSpanColumns[] = [];
    let pendingItems: (Item | undefined)[] = [];
    for (const [file, ids] of this.#reader.plan(group)) {
      let cols: PartialSpanColumns;
      try {
        cols = await this.#reader.readFile(file, ids, EXPORT_COLUMNS);
      } catch (err) {
        // A file retention removed holds nothing any more; any other failure is retried later.
        if (err instanceof FileNotFoundError) continue;
        const message = `reading ${file.path}: ${messageOf(err)}`;
        for (const id of ids) {
          const item = itemOf(id, file.sequenceNumber);
          if (item !== undefined) item.readFailed = message;
        }
        this.#logger.warn({ err: messageOf(err), retryable: isTailsamplerError(err) && err.retryable, file: file.path }, 'reading kept traces back failed; they stay owed');
        continue;
      }
      if (cols.length === 0) continue;
      const traceIds = cols.trace_id!;
      const rowItems = Array.from({ length: cols.length }, (_, i) => itemOf(traceIds[i]!, file.sequenceNumber));
      pending.push(outgoingRows(cols, rowItems));
      pendingItems = pendingItems.concat(rowItems);
      if (pendingItems.length >= maxSpans) {
        this.#dispatch(lanes, concatColumns(pending), pendingItems, maxSpans);
        pending = [];
        pendingItems = [];
      }
    }
    if (pendingItems.length > 0) this.#dispatch(lanes, concatColumns(pending), pendingItems, maxSpans);
    await this.#recheckEmpty(group.filter((item) => item.readFailed === null && item.attempts[0]!.rows === 0));
    const now = this.#now();
    const done: Attempt[] = [];
    for (const item of group) {
      for (const a of item.attempts) {
        a.dispatched = true;
        if (item.readFailed !== null) a.retryError ??= item.readFailed;
        if (a.open === 0) done.push(a);
      }
    }
    this.#finish(done, now);
  }

  /** Sends `cols` (row i of `rowItems[i]`'s trace) to every lane, in requests of at most `maxSpans` rows. */
  #dispatch(lanes: readonly Lane[], cols: PartialSpanColumns, rowItems: readonly (Item | undefined)[], maxSpans: number): void {
    for (let from = 0; from < cols.length; from += maxSpans) {
      const n = Math.min(maxSpans, cols.length - from);
      const rows = Int32Array.from({ length: n }, (_, k) => from + k);
      const rowsOf = new Map<Item, number>();
      for (let k = from; k < from + n; k++) {
        const item = rowItems[k];
        if (item !== undefined) rowsOf.set(item, (rowsOf.get(item) ?? 0) + 1);
      }
      const request = columnsToRequest(cols, rows);
      const context = { policies: new Map([...rowsOf.keys()].map((item) => [item.traceId, item.policy])) };
      for (const lane of lanes) {
        const attempts: Attempt[] = [];
        for (const [item, count] of rowsOf) {
          const a = item.attempts.find((x) => x.lane === lane)!;
          a.open++;
          a.rows += count;
          attempts.push(a);
        }
        lane.outstanding++;
        void lane.exporter.export(request, n, context).then(
          (result) => this.#answered(lane, attempts, result),
          // export() never rejects; should it, the request counts as a retryable failure.
          (err: unknown) => this.#answered(lane, attempts, { ok: false, retryable: true, error: err instanceof Error ? err : new Error(String(err)) }),
        );
      }
    }
  }

  /**
   * A trace none of whose rows were found is dead-lettered as `not_in_lake` only if the table itself
   * has no file for it any more (retention); if the index merely lacked files, they are indexed again
   * and the trace is retried.
   */
  async #recheckEmpty(items: Item[]): Promise<void> {
    if (items.length === 0) return;
    const from = Math.min(...items.map((i) => i.firstSeq)) - 1;
    this.#reader.add((await this.#table.changesSince(Math.max(0, from))).files);
    for (const item of items) {
      if (this.#reader.plan([item]).size === 0) continue;
      item.readFailed = 'the file index lacked files of this trace; indexed again, retrying';
      this.#metrics.emitterErrors.inc();
      this.#logger.error({ traceId: item.traceId, firstSeq: item.firstSeq, lastSeq: item.lastSeq }, 'kept trace found no files in the index, though the table has them');
    }
  }

  #answered(lane: Lane, attempts: readonly Attempt[], result: ExportResult): void {
    lane.outstanding--;
    const done: Attempt[] = [];
    for (const a of attempts) {
      a.open--;
      if (!result.ok) {
        if (result.retryable) a.retryError ??= result.error.message;
        else a.rejected ??= result.error.message;
      } else if (result.rejectedSpans > 0) {
        a.partial ??= `the destination dropped ${result.rejectedSpans} spans of a request holding this trace (partial success)`;
      }
      if (a.open === 0 && a.dispatched) done.push(a);
    }
    this.#finish(done, this.#now());
    this.#kick();
  }

  /** Settles attempts whose every request was answered. */
  #finish(done: readonly Attempt[], now: number): void {
    if (done.length === 0) return;
    this.#settle(outcomeOf(done, now), now);
  }

  #settle(outcome: Parameters<DeliveryStore['settle']>[0], now: number): void {
    // Answers that arrive while the exporters drain at shutdown are settled while the state database is
    // open; later ones stay owed and are sent again after the next start.
    if (!this.#store.isOpen) return;
    const { removed, exported } = this.#store.settle(outcome, now);
    this.#forget(removed);
    this.#report.settled(outcome, exported, now);
    this.#retainFiles();
    this.#updateGauges();
    if (exported.length > 0 && this.#onExported !== null) {
      this.#onExported(exported).catch((err: unknown) => {
        this.#metrics.emitterErrors.inc();
        this.#logger.error({ err, traces: exported.length }, 'recording exported traces for the next partition owner failed; it would send them again');
      });
    }
  }

  #forget(removed: ReadonlyMap<string, number>): void {
    for (const lane of this.#lanes) lane.backlog -= removed.get(lane.exporter.id) ?? 0;
  }

  #updateGauges(): void {
    const now = this.#now();
    for (const lane of this.#lanes) {
      const id = lane.exporter.id;
      this.#metrics.exporterBacklogTraces.set({ exporter: id }, lane.backlog);
      const oldest = this.#store.oldestDecidedAt(id);
      this.#metrics.exporterBacklogAge.set({ exporter: id }, oldest === null ? 0 : Math.max(0, now - oldest) / 1000);
    }
  }
}

/** What a kept trace owes each exporter: its decided rows, or late ones. */
function owedRow(d: StoredDecision, firstSeq: number, lastSeq: number): Omit<Delivery, 'attempts' | 'exporter'> {
  return { traceId: d.traceId, firstSeq, lastSeq, threshold: d.threshold, policy: d.policy, decidedAtMs: d.decidedAtMs };
}
