/**
 * Reading a span table someone else writes (`storage.materializer: external`), such as an AutoMQ
 * table topic in its `flatten` layout: the record's fields at top level plus `_kafka_metadata`. Each
 * span column is found by name (the configured mapping, else its own name) in the table's current
 * schema and read by that field's id; a column the table lacks reads as its default.
 */
import type { FileColumns } from '../parquet/read.ts';
import { SPAN_COLUMNS, type ColumnName, type ColumnType, type PartialSpanColumns } from '../span-schema.ts';
import { ExternalTableLayoutError } from './errors.ts';
import type { TraceIdLayout } from './manifest-cache.ts';
import { typeKey, type IcebergSchema, type PartitionSpec } from './metadata.ts';

/** Span column → the external table's column name, for the columns named differently there. */
export type ColumnMapping = Partial<Record<ColumnName, string>>;

/** What deciding and re-exporting cannot do without. */
export const EXTERNAL_REQUIRED: readonly ColumnName[] = [
  'trace_id',
  'span_id',
  'parent_span_id',
  'status_code',
  'start_time_unix_nano',
  'end_time_unix_nano',
  'operation_name',
];

/** Text a lacking OTLP/JSON column reads as (other strings read as null, numbers as 0). */
const ABSENT_TEXT: Partial<Record<ColumnName, string>> = { attributes: '[]', events: '[]', links: '[]', resource: '{}', scope: '{}' };

/** Table types a span column of each type can be read from (ids as text or bytes, int ↔ long, timestamps as micros). */
const READABLE: Record<ColumnType, (t: string) => boolean> = {
  string: (t) => t === 'string' || t === 'binary' || /^fixed\[\d+\]$/.test(t),
  int: (t) => t === 'int' || t === 'long',
  long: (t) => t === 'int' || t === 'long',
  timestamptz: (t) => t === 'timestamptz' || t === 'timestamp' || t === 'long',
  kafka_metadata: (t) => /^struct<\d+:partition:int!?,\d+:offset:long!?,\d+:timestamp:long!?>$/.test(t),
};

export interface ExternalLayout {
  columns: FileColumns;
  /** Span columns the table does not have. */
  absent: ReadonlySet<ColumnName>;
  traceIds: TraceIdLayout;
}

export function resolveExternalLayout(schema: IcebergSchema, spec: PartitionSpec | undefined, mapping: ColumnMapping, where: string): ExternalLayout {
  const columns = new Map<ColumnName, { id: number; name: string }>();
  const absent = new Set<ColumnName>();
  const problems: string[] = [];
  for (const c of SPAN_COLUMNS) {
    const name = mapping[c.name] ?? c.name;
    const field = schema.fields.find((f) => f.name === name);
    if (field === undefined) {
      absent.add(c.name);
      if (EXTERNAL_REQUIRED.includes(c.name)) problems.push(`no column ${name}${name === c.name ? '' : ` (mapped from ${c.name})`}`);
      continue;
    }
    const type = typeKey(field.type);
    if (!READABLE[c.type](type)) problems.push(`column ${name} is ${type}, cannot be read as ${c.name} (${c.type})`);
    columns.set(c.name, { id: field.id, name });
  }
  if (problems.length > 0) {
    throw new ExternalTableLayoutError(
      `${where}: the external table cannot be read as spans: ${problems.join('; ')} (map columns with storage.external.columns)`,
    );
  }
  const trace = columns.get('trace_id')!;
  const traceType = typeKey(schema.fields.find((f) => f.id === trace.id)!.type);
  const bucket = spec?.fields.find((f) => f['source-id'] === trace.id && f.transform === 'bucket[16]');
  return {
    columns,
    absent,
    // Bounds of a binary id column do not compare as the hex text the evaluator holds.
    traceIds: { fieldId: traceType === 'string' ? trace.id : null, bucketField: traceType === 'string' ? (bucket?.name ?? null) : null },
  };
}

/** Puts the defaults of requested columns the table lacks into what a read returned. */
export function fillAbsent(cols: PartialSpanColumns, requested: readonly ColumnName[], absent: ReadonlySet<ColumnName>): PartialSpanColumns {
  for (const name of requested) {
    const text = ABSENT_TEXT[name];
    if (text !== undefined && absent.has(name)) (cols as Record<string, unknown>)[name] = new Array<string>(cols.length).fill(text);
  }
  return cols;
}
