import { HOT_COLUMNS, type ColumnName, type PartialSpanColumns, type WriteSpanColumns } from './span-schema.ts';
import { selectRows } from './columns.ts';

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

  /** Notes the hot columns of `rows` of `batch`, committed as the data file at `path`. */
  put(path: string, batch: WriteSpanColumns, rows: Int32Array): void {
    if (rows.length > this.#maxRows) return;
    const hot: Record<string, unknown> = { length: batch.length };
    for (const c of HOT_COLUMNS) hot[c] = batch[c];
    const cols = selectRows(hot as PartialSpanColumns, rows);
    const received = batch.receivedMs;
    if (received !== undefined) {
      // An indexed loop: Float64Array.from(rows, fn) goes through the iterator protocol, an object per row.
      const ms = new Float64Array(rows.length);
      for (let i = 0; i < rows.length; i++) ms[i] = received[rows[i]!]!;
      cols.receivedMs = ms;
    }
    this.#entries.set(path, cols);
    this.#rows += rows.length;
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
