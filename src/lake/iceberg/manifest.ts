import type { DataFile, PartitionValues } from '../table.ts';
import { readAvroContainer, writeAvroContainer, type AvroCodec } from './avro-container.ts';
import { manifestEntrySchema, type PartitionFieldAvro } from './avro-schemas.ts';
import { InvalidManifestError } from './errors.ts';
import type { IcebergSchema, PartitionSpec } from './metadata.ts';

/** Manifest entry status (spec): 0 existing, 1 added, 2 deleted. */
export const ENTRY_EXISTING = 0;
export const ENTRY_ADDED = 1;
export const ENTRY_DELETED = 2;

export interface ManifestEntry {
  status: number;
  /** Null means "inherited from the manifest list's added_snapshot_id". */
  snapshotId: number | null;
  /** Null (allowed for ADDED entries) means "inherited from the manifest's sequence number". */
  sequenceNumber: number | null;
  fileSequenceNumber: number | null;
  dataFile: DataFile;
}

interface KeyValue<V> {
  key: number;
  value: V;
}

interface AvroDataFile {
  content: number;
  file_path: string;
  file_format: string;
  partition: Record<string, number | null>;
  record_count: number;
  file_size_in_bytes: number;
  column_sizes: KeyValue<number>[] | null;
  value_counts: KeyValue<number>[] | null;
  null_value_counts: KeyValue<number>[] | null;
  lower_bounds: KeyValue<Uint8Array>[] | null;
  upper_bounds: KeyValue<Uint8Array>[] | null;
  key_metadata: Uint8Array | null;
  split_offsets: number[] | null;
  sort_order_id: number | null;
}

interface AvroManifestEntry {
  status: number;
  snapshot_id: number | null;
  sequence_number: number | null;
  file_sequence_number: number | null;
  data_file: AvroDataFile;
}

export function partitionFieldsAvro(spec: PartitionSpec): PartitionFieldAvro[] {
  return spec.fields.map((f) => ({
    name: f.name,
    fieldId: f['field-id'],
    resultType: f.transform === 'day' ? 'date' : 'int',
  }));
}

function toPairs<V>(map: Map<number, V>): KeyValue<V>[] {
  return [...map].sort((a, b) => a[0] - b[0]).map(([key, value]) => ({ key, value }));
}

function fromPairs<V>(pairs: KeyValue<V>[] | null | undefined): Map<number, V> {
  return new Map((pairs ?? []).map((p) => [p.key, p.value]));
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export interface WriteManifestOptions {
  schema: IcebergSchema;
  spec: PartitionSpec;
  codec?: AvroCodec;
}

/** A v2 data manifest. The header carries the table schema and spec, as Iceberg readers expect. */
export function writeManifest(entries: readonly ManifestEntry[], options: WriteManifestOptions): Uint8Array {
  const partitionFields = partitionFieldsAvro(options.spec);
  const records: AvroManifestEntry[] = entries.map((e) => {
    const f = e.dataFile;
    const partition: Record<string, number | null> = {};
    for (const p of partitionFields) partition[p.name] = (f.partition as unknown as Record<string, number>)[p.name] ?? null;
    return {
      status: e.status,
      snapshot_id: e.snapshotId,
      sequence_number: e.sequenceNumber,
      file_sequence_number: e.fileSequenceNumber,
      data_file: {
        content: 0,
        file_path: f.path,
        file_format: 'PARQUET',
        partition,
        record_count: f.recordCount,
        file_size_in_bytes: f.fileSizeInBytes,
        column_sizes: toPairs(f.columnSizes),
        value_counts: toPairs(f.valueCounts),
        null_value_counts: toPairs(f.nullValueCounts),
        lower_bounds: toPairs(f.lowerBounds).map((p) => ({ key: p.key, value: toBuffer(p.value) })),
        upper_bounds: toPairs(f.upperBounds).map((p) => ({ key: p.key, value: toBuffer(p.value) })),
        key_metadata: null,
        split_offsets: f.splitOffsets.length > 0 ? [...f.splitOffsets] : null,
        sort_order_id: f.sortOrderId,
      },
    };
  });
  return writeAvroContainer(
    manifestEntrySchema(partitionFields),
    records,
    {
      schema: JSON.stringify(options.schema),
      'schema-id': String(options.schema['schema-id']),
      'partition-spec': JSON.stringify(options.spec.fields),
      'partition-spec-id': String(options.spec['spec-id']),
      'format-version': '2',
      content: 'data',
    },
    options.codec ?? 'deflate',
  );
}

/** Reads a data manifest back (fields by their spec names; any writer's field order works). */
export function readManifest(bytes: Uint8Array, what: string): ManifestEntry[] {
  const container = readAvroContainer(bytes, what);
  if ((container.metadata.get('content') ?? 'data') !== 'data') {
    throw new InvalidManifestError(`${what}: delete manifests are not supported`);
  }
  return (container.records as AvroManifestEntry[]).map((r) => {
    const d = r.data_file;
    if ((d.content ?? 0) !== 0) throw new InvalidManifestError(`${what}: delete files are not supported`);
    return {
      status: r.status,
      snapshotId: r.snapshot_id ?? null,
      sequenceNumber: r.sequence_number ?? null,
      fileSequenceNumber: r.file_sequence_number ?? null,
      dataFile: {
        path: d.file_path,
        partition: { ...d.partition } as unknown as PartitionValues,
        recordCount: d.record_count,
        fileSizeInBytes: d.file_size_in_bytes,
        columnSizes: fromPairs(d.column_sizes),
        valueCounts: fromPairs(d.value_counts),
        nullValueCounts: fromPairs(d.null_value_counts),
        lowerBounds: fromPairs(d.lower_bounds),
        upperBounds: fromPairs(d.upper_bounds),
        splitOffsets: d.split_offsets ?? [],
        sortOrderId: d.sort_order_id ?? 0,
      },
    };
  });
}
