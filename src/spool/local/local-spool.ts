import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import type { SpoolConfig } from '../../config/schema.ts';
import { PipelineBusyError } from '../../errors.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import type { Spool, SpoolPosition, SpoolRecord } from '../spool.ts';
import { acquireDirLock } from './dir-lock.ts';
import {
  SpoolClosedError,
  SpoolPositionError,
  SpoolRecordTooLargeError,
  SpoolWriteError,
} from './errors.ts';
import { FRAME_HEADER_SIZE, MAX_RECORD_BYTES, SEGMENT_HEADER_SIZE, frameHeader } from './frame.ts';
import { fsyncDir, writeFully } from './io.ts';
import { comparePositions, formatPosition, parsePosition, type LocalPosition } from './position.ts';
import { createSegment, recoverSegments, type Segment } from './recover.ts';
import { readSegment } from './segment-reader.ts';

const MIB = 1024 * 1024;
/** Bytes accepted but not yet written; beyond this appends are refused so memory stays flat. */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * MIB;
/** Past this much queued, a batch is written at once instead of waiting out fsync_interval_ms. */
const EAGER_FLUSH_BYTES = 8 * MIB;
/** Suggested retry delay when the materializer is behind (it commits every few seconds). */
const BUSY_PENDING_RETRY_MS = 5_000;
/** Suggested retry delay when only the write queue is full (it drains within a few fsyncs). */
const BUSY_QUEUE_RETRY_MS = 1_000;

export interface LocalSpoolDeps {
  metrics: Metrics;
  logger: Logger;
  /** Makes written data durable; tests inject one to count or fail syncs. Default: fdatasync. */
  syncData?: (fh: FileHandle) => Promise<void>;
  /** Overrides DEFAULT_MAX_QUEUED_BYTES (tests). */
  maxQueuedBytes?: number;
}

interface PendingAppend {
  payloads: readonly Uint8Array[];
  bytes: number;
  /** When the append came in, ms since epoch. */
  atMs: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

type State = 'new' | 'running' | 'stopping' | 'stopped';

/**
 * A durable append-only log in a directory of segment files (format in frame.ts, positions in
 * position.ts). Appends are group-committed: every append waiting when a batch starts is written with
 * one write and one fdatasync, and only then resolved. Only fsynced bytes are ever read.
 */
export class LocalSpool implements Spool {
  readonly #dir: string;
  readonly #segmentLimit: number;
  readonly #fsyncIntervalMs: number;
  readonly #maxPendingBytes: number;
  readonly #maxQueuedBytes: number;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #syncData: (fh: FileHandle) => Promise<void>;

  #state: State = 'new';
  #segments: Segment[] = [];
  #active: { seg: Segment; fh: FileHandle } | null = null;
  #released: LocalPosition | null = null;
  #unlock: (() => Promise<void>) | null = null;
  #queue: PendingAppend[] = [];
  #queuedBytes = 0;
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> | null = null;
  /** A write or sync failed: bytes past the durable size may be on disk and must be cut first. */
  #needsRepair = false;
  #syncCount = 0;
  /**
   * When the records this process appended came in: the position just past each append's last frame
   * and its time, in position order, dropped once released. Records from before a restart have none.
   */
  readonly #receipts = new ReceiptLog();

  constructor(config: SpoolConfig['local'], deps: LocalSpoolDeps) {
    this.#dir = config.dir;
    this.#segmentLimit = Math.max(SEGMENT_HEADER_SIZE + 1, Math.floor(config.segment_size_mib * MIB));
    this.#fsyncIntervalMs = config.fsync_interval_ms;
    this.#maxPendingBytes = config.max_pending_mib * MIB;
    this.#maxQueuedBytes = deps.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.#metrics = deps.metrics;
    this.#logger = deps.logger.child({ component: 'spool', dir: config.dir });
    this.#syncData = deps.syncData ?? ((fh) => fh.datasync());
  }

