import { randomUUID } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { AuditColumns } from '../lake/audit-schema.ts';
import type { DecidedTrace } from '../pipeline/decision-sink.ts';

/** Rows taken from the buffer for one commit: ids firstId..lastId (every buffered id in between). */
export interface AuditBatch {
  columns: AuditColumns;
  firstId: number;
  lastId: number;
}

interface PendingRow {
  id: bigint;
  trace_id: string;
  decided_at: bigint;
  keep: bigint;
  policy: string;
  threshold: string | null;
  span_count: bigint;
  error_count: bigint;
  duration_ns: bigint;
  trace_bytes: bigint;
  first_seen: bigint;
  last_seen: bigint;
  replica: string;
}

const US_PER_MS = 1000n;

/**
 * Decisions waiting for the audit table, in the evaluator's state database (decisions.db): written in
 * the transaction that records the decisions, deleted once a commit holds them. Ids only grow
 * (AUTOINCREMENT: never reused, even after every row is deleted), so "committed through id N" names
 * a set of rows for good; `writerId`, made once per database, tells this buffer's commits apart from
 * other replicas' in the table.
 */
export class AuditBuffer {
  readonly writerId: string;
  readonly #insert: StatementSync;
  readonly #take: StatementSync;
  readonly #deleteThrough: StatementSync;
  readonly #count: StatementSync;

  constructor(db: DatabaseSync) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS audit_pending (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        trace_id TEXT NOT NULL,
        decided_at INTEGER NOT NULL,
        keep INTEGER NOT NULL,
        policy TEXT NOT NULL,
        threshold TEXT,
        span_count INTEGER NOT NULL,
        error_count INTEGER NOT NULL,
        duration_ns INTEGER NOT NULL,
        trace_bytes INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        replica TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    `);
    db.prepare("INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('writer_id', ?)").run(randomUUID());
    this.writerId = (db.prepare("SELECT value FROM audit_meta WHERE key = 'writer_id'").get() as { value: string }).value;
    this.#insert = db.prepare(
      `INSERT INTO audit_pending (trace_id, decided_at, keep, policy, threshold, span_count, error_count, duration_ns, trace_bytes, first_seen, last_seen, replica)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#take = db.prepare('SELECT * FROM audit_pending ORDER BY id LIMIT ?');
    this.#take.setReadBigInts(true);
    this.#deleteThrough = db.prepare('DELETE FROM audit_pending WHERE id <= ?');
    this.#count = db.prepare('SELECT count(*) AS n FROM audit_pending');
  }

  /** Buffers fresh decisions (the caller's transaction makes them durable with the decisions). */
  add(traces: readonly DecidedTrace[], replica: string): void {
    for (const { decision: d, summary: s } of traces) {
      this.#insert.run(
        d.traceId,
        d.decidedAtMs,
        d.keep ? 1 : 0,
        d.policy,
        d.threshold,
        s.spanCount,
        s.errorCount,
        s.maxEndNs - s.minStartNs,
        s.bytes,
        s.firstSeenMs,
        s.lastSeenMs,
        replica,
      );
    }
  }

  /** The oldest `limit` buffered decisions as audit table columns, or null when none is buffered. */
  take(limit: number): AuditBatch | null {
    const rows = this.#take.all(limit) as unknown as PendingRow[];
    if (rows.length === 0) return null;
    const n = rows.length;
    const columns: AuditColumns = {
      length: n,
      trace_id: rows.map((r) => r.trace_id),
      decided_at: BigInt64Array.from(rows, (r) => r.decided_at * US_PER_MS),
      outcome: rows.map((r) => (r.keep === 1n ? 'sampled' : 'not_sampled')),
      policy: rows.map((r) => r.policy),
      threshold: rows.map((r) => r.threshold),
      span_count: Int32Array.from(rows, (r) => Number(r.span_count)),
      error_count: Int32Array.from(rows, (r) => Number(r.error_count)),
      duration: BigInt64Array.from(rows, (r) => r.duration_ns),
      trace_bytes: BigInt64Array.from(rows, (r) => r.trace_bytes),
      first_seen: BigInt64Array.from(rows, (r) => r.first_seen * US_PER_MS),
      last_seen: BigInt64Array.from(rows, (r) => r.last_seen * US_PER_MS),
      replica: rows.map((r) => r.replica),
    };
    return { columns, firstId: Number(rows[0]!.id), lastId: Number(rows[n - 1]!.id) };
  }

  /** Removes the decisions with ids up to `id` (they are in the table); returns how many. */
  deleteThrough(id: number): number {
    return Number(this.#deleteThrough.run(id).changes);
  }

  get size(): number {
    return Number((this.#count.get() as { n: number }).n);
  }
}
