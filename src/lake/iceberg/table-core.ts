import { randomUUID } from 'node:crypto';
import type { FileIO } from '../file-io.ts';
import type { CommitSummary, DataFile, SnapshotRef } from '../table.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { nextBackoff, retryWithBackoff, sleep, type BackoffPolicy } from '../../retry.ts';
import { addedManifestFile, dayPath, writeAddedManifest } from './append-files.ts';
import type { Catalog, CreateTableRequest, LoadedTable, TableIdentifier, TableUpdate } from './catalog.ts';
import {
  CommitConflictError,
  CommitRetriesExhaustedError,
  CommitStateUnknownError,
  InvalidMetadataError,
  NoSuchTableError,
  TableAlreadyExistsError,
} from './errors.ts';
import { ManifestCache, type TraceIdLayout } from './manifest-cache.ts';
import { writeManifestList } from './manifest-list.ts';
import { DEFAULT_MANIFEST_MERGE, mergeManifests, type ManifestMergePolicy, type ManifestWriteContext } from './manifest-rewrite.ts';
import { expireDayPartitions, firstKeptDay } from './retention.ts';
import { deleteExpiredFiles, snapshotsToExpire } from './snapshot-expiry.ts';
import { NO_FILES, snapshotSummary, type ChangeBuilder } from './snapshot-change.ts';
import { currentSnapshot, MAIN_BRANCH, newSnapshotId, type PartitionSpec, type Snapshot, type TableMetadata } from './metadata.ts';

/** What every table this service writes shares: where it is, and its upkeep (snapshot expiry, retention, manifest merging). */
export interface IcebergTableOptions {
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
  logger: Logger;
}

const MAX_COMMIT_ATTEMPTS = 8;
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

export function toRef(s: Snapshot): SnapshotRef {
  return {
    snapshotId: s['snapshot-id'],
    sequenceNumber: s['sequence-number'],
    timestampMs: s['timestamp-ms'],
    parentId: s['parent-snapshot-id'] ?? null,
    summary: { ...s.summary },
  };
}

/** The table must be partitioned the way the writer partitions files, or readers would prune wrongly. */
export function checkPartitionSpec(metadata: TableMetadata, want: PartitionSpec, where: string): void {
  const spec = metadata['partition-specs'].find((s) => s['spec-id'] === metadata['default-spec-id']);
  const same =
    spec !== undefined &&
    spec.fields.length === want.fields.length &&
    want.fields.every((f, i) => {
      const g = spec.fields[i]!;
      return g.name === f.name && g['field-id'] === f['field-id'] && g['source-id'] === f['source-id'] && g.transform === f.transform;
    });
  if (!same) {
    throw new InvalidMetadataError(`${where}: table partition spec differs from ${want.fields.map((f) => `${f.transform}(${f.name})`).join(', ')}`);
  }
}

/** Loads the table, creating it (and its namespace) from `definition` when the catalog has none. */
/**
 * Opens a table with a catalog and FileIO it then owns: `close` closes both, and they are closed at
 * once if opening fails.
 */
export async function openOwned<T>(
  owned: { catalog: Catalog; io: FileIO & { close(): void } },
  open: () => Promise<T>,
): Promise<{ table: T; close: () => Promise<void> }> {
  const close = async (): Promise<void> => {
    await owned.catalog.close();
    owned.io.close();
  };
  try {
    return { table: await open(), close };
  } catch (e) {
    await close();
    throw e;
  }
}

export async function loadOrCreateTable(catalog: Catalog, id: TableIdentifier, definition: CreateTableRequest): Promise<LoadedTable> {
  const loaded = await catalog.loadTable(id);
  if (loaded !== null) return loaded;
  try {
    return await catalog.createTable(id, definition);
  } catch (e) {
    // Another process created it first: use theirs.
    if (!(e instanceof TableAlreadyExistsError)) throw e;
    const theirs = await catalog.loadTable(id);
    if (theirs === null) throw e;
    return theirs;
  }
}

