import { TailsamplerError } from '../errors.ts';

/**
 * Per-trace summaries of live (undecided) traces: no object per trace and nothing per span.
 *
 * Entries are dense (0..size-1) in parallel typed arrays, each on a resizable ArrayBuffer that grows
 * and shrinks in place, so memory follows the number of live traces (63 bytes each) without the
 * doubling-and-copy spikes of reallocated arrays. A separate open-addressing index (linear probing,
 * backward-shift deletion, at most 3/4 full) maps a trace id to its entry for 4 bytes a slot.
 * Deleting moves the last entry into the hole, so an entry number is only valid until the next delete.
 *
 * Narrow encodings: `bytes` saturates at 2^32-1 and `errorCount` at 2^16-1; `firstSeen`/`lastSeen`
 * are ms after the table's `baseMs` (see `rebase`). Start and end times stay exact nanoseconds.
 */
/** 32-bit words per trace id. */
export const KEY_WORDS = 4;
export const FLAG_ROOT = 2;
const USED = 1;

/** The arrays, by name, with their element type and elements per entry (the checkpoint's layout). */
export const TRACE_FIELDS = {
  keys: [Uint32Array, KEY_WORDS],
  state: [Uint8Array, 1],
  spanCount: [Uint32Array, 1],
  /** Spans with status ERROR, saturating at 2^16-1. */
  errorCount: [Uint16Array, 1],
  /** Sum of span sizes, saturating at 2^32-1. */
  bytes: [Uint32Array, 1],
  minStart: [BigInt64Array, 1],
  maxEnd: [BigInt64Array, 1],
  /** When the evaluator first and last read a span of the trace: ms after `baseMs`. */
  firstSeen: [Uint32Array, 1],
  lastSeen: [Uint32Array, 1],
  /** lastSeenMs minus when the trace's last span reached the service (ms, saturating). */
  receiptLagMs: [Uint32Array, 1],
  firstSeq: [Uint32Array, 1],
  lastSeq: [Uint32Array, 1],
} as const;
export type TraceField = keyof typeof TRACE_FIELDS;
export const TRACE_FIELD_NAMES = Object.keys(TRACE_FIELDS) as TraceField[];

export type TraceArrays = {
  [K in TraceField]: InstanceType<(typeof TRACE_FIELDS)[K][0]>;
};

/** Bytes per entry across all arrays. */
export const ENTRY_BYTES = TRACE_FIELD_NAMES.reduce((n, f) => n + TRACE_FIELDS[f][0].BYTES_PER_ELEMENT * TRACE_FIELDS[f][1], 0);

/** Live traces one table holds at most (address space is reserved for this many, memory is not). */
export const MAX_TRACES = 1 << 26;
/**
 * Entries added at a time when the arrays grow (in place, so a small step costs no copying; a step
 * proportional to the size held up to 1/8 more than the live traces, ~18 MiB at 2.5M), and kept spare
 * when they shrink.
 */
const STEP = 1 << 14;
/** Largest value of the saturating 32-bit fields (bytes, seen-time offsets, receipt lag). */
export const U32_MAX = 0xffff_ffff;
const U16_MAX = 0xffff;
/** A new time base puts the time that needed it in the middle of the 49.7-day range of offsets. */
const HALF_RANGE_MS = 2 ** 31;

function hexWord(hex: string, i: number): number {
  return Number.parseInt(hex.slice(i * 8, i * 8 + 8), 16) >>> 0;
}

function wordHex(w: number): string {
  return w.toString(16).padStart(8, '0');
}

function mix(w0: number, w1: number, w2: number, w3: number): number {
  // Trace ids are random; fold the words and mix so sequential test ids spread too.
  let h = (w0 ^ w1 ^ w2 ^ w3) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return h ^ (h >>> 16);
}

export class TraceTable {
  private count = 0;
  /** Entries the arrays have room for. */
  private capacity = 0;
  /** Slot → entry + 1 (0: empty). Length a power of two, at most 3/4 full. */
  private index: Int32Array;
  private mask: number;
  private readonly buffers = {} as Record<TraceField, ArrayBuffer>;
  keys!: Uint32Array;
  state!: Uint8Array;
  spanCount!: Uint32Array;
  errorCount!: Uint16Array;
  bytes!: Uint32Array;
  minStart!: BigInt64Array;
  maxEnd!: BigInt64Array;
  firstSeen!: Uint32Array;
  lastSeen!: Uint32Array;
  /** ms since epoch that `firstSeen`/`lastSeen` count from (NaN until the first fold or restore). */
  baseMs = Number.NaN;
  receiptLagMs!: Uint32Array;
  firstSeq!: Uint32Array;
  lastSeq!: Uint32Array;

