import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TailsamplerError } from '../errors.ts';
import { readCheckpoint, writeCheckpoint, type SpilledSegment } from './checkpoint.ts';
import { TraceTable } from './trace-table.ts';

/** Fewer idle summaries than this stay in memory: a segment file costs a write, a read and a name. */
export const MIN_SPILL = 1 << 14;
/** Summaries a segment holds at most (~16 MiB of file). */
const MAX_SEGMENT = 1 << 18;

/** A spilled part of a trace that was decided while it was on disk (by its in-memory part's caps). */
export interface DecidedWhileSpilled {
  traceId: string;
  spans: number;
  firstSeq: number;
  lastSeq: number;
}

/**
 * The summaries of live traces that went idle long before they are due, moved out of memory into
 * segment files (each a checkpoint-format file of its own) and folded back in when due, so memory
 * holds the traces that are active or about to be decided, not every pending one (with an inactivity
 * wait of an hour, ~63 bytes × every trace of the last hour).
 *
 * There is no index of spilled traces: a span of a spilled trace that comes late starts a new
 * summary in memory, and the two are merged when the segment comes back. Its part in memory cannot
 * be ready before that: it was seen later, so it is due later. Only the span and byte caps could
 * decide it alone; such traces are noted, and when their spilled part comes back it follows the
 * decision as late spans would.
 */
export class SummarySpill {
  readonly #dir: string;
  readonly #idleMs: number;
  readonly #minSpill: number;
  #segments: SpilledSegment[] = [];
  /** Segment files folded back in but still named by the last checkpoint: removed after the next. */
  #reloaded: string[] = [];
  /** Traces decided by a cap while segments were on disk (rare; forgotten when none are). */
  readonly #capDecided = new Set<string>();

  /**
   * `idleMs`: a summary this long without a new span, and due no sooner than that, is spilled
   * (Infinity: none is), once at least `minSpill` are.
   */
  constructor(dir: string, idleMs: number, minSpill = MIN_SPILL) {
    this.#dir = dir;
    this.#idleMs = idleMs;
    this.#minSpill = minSpill;
  }

