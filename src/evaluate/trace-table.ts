/**
 * Per-trace summaries of live (undecided) traces, kept in parallel typed arrays with open addressing
 * (linear probing, backward-shift deletion): about 60 bytes a slot and no object per trace, so
 * millions of pending traces cost tens of megabytes, and nothing is held per span.
 */
/** 32-bit words per trace id. */
export const KEY_WORDS = 4;
const EMPTY = 0;
const USED = 1;
export const FLAG_ROOT = 2;

function nextPow2(n: number): number {
  let c = 16;
  while (c < n) c *= 2;
  return c;
}

function hexWord(hex: string, i: number): number {
  return Number.parseInt(hex.slice(i * 8, i * 8 + 8), 16) >>> 0;
}

function wordHex(w: number): string {
  return w.toString(16).padStart(8, '0');
}

export class TraceTable {
  private capacity: number;
  private mask: number;
  private count = 0;
  private keys!: Uint32Array;
  private state!: Uint8Array;
  spanCount!: Uint32Array;
  errorCount!: Uint32Array;
  bytes!: Float64Array;
  minStart!: BigInt64Array;
  maxEnd!: BigInt64Array;
  firstSeenMs!: Float64Array;
  lastSeenMs!: Float64Array;
  firstSeq!: Uint32Array;
  lastSeq!: Uint32Array;

