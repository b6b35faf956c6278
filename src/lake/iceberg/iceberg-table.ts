import { randomUUID } from 'node:crypto';
import type { FileIO } from '../file-io.ts';
import { readDataFile } from '../parquet/read.ts';
import type { ColumnName, PartialSpanColumns, SpanColumns } from '../span-schema.ts';
import { PARTITION_FIELDS } from '../span-schema.ts';
import type { CommitSummary, DataFileEntry, DataFileRef, SnapshotRef, SpanTable, TableChanges } from '../table.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { addedManifestFile, writeAddedManifest, writeBatchFiles, type PendingManifest } from './append-files.ts';
import type { Catalog, LoadedTable, TableIdentifier, TableUpdate } from './catalog.ts';
import {
  CommitConflictError,
  CommitRetriesExhaustedError,
  CommitStateUnknownError,
  InvalidMetadataError,
  NoSuchTableError,
  TableAlreadyExistsError,
} from './errors.ts';
import { ManifestCache } from './manifest-cache.ts';
import { writeManifestList, type ManifestFile } from './manifest-list.ts';
import { currentSnapshot, MAIN_BRANCH, newSnapshotId, spanTableDefinition, type Snapshot, type TableMetadata } from './metadata.ts';

export interface IcebergSpanTableOptions {
  catalog: Catalog;
  io: FileIO;
  id: TableIdentifier;
  /** Table root URI, used when the table has to be created. */
  location: string;
  /** Snapshots kept in metadata; older ones are expired at commit (their data files stay live). */
  maxSnapshots: number;
  rowGroupSize: number;
  logger: Logger;
}

const MAX_COMMIT_ATTEMPTS = 8;
/** Reloads tried to learn whether a commit whose answer was lost landed. */
const RECONCILE_ATTEMPTS = 6;

