/**
 * Writes a Parquet data file of a flat table (primitive columns only, e.g. the decision audit table)
 * and its Iceberg manifest metrics, with the span writer's column handling (gather, ZSTD, field ids).
 */
import type { ColumnSource } from 'hyparquet-writer';
import type { FieldDef } from '../span-schema.ts';
import { parquetElement } from './schema.ts';
import { ColumnStats, ParquetWriteError, writeParquetFile, type WrittenFile } from './write.ts';

export interface FlatFileOptions {
  rowGroupSize: number;
  /** String columns whose min/max are kept (ASCII ones only: bounds compare as UTF-8 bytes). */
  boundedStrings: ReadonlySet<string>;
}

/** Writes `rows` of `columns` (one array per field, by name) as one unsorted Parquet file. */
export async function writeFlatFile(
  fields: readonly FieldDef[],
  columns: Readonly<Record<string, ArrayLike<unknown>>>,
  rows: Int32Array,
  options: FlatFileOptions,
): Promise<WrittenFile> {
  if (rows.length === 0) throw new ParquetWriteError('cannot write an empty data file');
  const stats = new ColumnStats(rows);
  const columnData: ColumnSource[] = [];
  for (const def of fields) {
    const source = columns[def.name];
    if (source === undefined) throw new ParquetWriteError(`batch lacks column ${def.name}`);
    const wantBounds = def.type !== 'string' || options.boundedStrings.has(def.name);
    columnData.push({ name: def.name, data: stats.gather(def, source, wantBounds), statistics: true, columnIndex: true });
  }
  return writeParquetFile(columnData, stats, {
    schema: [{ name: 'table', num_children: fields.length }, ...fields.map((f) => parquetElement(f))],
    leafFieldIds: fields.map((f) => f.id),
    rowGroupSize: options.rowGroupSize,
    sortOrderId: 0,
  });
}
