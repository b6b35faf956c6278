import { randomUUID } from 'node:crypto';
import type { FileIO } from '../file-io.ts';
import { readDataFile } from '../parquet/read.ts';
import type { ColumnName, PartialSpanColumns, SpanColumns } from '../span-schema.ts';
import { PARTITION_FIELDS } from '../span-schema.ts';
import type { CommitSummary, DataFileEntry, DataFileRef, OpenedSpanTable, SnapshotRef, SpanTable, TableChanges } from '../table.ts';
import type { StorageConfig } from '../../config/schema.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { nextBackoff, retryWithBackoff, sleep, type BackoffPolicy } from '../../retry.ts';
import { addedManifestFile, dayPath, writeAddedManifest, writeBatchFiles } from './append-files.ts';
import type { Catalog, LoadedTable, TableIdentifier, TableUpdate } from './catalog.ts';
import {
  CommitConflictError,
  CommitRetriesExhaustedError,
  CommitStateUnknownError,
  InvalidMetadataError,
  NoSuchTableError,
  TableAlreadyExistsError,
  TableReadOnlyError,
} from './errors.ts';
import { ManifestCache } from './manifest-cache.ts';
import { RecentHotColumns } from '../recent-hot-columns.ts';
import { fillAbsent, resolveExternalLayout, type ColumnMapping, type ExternalLayout } from './external-layout.ts';
import { writeManifestList } from './manifest-list.ts';
import { DEFAULT_MANIFEST_MERGE, mergeManifests, type ManifestMergePolicy, type ManifestWriteContext } from './manifest-rewrite.ts';
import { expireDayPartitions, firstKeptDay } from './retention.ts';
import { deleteExpiredFiles, snapshotsToExpire } from './snapshot-expiry.ts';
import { NO_FILES, snapshotSummary, type ChangeBuilder } from './snapshot-change.ts';
import { currentSnapshot, MAIN_BRANCH, newSnapshotId, spanTableDefinition, type Snapshot, type TableMetadata } from './metadata.ts';

export interface IcebergSpanTableOptions {
  catalog: Catalog;
  io: FileIO;
  id: TableIdentifier;
  /** Table root URI, used when the table has to be created. */
  location: string;
  /**
   * Snapshots kept in metadata; older ones are expired at commit, with the manifests and data files
   * no kept snapshot references any more.
   */
  maxSnapshots: number;
  /** Day partitions older than this many days are dropped by expireDays; 0 (default) keeps all. */
  retentionDays?: number;
  /** When commits merge small manifests (default: DEFAULT_MANIFEST_MERGE). */
  manifestMerge?: ManifestMergePolicy;
  rowGroupSize: number;
  logger: Logger;
  /**
   * Read a table someone else writes (`storage.materializer: external`), its columns found by these
   * names (span columns not listed: their own names). The table must exist; appends are refused.
   */
  external?: ColumnMapping;
}

const MAX_COMMIT_ATTEMPTS = 8;
/**
 * Rows of just-committed files whose hot columns stay in memory until the evaluator folds them
 * (~110 bytes a row: at most ~30 MB when the evaluator falls behind).
 */
const RECENT_HOT_ROWS = 262_144;
/**
 * Between commits that lost a race: 0–20 ms, doubling, up to 0–1 s (full jitter, so that writers
 * that collided spread out).
 */
const COMMIT_BACKOFF: BackoffPolicy = { initialIntervalMs: 10, multiplier: 2, maxIntervalMs: 500, randomization: 1 };
/** Reloads tried to learn whether a commit whose answer was lost landed, 0.25 s apart, doubling. */
const RECONCILE_ATTEMPTS = 6;
const RECONCILE_BACKOFF: BackoffPolicy = { initialIntervalMs: 250, multiplier: 2, maxIntervalMs: 5000, randomization: 0 };

function findSnapshot(metadata: TableMetadata, snapshotId: number): Snapshot | null {
  return metadata.snapshots?.find((s) => s['snapshot-id'] === snapshotId) ?? null;
}

