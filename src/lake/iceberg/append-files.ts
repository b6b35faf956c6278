import { randomUUID } from 'node:crypto';
import type { FileIO } from '../file-io.ts';
import { partitionBatch } from '../parquet/partition.ts';
import { writeDataFile } from '../parquet/write.ts';
import type { PartialSpanColumns, WriteSpanColumns } from '../span-schema.ts';
import type { DataFile, EncodedFile, SpanParts } from '../table.ts';
import { serializeBound } from '../transforms.ts';
import type { FieldSummary, ManifestFile } from './manifest-list.ts';
import { ENTRY_ADDED, writeManifest } from './manifest.ts';
import type { IcebergSchema, PartitionSpec } from './metadata.ts';

/**
 * Data files being written at once when parts are encoded on this thread: the next part is decoded
 * once one of them is done, which bounds the encoded bytes held while using the disk (the part's own
 * columns are dropped by then). Parts encoded on another thread arrive whether written or not, so
 * each is written at once: a file write is several thread-pool round trips, each waiting for an
 * event-loop turn, and four at a time held the table to 57K spans/s committed under a 95K load
 * (73K with every file at once).
 */
const WRITE_CONCURRENCY = 4;

/** Iceberg's human-readable partition path for a day value: yyyy-mm-dd. */
export function dayPath(day: number): string {
  return new Date(day * 86_400_000).toISOString().slice(0, 10);
}

/** A batch as the one part of {@link SpanParts}. */
export function wholeBatch(batch: WriteSpanColumns): SpanParts {
  return { length: batch.length, parts: 1, part: () => batch, release: () => undefined };
}

/**
 * Writes the spans as one Parquet file per partition of each part under `<location>/data/<partition
 * path>/`, a part at a time (see {@link SpanParts}), encoded here or, when the parts say so, on
 * another thread; `written` hears each file's hot columns as the writer gathered them, and when each
 * of its rows was received. When anything fails, the files already written are deleted.
 */
export async function writeBatchFiles(
  io: FileIO,
  location: string,
  spans: SpanParts,
  rowGroupSize: number,
  written?: (path: string, hot: PartialSpanColumns, receivedMs: Float64Array | undefined) => void,
): Promise<DataFile[]> {
  const files: DataFile[] = [];
  const writing = new Set<Promise<void>>();
  const errors: unknown[] = [];
  try {
    const elsewhere = spans.encoded?.(rowGroupSize);
    for await (const encoded of elsewhere ?? encodeHere(spans, rowGroupSize)) {
      for (const file of encoded) {
        const { timestamp_day: day, trace_id_bucket: bucket } = file.partition;
        const path = `${location}/data/timestamp_day=${dayPath(day)}/trace_id_bucket=${bucket}/${randomUUID()}.parquet`;
        const w: Promise<void> = io.write(path, file.bytes).then(
          () => void writing.delete(w),
          (error: unknown) => {
            writing.delete(w);
            errors.push(error);
          },
        );
        writing.add(w);
        written?.(path, file.hot, file.receivedMs);
        files.push({ ...file.metrics, path, partition: file.partition, fileSizeInBytes: file.bytes.byteLength });
      }
      // Encoding here, with every write slot taken, the next part waits for one (the event loop runs
      // meanwhile). Yielding between all parts instead gave the receivers a turn per part under full
      // load, and the table fell behind them.
      if (elsewhere === undefined && writing.size >= WRITE_CONCURRENCY) await Promise.race(writing);
      if (errors.length > 0) throw errors[0];
    }
    spans.release();
    await Promise.all(writing);
    if (errors.length > 0) throw errors[0];
    return files;
  } catch (e) {
    await Promise.all(writing);
    await Promise.all(files.map((f) => io.delete(f.path).catch(() => undefined)));
    throw e;
  }
}

/** The parts encoded on this thread, one when asked for (after a write slot is free). */
function* encodeHere(spans: SpanParts, rowGroupSize: number): Generator<EncodedFile[]> {
  for (let p = 0; p < spans.parts; p++) yield encodePartAt(spans, p, rowGroupSize);
}

/**
 * Part `p` decoded and encoded. Its own frame, so the decoded part is held by it alone and dies
 * young: a suspended generator or async function keeps every local it had, dead or not, and a part
 * held across a suspension outlived the collections of the young generation meanwhile.
 */
function encodePartAt(spans: SpanParts, p: number, rowGroupSize: number): EncodedFile[] {
  return encodePart(spans.part(p), rowGroupSize);
}

/** A part's spans as one Parquet file per partition (each sorted by trace_id). */
export function encodePart(part: WriteSpanColumns, rowGroupSize: number): EncodedFile[] {
  if (part.length === 0) return [];
  return partitionBatch(part).map((slice) => {
    const file = writeDataFile(part, slice.rows, { rowGroupSize });
    return { partition: slice.partition, bytes: file.bytes, metrics: file.metrics, hot: file.hot, receivedMs: pick(part.receivedMs, slice.rows) };
  });
}

/** values[rows[i]] for each i, or undefined without values. */
function pick(values: ArrayLike<number> | undefined, rows: Int32Array): Float64Array | undefined {
  if (values === undefined) return undefined;
  // A plain loop: Float64Array.from(rows, map) goes through the iterator protocol, ~10x slower.
  const out = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = values[rows[i]!]!;
  return out;
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
