import { randomUUID } from 'node:crypto';
import type { FileIO } from '../file-io.ts';
import { partitionBatch } from '../parquet/partition.ts';
import { writeDataFile } from '../parquet/write.ts';
import type { PartialSpanColumns, WriteSpanColumns } from '../span-schema.ts';
import type { DataFile } from '../table.ts';
import { serializeBound } from '../transforms.ts';
import type { FieldSummary, ManifestFile } from './manifest-list.ts';
import { ENTRY_ADDED, writeManifest } from './manifest.ts';
import type { IcebergSchema, PartitionSpec } from './metadata.ts';

/** Data files written at once: bounds memory (each holds a whole encoded file) while using the disk. */
const WRITE_CONCURRENCY = 4;

/** Iceberg's human-readable partition path for a day value: yyyy-mm-dd. */
export function dayPath(day: number): string {
  return new Date(day * 86_400_000).toISOString().slice(0, 10);
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Writes the batch as one Parquet file per partition under `<location>/data/<partition path>/`;
 * `written` hears which rows of the batch (in file order) each file holds, and its hot columns as the
 * writer gathered them.
 */
export async function writeBatchFiles(
  io: FileIO,
  location: string,
  batch: WriteSpanColumns,
  rowGroupSize: number,
  written?: (path: string, rows: Int32Array, hot: PartialSpanColumns) => void,
): Promise<DataFile[]> {
  if (batch.length === 0) return [];
  return mapLimit(partitionBatch(batch), WRITE_CONCURRENCY, async (slice) => {
    const file = await writeDataFile(batch, slice.rows, { rowGroupSize });
    const { timestamp_day: day, trace_id_bucket: bucket } = slice.partition;
    const path = `${location}/data/timestamp_day=${dayPath(day)}/trace_id_bucket=${bucket}/${randomUUID()}.parquet`;
    await io.write(path, file.bytes);
    written?.(path, slice.rows, file.hot);
    return { ...file.metrics, path, partition: slice.partition, fileSizeInBytes: file.bytes.byteLength };
  });
}

/** Distinct partitions among `files` (the summary's changed-partition-count). */
function countPartitions(files: readonly DataFile[]): number {
  return new Set(files.map((f) => Object.values(f.partition).join('/'))).size;
}

/** A manifest written but not yet in any manifest list; the list record's sequence fields come at commit. */
export interface PendingManifest {
  path: string;
  length: number;
  files: number;
  rows: number;
  /** Total data file bytes. */
  bytes: number;
  partitionCount: number;
  partitions: FieldSummary[];
}

/** Per partition field, the range of values `files` cover (the manifest list's field summaries). */
export function partitionSummaries(spec: PartitionSpec, files: readonly DataFile[]): FieldSummary[] {
  return spec.fields.map((f) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const file of files) {
      const v = (file.partition as unknown as Record<string, number>)[f.name]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (files.length === 0) return { containsNull: false, containsNan: false, lowerBound: null, upperBound: null };
    // Day values are Iceberg dates and buckets ints: both serialize as 4-byte little-endian ints.
    return { containsNull: false, containsNan: false, lowerBound: serializeBound('int', lo), upperBound: serializeBound('int', hi) };
  });
}

/**
 * Writes the manifest for newly added files. Entries leave snapshot id and sequence numbers null so
 * they inherit them from the manifest list: the same manifest stays valid if the commit has to be
 * retried on top of another writer's snapshot with a different sequence number.
 */
export async function writeAddedManifest(
  io: FileIO,
  location: string,
  files: readonly DataFile[],
  schema: IcebergSchema,
  spec: PartitionSpec,
): Promise<PendingManifest> {
  const bytes = writeManifest(
    files.map((dataFile) => ({ status: ENTRY_ADDED, snapshotId: null, sequenceNumber: null, fileSequenceNumber: null, dataFile })),
    { schema, spec },
  );
  const path = `${location}/metadata/${randomUUID()}-m0.avro`;
  await io.write(path, bytes);
  return {
    path,
    length: bytes.byteLength,
    files: files.length,
    rows: files.reduce((n, f) => n + f.recordCount, 0),
    bytes: files.reduce((n, f) => n + f.fileSizeInBytes, 0),
    partitionCount: countPartitions(files),
    partitions: partitionSummaries(spec, files),
  };
}

export function addedManifestFile(m: PendingManifest, specId: number, snapshotId: number, sequenceNumber: number): ManifestFile {
  return {
    path: m.path,
    length: m.length,
    partitionSpecId: specId,
    content: 0,
    sequenceNumber,
    minSequenceNumber: sequenceNumber,
    addedSnapshotId: snapshotId,
    addedFilesCount: m.files,
    existingFilesCount: 0,
    deletedFilesCount: 0,
    addedRowsCount: m.rows,
    existingRowsCount: 0,
    deletedRowsCount: 0,
    partitions: m.partitions,
  };
}
