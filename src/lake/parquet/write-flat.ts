/**
 * Writes a Parquet data file of a flat table (primitive columns only, e.g. the decision audit table)
 * and its Iceberg manifest metrics, with the span writer's column handling (gather, ZSTD, field ids).
 */
import type { FieldDef } from '../span-schema.ts';
import { parquetElement } from './schema.ts';
import { ColumnStats, ParquetWriteError, writeParquetFile, type WrittenFile } from './write.ts';

export interface FlatFileOptions {
  rowGroupSize: number;
  /** String columns whose min/max are kept (ASCII ones only: bounds compare as UTF-8 bytes). */
  boundedStrings: ReadonlySet<string>;
}

/** Writes `rows` of `columns` (one array per field, by name) as one unsorted Parquet file. */
export function writeFlatFile(
  fields: readonly FieldDef[],
  columns: Readonly<Record<string, ArrayLike<unknown>>>,
  rows: Int32Array,
  options: FlatFileOptions,
): WrittenFile {
  if (rows.length === 0) throw new ParquetWriteError('cannot write an empty data file');
  const stats = new ColumnStats(rows);
  for (const def of fields) {
    const source = columns[def.name];
    if (source === undefined) throw new ParquetWriteError(`batch lacks column ${def.name}`);
    stats.gather(def, source, { statistics: def.type !== 'string' || options.boundedStrings.has(def.name), dictionary: true });
  }
  return writeParquetFile(stats, {
    schema: [{ name: 'table', num_children: fields.length }, ...fields.map((f) => parquetElement(f))],
    rowGroupSize: options.rowGroupSize,
    sortOrderId: 0,
  });
}
