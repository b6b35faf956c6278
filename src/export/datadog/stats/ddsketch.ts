/**
 * The latency sketch of Datadog's APM stats, as the Agent builds it (`pkg/trace/stats/statsraw.go`):
 * a DDSketch (DataDog/sketches-go) with a logarithmic index mapping of relative accuracy 1 %, a dense
 * store that collapses its lowest bins beyond 2048, durations in nanoseconds with their precision cut
 * to 10 mantissa bits first (`nsTimestampToFloat`). Encoded as sketches-go's protobuf `DDSketch`
 * (`ddsketch.proto`): mapping {gamma, indexOffset, interpolation NONE}, positive store as contiguous
 * bin counts from an index offset, zero count.
 */

export const RELATIVE_ACCURACY = 0.01;
export const MAX_BINS = 2048;
const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const MULTIPLIER = 1 / Math.log(GAMMA);
/** statsraw.go: durations keep 10 bits of mantissa before they enter the sketch. */
const MANTISSA_BITS = 10;
const ROUND_MASK = (1 << MANTISSA_BITS) - 1;

/** statsraw.go nsTimestampToFloat: `ns` with its lowest bits cleared so at most 10 significant bits remain. */
export function trimDuration(ns: number): number {
  if (ns <= ROUND_MASK) return ns;
  let shift = 0;
  let v = ns;
  while (v > ROUND_MASK) {
    v = Math.floor(v / 2);
    shift++;
  }
  return v * 2 ** shift;
}

/** The bin of a positive value (sketches-go LogarithmicMapping.Index with offset 0). */
export function indexOf(value: number): number {
  const i = Math.log(value) * MULTIPLIER;
  return i >= 0 ? Math.trunc(i) : Math.trunc(i) - 1;
}

/** The value a bin stands for (LogarithmicMapping.Value: the bin's middle in relative terms). */
export function valueOf(index: number): number {
  return Math.exp(index / MULTIPLIER) * (1 + RELATIVE_ACCURACY);
}

/** A sketch of non-negative durations (ns); unweighted counts, as the Agent adds each span once. */
export class DurationSketch {
  readonly #bins = new Map<number, number>();
  #zero = 0;
  #count = 0;

  get count(): number {
    return this.#count;
  }

  add(durationNs: number): void {
    this.#count++;
    const v = trimDuration(durationNs);
    // Below the mapping's smallest indexable value (here: 0) counts as zero.
    if (!(v > 0)) {
      this.#zero++;
      return;
    }
    const i = indexOf(v);
    this.#bins.set(i, (this.#bins.get(i) ?? 0) + 1);
  }

  /** sketches-go `DDSketch.ToProto()` bytes; the lowest bins collapsed into one so at most 2048 remain. */
  encode(): Uint8Array {
    const w = new ProtoWriter();
    const mapping = new ProtoWriter().double(1, GAMMA).finish(); // indexOffset 0 and interpolation NONE are defaults
    w.bytes(1, mapping);
    w.bytes(2, this.#storeBytes());
    if (this.#zero !== 0) w.double(4, this.#zero);
    return w.finish();
  }

  #storeBytes(): Uint8Array {
    if (this.#bins.size === 0) return new Uint8Array(0);
    let max = -Infinity;
    let min = Infinity;
    for (const i of this.#bins.keys()) {
      if (i > max) max = i;
      if (i < min) min = i;
    }
    // CollapsingLowestDenseStore: counts below the window's lowest index go into it.
    const lowest = Math.max(min, max - MAX_BINS + 1);
    const counts = new Float64Array(max - lowest + 1);
    for (const [i, c] of this.#bins) counts[Math.max(i, lowest) - lowest]! += c;
    const w = new ProtoWriter();
    w.packedDoubles(2, counts);
    if (lowest !== 0) w.sint32(3, lowest);
    return w.finish();
  }
}

/** Just the protobuf wire types a DDSketch needs. */
class ProtoWriter {
  readonly #parts: number[] = [];

  double(field: number, v: number): this {
    this.#tag(field, 1);
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleLE(v);
    this.#parts.push(...b);
    return this;
  }

  bytes(field: number, v: Uint8Array): this {
    this.#tag(field, 2);
    this.#varint(v.length);
    this.#parts.push(...v);
    return this;
  }

  packedDoubles(field: number, v: Float64Array): this {
    const b = Buffer.allocUnsafe(v.length * 8);
    for (let i = 0; i < v.length; i++) b.writeDoubleLE(v[i]!, i * 8);
    return this.bytes(field, b);
  }

  sint32(field: number, v: number): this {
    this.#tag(field, 0);
    this.#varint(((v << 1) ^ (v >> 31)) >>> 0);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }

  #tag(field: number, wire: number): void {
    this.#varint((field << 3) | wire);
  }

  #varint(v: number): void {
    while (v > 0x7f) {
      this.#parts.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    this.#parts.push(v);
  }
}