  /** Number of data syncs issued so far (observability and tests: shows appends sharing fsyncs). */
  get syncCount(): number {
    return this.#syncCount;
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new SpoolClosedError('start twice');
    await mkdir(this.#dir, { recursive: true });
    this.#unlock = await acquireDirLock(this.#dir);
    try {
      await this.#recover();
    } catch (e) {
      await this.#unlock();
      this.#unlock = null;
      throw e;
    }
    this.#state = 'running';
    this.#updateGauge();
  }

  append(payloads: readonly Uint8Array[]): Promise<void> {
    if (this.#state !== 'running') return Promise.reject(new SpoolClosedError('append'));
    if (payloads.length === 0) return Promise.resolve();
    let bytes = 0;
    for (const p of payloads) {
      if (p.length > MAX_RECORD_BYTES) return Promise.reject(new SpoolRecordTooLargeError(p.length, MAX_RECORD_BYTES));
      bytes += FRAME_HEADER_SIZE + p.length;
    }
    const pending = this.pendingBytes();
    if (pending > this.#maxPendingBytes) {
      return Promise.reject(
        new PipelineBusyError(`spool holds ${pending} bytes not yet in the table`, BUSY_PENDING_RETRY_MS),
      );
    }
    // An empty queue always takes one request, so a single large request cannot be refused forever.
    if (this.#queuedBytes > 0 && this.#queuedBytes + bytes > this.#maxQueuedBytes) {
      return Promise.reject(
        new PipelineBusyError(`spool write queue is full (${this.#queuedBytes} bytes)`, BUSY_QUEUE_RETRY_MS),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ payloads, bytes, atMs: Date.now(), resolve, reject });
      this.#queuedBytes += bytes;
      this.#schedule();
    });
  }

