import { randomUUID } from 'node:crypto';
import { AUDIT_BOUNDED_STRINGS, AUDIT_COLUMNS, AUDIT_DAY_FIELD, auditPartitionSpec, auditTableDefinition, type AuditColumns } from '../audit-schema.ts';
import type { FileIO } from '../file-io.ts';
import { writeFlatFile } from '../parquet/write-flat.ts';
import type { CommitSummary, DataFile, PartitionValues, SnapshotRef } from '../table.ts';
import { dayFromMicros } from '../transforms.ts';
import { dayPath } from './append-files.ts';
import { checkPartitionSpec, IcebergTableCore, loadOrCreateTable, openOwned, type IcebergTableOptions } from './table-core.ts';

/** The decision audit table as its writer sees it (src/audit/audit-sink.ts appends to it). */
export interface AuditTable {
  /** Writes the batch as one Parquet file per day(decided_at) and commits them as one append snapshot carrying `summary`. */
  append(batch: AuditColumns, summary: CommitSummary): Promise<SnapshotRef>;
  /** The current snapshot, or null for a table with none. Reloads from the catalog. */
  currentSnapshot(): Promise<SnapshotRef | null>;
  /** Drops day partitions past the retention, as the span table does. */
  expireDays(nowMs: number, summary: CommitSummary): Promise<SnapshotRef | null>;
}

export interface OpenedAuditTable {
  table: AuditTable;
  close: () => Promise<void>;
}

export interface IcebergAuditTableOptions extends IcebergTableOptions {
  rowGroupSize: number;
}

class IcebergAuditTable implements AuditTable {
  readonly #core: IcebergTableCore;
  readonly #rowGroupSize: number;

  constructor(core: IcebergTableCore, rowGroupSize: number) {
    this.#core = core;
    this.#rowGroupSize = rowGroupSize;
  }

  async append(batch: AuditColumns, summary: CommitSummary): Promise<SnapshotRef> {
    const byDay = new Map<number, number[]>();
    for (let i = 0; i < batch.length; i++) {
      const day = dayFromMicros(batch.decided_at[i]!);
      let rows = byDay.get(day);
      if (rows === undefined) byDay.set(day, (rows = []));
      rows.push(i);
    }
    const io: FileIO = this.#core.options.io;
    const columns = batch as unknown as Record<string, ArrayLike<unknown>>;
    const files: DataFile[] = [];
    for (const [day, rows] of [...byDay].sort((a, b) => a[0] - b[0])) {
      const written = writeFlatFile(AUDIT_COLUMNS, columns, Int32Array.from(rows), { rowGroupSize: this.#rowGroupSize, boundedStrings: AUDIT_BOUNDED_STRINGS });
      const path = `${this.#core.location}/data/${AUDIT_DAY_FIELD}=${dayPath(day)}/${randomUUID()}.parquet`;
      await io.write(path, written.bytes);
      // DataFile's partition is typed for the span table; manifests write it by the spec's field names.
      const partition = { [AUDIT_DAY_FIELD]: day } as unknown as PartitionValues;
      files.push({ ...written.metrics, path, partition, fileSizeInBytes: written.bytes.byteLength });
    }
    return this.#core.appendFiles(files, summary);
  }

  currentSnapshot(): Promise<SnapshotRef | null> {
    return this.#core.currentSnapshot();
  }

  expireDays(nowMs: number, summary: CommitSummary): Promise<SnapshotRef | null> {
    return this.#core.expireDays(nowMs, summary);
  }
}

/** Opens the audit table, creating it (and its namespace) when the catalog has none. */
export async function openIcebergAuditTable(options: IcebergAuditTableOptions): Promise<AuditTable> {
  const loaded = await loadOrCreateTable(options.catalog, options.id, auditTableDefinition(options.location));
  checkPartitionSpec(loaded.metadata, auditPartitionSpec(), loaded.metadataLocation);
  return new IcebergAuditTable(new IcebergTableCore(options, loaded, { fieldId: 1, bucketField: null }), options.rowGroupSize);
}

/** Opens the audit table with a catalog and FileIO it then owns (closed with it, or at once if opening fails). */
export function openOwnedAuditTable(options: IcebergAuditTableOptions & { io: FileIO & { close(): void } }): Promise<OpenedAuditTable> {
  return openOwned(options, () => openIcebergAuditTable(options));
}
