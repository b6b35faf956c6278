import { randomUUID } from 'node:crypto';
import type { StatementSync } from 'node:sqlite';
import type { DecisionStore } from '../evaluate/decision-store.ts';
import type { AuditColumns } from '../lake/audit-schema.ts';
import type { DecidedTrace } from '../pipeline/decision-sink.ts';

/** Rows taken from the buffer for one commit: ids firstId..lastId (every buffered id in between). */
export interface AuditBatch {
  columns: AuditColumns;
  firstId: number;
  lastId: number;
}

/**
 * A buffered row as `take` selects it, an array rather than an object per row, with each int64 value
 * (times in µs) as its high and low 32 bits, so it reaches the columns without a BigInt per cell.
 */
type PendingRow = [
  id: number,
  trace_id: string,
  keep: number,
  policy: string,
  threshold: string | null,
  span_count: number,
  error_count: number,
  replica: string,
  ...int64: number[],
];
const INT64_SELECT = ['decided_at * 1000', 'duration_ns', 'trace_bytes', 'first_seen * 1000', 'last_seen * 1000']
  .map((v) => `(${v}) >> 32, (${v}) & 4294967295`)
  .join(', ');
const [DECIDED_AT, DURATION, TRACE_BYTES, FIRST_SEEN, LAST_SEEN] = [8, 10, 12, 14, 16];

/** The int64 whose high/low halves are at `at`/`at + 1` of each row. */
function int64Column(rows: readonly PendingRow[], at: number): BigInt64Array {
  const out = new BigInt64Array(rows.length);
  const halves = new Uint32Array(out.buffer);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as unknown as readonly number[];
    halves[2 * i] = row[at + 1]!;
    halves[2 * i + 1] = row[at]! >>> 0;
  }
  return out;
}

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
  readonly #store: Pick<DecisionStore, 'db' | 'sync'>;

  /** The buffer lives in the decision store's database. */
  constructor(store: Pick<DecisionStore, 'db' | 'sync'>) {
    this.#store = store;
    const db = store.db;
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
    this.#take = db.prepare(
      `SELECT id, trace_id, keep, policy, threshold, span_count, error_count, replica, ${INT64_SELECT} FROM audit_pending ORDER BY id LIMIT ?`,
    );
    this.#take.setReturnArrays(true);
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

  /**
   * The oldest `limit` buffered decisions as audit table columns, or null when none is buffered. They
   * are made durable first: a commit to the table must not hold rows a power loss could take back
   * from the buffer (their ids would be given out again, and taken as committed).
   */
  take(limit: number): AuditBatch | null {
    this.#store.sync();
    const rows = this.#take.all(limit) as unknown as PendingRow[];
    if (rows.length === 0) return null;
    const n = rows.length;
    const columns: AuditColumns = {
      length: n,
      trace_id: rows.map((r) => r[1]),
      decided_at: int64Column(rows, DECIDED_AT),
      outcome: rows.map((r) => (r[2] === 1 ? 'sampled' : 'not_sampled')),
      policy: rows.map((r) => r[3]),
      threshold: rows.map((r) => r[4]),
      span_count: Int32Array.from(rows, (r) => r[5]),
      error_count: Int32Array.from(rows, (r) => r[6]),
      duration: int64Column(rows, DURATION),
      trace_bytes: int64Column(rows, TRACE_BYTES),
      first_seen: int64Column(rows, FIRST_SEEN),
      last_seen: int64Column(rows, LAST_SEEN),
      replica: rows.map((r) => r[7]),
    };
    return { columns, firstId: rows[0]![0], lastId: rows[n - 1]![0] };
  }

  /** Removes the decisions with ids up to `id` (they are in the table); returns how many. */
  deleteThrough(id: number): number {
    return Number(this.#deleteThrough.run(id).changes);
  }

  get size(): number {
    return Number((this.#count.get() as { n: number }).n);
  }
}
