import { readAvroContainer, writeAvroContainer, type AvroCodec } from './avro-container.ts';
import { MANIFEST_LIST_SCHEMA } from './avro-schemas.ts';

/** Per partition field: the range of values the manifest's files cover (spec: field_summary). */
export interface FieldSummary {
  containsNull: boolean;
  containsNan: boolean | null;
  lowerBound: Uint8Array | null;
  upperBound: Uint8Array | null;
}

/** One manifest_file record of a manifest list. */
export interface ManifestFile {
  path: string;
  length: number;
  partitionSpecId: number;
  /** 0 data, 1 deletes. */
  content: number;
  sequenceNumber: number;
  minSequenceNumber: number;
  addedSnapshotId: number;
  addedFilesCount: number;
  existingFilesCount: number;
  deletedFilesCount: number;
  addedRowsCount: number;
  existingRowsCount: number;
  deletedRowsCount: number;
  partitions: FieldSummary[] | null;
}

interface AvroManifestFile {
  manifest_path: string;
  manifest_length: number;
  partition_spec_id: number;
  content: number;
  sequence_number: number;
  min_sequence_number: number;
  added_snapshot_id: number;
  added_files_count: number;
  existing_files_count: number;
  deleted_files_count: number;
  added_rows_count: number;
  existing_rows_count: number;
  deleted_rows_count: number;
  partitions: { contains_null: boolean; contains_nan: boolean | null; lower_bound: Uint8Array | null; upper_bound: Uint8Array | null }[] | null;
  key_metadata: Uint8Array | null;
}

function buf(b: Uint8Array | null): Buffer | null {
  if (b === null) return null;
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export interface ManifestListHeader {
  snapshotId: number;
  parentSnapshotId: number | null;
  sequenceNumber: number;
}

export function writeManifestList(manifests: readonly ManifestFile[], header: ManifestListHeader, codec: AvroCodec = 'deflate'): Uint8Array {
  const records: AvroManifestFile[] = manifests.map((m) => ({
    manifest_path: m.path,
    manifest_length: m.length,
    partition_spec_id: m.partitionSpecId,
    content: m.content,
    sequence_number: m.sequenceNumber,
    min_sequence_number: m.minSequenceNumber,
    added_snapshot_id: m.addedSnapshotId,
    added_files_count: m.addedFilesCount,
    existing_files_count: m.existingFilesCount,
    deleted_files_count: m.deletedFilesCount,
    added_rows_count: m.addedRowsCount,
    existing_rows_count: m.existingRowsCount,
    deleted_rows_count: m.deletedRowsCount,
    partitions:
      m.partitions?.map((p) => ({
        contains_null: p.containsNull,
        contains_nan: p.containsNan,
        lower_bound: buf(p.lowerBound),
        upper_bound: buf(p.upperBound),
      })) ?? null,
    key_metadata: null,
  }));
  const meta: Record<string, string> = {
    'snapshot-id': String(header.snapshotId),
    'parent-snapshot-id': header.parentSnapshotId === null ? 'null' : String(header.parentSnapshotId),
    'sequence-number': String(header.sequenceNumber),
    'format-version': '2',
  };
  return writeAvroContainer(MANIFEST_LIST_SCHEMA, records, meta, codec);
}

export function readManifestList(bytes: Uint8Array, what: string): ManifestFile[] {
  const container = readAvroContainer(bytes, what);
  return (container.records as AvroManifestFile[]).map((r) => ({
    path: r.manifest_path,
    length: r.manifest_length,
    partitionSpecId: r.partition_spec_id,
    content: r.content ?? 0,
    sequenceNumber: r.sequence_number ?? 0,
    minSequenceNumber: r.min_sequence_number ?? 0,
    addedSnapshotId: r.added_snapshot_id,
    addedFilesCount: r.added_files_count,
    existingFilesCount: r.existing_files_count,
    deletedFilesCount: r.deleted_files_count,
    addedRowsCount: r.added_rows_count,
    existingRowsCount: r.existing_rows_count,
    deletedRowsCount: r.deleted_rows_count,
    partitions:
      r.partitions?.map((p) => ({
        containsNull: p.contains_null,
        containsNan: p.contains_nan ?? null,
        lowerBound: p.lower_bound ?? null,
        upperBound: p.upper_bound ?? null,
      })) ?? null,
  }));
}
