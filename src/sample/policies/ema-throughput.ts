/** Settings of an {@link EmaThroughput}, as the `dynamic` policy block names them. */
export interface EmaThroughputOptions {
  /** Spans per second to keep, over all keys. */
  goalThroughputPerSec: number;
  adjustmentIntervalMs: number;
  /** EMA weight of the newest interval, in (0, 1). */
  weight: number;
  /** A key whose average falls below this leaves the average (and gets rate 1 again). */
  ageOutValue: number;
  /** An interval whose spans reach this multiple of the averages' sum adjusts at once; 0 = never. */
  burstMultiple: number;
  /** Adjustment intervals before burst detection starts. */
  burstDetectionDelay: number;
  /** Rate of every key until the first adjustment. */
  initialSampleRate: number;
  /** Keys counted per interval and kept in the average, at most. */
  maxKeys: number;
  /** Rate of a key not counted because `maxKeys` keys already are, when it has no rate of its own. */
  overflowSampleRate: number;
  /** Told of each observation not counted because `maxKeys` keys already are. */
  onOverflow?: () => void;
}

/**
 * Per-key sample rates that aim at a total throughput, with the semantics of Refinery's
 * EMAThroughputSampler (dynsampler-go `EMAThroughput`): spans are counted per key over an adjustment
 * interval; at the end of each interval the counts are folded into an exponential moving average per
 * key, and the interval's budget (goal × interval) is split among the keys in proportion to the
 * log10 of their averages; a key whose average fits in its share is kept whole (rate 1) and hands its
 * unused share on to the keys after it (in sorted key order); the others get the rate that brings
 * them down to their share. Keys not in the average (new, rare or aged out) have rate 1, so a rare
 * key is always kept.
 *
 * Differences, deliberate: rates are not rounded up to integers (dynsampler-go's later throughput
 * samplers do the same), so kept throughput meets the goal instead of falling below it; time comes
 * from the caller (no ticker: an adjustment happens at the first observation at or past the
 * interval's end, so a fake clock drives it in tests, and nothing runs between decisions); and the
 * average is bounded by `maxKeys` (the smallest averages leave first) as well as the interval
 * counts. As in Refinery, an interval with no traffic at all leaves the average as it was.
 */
export class EmaThroughput {
  readonly #o: EmaThroughputOptions;
  #counts = new Map<string, number>();
  readonly #average = new Map<string, number>();
  #rates = new Map<string, number>();
  #haveData = false;
  #burstThreshold = 0;
  #burstSum = 0;
  #intervals = 0;
  #nextAdjustMs: number | null = null;

  constructor(options: EmaThroughputOptions) {
    this.#o = options;
  }

  /**
   * Counts `spans` spans of `key` seen at `nowMs` and returns the key's sample rate (1 = keep all,
   * N = keep one in N), after adjusting when an interval has ended or a burst is detected.
   */
  observe(key: string, spans: number, nowMs: number): number {
    const o = this.#o;
    if (this.#nextAdjustMs === null) {
      this.#nextAdjustMs = nowMs + o.adjustmentIntervalMs;
    } else if (nowMs >= this.#nextAdjustMs) {
      this.#adjust();
      // The intervals with no traffic at all pass too (Refinery's ticker counts them as well).
      const passed = Math.floor((nowMs - this.#nextAdjustMs) / o.adjustmentIntervalMs) + 1;
      this.#intervals += passed;
      this.#nextAdjustMs += passed * o.adjustmentIntervalMs;
    }
    const counted = this.#counts.get(key);
    const countable = counted !== undefined || this.#counts.size < o.maxKeys;
    if (spans > 0 && countable) {
      this.#counts.set(key, (counted ?? 0) + spans);
      this.#burstSum += spans;
      if (this.#burstThreshold > 0 && this.#burstSum >= this.#burstThreshold && this.#intervals >= o.burstDetectionDelay) {
        // A burst adjusts at once, on what it has seen so far, and restarts the interval.
        this.#adjust();
        this.#nextAdjustMs = nowMs + o.adjustmentIntervalMs;
      }
    } else if (!countable) {
      o.onOverflow?.();
      if (this.#haveData && !this.#rates.has(key)) return o.overflowSampleRate;
    }
    if (!this.#haveData) return o.initialSampleRate;
    return this.#rates.get(key) ?? 1;
  }

  /** The current rate table (keys absent have rate 1); for tests and diagnostics. */
  rates(): ReadonlyMap<string, number> {
    return this.#rates;
  }

  /** Keys in the moving average. */
  get trackedKeys(): number {
    return this.#average.size;
  }

  #adjust(): void {
    const counts = this.#counts;
    if (counts.size === 0) return;
    this.#counts = new Map();
    this.#burstSum = 0;
    const o = this.#o;
    const avg = this.#average;
    for (const [key, old] of avg) {
      const next = old * (1 - o.weight) + (counts.get(key) ?? 0) * o.weight;
      if (next < o.ageOutValue) avg.delete(key);
      else avg.set(key, next);
    }
    for (const [key, n] of counts) {
      if (avg.has(key)) continue;
      const next = n * o.weight;
      if (next >= o.ageOutValue) avg.set(key, next);
    }
    if (avg.size > o.maxKeys) {
      // Bounded memory: the rarest keys leave the average first (they are kept whole anyway).
      const byAverage = [...avg].sort((a, b) => a[1] - b[1]);
      for (let i = 0; i < byAverage.length - o.maxKeys; i++) avg.delete(byAverage[i]![0]);
    }
    let sum = 0;
    let logSum = 0;
    for (const v of avg.values()) {
      sum += Math.max(1, v);
      logSum += Math.log10(Math.max(1, v));
    }
    this.#burstThreshold = o.burstMultiple > 0 ? sum * o.burstMultiple : 0;
    this.#rates = splitBudget((o.goalThroughputPerSec * o.adjustmentIntervalMs) / 1000, logSum, avg);
    this.#haveData = true;
  }
}

/**
 * Refinery's log-weighted split: key k's share of `budget` is log10(max(1, avg_k)) / logSum of it
 * (at least 1), plus what the keys before it (sorted) left unused; a key within its share gets rate 1,
 * the others avg_k / share.
 */
export function splitBudget(budget: number, logSum: number, averages: ReadonlyMap<string, number>): Map<string, number> {
  const rates = new Map<string, number>();
  const keys = [...averages.keys()].sort();
  if (logSum <= 0) {
    // Every average is at most 1: everything fits.
    for (const k of keys) rates.set(k, 1);
    return rates;
  }
  const ratio = budget / logSum;
  let remaining = keys.length;
  let extra = 0;
  for (const k of keys) {
    const count = Math.max(1, averages.get(k)!);
    let share = Math.max(1, Math.log10(count) * ratio);
    const handed = extra / remaining;
    share += handed;
    extra -= handed;
    remaining--;
    if (count <= share) {
      rates.set(k, 1);
      extra += share - count;
    } else {
      rates.set(k, count / share);
    }
  }
  return rates;
}