  async read(from: SpoolPosition | null, maxBytes: number): Promise<SpoolRecord[]> {
    if (this.#state === 'new' || this.#state === 'stopped') throw new SpoolClosedError('read');
    // A snapshot: release() may drop leading segments and the writer may add new ones meanwhile.
    const segs = this.#segments.slice();
    if (segs.length === 0) return [];
    const first = segs[0]!;
    const last = segs[segs.length - 1]!;
    let index = 0;
    let offset = SEGMENT_HEADER_SIZE;
    if (from !== null) {
      const p = parsePosition(from);
      if (p.segment > last.num || (p.segment >= first.num && p.offset > segs[p.segment - first.num]!.size)) {
        throw new SpoolPositionError(
          `position ${from} is beyond the end of the spool in ${this.#dir} ` +
            `(durable end ${formatPosition({ segment: last.num, offset: last.size })}); ` +
            'the spool directory does not belong to this table',
        );
      }
      // Before the oldest retained segment: everything up to it was released, start at the oldest.
      if (p.segment >= first.num) {
        index = p.segment - first.num;
        offset = Math.max(p.offset, SEGMENT_HEADER_SIZE);
      }
    }

    const out: SpoolRecord[] = [];
    let bytes = 0;
    for (let i = index; i < segs.length; i++) {
      const seg = segs[i]!;
      const start = i === index ? offset : SEGMENT_HEADER_SIZE;
      const end = seg.size; // read live: the active segment may have grown
      if (start >= end) continue;
      const r = await readSegment(seg.path, start, end, maxBytes - bytes, out.length === 0);
      for (const f of r.frames) {
        const receivedMs = this.#receipts.at(seg.num, f.end);
        out.push({ next: formatPosition({ segment: seg.num, offset: f.end }), payload: f.payload, ...(receivedMs !== undefined ? { receivedMs } : {}) });
      }
      bytes += r.payloadBytes;
      if (r.budgetReached) break;
    }
    return out;
  }

  /** The directory lock makes this process the spool's only reader, so the table holds no one else's records. */
  commitPosition(_committed: SpoolPosition | null, _from: SpoolPosition | null, to: SpoolPosition): SpoolPosition {
    return to;
  }

  async release(upTo: SpoolPosition): Promise<void> {
    if (this.#state === 'new' || this.#state === 'stopped') throw new SpoolClosedError('release');
    const p = parsePosition(upTo);
    const last = this.#segments[this.#segments.length - 1]!;
    if (comparePositions(p, { segment: last.num, offset: last.size }) > 0) {
      throw new SpoolPositionError(`cannot release ${upTo}: beyond the durable end of the spool`);
    }
    if (this.#released !== null && comparePositions(p, this.#released) <= 0) return;
    this.#released = p;
    this.#receipts.dropThrough(p.segment, p.offset);

    const doomed: Segment[] = [];
    while (this.#segments.length > 1) {
      const seg = this.#segments[0]!;
      if (seg === this.#active?.seg) break;
      const whollyBefore = seg.num < p.segment || (seg.num === p.segment && p.offset >= seg.size);
      if (!whollyBefore) break;
      doomed.push(this.#segments.shift()!);
    }
    this.#updateGauge();
    if (doomed.length === 0) return;
    for (const seg of doomed) {
      await unlink(seg.path).catch((e: NodeJS.ErrnoException) => {
        // A leftover file is harmless: it is rescanned at restart and read past by position.
        if (e.code !== 'ENOENT') this.#logger.warn({ err: e, file: seg.path }, 'could not delete released segment');
      });
    }
    await fsyncDir(this.#dir).catch(() => undefined);
  }

  pendingBytes(): number {
    const rel = this.#released;
    let total = 0;
    for (const seg of this.#segments) {
      if (rel !== null && seg.num < rel.segment) continue;
      const from = rel !== null && seg.num === rel.segment ? Math.max(rel.offset, SEGMENT_HEADER_SIZE) : SEGMENT_HEADER_SIZE;
      total += Math.max(0, seg.size - from);
    }
    return total;
  }

  async shutdown(): Promise<void> {
    if (this.#state === 'new' || this.#state === 'stopped') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#flushing === null && this.#queue.length > 0) this.#startFlush();
    while (this.#flushing !== null) await this.#flushing;
    await this.#active?.fh.close().catch(() => undefined);
    this.#active = null;
    await this.#unlock?.();
    this.#unlock = null;
    this.#state = 'stopped';
  }

  // --- startup -----------------------------------------------------------------------------------

  async #recover(): Promise<void> {
    const segments = await recoverSegments(this.#dir, this.#logger);
    if (segments.length === 0) {
      const created = await createSegment(this.#dir, 0);
      this.#segments = [created.seg];
      this.#active = created;
      return;
    }
    this.#segments = segments;
    const last = segments[segments.length - 1]!;
    this.#active = { seg: last, fh: await open(last.path, 'r+') };
    // Records already in the active segment came before this process: their time is unknown.
    this.#receipts.add(last.num, last.size, Number.NaN);
  }

  // --- group commit ------------------------------------------------------------------------------

  #schedule(): void {
    if (this.#flushing !== null) return; // the running flush loop takes whatever is queued next
    if (this.#queuedBytes >= EAGER_FLUSH_BYTES) {
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
      this.#startFlush();
      return;
    }
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#startFlush();
    }, this.#fsyncIntervalMs);
  }

  #startFlush(): void {
    this.#flushing = this.#flushLoop().finally(() => {
      this.#flushing = null;
      if (this.#queue.length > 0) this.#schedule();
    });
  }

  async #flushLoop(): Promise<void> {
    // Appends arriving during a write have already waited about one fsync: write them right after.
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      await this.#writeBatch(batch);
    }
  }

  async #writeBatch(batch: PendingAppend[]): Promise<void> {
    let batchBytes = 0;
    for (const item of batch) batchBytes += item.bytes;
    try {
      const active = this.#active;
      if (active === null) throw new SpoolClosedError('write');
      if (this.#needsRepair) {
        await active.fh.truncate(active.seg.size);
        await this.#sync(active.fh);
        this.#needsRepair = false;
      }
      let bufs: Buffer[] = [];
      let chunk = 0;
      /** Receipts of the appends in this chunk: offset just past their last frame so far, and time. */
      let receipts: { end: number; atMs: number }[] = [];
      for (const item of batch) {
        for (const p of item.payloads) {
          const frame = FRAME_HEADER_SIZE + p.length;
          const used = this.#active!.seg.size + chunk;
          if (used + frame > this.#segmentLimit && used > SEGMENT_HEADER_SIZE) {
            if (chunk > 0) await this.#writeChunk(bufs, chunk, receipts);
            bufs = [];
            chunk = 0;
            receipts = [];
            await this.#roll();
          }
          bufs.push(frameHeader(p), Buffer.from(p.buffer, p.byteOffset, p.length));
          chunk += frame;
          const end = this.#active!.seg.size + chunk;
          const last = receipts[receipts.length - 1];
          if (last !== undefined && last.atMs === item.atMs) last.end = end;
          else receipts.push({ end, atMs: item.atMs });
        }
      }
      if (chunk > 0) await this.#writeChunk(bufs, chunk, receipts);
    } catch (e) {
      this.#needsRepair = true;
      this.#logger.error({ err: e, appends: batch.length, bytes: batchBytes }, 'spool write failed; appends rejected');
      const err = e instanceof SpoolClosedError ? e : new SpoolWriteError(`spool write failed: ${String(e)}`, e);
      for (const item of batch) item.reject(err);
      return;
    } finally {
      this.#queuedBytes -= batchBytes;
      this.#updateGauge();
    }
    for (const item of batch) item.resolve();
  }

  async #writeChunk(bufs: Buffer[], bytes: number, receipts: readonly { end: number; atMs: number }[]): Promise<void> {
    const active = this.#active!;
    await writeFully(active.fh, bufs, active.seg.size);
    await this.#sync(active.fh);
    // Only now do readers and pendingBytes() see these bytes.
    active.seg.size += bytes;
    for (const r of receipts) this.#receipts.add(active.seg.num, r.end, r.atMs);
  }

  async #roll(): Promise<void> {
    const old = this.#active!;
    const next = await createSegment(this.#dir, old.seg.num + 1);
    this.#active = next;
    this.#segments.push(next.seg);
    await old.fh.close().catch(() => undefined);
  }

  async #sync(fh: FileHandle): Promise<void> {
    this.#syncCount++;
    await this.#syncData(fh);
  }

  #updateGauge(): void {
    this.#metrics.spoolPendingBytes.set(this.pendingBytes());
  }
}

/**
 * Append times by spool position, in memory: a record's time is that of the first entry at or past
 * its end (entries mark the end of each append's frames). One entry per append, not per span.
 */
class ReceiptLog {
  readonly #segment: number[] = [];
  readonly #end: number[] = [];
  readonly #atMs: number[] = [];
  #head = 0;

  add(segment: number, end: number, atMs: number): void {
    this.#segment.push(segment);
    this.#end.push(end);
    this.#atMs.push(atMs);
  }

  /** The time of the append holding the record that ends at (segment, end); undefined when unknown. */
  at(segment: number, end: number): number | undefined {
    let lo = this.#head;
    let hi = this.#end.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.#segment[mid]!;
      if (s < segment || (s === segment && this.#end[mid]! < end)) lo = mid + 1;
      else hi = mid;
    }
    const atMs = lo < this.#end.length && this.#segment[lo] === segment ? this.#atMs[lo]! : Number.NaN;
    return Number.isNaN(atMs) ? undefined : atMs;
  }

  /** Forgets entries at or before (segment, offset). */
  dropThrough(segment: number, offset: number): void {
    while (this.#head < this.#end.length) {
      const s = this.#segment[this.#head]!;
      if (s > segment || (s === segment && this.#end[this.#head]! > offset)) break;
      this.#head++;
    }
    // Compact now and then so the arrays do not grow without bound.
    if (this.#head > 1024 && this.#head * 2 > this.#end.length) {
      this.#segment.splice(0, this.#head);
      this.#end.splice(0, this.#head);
      this.#atMs.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
