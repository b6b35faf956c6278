import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { DecisionStore, StoredDecision } from '../evaluate/decision-store.ts';

/** Rows of one kept trace that one exporter still has to deliver: those in files with sequence numbers firstSeq..lastSeq. */
export interface Delivery {
  exporter: string;
  traceId: string;
  firstSeq: number;
  lastSeq: number;
  /** Effective sampling threshold for tracestate `ot=th`, or null. */
  threshold: string | null;
  /** The policy (or rule) that kept the trace. */
  policy: string;
  decidedAtMs: number;
  /** Failed attempts so far. */
  attempts: number;
  /**
   * The rescue job that asked for this export (src/rescue), or null/absent for a kept trace's own
   * delivery. A rescue delivery exports the trace marked, whatever its decision, and never touches
   * the decision (its `exported` flag stays the kept trace's own business).
   */
  rescue?: string | null;
}

/** Why an exporter gave a kept trace up; each is counted, logged with the trace id, and kept for replay. */
export type DeadLetterReason =
  /** The destination refused it for good (e.g. HTTP 400, gRPC INVALID_ARGUMENT). */
  | 'rejected'
  /** The destination took the request but dropped some of its spans (OTLP partial success). */
  | 'partial_success'
  /** No row of the trace was left in the table (retention dropped its files). */
  | 'not_in_lake'
  /** The exporter's backlog was at `max_backlog_traces` when the trace was kept. */
  | 'backlog_full'
  /** The exporter it was owed to is no longer configured. */
  | 'exporter_removed';

/** What settling changed. */
export interface Settled {
  /** Per exporter, deliveries no longer owed. */
  removed: Map<string, number>;
  /** Decisions of kept traces that no exporter owes anything any more, now marked exported. */
  exported: StoredDecision[];
}

export interface DeadLetter extends Delivery {
  reason: DeadLetterReason;
  error: string;
  failedAtMs: number;
}

interface DeliveryRow {
  exporter: string;
  trace_id: string;
  first_seq: number;
  last_seq: number;
  threshold: string | null;
  policy: string;
  decided_at: number;
  attempts: number;
  rescue: string | null;
}

interface DeadLetterRow extends DeliveryRow {
  reason: DeadLetterReason;
  error: string;
  failed_at: number;
}

function fromRow(r: DeliveryRow): Delivery {
  return {
    exporter: r.exporter,
    traceId: r.trace_id,
    firstSeq: r.first_seq,
    lastSeq: r.last_seq,
    threshold: r.threshold,
    policy: r.policy,
    decidedAtMs: r.decided_at,
    attempts: r.attempts,
    rescue: r.rescue,
  };
}

/** A delivery's identity: the same trace can owe one exporter its decided rows and, later, late spans. */
export function deliveryKey(d: Pick<Delivery, 'exporter' | 'traceId' | 'firstSeq'>): string {
  return `${d.exporter} ${d.traceId} ${d.firstSeq}`;
}

/**
 * What each exporter still owes, durably: one row per (exporter, trace, first sequence number) until
 * the exporter accepted all of those rows, plus the dead-letter list of what an exporter gave up on.
 * Trace ids only; the spans stay in the table. Lives in the evaluator's state database, so a trace's
 * last delivery and its decision turning `exported` are one transaction.
 */
export class DeliveryStore {
  readonly #decisions: DecisionStore;
  readonly #insert: StatementSync;
  readonly #due: StatementSync;
  readonly #delete: StatementSync;
  readonly #retry: StatementSync;
  readonly #deadLetter: StatementSync;
  readonly #markExported: StatementSync;
  readonly #count: StatementSync;
  readonly #oldest: StatementSync;
  readonly #minSeq: StatementSync;
  readonly #rescuePending: StatementSync;
  readonly #rescueDead: StatementSync;

