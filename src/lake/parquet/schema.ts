/**
 * The Parquet schema of a span data file, derived from SPAN_COLUMNS. Every leaf carries the
 * Iceberg field id, because Iceberg readers resolve Parquet columns by `field_id`, not by name.
 */
import type { SchemaElement } from 'hyparquet';
import { SPAN_COLUMNS } from '../span-schema.ts';
import type { ColumnDef } from '../span-schema.ts';

export function parquetElement(c: ColumnDef): SchemaElement {
  const repetition_type = c.required ? 'REQUIRED' : 'OPTIONAL';
  const base = { name: c.name, field_id: c.id, repetition_type } as const;
  switch (c.type) {
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

/** Root plus one flat leaf per column, in SPAN_COLUMNS order. */
export const SPAN_PARQUET_SCHEMA: readonly SchemaElement[] = [
  { name: 'table', num_children: SPAN_COLUMNS.length },
  ...SPAN_COLUMNS.map((c) => parquetElement(c as ColumnDef)),
];

/**
 * Big OTLP/JSON text columns: no statistics, page index or manifest bounds. Nobody filters on them,
 * and min/max over kilobytes of JSON per row costs write time and footer bytes for nothing.
 */
export const UNBOUNDED_COLUMNS: ReadonlySet<string> = new Set([
  'attributes',
  'resource',
  'scope',
  'events',
  'links',
  'status_message',
  'trace_state',
  'resource_schema_url',
  'scope_schema_url',
]);
