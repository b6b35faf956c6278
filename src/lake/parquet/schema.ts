/**
 * The Parquet schema of a span data file, derived from SPAN_COLUMNS. Every leaf carries the
 * Iceberg field id, because Iceberg readers resolve Parquet columns by `field_id`, not by name.
 */
import type { SchemaElement } from 'hyparquet';
import { KAFKA_METADATA_FIELDS, SPAN_COLUMNS } from '../span-schema.ts';
import type { ColumnDef, FieldDef } from '../span-schema.ts';

/** A primitive column's leaf. */
export function parquetElement(c: ColumnDef | FieldDef): SchemaElement {
  const repetition_type = c.required ? 'REQUIRED' : 'OPTIONAL';
  const base = { name: c.name, field_id: c.id, repetition_type } as const;
  switch (c.type) {
    case 'kafka_metadata':
      throw new TypeError(`column ${c.name} is a struct, not a leaf`);
    case 'string':
      return { ...base, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } };
    case 'int':
      return { ...base, type: 'INT32' };
    case 'long':
      return { ...base, type: 'INT64' };
    case 'timestamptz':
      return {
        ...base,
        type: 'INT64',
        converted_type: 'TIMESTAMP_MICROS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
      };
  }
}

/** A column's schema elements in depth-first order: one leaf, or a struct group followed by its leaves. */
function columnElements(c: ColumnDef): SchemaElement[] {
  if (c.type !== 'kafka_metadata') return [parquetElement(c)];
  const group: SchemaElement = {
    name: c.name,
    field_id: c.id,
    repetition_type: c.required ? 'REQUIRED' : 'OPTIONAL',
    num_children: KAFKA_METADATA_FIELDS.length,
  };
  return [group, ...KAFKA_METADATA_FIELDS.map((f) => parquetElement(f))];
}

/** Root plus each column in SPAN_COLUMNS order (a struct as its group and leaves). */
export const SPAN_PARQUET_SCHEMA: readonly SchemaElement[] = [
  { name: 'table', num_children: SPAN_COLUMNS.length },
  ...SPAN_COLUMNS.flatMap((c) => columnElements(c as ColumnDef)),
];