  constructor(decisions: DecisionStore) {
    this.#decisions = decisions;
    const db = decisions.db;
    // What is owed, and what a dead letter keeps of it.
    const owed = `exporter TEXT NOT NULL, trace_id TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
      threshold TEXT, policy TEXT NOT NULL, decided_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, rescue TEXT`;
    db.exec(`
      CREATE TABLE IF NOT EXISTS deliveries (
        ${owed}, next_at INTEGER NOT NULL, last_error TEXT,
        PRIMARY KEY (exporter, trace_id, first_seq)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (exporter, next_at);
      CREATE INDEX IF NOT EXISTS deliveries_trace ON deliveries (trace_id);
      CREATE INDEX IF NOT EXISTS deliveries_first_seq ON deliveries (first_seq);
      CREATE INDEX IF NOT EXISTS deliveries_decided ON deliveries (exporter, decided_at);
      CREATE TABLE IF NOT EXISTS dead_letters (
        ${owed}, reason TEXT NOT NULL, error TEXT NOT NULL, failed_at INTEGER NOT NULL,
        PRIMARY KEY (exporter, trace_id, first_seq)
      ) WITHOUT ROWID;
    `);
    // State databases from before rescues: the column is added in place (NULL: a kept trace's own delivery).
    for (const table of ['deliveries', 'dead_letters']) {
      const columns = db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
      if (!columns.some((c) => c.name === 'rescue')) db.exec(`ALTER TABLE ${table} ADD COLUMN rescue TEXT`);
    }
    db.exec('CREATE INDEX IF NOT EXISTS deliveries_rescue ON deliveries (rescue) WHERE rescue IS NOT NULL');
    db.exec('CREATE INDEX IF NOT EXISTS dead_letters_rescue ON dead_letters (rescue) WHERE rescue IS NOT NULL');
    const cols = 'exporter, trace_id, first_seq, last_seq, threshold, policy, decided_at, attempts, rescue';
    this.#insert = db.prepare(`INSERT OR IGNORE INTO deliveries (${cols}, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`);
    this.#due = db.prepare(`SELECT ${cols} FROM deliveries WHERE exporter = ? AND next_at <= ? ORDER BY next_at LIMIT ?`);
    this.#delete = db.prepare('DELETE FROM deliveries WHERE exporter = ? AND trace_id = ? AND first_seq = ?');
    this.#retry = db.prepare('UPDATE deliveries SET attempts = ?, next_at = ?, last_error = ? WHERE exporter = ? AND trace_id = ? AND first_seq = ?');
    this.#deadLetter = db.prepare(`INSERT OR REPLACE INTO dead_letters (${cols}, reason, error, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    // Rescue deliveries are no part of a kept trace's own export: they neither hold it up nor finish it.
    this.#markExported = db.prepare(
      'UPDATE decisions SET exported = 1 WHERE trace_id = ? AND exported = 0 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE trace_id = ? AND rescue IS NULL)',
    );
    this.#rescuePending = db.prepare('SELECT COUNT(*) AS n FROM deliveries WHERE rescue = ?');
    this.#rescueDead = db.prepare('SELECT COUNT(*) AS n FROM dead_letters WHERE rescue = ?');
    this.#count = db.prepare('SELECT COUNT(*) AS n FROM deliveries WHERE exporter = ?');
    this.#oldest = db.prepare('SELECT MIN(decided_at) AS t FROM deliveries WHERE exporter = ?');
    this.#minSeq = db.prepare('SELECT MIN(first_seq) AS s FROM deliveries');
  }

  get isOpen(): boolean {
    return this.#decisions.db.isOpen;
  }

  /**
   * Adds deliveries (one already there is kept as it is); due at once. Returns how many were new;
   * `onAdded` is told of each.
   */
  enqueue(deliveries: readonly Omit<Delivery, 'attempts'>[], nowMs: number, onAdded?: (d: Omit<Delivery, 'attempts'>) => void): number {
    let added = 0;
    this.#decisions.transaction(() => {
      for (const d of deliveries) {
        const n = Number(this.#insert.run(d.exporter, d.traceId, d.firstSeq, d.lastSeq, d.threshold, d.policy, d.decidedAtMs, d.rescue ?? null, nowMs).changes);
        added += n;
        if (n > 0) onAdded?.(d);
      }
    });
    return added;
  }

  /** Up to `limit` deliveries of `exporter` due by `nowMs`, oldest due first, leaving out those in `skip` (keys). */
  due(exporter: string, nowMs: number, limit: number, skip: ReadonlySet<string>): Delivery[] {
    const rows = this.#due.all(exporter, nowMs, limit + skip.size) as unknown as DeliveryRow[];
    const out: Delivery[] = [];
    for (const r of rows) {
      const d = fromRow(r);
      if (skip.has(deliveryKey(d))) continue;
      out.push(d);
      if (out.length === limit) break;
    }
    return out;
  }

  /**
   * Settles deliveries in one transaction: delivered ones and dead letters leave the backlog,
   * retries wait until their `nextAtMs`. Returns how many deliveries each exporter no longer owes, and
   * the decisions of traces no exporter owes anything any more (now marked exported).
   */
  settle(
    outcome: {
      delivered?: readonly Delivery[];
      retry?: readonly { delivery: Delivery; nextAtMs: number; error: string }[];
      deadLetters?: readonly { delivery: Delivery; reason: DeadLetterReason; error: string }[];
    },
    nowMs: number,
  ): Settled {
    const finished = new Set<string>();
    const settled: Settled = { removed: new Map(), exported: [] };
    const remove = (d: Delivery): void => {
      if (Number(this.#delete.run(d.exporter, d.traceId, d.firstSeq).changes) === 0) return;
      settled.removed.set(d.exporter, (settled.removed.get(d.exporter) ?? 0) + 1);
      finish(d);
    };
    const finish = (d: Delivery): void => {
      if ((d.rescue ?? null) === null) finished.add(d.traceId);
    };
    this.#decisions.transaction(() => {
      for (const d of outcome.delivered ?? []) remove(d);
      for (const { delivery: d, nextAtMs, error } of outcome.retry ?? []) {
        this.#retry.run(d.attempts + 1, nextAtMs, error, d.exporter, d.traceId, d.firstSeq);
      }
      for (const { delivery: d, reason, error } of outcome.deadLetters ?? []) {
        remove(d);
        this.#deadLetter.run(d.exporter, d.traceId, d.firstSeq, d.lastSeq, d.threshold, d.policy, d.decidedAtMs, d.attempts, d.rescue ?? null, reason, error, nowMs);
        finish(d);
      }
      const marked = [...finished].filter((id) => Number(this.#markExported.run(id, id).changes) > 0);
      if (marked.length === 0) return;
      // One lookup for all of them: a statement run costs about as much for one id as for fifty.
      const decisions = this.#decisions.lookup(marked);
      for (const id of marked) {
        const decision = decisions.get(id);
        if (decision !== undefined) settled.exported.push(decision);
      }
    });
    return settled;
  }

  /**
   * Forgets what is owed for traces `keep` says no (their partition moved to another replica, which
   * restores them from the shared record). Returns how many deliveries each exporter no longer owes.
   */
  release(keep: (traceId: string) => boolean): Map<string, number> {
    const removed = new Map<string, number>();
    const db = this.#decisions.db;
    this.#decisions.transaction(() => {
      // A rescue was asked of this replica and reads the shared table: it stays whoever owns the trace.
      for (const r of db.prepare('SELECT exporter, trace_id, first_seq FROM deliveries WHERE rescue IS NULL').all() as unknown as DeliveryRow[]) {
        if (keep(r.trace_id)) continue;
        this.#delete.run(r.exporter, r.trace_id, r.first_seq);
        removed.set(r.exporter, (removed.get(r.exporter) ?? 0) + 1);
      }
    });
    return removed;
  }

  /** Records deliveries straight into the dead-letter list (never queued: the backlog was full). */
  deadLetter(deliveries: readonly Omit<Delivery, 'attempts'>[], reason: DeadLetterReason, error: string, nowMs: number): Settled {
    return this.settle({ deadLetters: deliveries.map((d) => ({ delivery: { ...d, attempts: 0 }, reason, error })) }, nowMs);
  }

  /**
   * Startup repair: kept traces not marked exported that owe no exporter anything (a crash between
   * recording a decision and queueing its deliveries) are queued for every exporter again, and what is
   * owed to exporters no longer configured is dead-lettered. Returns how many of each.
   */
  reconcile(exporters: readonly string[], nowMs: number): { requeued: number; orphaned: number } {
    let requeued = 0;
    let orphaned = 0;
    const db = this.#decisions.db;
    this.#decisions.transaction(() => {
      const known = exporters.map(() => '?').join(',');
      const orphans = db
        .prepare(`SELECT * FROM deliveries WHERE exporter NOT IN (${known === '' ? "''" : known})`)
        .all(...exporters) as unknown as DeliveryRow[];
      for (const r of orphans) {
        this.settle({ deadLetters: [{ delivery: fromRow(r), reason: 'exporter_removed', error: `exporter ${r.exporter} is not configured any more` }] }, nowMs);
      }
      orphaned = orphans.length;
      const lost = db
        .prepare('SELECT * FROM decisions d WHERE keep = 1 AND exported = 0 AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.trace_id = d.trace_id AND x.rescue IS NULL)')
        .all() as unknown as { trace_id: string; first_seq: number; last_seq: number; threshold: string | null; policy: string; decided_at: number }[];
      for (const r of lost) {
        for (const exporter of exporters) {
          requeued += Number(this.#insert.run(exporter, r.trace_id, r.first_seq, r.last_seq, r.threshold, r.policy, r.decided_at, null, nowMs).changes);
        }
      }
    });
    return { requeued, orphaned };
  }

  /** Deliveries `exporter` still owes. */
  backlog(exporter: string): number {
    return Number((this.#count.get(exporter) as { n: number }).n);
  }

  /** When the oldest trace `exporter` still owes was decided, or null when it owes none. */
  oldestDecidedAt(exporter: string): number | null {
    return (this.#oldest.get(exporter) as { t: number | null }).t;
  }

  /** Deliveries of rescue `id` still owed, and those dead-lettered. */
  rescueProgress(id: string): { pending: number; deadLettered: number } {
    return {
      pending: Number((this.#rescuePending.get(id) as { n: number }).n),
      deadLettered: Number((this.#rescueDead.get(id) as { n: number }).n),
    };
  }

  /** The lowest table sequence number any delivery still needs to read, or null when none is owed. */
  minFirstSeq(): number | null {
    return (this.#minSeq.get() as { s: number | null }).s;
  }

}

/**
 * The dead-letter list in `stateDir`, oldest first, read-only (the service may be running: the state
 * database is in WAL mode). Empty when the service never ran there.
 */
export function listDeadLetters(stateDir: string, limit: number): DeadLetter[] {
  const path = join(stateDir, 'decisions.db');
  if (!existsSync(path)) return [];
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dead_letters'").get();
    if (exists === undefined) return [];
    const rows = db.prepare('SELECT * FROM dead_letters ORDER BY failed_at LIMIT ?').all(limit) as unknown as DeadLetterRow[];
    return rows.map((r) => ({ ...fromRow(r), reason: r.reason, error: r.error, failedAtMs: r.failed_at }));
  } finally {
    db.close();
  }
}