  constructor(initialCapacity = 1024) {
    this.capacity = nextPow2(initialCapacity);
    this.mask = this.capacity - 1;
    this.allocate(this.capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Slots, live or not; iterate 0..slots-1 and test `isLive`. */
  get slots(): number {
    return this.capacity;
  }

  isLive(slot: number): boolean {
    return this.state[slot]! !== EMPTY;
  }

  hasRoot(slot: number): boolean {
    return (this.state[slot]! & FLAG_ROOT) !== 0;
  }

  traceId(slot: number): string {
    const o = slot * KEY_WORDS;
    return wordHex(this.keys[o]!) + wordHex(this.keys[o + 1]!) + wordHex(this.keys[o + 2]!) + wordHex(this.keys[o + 3]!);
  }

  /** Slot of the trace, or -1. */
  find(traceIdHex: string): number {
    const w0 = hexWord(traceIdHex, 0), w1 = hexWord(traceIdHex, 1), w2 = hexWord(traceIdHex, 2), w3 = hexWord(traceIdHex, 3);
    let slot = this.home(w0, w1, w2, w3);
    while (this.state[slot]! !== EMPTY) {
      if (this.matches(slot, w0, w1, w2, w3)) return slot;
      slot = (slot + 1) & this.mask;
    }
    return -1;
  }

  /**
   * Adds one span to its trace's summary, creating the trace if new; returns the slot. Positional
   * arguments on purpose: this runs once per span and must not allocate.
   */
  fold(traceIdHex: string, isRoot: boolean, isError: boolean, startNs: bigint, endNs: bigint, bytes: number, seenMs: number, seq: number): number {
    if ((this.count + 1) * 4 > this.capacity * 3) this.resize(this.capacity * 2);
    const w0 = hexWord(traceIdHex, 0), w1 = hexWord(traceIdHex, 1), w2 = hexWord(traceIdHex, 2), w3 = hexWord(traceIdHex, 3);
    let slot = this.home(w0, w1, w2, w3);
    while (this.state[slot]! !== EMPTY && !this.matches(slot, w0, w1, w2, w3)) slot = (slot + 1) & this.mask;
    if (this.state[slot]! === EMPTY) {
      const o = slot * KEY_WORDS;
      this.keys[o] = w0;
      this.keys[o + 1] = w1;
      this.keys[o + 2] = w2;
      this.keys[o + 3] = w3;
      this.state[slot] = USED;
      this.spanCount[slot] = 0;
      this.errorCount[slot] = 0;
      this.bytes[slot] = 0;
      this.minStart[slot] = startNs;
      this.maxEnd[slot] = endNs;
      this.firstSeenMs[slot] = seenMs;
      this.lastSeenMs[slot] = seenMs;
      this.firstSeq[slot] = seq;
      this.lastSeq[slot] = seq;
      this.count++;
    }
    this.spanCount[slot]! += 1;
    if (isError) this.errorCount[slot]! += 1;
    if (isRoot) this.state[slot]! |= FLAG_ROOT;
    this.bytes[slot]! += bytes;
    if (startNs < this.minStart[slot]!) this.minStart[slot] = startNs;
    if (endNs > this.maxEnd[slot]!) this.maxEnd[slot] = endNs;
    if (seenMs > this.lastSeenMs[slot]!) this.lastSeenMs[slot] = seenMs;
    if (seenMs < this.firstSeenMs[slot]!) this.firstSeenMs[slot] = seenMs;
    if (seq > this.lastSeq[slot]!) this.lastSeq[slot] = seq;
    if (seq < this.firstSeq[slot]!) this.firstSeq[slot] = seq;
    return slot;
  }

  /** Removes the trace in `slot`, shifting back followers so lookups never need tombstones. */
  delete(slot: number): void {
    if (this.state[slot]! === EMPTY) return;
    this.count--;
    let hole = slot;
    let next = (slot + 1) & this.mask;
    while (this.state[next]! !== EMPTY) {
      const o = next * KEY_WORDS;
      const home = this.home(this.keys[o]!, this.keys[o + 1]!, this.keys[o + 2]!, this.keys[o + 3]!);
      // Move `next` into the hole unless its home lies cyclically in (hole, next].
      const inRange = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (!inRange) {
        this.copySlot(next, hole);
        hole = next;
      }
      next = (next + 1) & this.mask;
    }
    this.state[hole] = EMPTY;
  }

  /** The arrays themselves, by snapshot field name, for writing a checkpoint without copying them. */
  arrays(): TraceTableSnapshot {
    return {
      keys: this.keys,
      state: this.state,
      spanCount: this.spanCount,
      errorCount: this.errorCount,
      bytes: this.bytes,
      minStart: this.minStart,
      maxEnd: this.maxEnd,
      firstSeenMs: this.firstSeenMs,
      lastSeenMs: this.lastSeenMs,
      firstSeq: this.firstSeq,
      lastSeq: this.lastSeq,
    };
  }

  /** The table's arrays compacted to live entries (used when resizing). */
  snapshot(): TraceTableSnapshot {
    const n = this.count;
    const s = emptySnapshot(n);
    let j = 0;
    for (let i = 0; i < this.capacity; i++) {
      if (this.state[i]! === EMPTY) continue;
      s.keys.set(this.keys.subarray(i * KEY_WORDS, i * KEY_WORDS + KEY_WORDS), j * KEY_WORDS);
      s.state[j] = this.state[i]!;
      s.spanCount[j] = this.spanCount[i]!;
      s.errorCount[j] = this.errorCount[i]!;
      s.bytes[j] = this.bytes[i]!;
      s.minStart[j] = this.minStart[i]!;
      s.maxEnd[j] = this.maxEnd[i]!;
      s.firstSeenMs[j] = this.firstSeenMs[i]!;
      s.lastSeenMs[j] = this.lastSeenMs[i]!;
      s.firstSeq[j] = this.firstSeq[i]!;
      s.lastSeq[j] = this.lastSeq[i]!;
      j++;
    }
    return s;
  }

  static fromSnapshot(s: TraceTableSnapshot): TraceTable {
    const t = new TraceTable(Math.ceil((s.state.length * 4) / 3) + 1);
    t.insertAll(s);
    return t;
  }

  /** Bytes held by the arrays (for the memory figures in the README). */
  byteSize(): number {
    return this.capacity * (KEY_WORDS * 4 + 1 + 4 + 4 + 8 + 8 + 8 + 8 + 8 + 4 + 4);
  }

  private home(w0: number, w1: number, w2: number, w3: number): number {
    // Trace ids are random; fold the words and mix so sequential test ids spread too.
    let h = (w0 ^ w1 ^ w2 ^ w3) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
    return (h ^ (h >>> 16)) & this.mask;
  }

  private matches(slot: number, w0: number, w1: number, w2: number, w3: number): boolean {
    const o = slot * KEY_WORDS;
    return this.keys[o] === w0 && this.keys[o + 1] === w1 && this.keys[o + 2] === w2 && this.keys[o + 3] === w3;
  }

  private copySlot(from: number, to: number): void {
    this.keys.copyWithin(to * KEY_WORDS, from * KEY_WORDS, from * KEY_WORDS + KEY_WORDS);
    this.state[to] = this.state[from]!;
    this.spanCount[to] = this.spanCount[from]!;
    this.errorCount[to] = this.errorCount[from]!;
    this.bytes[to] = this.bytes[from]!;
    this.minStart[to] = this.minStart[from]!;
    this.maxEnd[to] = this.maxEnd[from]!;
    this.firstSeenMs[to] = this.firstSeenMs[from]!;
    this.lastSeenMs[to] = this.lastSeenMs[from]!;
    this.firstSeq[to] = this.firstSeq[from]!;
    this.lastSeq[to] = this.lastSeq[from]!;
  }

  private allocate(capacity: number): void {
    this.keys = new Uint32Array(capacity * KEY_WORDS);
    this.state = new Uint8Array(capacity);
    this.spanCount = new Uint32Array(capacity);
    this.errorCount = new Uint32Array(capacity);
    this.bytes = new Float64Array(capacity);
    this.minStart = new BigInt64Array(capacity);
    this.maxEnd = new BigInt64Array(capacity);
    this.firstSeenMs = new Float64Array(capacity);
    this.lastSeenMs = new Float64Array(capacity);
    this.firstSeq = new Uint32Array(capacity);
    this.lastSeq = new Uint32Array(capacity);
  }

  private resize(capacity: number): void {
    const old = this.snapshot();
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.count = 0;
    this.allocate(capacity);
    this.insertAll(old);
  }

  /** Inserts entries known to be absent (a checkpoint, or the old arrays on resize). */
  private insertAll(s: TraceTableSnapshot): void {
    for (let j = 0; j < s.state.length; j++) {
      const o = j * KEY_WORDS;
      let slot = this.home(s.keys[o]!, s.keys[o + 1]!, s.keys[o + 2]!, s.keys[o + 3]!);
      while (this.state[slot]! !== EMPTY) slot = (slot + 1) & this.mask;
      this.keys.set(s.keys.subarray(o, o + KEY_WORDS), slot * KEY_WORDS);
      this.state[slot] = s.state[j]!;
      this.spanCount[slot] = s.spanCount[j]!;
      this.errorCount[slot] = s.errorCount[j]!;
      this.bytes[slot] = s.bytes[j]!;
      this.minStart[slot] = s.minStart[j]!;
      this.maxEnd[slot] = s.maxEnd[j]!;
      this.firstSeenMs[slot] = s.firstSeenMs[j]!;
      this.lastSeenMs[slot] = s.lastSeenMs[j]!;
      this.firstSeq[slot] = s.firstSeq[j]!;
      this.lastSeq[slot] = s.lastSeq[j]!;
      this.count++;
    }
  }
}

/** Live entries only, in the table's array layout. */
export interface TraceTableSnapshot {
  keys: Uint32Array;
  state: Uint8Array;
  spanCount: Uint32Array;
  errorCount: Uint32Array;
  bytes: Float64Array;
  minStart: BigInt64Array;
  maxEnd: BigInt64Array;
  firstSeenMs: Float64Array;
  lastSeenMs: Float64Array;
  firstSeq: Uint32Array;
  lastSeq: Uint32Array;
}

export function emptySnapshot(n: number): TraceTableSnapshot {
  return {
    keys: new Uint32Array(n * KEY_WORDS),
    state: new Uint8Array(n),
    spanCount: new Uint32Array(n),
    errorCount: new Uint32Array(n),
    bytes: new Float64Array(n),
    minStart: new BigInt64Array(n),
    maxEnd: new BigInt64Array(n),
    firstSeenMs: new Float64Array(n),
    lastSeenMs: new Float64Array(n),
    firstSeq: new Uint32Array(n),
    lastSeq: new Uint32Array(n),
  };
}
