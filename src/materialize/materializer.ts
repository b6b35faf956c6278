import type { Component } from '../component.ts';
import type { WriteSpanColumns } from '../lake/span-schema.ts';
import type { SpanTable } from '../lake/table.ts';
import { CorruptPayloadError } from '../otlp/errors.ts';
import { SpoolPositionConflictError, type Spool, type SpoolPosition } from '../spool/spool.ts';
import { PayloadParts } from './payload-parts.ts';
import { EncodeThread } from './encode-thread.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Logger } from '../telemetry/logger.ts';

/** Snapshot summary key holding the spool position a commit reached: the table is the source of truth. */
export const SPOOL_POSITION_KEY = 'tailsampler.spool-position';

/** How often the materializer asks the table to drop day partitions past retention. */
const RETENTION_CHECK_MS = 5 * 60_000;

export interface MaterializerOptions {
  commitIntervalMs: number;
  /** Payload bytes read from the spool into one commit at most; more waiting → commit again at once. */
  maxCommitBytes: number;
  /** Decode and encode commits on a worker thread (encode-thread.ts) rather than the event loop (default false). */
  encodeThread?: boolean;
}

/**
 * Told of the spans of every commit once it has succeeded, a part (a partition's spans) at a time, so
 * it sees each span exactly once across replicas and restarts (spans whose commit lost to another
 * replica's, or failed, are not shown; they are shown when re-read and committed). Called
 * synchronously on the commit path: keep it cheap, and it must not throw (a throw is logged and
 * ignored — the commit stands).
 */
export interface CommittedBatchObserver {
  readonly id: string;
  committed(batch: WriteSpanColumns): void;
}

/**
 * Moves spans from the spool into the Iceberg table. Every commit records in its snapshot summary the
 * spool position it covers; on start the position is taken back from the table, so a crash between
 * the table commit and the spool release neither loses nor duplicates rows.
 */
export class Materializer implements Component {
  private readonly spool: Spool;
  private readonly table: SpanTable;
  private readonly opts: MaterializerOptions;
  private readonly metrics: Metrics;
  private readonly logger: Logger;
  private position: SpoolPosition | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private started = false;
  /** A commit failed: its outcome may be unknown, so take the position back from the table first. */
  private resync = false;
  private retentionCheckedMs = -Infinity;

  private readonly thread: EncodeThread | null;
  private readonly observers: readonly CommittedBatchObserver[];
  private readonly landed: () => void;

  /**
   * `observers` are shown the spans of each commit; `landed` is told that a commit landed, and needs
   * no spans (the parts of a commit are kept decoded until it lands only when some observer is there).
   */
  constructor(
    spool: Spool,
    table: SpanTable,
    opts: MaterializerOptions,
    deps: { metrics: Metrics; logger: Logger; observers?: readonly CommittedBatchObserver[]; landed?: () => void },
  ) {
    this.observers = deps.observers ?? [];
    this.landed = deps.landed ?? ((): void => undefined);
    this.spool = spool;
    this.table = table;
    this.opts = opts;
    this.thread = opts.encodeThread === true ? new EncodeThread() : null;
    this.metrics = deps.metrics;
    this.logger = deps.logger;
  }

  async start(): Promise<void> {
    await this.resume();
    this.logger.info({ position: this.position, pendingBytes: this.spool.pendingBytes() }, 'materializer resumed');
    this.started = true;
    this.schedule(0);
  }

  /** Whether the table has caught up with the spool position it started from. */
  get ready(): boolean {
    return this.started;
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.running;
    // Commit what the receivers acknowledged before they stopped, so a clean stop leaves the spool empty.
    if (this.started) await this.drain();
    await this.thread?.close();
  }

  /** Commits everything in the spool now (tests and shutdown). */
  async drain(): Promise<void> {
    while (await this.commitOnce());
  }

  /** Takes the spool position from the table's current snapshot: what is committed is the truth. */
  private async resume(): Promise<void> {
    const snapshot = await this.table.currentSnapshot();
    this.position = snapshot?.summary[SPOOL_POSITION_KEY] ?? null;
    if (this.position !== null) await this.spool.release(this.position);
    this.resync = false;
  }

