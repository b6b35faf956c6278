import type { StoredDecision } from '../evaluate/decision-store.ts';
import { TailsamplerError } from '../errors.ts';
import type { AuditTable } from '../lake/iceberg/audit-table.ts';
import type { SnapshotRef } from '../lake/table.ts';
import type { DecidedTrace, DecisionSink, LateRows } from '../pipeline/decision-sink.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { AuditBatch, AuditBuffer } from './audit-buffer.ts';

/**
 * Snapshot summary keys `tailsampler.audit.<writer id>` = `<last buffer id committed>@<commit ms>`:
 * one per state database that ever wrote the table, carried from snapshot to snapshot (by every
 * writer, like the materializer's spool position) so the current snapshot always says what each
 * buffer has committed.
 */
export const AUDIT_KEY_PREFIX = 'tailsampler.audit.';
/** A writer not heard from for this long is forgotten (its key stops being carried). */
const FORGET_WRITER_MS = 30 * 86_400_000;
/** How often retention is applied to the audit table. */
const RETENTION_CHECK_MS = 5 * 60_000;

export interface AuditSinkOptions {
  commitIntervalMs: number;
  /** Decisions in one commit at most; more waiting → commit again at once. */
  maxRowsPerCommit: number;
  /** This replica's name in the `replica` column. */
  replica: string;
}

/** The buffered rows are in the table already: committing them would duplicate them. */
export class AuditAlreadyCommittedError extends TailsamplerError {
  constructor(message: string) {
    super('TS_AUDIT_ALREADY_COMMITTED', message);
    this.name = 'AuditAlreadyCommittedError';
  }
}

/** What `summary` says this writer committed through, or null. */
export function committedThrough(summary: Readonly<Record<string, string>> | undefined, writerId: string): number | null {
  const v = summary?.[AUDIT_KEY_PREFIX + writerId];
  if (v === undefined) return null;
  const n = Number.parseInt(v, 10);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * The audit keys a new snapshot carries: the parent's, less writers silent for FORGET_WRITER_MS, and
 * this writer's set to `lastId` (null: a snapshot that moves none, e.g. retention's delete).
 */
export function auditSummary(parent: SnapshotRef | null, writerId: string, lastId: number | null, nowMs: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parent?.summary ?? {})) {
    if (!k.startsWith(AUDIT_KEY_PREFIX)) continue;
    const at = Number(v.slice(v.indexOf('@') + 1));
    if (k === AUDIT_KEY_PREFIX + writerId || !(nowMs - at > FORGET_WRITER_MS)) out[k] = v;
  }
  if (lastId !== null) out[AUDIT_KEY_PREFIX + writerId] = `${lastId}@${nowMs}`;
  return out;
}

/**
 * The decision audit table as a DecisionSink: fresh decisions go into the buffer in the transaction
 * that records them (`recording`), and every commit interval the buffer is appended to the Iceberg
 * table and emptied. Each commit records in its snapshot summary the last buffer id it holds; a crash
 * between commit and delete is found at the next start (or refused by the commit itself), so no
 * decision is lost or written twice.
 */
export class AuditSink implements DecisionSink {
  readonly #table: AuditTable;
  readonly #buffer: AuditBuffer;
  readonly #opts: AuditSinkOptions;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  #started = false;
  /** A commit failed (its outcome may be unknown): look at the table before the next. */
  #resync = true;
  #retentionCheckedMs = -Infinity;

  constructor(table: AuditTable, buffer: AuditBuffer, opts: AuditSinkOptions, deps: { metrics: Metrics; logger: Logger; now?: () => number }) {
    this.#table = table;
    this.#buffer = buffer;
    this.#opts = opts;
    this.#metrics = deps.metrics;
    this.#logger = deps.logger.child({ component: 'audit' });
    this.#now = deps.now ?? Date.now;
  }

  async start(): Promise<void> {
    await this.#resyncNow();
    this.#metrics.auditPendingDecisions.set(this.#buffer.size);
    this.#started = true;
    this.#schedule(this.#opts.commitIntervalMs);
  }