/**
 * The commit machinery of an Iceberg table, whatever its schema: appends of data files written by the
 * caller, day-partition retention, snapshot expiry and manifest merging at commit, conflict retries
 * and reconciliation of commits whose outcome is unknown. The span table and the decision audit
 * table are both built on it.
 */
export class IcebergTableCore {
  readonly options: IcebergTableOptions;
  readonly cache: ManifestCache;
  loaded: LoadedTable;

  constructor(options: IcebergTableOptions, loaded: LoadedTable, traceIds?: TraceIdLayout) {
    this.options = options;
    this.loaded = loaded;
    this.cache = new ManifestCache(options.io, traceIds);
  }

  get location(): string {
    return this.loaded.metadata.location.replace(/\/+$/, '');
  }

  async reload(): Promise<LoadedTable> {
    const t = await this.options.catalog.loadTable(this.options.id);
    if (t === null) throw new NoSuchTableError(`table ${this.options.id.namespace}.${this.options.id.name} disappeared`);
    // A reader's reload can finish after a concurrent append committed; keep the newer state so
    // the next append does not start from a stale parent (that would only cost a retry).
    if (t.metadata['last-sequence-number'] >= this.loaded.metadata['last-sequence-number'] || t.metadata['table-uuid'] !== this.loaded.metadata['table-uuid']) {
      this.loaded = t;
    }
    return t;
  }

  /** The current snapshot, or null for a table with none. Reloads from the catalog. */
  async currentSnapshot(): Promise<SnapshotRef | null> {
    const { metadata } = await this.reload();
    const s = currentSnapshot(metadata);
    return s ? toRef(s) : null;
  }

  private get merge(): ManifestMergePolicy {
    return this.options.manifestMerge ?? DEFAULT_MANIFEST_MERGE;
  }

  /**
   * Commits data files the caller wrote under the table location as one append snapshot carrying
   * `summary`. Refused for good (not of unknown outcome): the files are deleted, nothing references them.
   */
  async appendFiles(files: readonly DataFile[], summary: CommitSummary): Promise<SnapshotRef> {
    const { io } = this.options;
    const metadata = this.loaded.metadata;
    const schema = metadata.schemas.find((s) => s['schema-id'] === metadata['current-schema-id'])!;
    const spec = metadata['partition-specs'].find((s) => s['spec-id'] === metadata['default-spec-id'])!;
    let pending: Awaited<ReturnType<typeof writeAddedManifest>> | null = null;
    try {
      pending = files.length > 0 ? await writeAddedManifest(io, this.location, files, schema, spec) : null;
      const added = pending;
      const change: ChangeBuilder = async (ctx, carried) => ({
        operation: 'append',
        manifests: added ? [addedManifestFile(added, spec['spec-id'], ctx.snapshotId, ctx.sequenceNumber)] : [],
        carried,
        attemptFiles: [],
        added: { files: added?.files ?? 0, records: added?.rows ?? 0, bytes: added?.bytes ?? 0 },
        deleted: NO_FILES,
        changedPartitions: added?.partitionCount ?? 0,
      });
      // An append always has a change to commit, so a snapshot comes back.
      return (await this.commitWithRetries(change, summary))!;
    } catch (e) {
      if (!(e instanceof CommitStateUnknownError)) {
        const paths = [...files.map((f) => f.path), ...(pending ? [pending.path] : [])];
        await Promise.all(paths.map((p) => io.delete(p).catch(() => undefined)));
      }
      throw e;
    }
  }

  /**
   * Drops every day partition (the spec's first `day` field) whose whole day ended more than the
   * retention before `nowMs`: one `delete` snapshot carrying `summary`, or null when nothing is that
   * old or retention is off.
   */
  async expireDays(nowMs: number, summary: CommitSummary): Promise<SnapshotRef | null> {
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
}
