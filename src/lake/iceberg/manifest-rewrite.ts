import { randomUUID } from 'node:crypto';
import type { FileIO } from '../file-io.ts';
import type { DataFileEntry } from '../table.ts';
import { partitionSummaries } from './append-files.ts';
import type { ManifestCache } from './manifest-cache.ts';
import type { ManifestFile } from './manifest-list.ts';
import { ENTRY_DELETED, ENTRY_EXISTING, writeManifest, type ManifestEntry } from './manifest.ts';
import type { IcebergSchema, PartitionSpec } from './metadata.ts';

/**
 * Manifests a commit writes from entries of earlier ones: merged manifests (many small ones become
 * one, as Java's MergeAppend does) and rewritten ones (some files marked deleted). Their entries are
 * EXISTING or DELETED, so their snapshot id and both sequence numbers are written out: inheriting a
 * null from the manifest list is only valid for ADDED entries in the manifest that added them. A
 * file's data sequence number never changes, so changesSince stays right across rewrites: the
 * manifest's own sequence number is the rewriting snapshot's (an upper bound of every entry's) and
 * its min_sequence_number the lowest entry's.
 */

/** Java's `commit.manifest-merge.enabled`, `commit.manifest.min-count-to-merge`, `commit.manifest.target-size-bytes`. */
export interface ManifestMergePolicy {
  enabled: boolean;
  /** Merge when a commit would leave more small manifests than this. */
  minCountToMerge: number;
  /** Manifests this large are left alone; merged ones are grouped up to about this size. */
  targetSizeBytes: number;
}

/**
 * Java's count, and a smaller target than its 8 MiB: a parsed entry takes ~70× its compressed manifest
 * bytes of heap (~100 B → ~7 KB), and a merge or rewrite holds one manifest's entries at a time.
 */
export const DEFAULT_MANIFEST_MERGE: ManifestMergePolicy = { enabled: true, minCountToMerge: 100, targetSizeBytes: 512 << 10 };

/** Where and as what snapshot a commit attempt writes manifests. */
export interface ManifestWriteContext {
  io: FileIO;
  location: string;
  schema: IcebergSchema;
  spec: PartitionSpec;
  snapshotId: number;
  sequenceNumber: number;
}

function sum(files: readonly DataFileEntry[], of: (f: DataFileEntry) => number): number {
  let n = 0;
  for (const f of files) n += of(f);
  return n;
}

/**
 * Writes `existing` as EXISTING entries (keeping the snapshot that added each and its sequence
 * numbers) and `deleted` as DELETED by this snapshot; returns the manifest list record.
 */
export async function writeRewrittenManifest(
  ctx: ManifestWriteContext,
  existing: readonly DataFileEntry[],
  deleted: readonly DataFileEntry[],
): Promise<ManifestFile> {
  const entries: ManifestEntry[] = [];
  for (const f of existing) {
    entries.push({ status: ENTRY_EXISTING, snapshotId: f.snapshotId, sequenceNumber: f.sequenceNumber, fileSequenceNumber: f.fileSequenceNumber, dataFile: f });
  }
  for (const f of deleted) {
    entries.push({ status: ENTRY_DELETED, snapshotId: ctx.snapshotId, sequenceNumber: f.sequenceNumber, fileSequenceNumber: f.fileSequenceNumber, dataFile: f });
  }
  const bytes = writeManifest(entries, { schema: ctx.schema, spec: ctx.spec });
  const path = `${ctx.location}/metadata/${randomUUID()}-r${ctx.sequenceNumber}.avro`;
  await ctx.io.write(path, bytes);
  let minSequenceNumber = ctx.sequenceNumber;
  for (const f of existing) if (f.sequenceNumber < minSequenceNumber) minSequenceNumber = f.sequenceNumber;
  return {
    path,
    length: bytes.byteLength,
    partitionSpecId: ctx.spec['spec-id'],
    content: 0,
    sequenceNumber: ctx.sequenceNumber,
    minSequenceNumber,
    addedSnapshotId: ctx.snapshotId,
    addedFilesCount: 0,
    existingFilesCount: existing.length,
    deletedFilesCount: deleted.length,
    addedRowsCount: 0,
    existingRowsCount: sum(existing, (f) => f.recordCount),
    deletedRowsCount: sum(deleted, (f) => f.recordCount),
    partitions: partitionSummaries(ctx.spec, [...existing, ...deleted]),
  };
}

/**
 * The groups of `carried` manifests to merge into one each, when with the `written` ones the commit
 * would leave more than `minCountToMerge` small data manifests (of spec `specId`): consecutive small ones (the list is
 * newest first, so a group covers a stretch of time) packed up to the target size; a group of one
 * stays as it is.
 */
export function planMerges(carried: readonly ManifestFile[], written: number, policy: ManifestMergePolicy, specId: number): ManifestFile[][] {
  if (!policy.enabled) return [];
  const small = carried.filter((m) => m.content === 0 && m.partitionSpecId === specId && m.length < policy.targetSizeBytes);
  if (small.length + written <= policy.minCountToMerge) return [];
  const groups: ManifestFile[][] = [];
  let group: ManifestFile[] = [];
  let size = 0;
  for (const m of small) {
    group.push(m);
    size += m.length;
    if (size >= policy.targetSizeBytes) {
      groups.push(group);
      group = [];
      size = 0;
    }
  }
  groups.push(group);
  return groups.filter((g) => g.length > 1);
}

export interface MergeResult {
  /** `carried` with each merged group replaced, in place of its first member, by its merged manifest. */
  manifests: ManifestFile[];
  /** The merged manifests written (the attempt's own files). */
  written: ManifestFile[];
}

/**
 * Merges small carried manifests per `planMerges`. Live entries become EXISTING; entries an earlier
 * snapshot marked DELETED are dropped (they only mean something in the deleting snapshot).
 */
export async function mergeManifests(
  ctx: ManifestWriteContext,
  cache: ManifestCache,
  carried: readonly ManifestFile[],
  written: number,
  policy: ManifestMergePolicy,
): Promise<MergeResult> {
  const groups = planMerges(carried, written, policy, ctx.spec['spec-id']);
  if (groups.length === 0) return { manifests: [...carried], written: [] };
  const replacement = new Map<string, ManifestFile | null>();
  const out: ManifestFile[] = [];
  for (const group of groups) {
    const files: DataFileEntry[] = [];
    for (const m of group) for (const f of await cache.dataFiles(m, { cache: false })) files.push(f);
    const merged = await writeRewrittenManifest(ctx, files, []);
    out.push(merged);
    group.forEach((m, i) => replacement.set(m.path, i === 0 ? merged : null));
  }
  const manifests: ManifestFile[] = [];
  for (const m of carried) {
    const r = replacement.get(m.path);
    if (r === undefined) manifests.push(m);
    else if (r !== null) manifests.push(r);
  }
  return { manifests, written: out };
}
