/**
 * Lets one log line per key through per interval, for problems that can repeat on every trace or
 * row: the first occurrence is logged at once, later ones within the interval are only counted, and
 * the next line that passes says how many were left out. A metric carries the exact total; the log
 * line carries an example. Keys must come from a small closed set (policy names, column names).
 */
export class LogGate {
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #state = new Map<string, { lastMs: number; skipped: number }>();

  constructor(intervalMs: number, now: () => number = Date.now) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /**
   * -1 when this occurrence should not be logged; otherwise log it now: the value is how many
   * occurrences of `key` were left out since the previous line.
   */
  pass(key: string): number {
    const now = this.#now();
    const s = this.#state.get(key);
    if (s === undefined) {
      this.#state.set(key, { lastMs: now, skipped: 0 });
      return 0;
    }
    if (now - s.lastMs < this.#intervalMs) {
      s.skipped++;
      return -1;
    }
    const skipped = s.skipped;
    s.lastMs = now;
    s.skipped = 0;
    return skipped;
  }
}