function toRef(s: Snapshot): SnapshotRef {
  return {
    snapshotId: s['snapshot-id'],
    sequenceNumber: s['sequence-number'],
    timestampMs: s['timestamp-ms'],
    parentId: s['parent-snapshot-id'] ?? null,
    summary: { ...s.summary },
  };
}

/** The table must be partitioned the way the writer partitions files, or readers would prune wrongly. */
function checkLayout(metadata: TableMetadata, where: string): void {
  const spec = metadata['partition-specs'].find((s) => s['spec-id'] === metadata['default-spec-id']);
  const same =
    spec !== undefined &&
    spec.fields.length === PARTITION_FIELDS.length &&
    PARTITION_FIELDS.every((f, i) => {
      const g = spec.fields[i]!;
      return g.name === f.name && g['field-id'] === f.fieldId && g['source-id'] === f.sourceId && g.transform === f.transform;
    });
  if (!same) throw new InvalidMetadataError(`${where}: table partition spec differs from day(timestamp), bucket[16](trace_id)`);
}

function externalLayout(mapping: ColumnMapping, t: LoadedTable): ExternalLayout {
  const m = t.metadata;
  const schema = m.schemas.find((x) => x['schema-id'] === m['current-schema-id']);
  if (schema === undefined) throw new InvalidMetadataError(`${t.metadataLocation}: no current schema`);
  return resolveExternalLayout(schema, m['partition-specs'].find((x) => x['spec-id'] === m['default-spec-id']), mapping, t.metadataLocation);
}

class IcebergSpanTable implements SpanTable {
  private readonly options: IcebergSpanTableOptions;
  private readonly cache: ManifestCache;
  private loaded: LoadedTable;
  /** How the table's columns map to span columns (external tables only). */
  private readonly layout: ExternalLayout | null;
  /** Hot columns of files this process committed, until the evaluator reads them (tables it writes only). */
  private readonly recent: RecentHotColumns | null;

  constructor(options: IcebergSpanTableOptions, loaded: LoadedTable) {
    this.options = options;
    this.loaded = loaded;
    this.layout = options.external === undefined ? null : externalLayout(options.external, loaded);
    this.cache = new ManifestCache(options.io, this.layout?.traceIds);
    this.recent = this.layout === null ? new RecentHotColumns(RECENT_HOT_ROWS) : null;
  }

  private refuseWrite(what: string): void {
    if (this.layout !== null) {
      throw new TableReadOnlyError(`${what}: table ${this.options.id.namespace}.${this.options.id.name} is written by another writer (storage.materializer: external)`);
    }
  }

  private get location(): string {
    return this.loaded.metadata.location.replace(/\/+$/, '');
  }

  private async reload(): Promise<LoadedTable> {
    const t = await this.options.catalog.loadTable(this.options.id);
    if (t === null) throw new NoSuchTableError(`table ${this.options.id.namespace}.${this.options.id.name} disappeared`);
    // A reader's reload can finish after a concurrent append committed; keep the newer state so
    // the next append does not start from a stale parent (that would only cost a retry).
    if (t.metadata['last-sequence-number'] >= this.loaded.metadata['last-sequence-number'] || t.metadata['table-uuid'] !== this.loaded.metadata['table-uuid']) {
      this.loaded = t;
    }
    return t;
  }

  private get merge(): ManifestMergePolicy {
    return this.options.manifestMerge ?? DEFAULT_MANIFEST_MERGE;
  }

