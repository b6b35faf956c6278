/**
 * The decision audit table: one row per trace decision, beside the span table in the same catalog,
 * so "why was this trace dropped?" is one query in any Iceberg engine. Field ids are fixed here (data
 * files carry them; readers resolve columns by them).
 */
import type { FieldDef } from './span-schema.ts';
import { DEFAULT_TABLE_PROPERTIES, type IcebergSchema, type NewTableMetadataOptions, type PartitionSpec } from './iceberg/metadata.ts';

export const AUDIT_COLUMNS = [
  { id: 1, name: 'trace_id', type: 'string', required: true, doc: 'trace id, 32 lowercase hex characters' },
  { id: 2, name: 'decided_at', type: 'timestamptz', required: true, doc: 'when the trace was decided, microseconds since epoch (UTC); partition source' },
  { id: 3, name: 'outcome', type: 'string', required: true, doc: "sampled (kept) or not_sampled (dropped), as the tracesDecided metric's outcome label" },
  { id: 4, name: 'policy', type: 'string', required: true, doc: "the policy or rule that decided (force_rule:<id> for a force rule); empty when no policy matched a dropped trace" },
  { id: 5, name: 'threshold', type: 'string', required: false, doc: 'OTel sampling threshold (tracestate ot=th) put on the kept spans; null when dropped or unknown' },
  { id: 6, name: 'span_count', type: 'int', required: true, doc: 'spans of the trace seen when it was decided' },
  { id: 7, name: 'error_count', type: 'int', required: true, doc: 'of those, spans with status ERROR' },
  { id: 8, name: 'duration', type: 'long', required: true, doc: 'latest span end minus earliest span start, nanoseconds' },
  { id: 9, name: 'trace_bytes', type: 'long', required: true, doc: 'sum of the spans\u2019 OTLP protobuf sizes, bytes' },
  { id: 10, name: 'first_seen', type: 'timestamptz', required: true, doc: 'when the evaluator first read a span of the trace (UTC)' },
  { id: 11, name: 'last_seen', type: 'timestamptz', required: true, doc: 'when the evaluator last read a span of the trace before deciding (UTC)' },
  { id: 12, name: 'replica', type: 'string', required: true, doc: 'the replica that decided (storage.audit_table.replica, default the host name)' },
] as const satisfies readonly FieldDef[];

export type AuditColumnName = (typeof AUDIT_COLUMNS)[number]['name'];

/** Partition field: day(decided_at). */
export const AUDIT_DAY_FIELD = 'decided_at_day';

/** Columns whose manifest bounds are kept: ids and short labels (ASCII, so JS `<` is byte order). */
export const AUDIT_BOUNDED_STRINGS: ReadonlySet<string> = new Set(['trace_id', 'outcome', 'replica']);

type AuditValue<T extends FieldDef['type'], R extends boolean> = T extends 'string' ? (R extends true ? string : string | null) : T extends 'int' ? number : bigint;

/** A batch of decisions as columns (timestamps in microseconds, as Iceberg timestamptz stores them). */
export type AuditColumns = { length: number } & {
  [C in (typeof AUDIT_COLUMNS)[number] as C['name']]: ArrayLike<AuditValue<C['type'], C['required']>>;
};

export function auditSchema(): IcebergSchema {
  return { type: 'struct', 'schema-id': 0, fields: AUDIT_COLUMNS.map((c) => ({ id: c.id, name: c.name, required: c.required, type: c.type, doc: c.doc })) };
}

export function auditPartitionSpec(): PartitionSpec {
  return { 'spec-id': 0, fields: [{ 'source-id': 2, 'field-id': 1000, name: AUDIT_DAY_FIELD, transform: 'day' }] };
}

/** The creation request for the audit table (unsorted: rows go in as they were decided). */
export function auditTableDefinition(location: string): NewTableMetadataOptions {
  return {
    schema: auditSchema(),
    partitionSpec: auditPartitionSpec(),
    sortOrder: { 'order-id': 0, fields: [] },
    location,
    properties: { ...DEFAULT_TABLE_PROPERTIES },
  };
}
