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

/** The int64 columns of a stored batch, in this order, n values each (`longs`). */
const LONGS = ['decided_at', 'duration', 'trace_bytes', 'first_seen', 'last_seen'];
const TWO32 = 4294967296;

/** A number that a double holds exactly (|v| < 2^53) as int64 words at `at` of `words`. */
function setLong(words: Int32Array, at: number, v: number): void {
  const hi = Math.floor(v / TWO32);
  words[2 * at] = v - hi * TWO32;
  words[2 * at + 1] = hi;
}

/** A batch's strings, one array per column: trace ids, policies, thresholds. */
interface BatchStrings {
  t: string[];
  p: string[];
  h: (string | null)[];
}

/** A stored batch as `take` reads it. */
interface BatchRow {
  first_id: number;
  last_id: number;
  first_live: number;
  replica: string;
  strings: string;
  keep: Uint8Array;
  ints: Uint8Array;
  longs: Uint8Array;
}

/** A copy of a BLOB as `T` (the blob's bytes need not be aligned for it). */
function typed<T>(blob: Uint8Array, make: (buffer: ArrayBuffer) => T): T {
  return make(blob.slice().buffer);
}

/**
 * Decisions waiting for the audit table, in the evaluator's state database (decisions.db): written in
 * the transaction that records the decisions, deleted once a commit holds them. Each batch of fresh
 * decisions is one row of columns (strings as JSON, numbers as typed-array bytes): a row per decision
 * with a dozen bound values cost ~3% of the main thread at full load. Every decision still has its
 * own id, given out in order and never again (even after every row is deleted), so "committed
 * through id N" names a set of decisions for good; a batch holds ids first_id..last_id, those below
 * first_live already committed. `writerId`, made once per database, tells this buffer's commits
 * apart from other replicas' in the table.
 */
export class AuditBuffer {
  readonly writerId: string;
  readonly #insert: StatementSync;
  readonly #take: StatementSync;
  readonly #deleteThrough: StatementSync;
  readonly #trimThrough: StatementSync;
  readonly #count: StatementSync;
  readonly #nextId: StatementSync;
  readonly #setNextId: StatementSync;
  readonly #store: Pick<DecisionStore, 'db' | 'sync' | 'transaction'>;