  async append(batch: SpanColumns, summary: CommitSummary): Promise<SnapshotRef> {
    this.refuseWrite('append');
    const { io } = this.options;
    const metadata = this.loaded.metadata;
    const schema = metadata.schemas.find((s) => s['schema-id'] === metadata['current-schema-id'])!;
    const spec = metadata['partition-specs'].find((s) => s['spec-id'] === metadata['default-spec-id'])!;
    const rowsByPath = new Map<string, Int32Array>();
    const files = await writeBatchFiles(io, this.location, batch, this.options.rowGroupSize, (path, rows) => rowsByPath.set(path, rows));
    const pending = files.length > 0 ? await writeAddedManifest(io, this.location, files, schema, spec) : null;
    const change: ChangeBuilder = async (ctx, carried) => ({
      operation: 'append',
      manifests: pending ? [addedManifestFile(pending, spec['spec-id'], ctx.snapshotId, ctx.sequenceNumber)] : [],
      carried,
      attemptFiles: [],
      added: { files: pending?.files ?? 0, records: pending?.rows ?? 0, bytes: pending?.bytes ?? 0 },
      deleted: NO_FILES,
      changedPartitions: pending?.partitionCount ?? 0,
    });
    try {
      // An append always has a change to commit, so a snapshot comes back.
      const ref = (await this.commitWithRetries(change, summary))!;
      for (const [path, rows] of rowsByPath) this.recent?.put(path, batch, rows);
      return ref;
    } catch (e) {
      // Refused for good (not of unknown outcome): nothing references the new files, so remove them.
      if (!(e instanceof CommitStateUnknownError)) {
        const paths = [...files.map((f) => f.path), ...(pending ? [pending.path] : [])];
        await Promise.all(paths.map((p) => io.delete(p).catch(() => undefined)));
      }
      throw e;
    }
  }

  async expireDays(nowMs: number, summary: CommitSummary): Promise<SnapshotRef | null> {
    this.refuseWrite('expireDays');
    const retentionDays = this.options.retentionDays ?? 0;
    if (retentionDays <= 0) return null;
    const firstKept = firstKeptDay(nowMs, retentionDays);
    const change: ChangeBuilder = async (ctx, carried) => {
      const expiry = await expireDayPartitions(ctx, this.cache, carried, firstKept);
      if (expiry === null) return null;
      const rewritten = new Set(expiry.written.map((m) => m.path));
      return {
        operation: 'delete',
        manifests: expiry.written,
        carried: expiry.manifests.filter((m) => !rewritten.has(m.path)),
        attemptFiles: [...rewritten],
        added: NO_FILES,
        deleted: expiry.deleted,
        changedPartitions: expiry.changedPartitions,
      };
    };
    const ref = await this.commitWithRetries(change, summary);
    if (ref !== null) {
      this.options.logger.info(
        { snapshotId: ref.snapshotId, firstKeptDay: dayPath(firstKept), files: ref.summary['deleted-data-files'], records: ref.summary['deleted-records'] },
        'dropped day partitions past retention',
      );
    }
    return ref;
  }

  private async commitWithRetries(change: ChangeBuilder, summary: CommitSummary): Promise<SnapshotRef | null> {
    const { logger } = this.options;
    const snapshotId = newSnapshotId();
    let lastConflict: unknown;
    for (let attempt = 1; attempt <= MAX_COMMIT_ATTEMPTS; attempt++) {
      try {
        return await this.commitAttempt(snapshotId, attempt, change, summary);
      } catch (e) {
        if (e instanceof CommitStateUnknownError) {
          // The catalog may have applied it: look before committing again, never re-send blindly.
          const landed = await this.reconcile(snapshotId);
          if (landed !== null) return toRef(landed);
          lastConflict = e;
          logger.warn({ attempt, snapshotId, err: e.message }, 'iceberg commit state unknown; the snapshot is not in the table, committing again');
          continue;
        }
        if (!(e instanceof CommitConflictError)) throw e;
        lastConflict = e;
        logger.warn({ attempt, err: e.message }, 'iceberg commit conflict; reloading and retrying');
        // A commit whose answer was lost may have landed since: then this conflict is our own snapshot.
        const landed = findSnapshot((await this.reload()).metadata, snapshotId);
        if (landed !== null) return toRef(landed);
        if (attempt < MAX_COMMIT_ATTEMPTS) await sleep(nextBackoff(COMMIT_BACKOFF, attempt));
      }
    }
    throw new CommitRetriesExhaustedError(`commit lost ${MAX_COMMIT_ATTEMPTS} races in a row`, { cause: lastConflict });
  }