  constructor(initialCapacity = STEP) {
    for (const f of TRACE_FIELD_NAMES) {
      const [ctor, width] = TRACE_FIELDS[f];
      this.buffers[f] = new ArrayBuffer(0, { maxByteLength: MAX_TRACES * width * ctor.BYTES_PER_ELEMENT });
    }
    this.reserve(initialCapacity);
    this.index = new Int32Array(indexSlotsFor(initialCapacity));
    this.mask = this.index.length - 1;
  }

  /** Live traces; entries are 0..size-1. */
  get size(): number {
    return this.count;
  }

  hasRoot(e: number): boolean {
    return (this.state[e]! & FLAG_ROOT) !== 0;
  }

  traceId(e: number): string {
    const o = e * KEY_WORDS;
    return wordHex(this.keys[o]!) + wordHex(this.keys[o + 1]!) + wordHex(this.keys[o + 2]!) + wordHex(this.keys[o + 3]!);
  }

  /** When the evaluator first read a span of the trace, ms since epoch. */
  firstSeenMs(e: number): number {
    return this.baseMs + this.firstSeen[e]!;
  }

  /** When the evaluator last read a span of the trace, ms since epoch. */
  lastSeenMs(e: number): number {
    return this.baseMs + this.lastSeen[e]!;
  }

  /** When the trace's last span reached the service, ms since epoch (as well as the table knows). */
  lastReceivedMs(e: number): number {
    return this.lastSeenMs(e) - this.receiptLagMs[e]!;
  }

  /** Entry of the trace, or -1. */
  find(traceIdHex: string): number {
    return this.locate(hexWord(traceIdHex, 0), hexWord(traceIdHex, 1), hexWord(traceIdHex, 2), hexWord(traceIdHex, 3));
  }

  /**
   * Adds spans of one trace (`spans` of them, `errors` with status ERROR, the root among them if
   * `hasRoot`, starting no earlier than `startNs` and ending no later than `endNs`, `bytes` in all)
   * to its summary, creating the trace if new; returns the entry. `seenMs` is when the evaluator read
   * them, `receivedMs` when the last reached the service (`seenMs` when unknown). Positional
   * arguments on purpose: this runs once per trace and file and must not allocate.
   */
  fold(traceIdHex: string, spans: number, errors: number, hasRoot: boolean, startNs: bigint, endNs: bigint, bytes: number, seenMs: number, receivedMs: number, seq: number): number {
    const w0 = hexWord(traceIdHex, 0), w1 = hexWord(traceIdHex, 1), w2 = hexWord(traceIdHex, 2), w3 = hexWord(traceIdHex, 3);
    let e = this.locate(w0, w1, w2, w3);
    const seen = this.offsetOf(seenMs);
    if (e < 0) {
      e = this.append(w0, w1, w2, w3);
      this.spanCount[e] = 0;
      this.errorCount[e] = 0;
      this.bytes[e] = 0;
      this.minStart[e] = startNs;
      this.maxEnd[e] = endNs;
      this.firstSeen[e] = seen;
      this.lastSeen[e] = seen;
      this.receiptLagMs[e] = Math.min(U32_MAX, Math.max(0, seenMs - receivedMs));
      this.firstSeq[e] = seq;
      this.lastSeq[e] = seq;
    }
    const lastReceived = Math.max(this.lastReceivedMs(e), receivedMs);
    this.spanCount[e]! += spans;
    if (errors > 0) this.errorCount[e] = Math.min(U16_MAX, this.errorCount[e]! + errors);
    if (hasRoot) this.state[e]! |= FLAG_ROOT;
    this.bytes[e] = Math.min(U32_MAX, this.bytes[e]! + bytes);
    if (startNs < this.minStart[e]!) this.minStart[e] = startNs;
    if (endNs > this.maxEnd[e]!) this.maxEnd[e] = endNs;
    if (seen > this.lastSeen[e]!) this.lastSeen[e] = seen;
    if (seen < this.firstSeen[e]!) this.firstSeen[e] = seen;
    this.receiptLagMs[e] = Math.min(U32_MAX, Math.max(0, this.lastSeenMs(e) - lastReceived));
    if (seq > this.lastSeq[e]!) this.lastSeq[e] = seq;
    if (seq < this.firstSeq[e]!) this.firstSeq[e] = seq;
    return e;
  }

