import { randomInt, randomUUID } from 'node:crypto';
import { KAFKA_METADATA_FIELDS, PARTITION_FIELDS, SPAN_COLUMNS, type ColumnType } from '../span-schema.ts';

/**
 * Iceberg table metadata, format version 2, as the JSON in `*.metadata.json` spells it (spec:
 * "Table Metadata Fields"). Keys stay kebab-case so the objects serialize as-is and fit the REST
 * catalog's LoadTableResult unchanged.
 */

export interface SchemaField {
  id: number;
  name: string;
  required: boolean;
  /** A primitive type name, or a nested type (only struct here). */
  type: string | StructType;
  doc?: string;
}

export interface StructType {
  type: 'struct';
  fields: SchemaField[];
}

/** A type as one comparable string (`struct<27:partition:int!,…>`), for checking a server kept the schema. */
export function typeKey(t: SchemaField['type']): string {
  if (typeof t === 'string') return t;
  return `struct<${t.fields.map((f) => `${f.id}:${f.name}:${typeKey(f.type)}${f.required ? '!' : ''}`).join(',')}>`;
}

/** The highest field id among `fields` and the fields nested in them. */
function maxFieldId(fields: readonly SchemaField[]): number {
  return Math.max(0, ...fields.map((f) => Math.max(f.id, typeof f.type === 'string' ? 0 : maxFieldId(f.type.fields))));
}

function icebergType(type: ColumnType): SchemaField['type'] {
  if (type !== 'kafka_metadata') return type;
  return { type: 'struct', fields: KAFKA_METADATA_FIELDS.map((f) => ({ id: f.id, name: f.name, required: f.required, type: f.type, doc: f.doc })) };
}

export interface IcebergSchema {
  type: 'struct';
  'schema-id': number;
  fields: SchemaField[];
}

export interface PartitionField {
  'source-id': number;
  'field-id': number;
  name: string;
  transform: string;
}

export interface PartitionSpec {
  'spec-id': number;
  fields: PartitionField[];
}

export interface SortField {
  transform: string;
  'source-id': number;
  direction: 'asc' | 'desc';
  'null-order': 'nulls-first' | 'nulls-last';
}

export interface SortOrder {
  'order-id': number;
  fields: SortField[];
}

export interface Snapshot {
  'snapshot-id': number;
  'parent-snapshot-id'?: number | null;
  'sequence-number': number;
  'timestamp-ms': number;
  'manifest-list': string;
  summary: { operation: string } & Record<string, string>;
  'schema-id'?: number;
}

export interface SnapshotReference {
  'snapshot-id': number;
  type: 'branch' | 'tag';
  'max-ref-age-ms'?: number;
  'max-snapshot-age-ms'?: number;
  'min-snapshots-to-keep'?: number;
}

export interface TableMetadata {
  'format-version': 2;
  'table-uuid': string;
  location: string;
  'last-sequence-number': number;
  'last-updated-ms': number;
  'last-column-id': number;
  'current-schema-id': number;
  schemas: IcebergSchema[];
  'default-spec-id': number;
  'partition-specs': PartitionSpec[];
  'last-partition-id': number;
  'default-sort-order-id': number;
  'sort-orders': SortOrder[];
  properties: Record<string, string>;
  'current-snapshot-id'?: number | null;
  snapshots?: Snapshot[];
  'snapshot-log'?: { 'snapshot-id': number; 'timestamp-ms': number }[];
  'metadata-log'?: { 'metadata-file': string; 'timestamp-ms': number }[];
  refs?: Record<string, SnapshotReference>;
  statistics?: unknown[];
  'partition-statistics'?: unknown[];
}

export const MAIN_BRANCH = 'main';
export const SPAN_SORT_ORDER_ID = 1;
/** Kept previous metadata files; older ones drop out of metadata-log and are deleted. */
export const METADATA_PREVIOUS_VERSIONS_MAX = 100;

export const DEFAULT_TABLE_PROPERTIES: Readonly<Record<string, string>> = {
  'write.format.default': 'parquet',
  'write.parquet.compression-codec': 'zstd',
  'write.metadata.delete-after-commit.enabled': 'true',
  'write.metadata.previous-versions-max': String(METADATA_PREVIOUS_VERSIONS_MAX),
};