  /**
   * After a commit whose outcome is unknown: reloads until the catalog answers and returns our
   * snapshot if the table has it (the commit landed), or null if it does not. When the catalog keeps
   * failing, the state stays unknown and so does the error.
   */
  private async reconcile(snapshotId: number): Promise<Snapshot | null> {
    const { metadata } = await retryWithBackoff(() => this.reload(), {
      backoff: RECONCILE_BACKOFF,
      maxAttempts: RECONCILE_ATTEMPTS,
      retryable: () => true,
      exhausted: (_attempts, lastError) =>
        new CommitStateUnknownError(
          `commit of snapshot ${snapshotId} has an unknown outcome and the table could not be reloaded to check it`,
          { cause: lastError },
        ),
    });
    const landed = findSnapshot(metadata, snapshotId);
    this.options.logger.info({ snapshotId, landed: landed !== null }, 'reconciled iceberg commit of unknown state');
    return landed;
  }

  /**
   * One commit attempt on the table state last seen: the change is built on its current snapshot,
   * small manifests are merged, snapshots beyond maxSnapshots expire in the same commit, and once it
   * landed the files only expired snapshots referenced are deleted. Null: nothing to commit.
   */
  private async commitAttempt(snapshotId: number, attempt: number, build: ChangeBuilder, summary: CommitSummary): Promise<SnapshotRef | null> {
    const { io, catalog, id, logger } = this.options;
    const base = this.loaded.metadata;
    const parent = currentSnapshot(base);
    const callerSummary = typeof summary === 'function' ? summary(parent ? toRef(parent) : null) : summary;
    const sequenceNumber = base['last-sequence-number'] + 1;
    const ctx: ManifestWriteContext = {
      io,
      location: this.location,
      schema: base.schemas.find((s) => s['schema-id'] === base['current-schema-id'])!,
      spec: base['partition-specs'].find((s) => s['spec-id'] === base['default-spec-id'])!,
      snapshotId,
      sequenceNumber,
    };
    const parentManifests = parent ? await this.cache.manifestList(parent['manifest-list']) : [];
    // A manifest left with no live file (all deleted by an earlier snapshot) is not carried on.
    const change = await build(ctx, parentManifests.filter((m) => m.addedFilesCount + m.existingFilesCount > 0));
    if (change === null) return null;
    const written = [...change.attemptFiles];
    const listPath = `${this.location}/metadata/snap-${snapshotId}-${attempt}-${randomUUID()}.avro`;
    const expired = snapshotsToExpire(base, this.options.maxSnapshots);
    let snapshot: Snapshot;
    let committed: LoadedTable;
    try {
      const merged = await mergeManifests(ctx, this.cache, change.carried, change.manifests.length, this.merge);
      written.push(...merged.written.map((m) => m.path));
      const manifests = [...change.manifests, ...merged.manifests];
      const kept = merged.manifests.length - merged.written.length;
      await io.write(listPath, writeManifestList(manifests, { snapshotId, parentSnapshotId: parent?.['snapshot-id'] ?? null, sequenceNumber }));
      snapshot = {
        'snapshot-id': snapshotId,
        ...(parent ? { 'parent-snapshot-id': parent['snapshot-id'] } : {}),
        'sequence-number': sequenceNumber,
        'timestamp-ms': Math.max(Date.now(), base['last-updated-ms']),
        'manifest-list': listPath,
        summary: snapshotSummary(parent, callerSummary, change, {
          created: change.manifests.length + merged.written.length,
          replaced: parentManifests.length - kept,
          kept,
        }),
        'schema-id': base['current-schema-id'],
      };
      const updates: TableUpdate[] = [
        { action: 'add-snapshot', snapshot },
        { action: 'set-snapshot-ref', 'ref-name': MAIN_BRANCH, type: 'branch', 'snapshot-id': snapshotId },
      ];
      if (expired.length > 0) updates.push({ action: 'remove-snapshots', 'snapshot-ids': expired.map((s) => s['snapshot-id']) });
      committed = await catalog.commitTable(
        id,
        [
          { type: 'assert-table-uuid', uuid: base['table-uuid'] },
          { type: 'assert-ref-snapshot-id', ref: MAIN_BRANCH, 'snapshot-id': parent?.['snapshot-id'] ?? null },
        ],
        updates,
      );
    } catch (e) {
      // Rejected: nothing references this attempt's list and manifests (the added manifest and data
      // files are reused by the retry). State unknown: the catalog may have committed them, so they stay.
      if (!(e instanceof CommitStateUnknownError)) await Promise.all([...written, listPath].map((p) => io.delete(p).catch(() => undefined)));
      throw e;
    }
    this.loaded = committed;
    const freed = await deleteExpiredFiles({ io, cache: this.cache, logger }, committed.metadata, expired);
    if (freed.dataFiles > 0) logger.info({ snapshotId, expiredSnapshots: expired.length, ...freed }, 'deleted data files no kept snapshot references');
    logger.debug(
      { snapshotId, sequenceNumber, operation: change.operation, summary: snapshot.summary, expiredSnapshots: expired.length, freed },
      'iceberg commit landed',
    );
    return toRef(snapshot);
  }

