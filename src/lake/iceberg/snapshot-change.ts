import type { DataFile } from '../table.ts';
import type { ManifestFile } from './manifest-list.ts';
import type { ManifestWriteContext } from './manifest-rewrite.ts';
import type { Snapshot } from './metadata.ts';

/** Files, records and bytes a commit adds or removes. */
export interface FileTotals {
  files: number;
  records: number;
  bytes: number;
}

export const NO_FILES: FileTotals = { files: 0, records: 0, bytes: 0 };

/** Adds `files` to `t`. */
export function addTotals(t: FileTotals, files: readonly DataFile[]): void {
  t.files += files.length;
  for (const f of files) {
    t.records += f.recordCount;
    t.bytes += f.fileSizeInBytes;
  }
}

/** What one commit attempt changes, built on the attempt's parent snapshot. */
export interface SnapshotChange {
  /** Snapshot operation (spec): `append` adds files only, `delete` removes files only. */
  operation: 'append' | 'delete';
  /** Manifests this change puts first in the new list (left out of merging in this commit). */
  manifests: ManifestFile[];
  /** The parent's manifests that stay (may be merged). */
  carried: ManifestFile[];
  /** Files written for this attempt alone: deleted if the catalog refuses it. */
  attemptFiles: string[];
  added: FileTotals;
  deleted: FileTotals;
  changedPartitions: number;
}

/**
 * Builds the change on a commit attempt's parent (given its live manifests), writing what it needs
 * through `ctx`; null when there is nothing to commit. Called again on every retry.
 */
export type ChangeBuilder = (ctx: ManifestWriteContext, carried: ManifestFile[]) => Promise<SnapshotChange | null>;

function num(summary: Record<string, string> | undefined, key: string): number {
  const v = Number(summary?.[key] ?? 0);
  return Number.isFinite(v) ? v : 0;
}

/**
 * Snapshot summary (spec "Snapshot Summary", Java's SnapshotSummary keys): the caller's properties,
 * the operation, what it added or deleted, running totals from the parent, and how the manifest list
 * changed (created, replaced and kept manifests, as Java's merging appends report).
 */
export function snapshotSummary(
  parent: Snapshot | null,
  caller: Record<string, string>,
  change: SnapshotChange,
  manifests: { created: number; replaced: number; kept: number },
): Snapshot['summary'] {
  const { added, deleted } = change;
  const total = (key: string, delta: number) => String(Math.max(0, num(parent?.summary, key) + delta));
  const counts: Record<string, string> =
    change.operation === 'append'
      ? { 'added-data-files': String(added.files), 'added-records': String(added.records), 'added-files-size': String(added.bytes) }
      : { 'deleted-data-files': String(deleted.files), 'deleted-records': String(deleted.records), 'removed-files-size': String(deleted.bytes) };
  return {
    ...caller,
    operation: change.operation,
    ...counts,
    'changed-partition-count': String(change.changedPartitions),
    'total-records': total('total-records', added.records - deleted.records),
    'total-data-files': total('total-data-files', added.files - deleted.files),
    'total-delete-files': '0',
    'total-position-deletes': '0',
    'total-equality-deletes': '0',
    'total-files-size': total('total-files-size', added.bytes - deleted.bytes),
    'manifests-created': String(manifests.created),
    'manifests-replaced': String(manifests.replaced),
    'manifests-kept': String(manifests.kept),
  };
}
