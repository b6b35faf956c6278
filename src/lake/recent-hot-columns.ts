import { HOT_COLUMNS, type ColumnName, type PartialSpanColumns } from './span-schema.ts';

const HOT: ReadonlySet<ColumnName> = new Set(HOT_COLUMNS);

/**
 * The hot columns of data files this process just committed (with when each row was received), kept
 * until the evaluator folds them, so the evaluator reads them from memory instead of fetching and
 * decoding the Parquet it was handed by the materializer a moment before. Each entry is served once (the evaluator folds a new file once;
 * a later read, after a take-over or a restart, goes to the file) and the oldest are dropped past
 * `maxRows`, so what it holds is bounded by one scan interval of spans, and by `maxRows` when the
 * evaluator falls behind.
 */
export class RecentHotColumns {
  readonly #maxRows: number;
  readonly #entries = new Map<string, PartialSpanColumns>();
  #rows = 0;

  constructor(maxRows: number) {
    this.#maxRows = maxRows;
  }

  /**
   * Notes the hot columns of the data file committed at `path`: `hot`, as the writer gathered them
   * (the file's rows in file order; held, not copied), and when each of those rows was received.
   */
  put(path: string, hot: PartialSpanColumns, receivedMs: Float64Array | undefined): void {
    if (hot.length > this.#maxRows) return;
    this.#entries.set(path, { ...hot, receivedMs });
    this.#rows += hot.length;
    for (const [oldest, cols] of this.#entries) {
      if (this.#rows <= this.#maxRows) break;
      this.#entries.delete(oldest);
      this.#rows -= cols.length;
    }
  }

  /** A whole-file read of hot columns only, from memory (and forgotten); null when not held. */
  take(path: string, columns: readonly ColumnName[]): PartialSpanColumns | null {
    const cols = this.#entries.get(path);
    if (cols === undefined || !columns.every((c) => HOT.has(c))) return null;
    this.#entries.delete(path);
    this.#rows -= cols.length;
    return cols;
  }

  get rows(): number {
    return this.#rows;
  }
}
