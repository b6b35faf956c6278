import type { FileIO } from '../file-io.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { ManifestCache } from './manifest-cache.ts';
import { currentSnapshot, MAIN_BRANCH, type Snapshot, type TableMetadata } from './metadata.ts';

/**
 * Snapshot expiry and the files it frees. This writer's history is one line (every commit goes on top
 * of the current snapshot of `main`), a manifest never comes back to a list once dropped from it and
 * a data file never comes back once deleted, so each file is referenced by a contiguous run of
 * snapshots. With the oldest snapshots expired, a file is unreferenced exactly when the oldest kept
 * snapshot no longer references it:
 * - a manifest of an expired snapshot's list that is not in the oldest kept snapshot's list;
 * - a data file marked DELETED by a snapshot whose parent was just expired (the oldest kept one, or
 *   an expired one but the oldest): every snapshot where the file was live is gone.
 * Files are deleted only after the commit that expired the snapshots succeeded. A crash (or a commit
 * of unknown outcome) between the two leaves their files behind, never deletes one still in use.
 */

/**
 * The oldest snapshots beyond `maxSnapshots` once one more is added to `main`, oldest first. Snapshots
 * another ref (branch or tag) points at are never expired.
 */
export function snapshotsToExpire(metadata: TableMetadata, maxSnapshots: number): Snapshot[] {
  const referenced = new Set(
    Object.entries(metadata.refs ?? {})
      .filter(([name]) => name !== MAIN_BRANCH)
      .map(([, r]) => r['snapshot-id']),
  );
  const all = [...(metadata.snapshots ?? [])].sort((a, b) => a['sequence-number'] - b['sequence-number']);
  const excess = all.length + 1 - maxSnapshots;
  return excess > 0 ? all.slice(0, excess).filter((s) => !referenced.has(s['snapshot-id'])) : [];
}

/** Whether the kept snapshots form one line from the current one back to the oldest. */
function linear(metadata: TableMetadata): boolean {
  const byId = new Map((metadata.snapshots ?? []).map((s) => [s['snapshot-id'], s]));
  let s: Snapshot | undefined = currentSnapshot(metadata) ?? undefined;
  let seen = 0;
  while (s !== undefined) {
    seen++;
    const parent: number | null | undefined = s['parent-snapshot-id'];
    s = parent === null || parent === undefined ? undefined : byId.get(parent);
  }
  return seen === byId.size;
}

export interface ExpiredFiles {
  manifestLists: number;
  manifests: number;
  dataFiles: number;
}

/** Deletes at once at most this many files (S3 deletes are one request each). */
const DELETE_CONCURRENCY = 16;

async function deleteAll(io: FileIO, logger: Logger, paths: Iterable<string>, what: string): Promise<number> {
  const queue = [...paths];
  let n = 0;
  const worker = async (): Promise<void> => {
    for (let path = queue.pop(); path !== undefined; path = queue.pop()) {
      try {
        await io.delete(path);
        n++;
      } catch (err) {
        logger.warn({ err, path }, `could not delete expired ${what}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, queue.length) }, worker));
  return n;
}

/**
 * After a commit removed `expired` (oldest first) from `metadata` (the committed state): deletes
 * their manifest lists, and the manifests and data files no kept snapshot references. If the kept
 * snapshots are not one line (another writer's branches), only the manifest lists go.
 */
export async function deleteExpiredFiles(
  deps: { io: FileIO; cache: ManifestCache; logger: Logger },
  metadata: TableMetadata,
  expired: readonly Snapshot[],
): Promise<ExpiredFiles> {
  const { io, cache, logger } = deps;
  const result: ExpiredFiles = { manifestLists: 0, manifests: 0, dataFiles: 0 };
  if (expired.length === 0) return result;
  const kept = [...(metadata.snapshots ?? [])].sort((a, b) => a['sequence-number'] - b['sequence-number']);
  const oldestKept = kept[0];
  const canFollow = oldestKept !== undefined && linear(metadata) && expired.every((s) => s['sequence-number'] < oldestKept['sequence-number']);
  if (!canFollow) logger.warn({ expired: expired.length }, 'kept snapshots are not one line of history; leaving expired manifests and data files in place');
  const manifests = new Set<string>();
  const dataFiles = new Set<string>();
  try {
    if (canFollow) {
      const keptManifests = new Set((await cache.manifestList(oldestKept['manifest-list'], { cache: false })).map((m) => m.path));
      for (const s of expired) {
        for (const m of await cache.manifestList(s['manifest-list'], { cache: false })) if (!keptManifests.has(m.path)) manifests.add(m.path);
      }
      // Snapshots whose parent is now expired: the files they deleted were live only in expired ones.
      for (const s of [...expired.slice(1), oldestKept]) {
        for (const m of await cache.manifestList(s['manifest-list'], { cache: false })) {
          if (m.addedSnapshotId !== s['snapshot-id'] || m.deletedFilesCount === 0) continue;
          for (const f of await cache.deletedFiles(m)) if (f.snapshotId === s['snapshot-id']) dataFiles.add(f.path);
        }
      }
    }
  } catch (err) {
    // An unreadable list or manifest: leave those files rather than guess.
    logger.warn({ err }, 'could not read expired snapshots’ manifests; their manifests and data files stay');
    manifests.clear();
    dataFiles.clear();
  }
  for (const m of manifests) cache.forget(m);
  for (const s of expired) cache.forget(s['manifest-list']);
  result.dataFiles = await deleteAll(io, logger, dataFiles, 'data file');
  result.manifests = await deleteAll(io, logger, manifests, 'manifest');
  result.manifestLists = await deleteAll(io, logger, expired.map((s) => s['manifest-list']), 'manifest list');
  return result;
}