  /** The buffer lives in the decision store's database. */
  constructor(store: Pick<DecisionStore, 'db' | 'sync' | 'transaction'>) {
    this.#store = store;
    const db = store.db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS audit_batches (
        first_id INTEGER PRIMARY KEY,
        last_id INTEGER NOT NULL,
        first_live INTEGER NOT NULL,
        replica TEXT NOT NULL,
        strings TEXT NOT NULL,
        keep BLOB NOT NULL,
        ints BLOB NOT NULL,
        longs BLOB NOT NULL
      );
      CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    `);
    db.prepare("INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('writer_id', ?)").run(randomUUID());
    this.writerId = (db.prepare("SELECT value FROM audit_meta WHERE key = 'writer_id'").get() as { value: string }).value;
    this.#nextId = db.prepare("SELECT value FROM audit_meta WHERE key = 'next_id'");
    this.#setNextId = db.prepare("INSERT OR REPLACE INTO audit_meta (key, value) VALUES ('next_id', ?)");
    this.#insert = db.prepare('INSERT INTO audit_batches (first_id, last_id, first_live, replica, strings, keep, ints, longs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.#take = db.prepare('SELECT * FROM audit_batches ORDER BY first_id');
    this.#deleteThrough = db.prepare('DELETE FROM audit_batches WHERE last_id <= ?');
    this.#trimThrough = db.prepare('UPDATE audit_batches SET first_live = ? + 1 WHERE first_live <= ? AND last_id > ?');
    this.#count = db.prepare('SELECT coalesce(sum(last_id - first_live + 1), 0) AS n FROM audit_batches');
    this.#migrateRowPerDecision();
  }

  /** The id the next decision gets. */
  private nextId(): number {
    const row = this.#nextId.get() as { value: string } | undefined;
    return row === undefined ? 1 : Number(row.value);
  }

  /** Buffers fresh decisions as one batch (the caller's transaction makes them durable with the decisions). */
  add(traces: readonly DecidedTrace[], replica: string): void {
    const n = traces.length;
    if (n === 0) return;
    const keep = new Uint8Array(n);
    const ints = new Int32Array(2 * n);
    const longs = new BigInt64Array(LONGS.length * n);
    const words = new Int32Array(longs.buffer);
    const traceIds = new Array<string>(n);
    const policies = new Array<string>(n);
    const thresholds = new Array<string | null>(n);
    for (let i = 0; i < n; i++) {
      const { decision: d, summary: s } = traces[i]!;
      traceIds[i] = d.traceId;
      policies[i] = d.policy;
      thresholds[i] = d.threshold;
      keep[i] = d.keep ? 1 : 0;
      ints[i] = s.spanCount;
      ints[n + i] = s.errorCount;
      setLong(words, i, d.decidedAtMs * 1000);
      longs[n + i] = s.maxEndNs - s.minStartNs;
      setLong(words, 2 * n + i, s.bytes);
      setLong(words, 3 * n + i, s.firstSeenMs * 1000);
      setLong(words, 4 * n + i, s.lastSeenMs * 1000);
    }
    this.write(replica, { t: traceIds, p: policies, h: thresholds }, keep, ints, longs);
  }

  /**
   * Stores one batch under ids from `first` (the next ids by default): `ints` span counts then error
   * counts, `longs` the LONGS columns one after another.
   */
  private write(replica: string, strings: BatchStrings, keep: Uint8Array, ints: Int32Array, longs: BigInt64Array, first = this.nextId()): void {
    const n = keep.length;
    this.#setNextId.run(String(first + n));
    this.#insert.run(first, first + n - 1, first, replica, JSON.stringify(strings), keep, new Uint8Array(ints.buffer), new Uint8Array(longs.buffer));
  }

  /**
   * The oldest buffered decisions, `limit` at most, as audit table columns, or null when none is
   * buffered. They are made durable first: a commit to the table must not hold rows a power loss
   * could take back from the buffer (their ids would be given out again, and taken as committed).
   * The rows are read before the sync, which covers every commit before it: rows added while it
   * runs wait for the next batch.
   */
  async take(limit: number): Promise<AuditBatch | null> {
    const batch = this.#read(limit);
    if (batch !== null) await this.#store.sync();
    return batch;
  }

  #read(limit: number): AuditBatch | null {
    const parts: { row: BatchRow; from: number; to: number }[] = [];
    let rows = 0;
    for (const r of this.#take.iterate() as Iterable<BatchRow>) {
      const n = r.last_id - r.first_id + 1;
      const from = r.first_live - r.first_id;
      const to = Math.min(n, from + limit - rows);
      parts.push({ row: r, from, to });
      rows += to - from;
      if (rows >= limit) break;
    }
    if (rows === 0) return null;
    const traceId: string[] = [];
    const outcome: string[] = [];
    const policy: string[] = [];
    const threshold: (string | null)[] = [];
    const replica: string[] = [];
    const spanCount = new Int32Array(rows);
    const errorCount = new Int32Array(rows);
    const longs = LONGS.map(() => new BigInt64Array(rows));
    let at = 0;
    for (const { row: r, from, to } of parts) {
      const n = r.last_id - r.first_id + 1;
      const strings = JSON.parse(r.strings) as BatchStrings;
      for (let i = from; i < to; i++) {
        traceId.push(strings.t[i]!);
        outcome.push(r.keep[i] === 1 ? 'sampled' : 'not_sampled');
        policy.push(strings.p[i]!);
        threshold.push(strings.h[i]!);
        replica.push(r.replica);
      }
      const ints = typed(r.ints, (b) => new Int32Array(b));
      spanCount.set(ints.subarray(from, to), at);
      errorCount.set(ints.subarray(n + from, n + to), at);
      const stored = typed(r.longs, (b) => new BigInt64Array(b));
      longs.forEach((column, k) => column.set(stored.subarray(k * n + from, k * n + to), at));
      at += to - from;
    }
    const [decidedAt, duration, traceBytes, firstSeen, lastSeen] = longs as [BigInt64Array, BigInt64Array, BigInt64Array, BigInt64Array, BigInt64Array];
    const columns: AuditColumns = {
      length: rows,
      trace_id: traceId,
      decided_at: decidedAt,
      outcome,
      policy,
      threshold,
      span_count: spanCount,
      error_count: errorCount,
      duration,
      trace_bytes: traceBytes,
      first_seen: firstSeen,
      last_seen: lastSeen,
      replica,
    };
    const first = parts[0]!;
    const last = parts.at(-1)!;
    return { columns, firstId: first.row.first_id + first.from, lastId: last.row.first_id + last.to - 1 };
  }

  /** Removes the decisions with ids up to `id` (they are in the table); returns how many. */
  deleteThrough(id: number): number {
    const before = this.size;
    this.#deleteThrough.run(id);
    this.#trimThrough.run(id, id, id);
    return before - this.size;
  }

  get size(): number {
    return Number((this.#count.get() as { n: number }).n);
  }

  /**
   * Moves what an older version buffered (a row per decision, `audit_pending`) into batches, each
   * decision keeping its id; ids go on from the highest that table gave out.
   */
  #migrateRowPerDecision(): void {
    const db = this.#store.db;
    const legacy = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_pending'").get();
    if (legacy === undefined) return;
    const seq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'audit_pending'").get() as { seq: number } | undefined;
    this.#store.transaction(() => {
      const select = db.prepare('SELECT * FROM audit_pending ORDER BY id');
      select.setReadBigInts(true); // durations beyond 2^53 ns
      const rows = select.all() as {
        id: bigint; trace_id: string; decided_at: bigint; keep: bigint; policy: string; threshold: string | null; span_count: bigint;
        error_count: bigint; duration_ns: bigint; trace_bytes: bigint; first_seen: bigint; last_seen: bigint; replica: string;
      }[];
      // One batch per decision: ids need not be contiguous.
      for (const r of rows) {
        this.write(r.replica, { t: [r.trace_id], p: [r.policy], h: [r.threshold] }, Uint8Array.of(Number(r.keep)), Int32Array.of(Number(r.span_count), Number(r.error_count)),
          BigInt64Array.of(r.decided_at * 1000n, r.duration_ns, r.trace_bytes, r.first_seen * 1000n, r.last_seen * 1000n), Number(r.id));
      }
      this.#setNextId.run(String(Math.max(seq?.seq ?? 0, Number(rows.at(-1)?.id ?? 0)) + 1));
      db.exec('DROP TABLE audit_pending');
    });
  }
}