  /**
   * Adds entry `e` of `src` (another table, with its own time base) as if its spans had been folded
   * in here: a new entry, or merged into this table's entry of the same trace. Returns the entry.
   */
  absorb(src: TraceTable, e: number): number {
    const o = e * KEY_WORDS;
    const w0 = src.keys[o]!, w1 = src.keys[o + 1]!, w2 = src.keys[o + 2]!, w3 = src.keys[o + 3]!;
    const firstSeenMs = src.firstSeenMs(e);
    const lastSeenMs = src.lastSeenMs(e);
    const lastReceived = src.lastReceivedMs(e);
    let d = this.locate(w0, w1, w2, w3);
    if (d < 0) {
      d = this.append(w0, w1, w2, w3);
      this.state[d] = src.state[e]!;
      this.spanCount[d] = src.spanCount[e]!;
      this.errorCount[d] = src.errorCount[e]!;
      this.bytes[d] = src.bytes[e]!;
      this.minStart[d] = src.minStart[e]!;
      this.maxEnd[d] = src.maxEnd[e]!;
      this.lastSeen[d] = this.offsetOf(lastSeenMs);
      this.firstSeen[d] = this.offsetOf(firstSeenMs);
      this.receiptLagMs[d] = src.receiptLagMs[e]!;
      this.firstSeq[d] = src.firstSeq[e]!;
      this.lastSeq[d] = src.lastSeq[e]!;
      return d;
    }
    const received = Math.max(this.lastReceivedMs(d), lastReceived);
    // Offsets first: taking one may move the time base, and with it this entry's seen times.
    const last = this.offsetOf(lastSeenMs);
    const first = this.offsetOf(firstSeenMs);
    this.state[d]! |= src.state[e]!;
    this.spanCount[d]! += src.spanCount[e]!;
    this.errorCount[d] = Math.min(U16_MAX, this.errorCount[d]! + src.errorCount[e]!);
    this.bytes[d] = Math.min(U32_MAX, this.bytes[d]! + src.bytes[e]!);
    if (src.minStart[e]! < this.minStart[d]!) this.minStart[d] = src.minStart[e]!;
    if (src.maxEnd[e]! > this.maxEnd[d]!) this.maxEnd[d] = src.maxEnd[e]!;
    this.lastSeen[d] = Math.max(this.lastSeen[d]!, last);
    this.firstSeen[d] = Math.min(this.firstSeen[d]!, first);
    this.receiptLagMs[d] = Math.min(U32_MAX, Math.max(0, this.lastSeenMs(d) - received));
    this.firstSeq[d] = Math.min(this.firstSeq[d]!, src.firstSeq[e]!);
    this.lastSeq[d] = Math.max(this.lastSeq[d]!, src.lastSeq[e]!);
    return d;
  }

  /** `ms` as an offset from the time base, moving the base first if it is out of range. */
  private offsetOf(ms: number): number {
    const offset = ms - this.baseMs;
    return offset >= 0 && offset <= U32_MAX ? offset : this.rebase(ms);
  }

  /**
   * Moves the time base so that `ms` is in the middle of the offsets' range and returns its offset.
   * Runs on the first fold, then only when seen times drift ~24.8 days from the base (or the clock
   * jumps that far): live entries are shifted, and one seen more than ~24.8 days from `ms` saturates
   * at the range's edge (a trace that old is past any sane max_trace_age_secs).
   */
  private rebase(ms: number): number {
    const base = ms - HALF_RANGE_MS;
    if (!Number.isNaN(this.baseMs)) {
      const shift = this.baseMs - base;
      for (let e = 0; e < this.count; e++) {
        this.firstSeen[e] = Math.min(U32_MAX, Math.max(0, this.firstSeen[e]! + shift));
        this.lastSeen[e] = Math.min(U32_MAX, Math.max(0, this.lastSeen[e]! + shift));
      }
    }
    this.baseMs = base;
    return HALF_RANGE_MS;
  }

  /** Removes entry `e`; the last entry moves into its place. */
  delete(e: number): void {
    if (e < 0 || e >= this.count) return;
    this.unindex(this.slotOf(e));
    const last = this.count - 1;
    if (e !== last) {
      const slot = this.slotOf(last);
      for (let j = 0; j < TRACE_FIELD_NAMES.length; j++) {
        const f = TRACE_FIELD_NAMES[j]!;
        const w = TRACE_FIELDS[f][1];
        this[f].copyWithin(e * w, last * w, last * w + w);
      }
      this.index[slot] = e + 1;
    }
    this.count--;
    // Give memory back once the live set is well below what is held (with hysteresis against growth).
    if (this.capacity > 2 * this.count + 2 * STEP) this.reserve(this.count + STEP);
    if (this.index.length > 1024 && this.count * 8 < this.index.length) this.rebuildIndex(this.index.length / 2);
  }

