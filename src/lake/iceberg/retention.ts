import type { DataFile } from '../table.ts';
import { deserializeBound } from '../transforms.ts';
import type { ManifestCache } from './manifest-cache.ts';
import type { ManifestFile } from './manifest-list.ts';
import { writeRewrittenManifest, type ManifestWriteContext } from './manifest-rewrite.ts';
import { addTotals, NO_FILES, type FileTotals } from './snapshot-change.ts';

const DAY_MS = 86_400_000;

/**
 * The oldest day partition kept at `nowMs` (days since the epoch): a day goes once the whole of it
 * is older than `retentionDays`, so no row younger than that is ever dropped and none is kept more
 * than a day longer.
 */
export function firstKeptDay(nowMs: number, retentionDays: number): number {
  return Math.floor((nowMs - retentionDays * DAY_MS) / DAY_MS);
}

/** Whether a manifest may hold files of days before `firstKept`, by its partition summary (no summary: maybe). */
function mayHoldDaysBefore(m: ManifestFile, dayField: number, firstKept: number): boolean {
  const lower = m.partitions?.[dayField]?.lowerBound ?? null;
  return lower === null || (deserializeBound('int', lower) as number) < firstKept;
}

export interface DayExpiry {
  /** Manifest list: the carried manifests, those that held expired days replaced by their rewrites. */
  manifests: ManifestFile[];
  /** The rewritten manifests (the attempt's own files). */
  written: ManifestFile[];
  /** The files of the expired days, now marked DELETED (counted, not kept: a day can be many files). */
  deleted: FileTotals;
  changedPartitions: number;
}

/**
 * Rewrites the manifests holding files of days before `firstKept` (by the spec's day partition field): those files become DELETED
 * entries of this snapshot, the rest EXISTING. Manifests whose summary rules the days out are not
 * opened, and one manifest is in memory at a time. Null when no file is that old.
 */
export async function expireDayPartitions(
  ctx: ManifestWriteContext,
  cache: ManifestCache,
  carried: readonly ManifestFile[],
  firstKept: number,
): Promise<DayExpiry | null> {
  // The table's day partition: day(timestamp) on spans, day(decided_at) on the audit table.
  const dayField = ctx.spec.fields.findIndex((f) => f.transform === 'day');
  if (dayField < 0) return null;
  const dayName = ctx.spec.fields[dayField]!.name;
  const dayOf = (f: DataFile): number => (f.partition as unknown as Record<string, number>)[dayName]!;
  const manifests: ManifestFile[] = [];
  const written: ManifestFile[] = [];
  const deleted: FileTotals = { ...NO_FILES };
  const partitions = new Set<string>();
  for (const m of carried) {
    if (m.content !== 0 || !mayHoldDaysBefore(m, dayField, firstKept)) {
      manifests.push(m);
      continue;
    }
    const files = await cache.dataFiles(m, { cache: false });
    const old = files.filter((f) => dayOf(f) < firstKept);
    if (old.length === 0) {
      manifests.push(m);
      continue;
    }
    const rewritten = await writeRewrittenManifest(ctx, files.filter((f) => dayOf(f) >= firstKept), old);
    manifests.push(rewritten);
    written.push(rewritten);
    addTotals(deleted, old);
    for (const f of old) partitions.add(ctx.spec.fields.map((p) => (f.partition as unknown as Record<string, number>)[p.name]).join('/'));
  }
  return deleted.files === 0 ? null : { manifests, written, deleted, changedPartitions: partitions.size };
}
