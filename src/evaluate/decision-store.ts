import { closeSync, fdatasync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { promisify } from 'node:util';
import { fsyncDir } from '../spool/local/io.ts';

/**
 * WAL pages written before they are copied back into the database (SQLite's default is 1,000). A
 * transaction of random trace ids dirties about one leaf page per decision, so a batch of 1,000 filled
 * the default WAL and every commit also checkpointed; a page changed by several transactions of a
 * longer WAL is copied back once. The WAL file grows to ~64 MiB on disk; in memory only its index
 * grows (~128 KiB).
 */
const WAL_CHECKPOINT_PAGES = 16_000;

const datasync = promisify(fdatasync);

export interface StoredDecision {
  traceId: string;
  keep: boolean;
  policy: string;
  threshold: string | null;
  decidedAtMs: number;
  /** Table sequence numbers bounding the files that held the trace's spans when it was decided. */
  firstSeq: number;
  lastSeq: number;
  exported: boolean;
  /**
   * When the trace's last span reached the service, for the lag metrics: known for decisions this
   * process just made, not stored.
   */
  lastReceivedMs?: number;
}

interface Row {
  trace_id: string;
  keep: number;
  policy: string;
  threshold: string | null;
  decided_at: number;
  first_seq: number;
  last_seq: number;
  exported: number;
}

function fromRow(r: Row): StoredDecision {
  return {
    traceId: r.trace_id,
    keep: r.keep === 1,
    policy: r.policy,
    threshold: r.threshold,
    decidedAtMs: r.decided_at,
    firstSeq: r.first_seq,
    lastSeq: r.last_seq,
    exported: r.exported === 1,
  };
}

/**
 * Decisions survive restarts: a trace is decided once, and late spans follow its decision while it is
 * remembered (`decision_cache_ttl_secs`). `exported` turns true once every exporter is done with the
 * kept trace (src/export/delivery-store.ts keeps what each exporter still owes).
 *
 * Transactions commit with `synchronous = NORMAL`: a commit is in the WAL, safe from a crash of the
 * process, without waiting for the disk. Only a crash of the machine (power loss) can take back the
 * last ones, so whatever is made durable elsewhere on the strength of this database (the evaluator's
 * checkpoint, the audit table's rows) first awaits {@link sync}: one fdatasync of the WAL a scan, on
 * libuv's thread pool, instead of one per transaction on the main thread (~10-20 ms each, several a
 * second under load, and hundreds of ms when the disk is busy).
 */
export class DecisionStore {
  /** The evaluator state database; the emitter keeps its delivery tables in it, so both change in one transaction. */
  readonly db: DatabaseSync;
  private readonly insert: StatementSync;
  private readonly replace: StatementSync;
  private readonly expire: StatementSync;
  private readonly find: StatementSync;
  /** How many times decisions made elsewhere were restored into this store (the evaluator looks those traces up again). */
  restores = 0;
  private readonly changes: StatementSync;
  /** `total_changes()` when the last completed sync began: rows changed since are not yet known to be on disk. */
  private syncedChanges = 0;
  private readonly stateDir: string;
  /** The WAL file's descriptor, opened at the first sync and held until {@link close}. */
  private walFd: number | undefined;
  /** The state directory's fsync after the WAL file was first opened (see {@link sync}). */
  private dirSynced: Promise<void> | undefined;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true });
    this.stateDir = stateDir;
    this.db = new DatabaseSync(join(stateDir, 'decisions.db'));
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES};
      CREATE TABLE IF NOT EXISTS decisions (
        trace_id TEXT PRIMARY KEY,
        keep INTEGER NOT NULL,
        policy TEXT NOT NULL,
        threshold TEXT,
        decided_at INTEGER NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        exported INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS decisions_decided_at ON decisions (decided_at);
      CREATE INDEX IF NOT EXISTS decisions_unexported ON decisions (exported) WHERE exported = 0;
    `);
    this.changes = this.db.prepare('SELECT total_changes() AS n');
    this.syncedChanges = this.totalChanges();
    this.insert = this.db.prepare(
      `INSERT OR IGNORE INTO decisions (trace_id, keep, policy, threshold, decided_at, first_seq, last_seq, exported)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.replace = this.db.prepare(
      `INSERT OR REPLACE INTO decisions (trace_id, keep, policy, threshold, decided_at, first_seq, last_seq, exported)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.expire = this.db.prepare('DELETE FROM decisions WHERE decided_at < ?');
    // The ids go in as one JSON array, so one statement serves every lookup: a statement per list
    // length (`IN (?, ?, ...)`) kept up to 500 compiled statements, ~38 MiB of native memory.
    this.find = this.db.prepare('SELECT * FROM decisions WHERE trace_id IN (SELECT value FROM json_each(?))');
  }

  /** Decisions known for these trace ids. */
  lookup(traceIds: readonly string[]): Map<string, StoredDecision> {
    const out = new Map<string, StoredDecision>();
    for (const r of this.find.all(JSON.stringify(traceIds)) as unknown as Row[]) out.set(r.trace_id, fromRow(r));
    return out;
  }

  /** Records decisions in one transaction. A trace decided before keeps its first decision. */
  record(decisions: readonly StoredDecision[]): void {
    this.write(this.insert, decisions);
  }

  /** Takes decisions as they are (restored from another replica's record), replacing what is here. */
  restore(decisions: readonly StoredDecision[]): void {
    this.write(this.replace, decisions);
    this.restores++;
  }

  private write(statement: StatementSync, decisions: readonly StoredDecision[]): void {
    // Trace ids are random: in key order, a transaction's inserts walk the primary key once from
    // start to end instead of jumping across it (fewer page reads; tested to keep the first decision).
    const sorted = decisions.toSorted((a, b) => (a.traceId < b.traceId ? -1 : a.traceId > b.traceId ? 1 : 0));
    this.transaction(() => {
      for (const d of sorted) {
        statement.run(d.traceId, d.keep ? 1 : 0, d.policy, d.threshold, d.decidedAtMs, d.firstSeq, d.lastSeq, d.exported ? 1 : 0);
      }
    });
  }

  /** Forgets decisions made before `beforeMs`; returns how many. */
  expireBefore(beforeMs: number): number {
    return Number(this.expire.run(beforeMs).changes);
  }

  private totalChanges(): number {
    return Number((this.changes.get() as { n: number | bigint }).n);
  }

  /** Whether rows changed since the last {@link sync} (they survive a crash of the process, maybe not of the machine). */
  get unsynced(): boolean {
    return this.totalChanges() !== this.syncedChanges;
  }

  /**
   * Makes every transaction committed so far durable: an fdatasync of the WAL file, which holds every
   * commit not yet checkpointed (SQLite syncs the WAL before a checkpoint copies it into the
   * database, and the database after), on the thread pool. The first one also syncs the directory,
   * so the WAL file's own entry survives a power loss, as SQLite's first sync of a new WAL does.
   * Nothing to do when no row changed since the last sync.
   */
  async sync(): Promise<void> {
    if (this.db.isTransaction) throw new Error('DecisionStore.sync inside a transaction');
    const changes = this.totalChanges();
    if (changes === this.syncedChanges) return;
    this.walFd ??= openSync(join(this.stateDir, 'decisions.db-wal'), 'r');
    this.dirSynced ??= fsyncDir(this.stateDir).catch((e: unknown) => {
      this.dirSynced = undefined;
      throw e;
    });
    await Promise.all([datasync(this.walFd), this.dirSynced]);
    this.syncedChanges = Math.max(this.syncedChanges, changes);
  }

  /** Closes the database; a sync must not be running. */
  close(): void {
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
    this.db.close();
  }

  /** Runs `fn` in one transaction of the state database (nested calls join the outer one). */
  transaction(fn: () => void): void {
    if (this.db.isTransaction) {
      fn();
      return;
    }
    this.db.exec('BEGIN');
    try {
      fn();
      this.db.exec('COMMIT');
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }
}