  /** The arrays; entries 0..size-1 are live (the checkpoint writes them as they are). */
  arrays(): TraceArrays {
    const a = {} as Record<TraceField, unknown>;
    for (const f of TRACE_FIELD_NAMES) a[f] = this[f];
    return a as TraceArrays;
  }

  /**
   * A table of `count` entries whose arrays `fill` writes (restoring a checkpoint), their seen times
   * counted from `baseMs`; then indexed.
   */
  static async restore(count: number, baseMs: number, fill: (arrays: TraceArrays) => Promise<void>): Promise<TraceTable> {
    const t = new TraceTable(count);
    t.count = count;
    t.baseMs = baseMs;
    await fill(t.arrays());
    for (let e = 0; e < count; e++) t.index[t.freeSlot(e)] = e + 1;
    return t;
  }

  /** Bytes held by the arrays and the index (for the memory figures in the README). */
  byteSize(): number {
    return this.capacity * ENTRY_BYTES + this.index.byteLength;
  }

  private append(w0: number, w1: number, w2: number, w3: number): number {
    if (this.count === this.capacity) {
      if (this.count === MAX_TRACES) {
        throw new TailsamplerError('TS_EVALUATOR_TOO_MANY_TRACES', `more than ${MAX_TRACES} live traces: lower query.inactivity_threshold_secs or add replicas`);
      }
      this.reserve(Math.min(MAX_TRACES, this.capacity + STEP));
    }
    const e = this.count++;
    const o = e * KEY_WORDS;
    this.keys[o] = w0;
    this.keys[o + 1] = w1;
    this.keys[o + 2] = w2;
    this.keys[o + 3] = w3;
    this.state[e] = USED;
    if (this.count * 4 > this.index.length * 3) this.rebuildIndex(this.index.length * 2);
    else this.index[this.freeSlot(e)] = e + 1;
    return e;
  }

  /** Resizes every array in place to `capacity` entries. */
  private reserve(capacity: number): void {
    for (const f of TRACE_FIELD_NAMES) {
      const [ctor, width] = TRACE_FIELDS[f];
      const buf = this.buffers[f];
      buf.resize(capacity * width * ctor.BYTES_PER_ELEMENT);
      (this as Record<TraceField, unknown>)[f] = new ctor(buf, 0, capacity * width);
    }
    this.capacity = capacity;
  }

  private rebuildIndex(slots: number): void {
    this.index = new Int32Array(slots);
    this.mask = slots - 1;
    for (let e = 0; e < this.count; e++) this.index[this.freeSlot(e)] = e + 1;
  }

  private home(e: number): number {
    const o = e * KEY_WORDS;
    return mix(this.keys[o]!, this.keys[o + 1]!, this.keys[o + 2]!, this.keys[o + 3]!) & this.mask;
  }

  /** First empty slot on entry `e`'s probe path (`e` known to be absent from the index). */
  private freeSlot(e: number): number {
    let slot = this.home(e);
    while (this.index[slot]! !== 0) slot = (slot + 1) & this.mask;
    return slot;
  }

  /** The slot holding entry `e`. */
  private slotOf(e: number): number {
    let slot = this.home(e);
    while (this.index[slot]! !== e + 1) slot = (slot + 1) & this.mask;
    return slot;
  }

  /** Empties `slot`, shifting back followers so lookups never need tombstones. */
  private unindex(slot: number): void {
    let hole = slot;
    let next = (slot + 1) & this.mask;
    while (this.index[next]! !== 0) {
      const home = this.home(this.index[next]! - 1);
      // Move `next` into the hole unless its home lies cyclically in (hole, next].
      const inRange = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (!inRange) {
        this.index[hole] = this.index[next]!;
        hole = next;
      }
      next = (next + 1) & this.mask;
    }
    this.index[hole] = 0;
  }

  /** Entry of the trace with these id words, or -1. */
  private locate(w0: number, w1: number, w2: number, w3: number): number {
    for (let slot = mix(w0, w1, w2, w3) & this.mask; this.index[slot]! !== 0; slot = (slot + 1) & this.mask) {
      const e = this.index[slot]! - 1;
      if (this.matches(e, w0, w1, w2, w3)) return e;
    }
    return -1;
  }

  private matches(e: number, w0: number, w1: number, w2: number, w3: number): boolean {
    const o = e * KEY_WORDS;
    return this.keys[o] === w0 && this.keys[o + 1] === w1 && this.keys[o + 2] === w2 && this.keys[o + 3] === w3;
  }
}

function indexSlotsFor(entries: number): number {
  let n = 16;
  while (n * 3 < entries * 4) n *= 2;
  return n;
}
