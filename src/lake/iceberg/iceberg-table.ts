import type { FileIO } from '../file-io.ts';
import { readDataFile } from '../parquet/read.ts';
import type { ColumnName, PartialSpanColumns, WriteSpanColumns } from '../span-schema.ts';
import type { CommitSummary, DataFileEntry, DataFileRef, OpenedSpanTable, SnapshotRef, SpanParts, SpanTable, TableChanges } from '../table.ts';
import type { StorageConfig } from '../../config/schema.ts';
import { RecentHotColumns } from '../recent-hot-columns.ts';
import { wholeBatch, writeBatchFiles } from './append-files.ts';
import type { LoadedTable } from './catalog.ts';
import { InvalidMetadataError, NoSuchTableError, TableReadOnlyError } from './errors.ts';
import { fillAbsent, resolveExternalLayout, type ColumnMapping, type ExternalLayout } from './external-layout.ts';
import { currentSnapshot, spanPartitionSpec, spanTableDefinition } from './metadata.ts';
import { checkPartitionSpec, IcebergTableCore, loadOrCreateTable, openOwned, toRef, type IcebergTableOptions } from './table-core.ts';

export interface IcebergSpanTableOptions extends IcebergTableOptions {
  rowGroupSize: number;
  /**
   * Read a table someone else writes (`storage.materializer: external`), its columns found by these
   * names (span columns not listed: their own names). The table must exist; appends are refused.
   */
  external?: ColumnMapping;
}

function externalLayout(mapping: ColumnMapping, t: LoadedTable): ExternalLayout {
  const m = t.metadata;
  const schema = m.schemas.find((x) => x['schema-id'] === m['current-schema-id']);
  if (schema === undefined) throw new InvalidMetadataError(`${t.metadataLocation}: no current schema`);
  return resolveExternalLayout(schema, m['partition-specs'].find((x) => x['spec-id'] === m['default-spec-id']), mapping, t.metadataLocation);
}

/**
 * Rows of just-committed files whose hot columns stay in memory until the evaluator folds them
 * (~110 bytes a row: at most ~30 MB when the evaluator falls behind).
 */
const RECENT_HOT_ROWS = 262_144;

class IcebergSpanTable implements SpanTable {
  private readonly core: IcebergTableCore;
  /** How the table's columns map to span columns (external tables only). */
  private readonly layout: ExternalLayout | null;
  private readonly rowGroupSize: number;
  /** Hot columns of files this process committed, until the evaluator reads them (tables it writes only). */
  private readonly recent: RecentHotColumns | null;

  constructor(options: IcebergSpanTableOptions, loaded: LoadedTable) {
    this.layout = options.external === undefined ? null : externalLayout(options.external, loaded);
    this.core = new IcebergTableCore(options, loaded, this.layout?.traceIds);
    this.rowGroupSize = options.rowGroupSize;
    this.recent = this.layout === null ? new RecentHotColumns(RECENT_HOT_ROWS) : null;
  }

  private refuseWrite(what: string): void {
    if (this.layout !== null) {
      const { id } = this.core.options;
      throw new TableReadOnlyError(`${what}: table ${id.namespace}.${id.name} is written by another writer (storage.materializer: external)`);
    }
  }

  async append(spans: WriteSpanColumns | SpanParts, summary: CommitSummary): Promise<SnapshotRef> {
    this.refuseWrite('append');
    const written: { path: string; hot: PartialSpanColumns; receivedMs: Float64Array | undefined }[] = [];
    const parts = 'part' in spans ? spans : wholeBatch(spans);
    const files = await writeBatchFiles(this.core.options.io, this.core.location, parts, this.rowGroupSize, (path, hot, receivedMs) =>
      written.push({ path, hot, receivedMs }),
    );
    const ref = await this.core.appendFiles(files, summary);
    for (const w of written) this.recent?.put(w.path, w.hot, w.receivedMs);
    return ref;
  }

  async expireDays(nowMs: number, summary: CommitSummary): Promise<SnapshotRef | null> {
    this.refuseWrite('expireDays');
    return this.core.expireDays(nowMs, summary);
  }