  /** Reads one batch from the spool and commits it; false when there was nothing to do. */
  async commitOnce(): Promise<boolean> {
    if (this.resync) await this.resume();
    const from = this.position;
    const read = await this.readBatch(from);
    if (read === null) return false;
    const { spans, ends, end } = read;
    let next = ends[ends.length - 1]!;
    while (spans.length > 0) {
      try {
        // Computed on the snapshot the commit lands on: other replicas may have committed meanwhile.
        const committed = await this.table.append(spans, (parent) => ({
          [SPOOL_POSITION_KEY]: this.spool.commitPosition(parent?.summary[SPOOL_POSITION_KEY] ?? null, from, next),
          'tailsampler.spool-records': String(ends.length),
        }));
        next = committed.summary[SPOOL_POSITION_KEY]!;
        break;
      } catch (e) {
        // A record whose spans do not decode is found only as its partition is written: the append
        // fails whole (its files are deleted), and goes again without that record.
        if (e instanceof CorruptPayloadError && e.payload !== undefined) {
          this.rejected(ends, e.payload, e);
          spans.exclude(e.payload);
          continue;
        }
        this.resync = true;
        if (e instanceof SpoolPositionConflictError) {
          this.metrics.materializerConflicts.inc();
          this.logger.info({ err: e.message }, 'another replica committed part of this batch first; re-reading from the table position');
          return true;
        }
        throw e;
      }
    }
    this.notify(spans);
    if (spans.length > 0) this.landed();
    this.position = next;
    await this.spool.release(next);
    end();
    this.metrics.committedSpans.inc(spans.length);
    return true;
  }

  /**
   * The next records from `from`: their spans, indexed by partition to be decoded as the table writes
   * them, the position past each record, and the commit timer (started before indexing); null when
   * the spool has nothing. The records themselves are not kept: once the table has written the
   * spans, the payloads (slices of the spool's 1 MiB read chunks, up to max_commit_mib of them) can
   * go while the commit goes on.
   */
  private async readBatch(from: SpoolPosition | null): Promise<{ spans: PayloadParts; ends: SpoolPosition[]; end: () => number } | null> {
    const records = await this.spool.read(from, this.opts.maxCommitBytes);
    if (records.length === 0) return null;
    const readMs = Date.now();
    const end = this.metrics.commitDuration.startTimer();
    const ends = records.map((r) => r.next);
    const spans = new PayloadParts(
      records.map((r) => r.payload),
      records.map((r) => r.kafka),
      // When each record reached the service (decision lag is measured from it); the Kafka record
      // timestamp stands in for records the spool has no time for, the time of this read last.
      records.map((r) => r.receivedMs ?? (r.kafka !== undefined ? Number(r.kafka.timestamp) : readMs)),
      (i, err) => this.rejected(ends, i, err),
      // Observers are shown each part after the commit: keep them decoded rather than decode twice.
      this.observers.length > 0,
      this.thread,
    );
    return { spans, ends, end };
  }

  /** Someone else's bytes in a Kafka topic (another encoding, say) must not stop the table for good. */
  private rejected(ends: readonly SpoolPosition[], i: number, err: CorruptPayloadError): void {
    this.metrics.rejectedRecords.inc();
    this.logger.error(
      { err, endsAt: ends[i] },
      'spool record is not a valid OTLP ExportTraceServiceRequest (malformed protobuf, or a string that is not UTF-8); left out of the table, never rewritten (it stays in the spool until its retention)',
    );
  }

  private notify(spans: PayloadParts): void {
    for (const o of this.observers) {
      for (let i = 0; i < spans.parts; i++) {
        const part = spans.part(i);
        try {
          o.committed(part);
        } catch (err) {
          this.logger.error({ err, observer: o.id, spans: part.length }, 'committed-batch observer failed; the commit stands');
        }
      }
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = null;
      });
    }, delayMs);
  }

  private async tick(): Promise<void> {
    const startedMs = Date.now();
    // Nothing to commit, or a failure: a whole interval before trying again.
    let delayMs = this.opts.commitIntervalMs;
    try {
      if (await this.commitOnce()) {
        // A full batch waiting: go on at once. Otherwise the interval counts from this commit's
        // start, not its end: waiting it out after the commit as well held the rate to a full batch
        // per interval + commit duration, and left the spool a batch or two behind well below that.
        const full = this.spool.pendingBytes() >= this.opts.maxCommitBytes;
        delayMs = full ? 0 : Math.max(0, startedMs + this.opts.commitIntervalMs - Date.now());
      }
    } catch (err) {
      this.logger.error({ err }, 'materializer commit failed; the spool keeps the spans and the next interval retries');
    }
    await this.expireDays();
    this.schedule(delayMs);
  }

  /** Table upkeep by the process that appends: a `delete` snapshot for day partitions past retention. */
  private async expireDays(): Promise<void> {
    const now = Date.now();
    if (now - this.retentionCheckedMs < RETENTION_CHECK_MS) return;
    this.retentionCheckedMs = now;
    try {
      // The delete snapshot moves no spool position: it carries its parent's on.
      await this.table.expireDays(now, (parent): Record<string, string> => {
        const position = parent?.summary[SPOOL_POSITION_KEY];
        return position === undefined ? {} : { [SPOOL_POSITION_KEY]: position };
      });
    } catch (err) {
      this.logger.error({ err }, 'dropping day partitions past retention failed; the next check retries');
    }
  }
}