  /** Summaries on disk. */
  get count(): number {
    let n = 0;
    for (const s of this.#segments) n += s.count;
    return n;
  }

  /** What a checkpoint names. */
  get segments(): readonly SpilledSegment[] {
    return this.#segments;
  }

  /** The lowest first sequence number of a spilled trace (Infinity with none). */
  minFirstSeq(): number {
    let min = Infinity;
    for (const s of this.#segments) min = Math.min(min, s.minFirstSeq);
    return min;
  }

  /**
   * Takes up the segments a checkpoint named (none: start empty) and removes every other file in the
   * directory (spilled after that checkpoint, or folded back in before it).
   */
  async restore(segments: readonly SpilledSegment[]): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const named = new Set(segments.map((s) => s.file));
    for (const s of segments) {
      const size = await stat(join(this.#dir, s.file)).then(
        (st) => st.size,
        () => -1,
      );
      if (size < 0) {
        throw new TailsamplerError(
          'TS_EVALUATOR_CHECKPOINT_CORRUPT',
          `evaluator checkpoint names spilled summaries ${join(this.#dir, s.file)}, which is missing: restore the state directory whole, or delete it to start over`,
        );
      }
    }
    for (const f of await readdir(this.#dir)) if (!named.has(f)) await rm(join(this.#dir, f), { force: true });
    this.#segments = [...segments];
    this.#reloaded = [];
  }

  /**
   * Moves the summaries idle for `idleMs` and due more than `idleMs` from `now` (by `dueMs`) out of
   * `traces`, into segment files grouped by when they are due; returns how many. Nothing moves while
   * fewer than `minSpill` qualify.
   */
  async spill(traces: TraceTable, now: number, dueMs: (e: number) => number): Promise<number> {
    const idle = this.#idleMs;
    if (idle === Infinity || traces.size < this.#minSpill) return 0;
    const qualifies = (e: number): boolean => now - traces.lastSeenMs(e) >= idle && dueMs(e) - now > idle;
    let n = 0;
    for (let e = 0; e < traces.size; e++) if (qualifies(e)) n++;
    if (n < this.#minSpill) return 0;
    const entries = new Int32Array(n);
    const due = new Float64Array(n);
    for (let e = 0, i = 0; e < traces.size; e++) {
      if (!qualifies(e)) continue;
      entries[i] = e;
      due[i++] = dueMs(e);
    }
    // Grouped by due time in steps of `idleMs` (a counting sort: few groups), so a segment comes
    // back close to when its summaries are due.
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      lo = Math.min(lo, due[i]!);
      hi = Math.max(hi, due[i]!);
    }
    const groups = Math.floor((hi - lo) / idle) + 1;
    const starts = new Int32Array(groups + 1);
    for (let i = 0; i < n; i++) starts[Math.floor((due[i]! - lo) / idle) + 1]!++;
    for (let g = 0; g < groups; g++) starts[g + 1]! += starts[g]!;
    const fill = starts.slice(0, groups);
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[fill[Math.floor((due[i]! - lo) / idle)]!++] = i;
    await mkdir(this.#dir, { recursive: true });
    for (let g = 0; g < groups; g++) {
      for (let from = starts[g]!; from < starts[g + 1]!; from += MAX_SEGMENT) {
        const to = Math.min(starts[g + 1]!, from + MAX_SEGMENT);
        const segment = new TraceTable(to - from);
        let dueAt = Infinity;
        let minFirstSeq = Infinity;
        for (let k = from; k < to; k++) {
          const i = order[k]!;
          const s = segment.absorb(traces, entries[i]!);
          dueAt = Math.min(dueAt, due[i]!);
          minFirstSeq = Math.min(minFirstSeq, segment.firstSeq[s]!);
        }
        const file = `${randomUUID()}.summaries`;
        await writeCheckpoint(join(this.#dir, file), 0, segment);
        this.#segments.push({ file, count: to - from, dueMs: dueAt, minFirstSeq });
      }
    }
    // Deleting from the highest entry down: a delete moves the last entry, already gone or kept.
    const gone = entries.sort().reverse();
    for (const e of gone) traces.delete(e);
    return n;
  }

  /**
   * Folds the segments due by `now` (all of them with Infinity) back into `traces`, the summaries of
   * traces `owns` says yes to. The spilled part of a trace decided by a cap meanwhile goes to
   * `decided` instead, which says whether it took it (false: the decision is gone; folded back in).
   */
  async reload(traces: TraceTable, now: number, owns: (traceId: string) => boolean, decided: (part: DecidedWhileSpilled) => boolean): Promise<void> {
    const keep: SpilledSegment[] = [];
    for (const s of this.#segments) {
      if (s.dueMs > now) {
        keep.push(s);
        continue;
      }
      const path = join(this.#dir, s.file);
      const segment = (await readCheckpoint(path))?.traces;
      if (segment === undefined) throw new TailsamplerError('TS_EVALUATOR_CHECKPOINT_CORRUPT', `spilled summaries ${path} are missing`);
      for (let e = 0; e < segment.size; e++) {
        const id = segment.traceId(e);
        if (!owns(id)) continue;
        const part = this.#capDecided.has(id) ? { traceId: id, spans: segment.spanCount[e]!, firstSeq: segment.firstSeq[e]!, lastSeq: segment.lastSeq[e]! } : null;
        if (part === null || !decided(part)) traces.absorb(segment, e);
      }
      this.#reloaded.push(s.file);
    }
    this.#segments = keep;
    if (keep.length === 0) this.#capDecided.clear();
  }

  /** A trace was decided by a span or byte cap: if part of it is on disk, that part follows the decision. */
  decidedByCap(traceId: string): void {
    if (this.#segments.length > 0) this.#capDecided.add(traceId);
  }

  /** Removes the files folded back in; call once a checkpoint no longer names them (or none is kept). */
  async prune(): Promise<void> {
    const files = this.#reloaded;
    this.#reloaded = [];
    for (const f of files) await rm(join(this.#dir, f), { force: true });
  }
}