export function spanSchema(): IcebergSchema {
  return {
    type: 'struct',
    'schema-id': 0,
    fields: SPAN_COLUMNS.map((c) => ({ id: c.id, name: c.name, required: c.required, type: icebergType(c.type), doc: c.doc })),
  };
}

export function spanPartitionSpec(): PartitionSpec {
  return {
    'spec-id': 0,
    fields: PARTITION_FIELDS.map((f) => ({
      'source-id': f.sourceId,
      'field-id': f.fieldId,
      name: f.name,
      transform: f.transform,
    })),
  };
}

/** trace_id ascending: files and row groups hold contiguous trace ranges, so bounds prune well. */
export function spanSortOrder(): SortOrder {
  return {
    'order-id': SPAN_SORT_ORDER_ID,
    fields: [{ transform: 'identity', 'source-id': 1, direction: 'asc', 'null-order': 'nulls-first' }],
  };
}

export interface NewTableMetadataOptions {
  schema: IcebergSchema;
  partitionSpec: PartitionSpec;
  sortOrder: SortOrder;
  location: string;
  properties: Record<string, string>;
  nowMs?: number;
}

/** Metadata of a freshly created table with no snapshots. */
export function newTableMetadata(options: NewTableMetadataOptions): TableMetadata {
  const lastColumnId = maxFieldId(options.schema.fields);
  const lastPartitionId = Math.max(999, ...options.partitionSpec.fields.map((f) => f['field-id']));
  const sortOrders: SortOrder[] = [{ 'order-id': 0, fields: [] }];
  if (options.sortOrder['order-id'] !== 0) sortOrders.push(options.sortOrder);
  return {
    'format-version': 2,
    'table-uuid': randomUUID(),
    location: options.location.replace(/\/+$/, ''),
    'last-sequence-number': 0,
    'last-updated-ms': options.nowMs ?? Date.now(),
    'last-column-id': lastColumnId,
    'current-schema-id': options.schema['schema-id'],
    schemas: [options.schema],
    'default-spec-id': options.partitionSpec['spec-id'],
    'partition-specs': [options.partitionSpec],
    'last-partition-id': lastPartitionId,
    'default-sort-order-id': options.sortOrder['order-id'],
    'sort-orders': sortOrders,
    properties: { ...options.properties },
    'current-snapshot-id': null,
    snapshots: [],
    'snapshot-log': [],
    'metadata-log': [],
    refs: {},
    statistics: [],
    'partition-statistics': [],
  };
}

/** The creation request for the span table. */
export function spanTableDefinition(location: string): NewTableMetadataOptions {
  return {
    schema: spanSchema(),
    partitionSpec: spanPartitionSpec(),
    sortOrder: spanSortOrder(),
    location,
    properties: { ...DEFAULT_TABLE_PROPERTIES },
  };
}

/**
 * Snapshot ids: random positive integers below 2^53, so JSON.parse (and avsc's long decoding)
 * keep them exact in every JavaScript reader.
 */
export function newSnapshotId(): number {
  // randomInt's range is limited to 2^48; two draws compose a 53-bit value.
  const high = randomInt(0, 2 ** 21);
  const low = randomInt(0, 2 ** 32);
  return high * 2 ** 32 + low || 1;
}

export function currentSnapshot(metadata: TableMetadata): Snapshot | null {
  const id = metadata.refs?.[MAIN_BRANCH]?.['snapshot-id'] ?? metadata['current-snapshot-id'] ?? null;
  if (id === null || id === -1) return null;
  return metadata.snapshots?.find((s) => s['snapshot-id'] === id) ?? null;
}

/** The version number at the start of a metadata file name (`00042-<uuid>.metadata.json`), or -1. */
export function metadataVersion(metadataLocation: string): number {
  const name = metadataLocation.slice(metadataLocation.lastIndexOf('/') + 1);
  const m = /^(\d+)-/.exec(name);
  return m ? Number(m[1]) : -1;
}

export function metadataFileLocation(tableLocation: string, version: number): string {
  return `${tableLocation.replace(/\/+$/, '')}/metadata/${String(version).padStart(5, '0')}-${randomUUID()}.metadata.json`;
}
