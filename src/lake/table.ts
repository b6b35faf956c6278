import type { ColumnName, PartialSpanColumns, WriteSpanColumns } from './span-schema.ts';

/** Partition values of a data file: day(timestamp) and bucket[16](trace_id). */
export interface PartitionValues {
  timestamp_day: number;
  trace_id_bucket: number;
}

/** A Parquet data file as an Iceberg manifest entry describes it (spec: data_file struct, field ids 100–140). */
export interface DataFile {
  /** Absolute URI of the file. */
  path: string;
  partition: PartitionValues;
  recordCount: number;
  fileSizeInBytes: number;
  /** Per column field id. */
  columnSizes: Map<number, number>;
  valueCounts: Map<number, number>;
  nullValueCounts: Map<number, number>;
  /** Iceberg single-value serialization (spec appendix D) of each column's min and max. */
  lowerBounds: Map<number, Uint8Array>;
  upperBounds: Map<number, Uint8Array>;
  /** Row-group start offsets, for split planning. */
  splitOffsets: number[];
  sortOrderId: number;
}

/**
 * What a reader needs to find and read a data file, without per-column statistics: small enough to
 * keep one per file for as long as the file may hold undecided traces.
 */
export interface DataFileRef {
  path: string;
  partition: PartitionValues;
  recordCount: number;
  fileSizeInBytes: number;
  /** Data sequence number: the sequence number of the snapshot that added the file. */
  sequenceNumber: number;
  /** trace_id bounds decoded from lowerBounds/upperBounds (null when the file carries none). */
  traceIdMin: string | null;
  traceIdMax: string | null;
  /** The file's bucket[16](trace_id) partition value; null when the table is not partitioned that way. */
  traceIdBucket: number | null;
}

/** A data file as read back from the table's manifests. */
export interface DataFileEntry extends DataFile, DataFileRef {
  /** The snapshot that added the file. */
  snapshotId: number;
  /** File sequence number: the sequence number of the snapshot that added the file (never changes). */
  fileSequenceNumber: number;
}

export interface SnapshotRef {
  snapshotId: number;
  sequenceNumber: number;
  timestampMs: number;
  parentId: number | null;
  /** Snapshot summary properties (Iceberg's own plus the `tailsampler.*` keys the writer added). */
  summary: Record<string, string>;
}

/** What a table gained after a given sequence number. */
export interface TableChanges {
  /** Snapshots still in the table's metadata with a sequence number above the one asked for, oldest first. */
  snapshots: SnapshotRef[];
  /** Live data files whose data sequence number is above the one asked for, by sequence number. */
  files: DataFileEntry[];
  /** The highest sequence number seen (pass it back next time). */
  lastSequenceNumber: number;
}

/**
 * Summary properties for a commit: fixed, or computed from the snapshot the commit goes on top of
 * (asked again whenever a conflict makes the commit retry on a newer snapshot). A function that
 * throws refuses the commit: nothing is committed and the error is the append's.
 */
export type CommitSummary = Record<string, string> | ((parent: SnapshotRef | null) => Record<string, string>);

/**
 * Spans to append given a part at a time, each part decoded only when asked for: the table writes a
 * part's files before it asks for the next, so a large commit never lives in memory whole (decoded,
 * a commit's spans outlived a few young-generation collections and were promoted, then collected by
 * a mark-compact: ~one a commit). Each partition's spans should be in one part (a partition split
 * across parts gets a file per part).
 */
export interface SpanParts {
  /** Spans over all parts. */
  readonly length: number;
  readonly parts: number;
  /** Part `i`'s spans, decoded now (may throw, e.g. CorruptPayloadError). */
  part(i: number): WriteSpanColumns;
  /** Every part is written: what they were decoded from can go (no part is asked for after this). */
  release(): void;
  /**
   * When present, the parts are decoded and encoded elsewhere (a worker thread) instead of through
   * {@link part} on the writer's thread: each part's files, in part order (may throw as `part` does).
   */
  encoded?(rowGroupSize: number): AsyncIterable<EncodedFile[]>;
}

/** A data file as the Parquet writer made it, before it has a path. */
export interface EncodedFile {
  partition: PartitionValues;
  bytes: Uint8Array;
  metrics: Omit<DataFile, 'path' | 'partition' | 'fileSizeInBytes'>;
  /** The file's hot columns as gathered for it, in file order. */
  hot: PartialSpanColumns;
  /** When each of the file's rows was received, in file order. */
  receivedMs: Float64Array | undefined;
}

/** An open span table and what closes it (its catalog and FileIO); `close` may be called detached. */
export interface OpenedSpanTable {
  table: SpanTable;
  close: () => Promise<void>;
}

/**
 * The span table as the pipeline sees it: the materializer appends, the evaluator and exporter read.
 * Implemented on the Iceberg format (src/lake/iceberg) over any catalog and FileIO.
 */
export interface SpanTable {
  /**
   * Writes the spans as Parquet data files (split by partition, each sorted by trace_id) and commits
   * them as one append snapshot carrying `summary` in its summary properties. Resolves once committed.
   */
  append(spans: WriteSpanColumns | SpanParts, summary: CommitSummary): Promise<SnapshotRef>;
  /** The current snapshot, or null for a table with none. Reloads from the catalog. */
  currentSnapshot(): Promise<SnapshotRef | null>;
  /**
   * Drops every day partition whose whole day ended more than the table's retention before `nowMs`:
   * one `delete` snapshot carrying `summary` (computed as for append), or null when nothing is that
   * old or retention is off. Data files are deleted once no kept snapshot references them.
   */
  expireDays(nowMs: number, summary: CommitSummary): Promise<SnapshotRef | null>;
  /** What was committed after `sequenceNumber` (0 for everything). */
  changesSince(sequenceNumber: number): Promise<TableChanges>;
  /**
   * Reads `columns` of one data file. With `traceIds`, row groups whose trace_id range holds none of
   * them are skipped and only rows of those traces are returned.
   */
  read(file: DataFileRef, columns: readonly ColumnName[], traceIds?: ReadonlySet<string>): Promise<PartialSpanColumns>;
}