function findSnapshot(metadata: TableMetadata, snapshotId: number): Snapshot | null {
  return metadata.snapshots?.find((s) => s['snapshot-id'] === snapshotId) ?? null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function toRef(s: Snapshot): SnapshotRef {
  return {
    snapshotId: s['snapshot-id'],
    sequenceNumber: s['sequence-number'],
    timestampMs: s['timestamp-ms'],
    parentId: s['parent-snapshot-id'] ?? null,
    summary: { ...s.summary },
  };
}

function num(summary: Record<string, string> | undefined, key: string): number {
  const v = Number(summary?.[key] ?? 0);
  return Number.isFinite(v) ? v : 0;
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

class IcebergSpanTable implements SpanTable {
  private readonly options: IcebergSpanTableOptions;
  private readonly cache: ManifestCache;
  private loaded: LoadedTable;

  constructor(options: IcebergSpanTableOptions, loaded: LoadedTable) {
    this.options = options;
    this.loaded = loaded;
    this.cache = new ManifestCache(options.io);
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

  async append(batch: SpanColumns, summary: CommitSummary): Promise<SnapshotRef> {
    const { io } = this.options;
    const metadata = this.loaded.metadata;
    const schema = metadata.schemas.find((s) => s['schema-id'] === metadata['current-schema-id'])!;
    const spec = metadata['partition-specs'].find((s) => s['spec-id'] === metadata['default-spec-id'])!;
    const files = await writeBatchFiles(io, this.location, batch, this.options.rowGroupSize);
    const pending = files.length > 0 ? await writeAddedManifest(io, this.location, files, schema, spec) : null;
    try {
      return await this.commitWithRetries(pending, spec['spec-id'], summary);
    } catch (e) {
      // Refused for good (not of unknown outcome): nothing references the new files, so remove them.
      if (!(e instanceof CommitStateUnknownError)) {
        const paths = [...files.map((f) => f.path), ...(pending ? [pending.path] : [])];
        await Promise.all(paths.map((p) => io.delete(p).catch(() => undefined)));
      }
      throw e;
    }
  }

  private async commitWithRetries(pending: PendingManifest | null, specId: number, summary: CommitSummary): Promise<SnapshotRef> {
    const { logger } = this.options;
    const snapshotId = newSnapshotId();
    let lastConflict: unknown;
    for (let attempt = 1; attempt <= MAX_COMMIT_ATTEMPTS; attempt++) {
      try {
        return await this.commitAppend(snapshotId, attempt, pending, specId, summary);
      } catch (e) {
        if (e instanceof CommitStateUnknownError) {
          // The catalog may have applied it: look before committing again, never re-send blindly.
          const landed = await this.reconcile(snapshotId, e);
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
        await sleep(Math.min(1000, 10 * 2 ** attempt * Math.random()));
      }
    }
    throw new CommitRetriesExhaustedError(`append lost ${MAX_COMMIT_ATTEMPTS} commit races in a row`, { cause: lastConflict });
  }

  /**
   * After a commit whose outcome is unknown: reloads until the catalog answers and returns our
   * snapshot if the table has it (the commit landed), or null if it does not. When the catalog keeps
   * failing, the state stays unknown and so does the error.
   */
  private async reconcile(snapshotId: number, cause: CommitStateUnknownError): Promise<Snapshot | null> {
    let lastError: unknown = cause;
    for (let i = 0; i < RECONCILE_ATTEMPTS; i++) {
      try {
        const { metadata } = await this.reload();
        const landed = findSnapshot(metadata, snapshotId);
        this.options.logger.info({ snapshotId, landed: landed !== null }, 'reconciled iceberg commit of unknown state');
        return landed;
      } catch (e) {
        lastError = e;
        if (i < RECONCILE_ATTEMPTS - 1) await sleep(Math.min(5000, 250 * 2 ** i));
      }
    }
    throw new CommitStateUnknownError(
      `commit of snapshot ${snapshotId} has an unknown outcome and the table could not be reloaded to check it`,
      { cause: lastError },
    );
  }

  private async commitAppend(
    snapshotId: number,
    attempt: number,
    pending: PendingManifest | null,
    specId: number,
    summary: CommitSummary,
  ): Promise<SnapshotRef> {
    const { io, catalog, id, logger } = this.options;
    const base = this.loaded.metadata;
    const parent = currentSnapshot(base);
    const callerSummary = typeof summary === 'function' ? summary(parent ? toRef(parent) : null) : summary;
    const sequenceNumber = base['last-sequence-number'] + 1;
    const parentManifests = parent ? await this.cache.manifestList(parent['manifest-list']) : [];
    const manifests: ManifestFile[] = pending
      ? [addedManifestFile(pending, specId, snapshotId, sequenceNumber), ...parentManifests]
      : [...parentManifests];
    const listPath = `${this.location}/metadata/snap-${snapshotId}-${attempt}-${randomUUID()}.avro`;
    await io.write(
      listPath,
      writeManifestList(manifests, { snapshotId, parentSnapshotId: parent?.['snapshot-id'] ?? null, sequenceNumber }),
    );

    const addedFiles = pending?.files ?? 0;
    const addedRecords = pending?.rows ?? 0;
    const addedSize = pending?.bytes ?? 0;
    const snapshot: Snapshot = {
      'snapshot-id': snapshotId,
      ...(parent ? { 'parent-snapshot-id': parent['snapshot-id'] } : {}),
      'sequence-number': sequenceNumber,
      'timestamp-ms': Math.max(Date.now(), base['last-updated-ms']),
      'manifest-list': listPath,
      summary: {
        ...callerSummary,
        operation: 'append',
        'added-data-files': String(addedFiles),
        'added-records': String(addedRecords),
        'changed-partition-count': String(pending?.partitionCount ?? 0),
        'total-records': String(num(parent?.summary, 'total-records') + addedRecords),
        'total-data-files': String(num(parent?.summary, 'total-data-files') + addedFiles),
        'total-delete-files': '0',
        'total-position-deletes': '0',
        'total-equality-deletes': '0',
        'added-files-size': String(addedSize),
        'total-files-size': String(num(parent?.summary, 'total-files-size') + addedSize),
      },
      'schema-id': base['current-schema-id'],
    };
    // Expire in the same commit: keep the newest maxSnapshots including this one.
    const kept = [...(base.snapshots ?? [])].sort((a, b) => a['sequence-number'] - b['sequence-number']);
    const excess = kept.length + 1 - this.options.maxSnapshots;
    const expired = excess > 0 ? kept.slice(0, excess) : [];
    const updates: TableUpdate[] = [
      { action: 'add-snapshot', snapshot },
      { action: 'set-snapshot-ref', 'ref-name': MAIN_BRANCH, type: 'branch', 'snapshot-id': snapshotId },
    ];
    if (expired.length > 0) updates.push({ action: 'remove-snapshots', 'snapshot-ids': expired.map((s) => s['snapshot-id']) });
    try {
      this.loaded = await catalog.commitTable(
        id,
        [
          { type: 'assert-table-uuid', uuid: base['table-uuid'] },
          { type: 'assert-ref-snapshot-id', ref: MAIN_BRANCH, 'snapshot-id': parent?.['snapshot-id'] ?? null },
        ],
        updates,
      );
    } catch (e) {
      // Rejected: nothing references this list; the data files and manifest are reused by the retry.
      // State unknown: the catalog may have committed it, so the list must stay.
      if (!(e instanceof CommitStateUnknownError)) await io.delete(listPath).catch(() => undefined);
      throw e;
    }
    // Manifest lists belong to one snapshot each; expired ones are unreachable now.
    for (const s of expired) {
      this.cache.forget(s['manifest-list']);
      await io.delete(s['manifest-list']).catch((err: unknown) => logger.warn({ err }, 'could not delete expired manifest list'));
    }
    logger.debug({ snapshotId, sequenceNumber, files: addedFiles, records: addedRecords, expired: expired.length }, 'iceberg append committed');
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
    // so older manifests cannot hold anything new and are not even opened.
    for (const m of manifests) {
      if (m.content !== 0 || m.sequenceNumber <= sequenceNumber) continue;
      for (const f of await this.cache.dataFiles(m)) {
        if (f.sequenceNumber > sequenceNumber) files.push(f);
      }
    }
    files.sort((a, b) => a.sequenceNumber - b.sequenceNumber);
    return { snapshots, files, lastSequenceNumber: Math.max(sequenceNumber, current['sequence-number']) };
  }

  read(file: DataFileRef, columns: readonly ColumnName[], traceIds?: ReadonlySet<string>): Promise<PartialSpanColumns> {
    return readDataFile(this.options.io, file.path, file.fileSizeInBytes, columns, traceIds);
  }
}

/**
 * Opens the span table with a catalog and FileIO it then owns: they are closed with the table, or at
 * once if opening fails.
 */
export async function openOwnedSpanTable(
  options: IcebergSpanTableOptions & { io: FileIO & { close(): void } },
): Promise<{ table: SpanTable; close(): Promise<void> }> {
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

/** Opens the span table, creating it (and its namespace) when the catalog has none. */
export async function openIcebergSpanTable(options: IcebergSpanTableOptions): Promise<SpanTable> {
  const { catalog, id } = options;
  let loaded = await catalog.loadTable(id);
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
