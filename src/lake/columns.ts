import { longWords } from './long-words.ts';
import { SPAN_COLUMNS, type PartialSpanColumns } from './span-schema.ts';

type AnyColumn = ArrayLike<unknown>;

function isTyped(a: AnyColumn): a is Int32Array | BigInt64Array {
  return ArrayBuffer.isView(a);
}

/** The given rows of a column batch, in the given order (typed columns stay typed). */
export function selectRows(cols: PartialSpanColumns, rows: ArrayLike<number>): PartialSpanColumns {
  const out: Record<string, unknown> = { length: rows.length };
  for (const { name } of SPAN_COLUMNS) {
    const src = cols[name] as AnyColumn | undefined;
    if (src === undefined) continue;
    if (src instanceof BigInt64Array) {
      // Copied through the 32-bit words: reading a BigInt64Array element allocates a BigInt.
      const dst = new BigInt64Array(rows.length);
      const from = longWords(src);
      const to = longWords(dst);
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]! * 2;
        to[2 * i] = from[r]!;
        to[2 * i + 1] = from[r + 1]!;
      }
      out[name] = dst;
    } else if (isTyped(src)) {
      const from = src as Int32Array;
      const dst = new (from.constructor as new (n: number) => Int32Array)(rows.length);
      for (let i = 0; i < rows.length; i++) dst[i] = from[rows[i]!]!;
      out[name] = dst;
    } else {
      const dst = new Array<unknown>(rows.length);
      for (let i = 0; i < rows.length; i++) dst[i] = src[rows[i]!];
      out[name] = dst;
    }
  }
  return out as PartialSpanColumns;
}

/** Concatenates batches with the same columns (a trace's rows that came from several files). */
export function concatColumns(parts: readonly PartialSpanColumns[]): PartialSpanColumns {
  if (parts.length === 1) return parts[0]!;
  const length = parts.reduce((n, p) => n + p.length, 0);
  const out: Record<string, unknown> = { length };
  for (const { name } of SPAN_COLUMNS) {
    const first = parts[0]?.[name] as AnyColumn | undefined;
    if (first === undefined) continue;
    if (isTyped(first)) {
      const dst = new (first.constructor as new (n: number) => { set(a: ArrayLike<unknown>, offset: number): void })(length);
      let o = 0;
      for (const p of parts) {
        dst.set(p[name] as ArrayLike<unknown>, o);
        o += p.length;
      }
      out[name] = dst;
    } else {
      out[name] = parts.flatMap((p) => Array.from(p[name] as AnyColumn));
    }
  }
  return out as PartialSpanColumns;
}