  async currentSnapshot(): Promise<SnapshotRef | null> {
    const { metadata } = await this.reload();
    const s = currentSnapshot(metadata);
    return s ? toRef(s) : null;
  }

  async changesSince(sequenceNumber: number): Promise<TableChanges> {
    const { metadata } = await this.reload();
    const snapshots = (metadata.snapshots ?? [])
      .filter((s) => s['sequence-number'] > sequenceNumber)
      .sort((a, b) => a['sequence-number'] - b['sequence-number'])
      .map(toRef);
    const current = currentSnapshot(metadata);
    if (current === null) return { snapshots, files: [], lastSequenceNumber: sequenceNumber };
    const manifests = await this.cache.manifestList(current['manifest-list']);
    const files: DataFileEntry[] = [];
    // A manifest's sequence number bounds the data sequence numbers of its entries from above,
    // so older manifests cannot hold anything new and are not even opened. One that added no file
    // (merged or rewritten) holds only files of earlier snapshots: the bound is one lower. Those are
    // large and read once, so they stay out of the cache.
    for (const m of manifests) {
      const added = m.addedFilesCount > 0;
      if (m.content !== 0 || m.sequenceNumber - (added ? 0 : 1) <= sequenceNumber) continue;
      for (const f of await this.cache.dataFiles(m, { cache: added })) {
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
    if (layout === null) return readDataFile(this.options.io, file.path, file.fileSizeInBytes, columns, traceIds);
    const cols = await readDataFile(this.options.io, file.path, file.fileSizeInBytes, columns, traceIds, layout.columns);
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
export async function openOwnedSpanTable(
  options: IcebergSpanTableOptions & { io: FileIO & { close(): void } },
): Promise<OpenedSpanTable> {
  const close = async (): Promise<void> => {
    await options.catalog.close();
    options.io.close();
  };
  try {
    return { table: await openIcebergSpanTable(options), close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Opens the span table, creating it (and its namespace) when the catalog has none; an external table must exist. */
export async function openIcebergSpanTable(options: IcebergSpanTableOptions): Promise<SpanTable> {
  const { catalog, id } = options;
  let loaded = await catalog.loadTable(id);
  if (options.external !== undefined) {
    if (loaded === null) {
      throw new NoSuchTableError(
        `external table ${id.namespace}.${id.name} does not exist (its writer creates it, e.g. AutoMQ on the first record of a table topic)`,
      );
    }
    return new IcebergSpanTable(options, loaded);
  }
  if (loaded === null) {
    try {
      loaded = await catalog.createTable(id, spanTableDefinition(options.location));
    } catch (e) {
      // Another process created it first: use theirs.
      if (!(e instanceof TableAlreadyExistsError)) throw e;
      loaded = await catalog.loadTable(id);
      if (loaded === null) throw e;
    }
  }
  checkLayout(loaded.metadata, loaded.metadataLocation);
  return new IcebergSpanTable(options, loaded);
}
