/**
 * Writes a Parquet data file of a flat table (primitive columns only, e.g. the decision audit table)
 * and its Iceberg manifest metrics, with the span writer's column handling (gather, ZSTD, field ids).
 */
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { ColumnSource } from 'hyparquet-writer';
import { TailsamplerError } from '../../errors.ts';
import type { FieldDef } from '../span-schema.ts';
import { serializeBound } from '../transforms.ts';
import { parquetElement } from './schema.ts';
import { gather, ParquetWriteError, zstd, type WrittenFile } from './write.ts';

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
  const columnSizes = new Map<number, number>();
  const valueCounts = new Map<number, number>();
  const nullValueCounts = new Map<number, number>();
  const lowerBounds = new Map<number, Uint8Array>();
  const upperBounds = new Map<number, Uint8Array>();
  const columnData: ColumnSource[] = [];
  for (const def of fields) {
    const source = columns[def.name];
    if (source === undefined) throw new ParquetWriteError(`batch lacks column ${def.name}`);
    const wantBounds = def.type !== 'string' || options.boundedStrings.has(def.name);
    const g = gather(def, source, rows, wantBounds);
    valueCounts.set(def.id, rows.length);
    nullValueCounts.set(def.id, g.nulls);
    if (wantBounds && g.min !== undefined && g.max !== undefined) {
      lowerBounds.set(def.id, serializeBound(def.type, g.min));
      upperBounds.set(def.id, serializeBound(def.type, g.max));
    }
    columnData.push({ name: def.name, data: g.values, statistics: true, columnIndex: true });
  }
  const writer = new ByteWriter();
  try {
    const pq = new ParquetWriter({
      writer,
      schema: [{ name: 'table', num_children: fields.length }, ...fields.map((f) => parquetElement(f))] as never,
      codec: 'ZSTD',
      compressors: { ZSTD: zstd },
      statistics: true,
      createdBy: 'tailsampler (hyparquet-writer 0.17)',
    });
    await pq.write({ columnData, rowGroupSize: options.rowGroupSize });
    const splitOffsets: number[] = [];
    for (const rg of pq.row_groups) {
      const first = rg.columns[0]!;
      const start = first.meta_data?.dictionary_page_offset ?? first.meta_data?.data_page_offset ?? first.file_offset;
      rg.file_offset = start;
      splitOffsets.push(Number(start));
      for (let j = 0; j < rg.columns.length; j++) {
        const id = fields[j]!.id;
        columnSizes.set(id, (columnSizes.get(id) ?? 0) + Number(rg.columns[j]!.meta_data?.total_compressed_size ?? 0n));
      }
    }
    await pq.finish();
    return {
      bytes: writer.getBytes(),
      metrics: { recordCount: rows.length, columnSizes, valueCounts, nullValueCounts, lowerBounds, upperBounds, splitOffsets, sortOrderId: 0 },
    };
  } catch (e) {
    if (e instanceof TailsamplerError) throw e;
    throw new ParquetWriteError(`writing Parquet data file failed: ${(e as Error).message}`, e);
  }
}