  /** Stops the timer and commits what is buffered once (a failure leaves it buffered for the next start). */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    await this.#running;
    if (!this.#started) return;
    this.#started = false;
    try {
      await this.drain();
    } catch (err) {
      this.#logger.error({ err, pending: this.#buffer.size }, 'audit commit at shutdown failed; the decisions stay buffered for the next start');
    }
  }

  recording(traces: readonly DecidedTrace[]): void {
    this.#buffer.add(traces, this.#opts.replica);
    this.#metrics.auditPendingDecisions.inc(traces.length);
  }

  async decided(_decisions: readonly StoredDecision[]): Promise<void> {}

  async late(_rows: readonly LateRows[]): Promise<void> {}

  async released(_owns: (traceId: string) => boolean): Promise<void> {}

  /** Commits everything buffered now (tests and shutdown). */
  async drain(): Promise<void> {
    while ((await this.commitOnce()) > 0);
  }

  /** Commits one batch of buffered decisions; returns how many left the buffer (0: none was buffered). */
  async commitOnce(): Promise<number> {
    if (this.#resync) await this.#resyncNow();
    const batch = await this.#buffer.take(this.#opts.maxRowsPerCommit);
    if (batch === null) return 0;
    try {
      await this.#table.append(batch.columns, (parent) => this.#summaryFor(parent, batch));
    } catch (e) {
      this.#resync = true;
      if (e instanceof AuditAlreadyCommittedError) {
        this.#logger.warn({ err: e.message }, 'audit rows are in the table already (a commit whose buffer delete was lost); removing them from the buffer');
        await this.#resyncNow();
        return batch.columns.length;
      }
      this.#metrics.auditCommitFailures.inc();
      throw e;
    }
    this.#buffer.deleteThrough(batch.lastId);
    this.#metrics.auditCommittedDecisions.inc(batch.columns.length);
    this.#metrics.auditPendingDecisions.set(this.#buffer.size);
    return batch.columns.length;
  }

  /** Computed on the snapshot the commit lands on; refuses rows that snapshot says are in already. */
  #summaryFor(parent: SnapshotRef | null, batch: AuditBatch): Record<string, string> {
    const through = committedThrough(parent?.summary, this.#buffer.writerId);
    if (through !== null && through >= batch.firstId) {
      throw new AuditAlreadyCommittedError(`audit rows ${batch.firstId}..${through} of writer ${this.#buffer.writerId} are already in the table`);
    }
    return { ...auditSummary(parent, this.#buffer.writerId, batch.lastId, this.#now()), 'tailsampler.audit-rows': String(batch.columns.length) };
  }

  /** Drops from the buffer what the table's current snapshot says this writer committed. */
  async #resyncNow(): Promise<void> {
    const current = await this.#table.currentSnapshot();
    const through = committedThrough(current?.summary, this.#buffer.writerId);
    const removed = through === null ? 0 : this.#buffer.deleteThrough(through);
    if (removed > 0) this.#logger.info({ decisions: removed, through }, 'buffered audit rows found in the table (committed before a restart); removed from the buffer');
    this.#metrics.auditPendingDecisions.set(this.#buffer.size);
    this.#resync = false;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().finally(() => {
        this.#running = null;
      });
    }, delayMs);
  }

  async #tick(): Promise<void> {
    let more = false;
    try {
      // A full batch means more is waiting: keep going without waiting out the interval.
      more = (await this.commitOnce()) >= this.#opts.maxRowsPerCommit;
    } catch (err) {
      this.#logger.error({ err, pending: this.#buffer.size }, 'audit commit failed; the decisions stay buffered and the next interval retries');
    }
    await this.#expireDays();
    this.#schedule(more ? 0 : this.#opts.commitIntervalMs);
  }

  /** Retention on the audit table, as the materializer applies it to the span table; the audit keys are carried on. */
  async #expireDays(): Promise<void> {
    const now = this.#now();
    if (now - this.#retentionCheckedMs < RETENTION_CHECK_MS) return;
    this.#retentionCheckedMs = now;
    try {
      await this.#table.expireDays(now, (parent) => auditSummary(parent, this.#buffer.writerId, null, now));
    } catch (err) {
      this.#metrics.auditCommitFailures.inc();
      this.#logger.error({ err }, 'dropping audit day partitions past retention failed; the next check retries');
    }
  }
}