  currentSnapshot(): Promise<SnapshotRef | null> {
    return this.core.currentSnapshot();
  }

  async changesSince(sequenceNumber: number): Promise<TableChanges> {
    const { metadata } = await this.core.reload();
    const snapshots = (metadata.snapshots ?? [])
      .filter((s) => s['sequence-number'] > sequenceNumber)
      .sort((a, b) => a['sequence-number'] - b['sequence-number'])
      .map(toRef);
    const current = currentSnapshot(metadata);
    if (current === null) return { snapshots, files: [], lastSequenceNumber: sequenceNumber };
    const manifests = await this.core.cache.manifestList(current['manifest-list']);
    const files: DataFileEntry[] = [];
    // A manifest's sequence number bounds the data sequence numbers of its entries from above,
    // so older manifests cannot hold anything new and are not even opened. One that added no file
    // (merged or rewritten) holds only files of earlier snapshots: the bound is one lower. Those are
    // large and read once, so they stay out of the cache.
    for (const m of manifests) {
      const added = m.addedFilesCount > 0;
      if (m.content !== 0 || m.sequenceNumber - (added ? 0 : 1) <= sequenceNumber) continue;
      for (const f of await this.core.cache.dataFiles(m, { cache: added })) {
        if (f.sequenceNumber > sequenceNumber) files.push(f);
      }
    }
    files.sort((a, b) => a.sequenceNumber - b.sequenceNumber);
    return { snapshots, files, lastSequenceNumber: Math.max(sequenceNumber, current['sequence-number']) };
  }

  async read(file: DataFileRef, columns: readonly ColumnName[], traceIds?: ReadonlySet<string>): Promise<PartialSpanColumns> {
    const layout = this.layout;
    if (traceIds === undefined) {
      const held = this.recent?.take(file.path, columns);
      if (held) return held;
    }
    if (layout === null) return readDataFile(this.core.options.io, file.path, file.fileSizeInBytes, columns, traceIds);
    const cols = await readDataFile(this.core.options.io, file.path, file.fileSizeInBytes, columns, traceIds, layout.columns);
    return fillAbsent(cols, columns, layout.absent);
  }
}

/** The table options `storage` config sets: file layout, snapshot expiry, retention, manifest merging, external mode. */
export function tableOptionsFromConfig(
  config: StorageConfig,
): Pick<IcebergSpanTableOptions, 'maxSnapshots' | 'rowGroupSize' | 'retentionDays' | 'manifestMerge' | 'external'> {
  return {
    ...(config.materializer === 'external' ? { external: config.external.columns } : {}),
    maxSnapshots: config.max_snapshots,
    rowGroupSize: config.row_group_size,
    retentionDays: config.retention_days,
    manifestMerge: {
      enabled: config.manifest_merge.enabled,
      minCountToMerge: config.manifest_merge.min_count_to_merge,
      targetSizeBytes: config.manifest_merge.target_size_kib * 1024,
    },
  };
}

/**
 * Opens the span table with a catalog and FileIO it then owns: they are closed with the table, or at
 * once if opening fails.
 */
export function openOwnedSpanTable(options: IcebergSpanTableOptions & { io: FileIO & { close(): void } }): Promise<OpenedSpanTable> {
  return openOwned(options, () => openIcebergSpanTable(options));
}

/** Opens the span table, creating it (and its namespace) when the catalog has none; an external table must exist. */
export async function openIcebergSpanTable(options: IcebergSpanTableOptions): Promise<SpanTable> {
  const { catalog, id } = options;
  if (options.external !== undefined) {
    const loaded = await catalog.loadTable(id);
    if (loaded === null) {
      throw new NoSuchTableError(
        `external table ${id.namespace}.${id.name} does not exist (its writer creates it, e.g. AutoMQ on the first record of a table topic)`,
      );
    }
    return new IcebergSpanTable(options, loaded);
  }
  const loaded = await loadOrCreateTable(catalog, id, spanTableDefinition(options.location));
  checkPartitionSpec(loaded.metadata, spanPartitionSpec(), loaded.metadataLocation);
  return new IcebergSpanTable(options, loaded);
}
