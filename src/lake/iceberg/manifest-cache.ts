import type { FileIO } from '../file-io.ts';
import type { DataFileEntry } from '../table.ts';
import { deserializeBound } from '../transforms.ts';
import { ENTRY_DELETED, readManifest } from './manifest.ts';
import { readManifestList, type ManifestFile } from './manifest-list.ts';

/** Where a table keeps what readers prune by: the trace id column and its bucket[16] partition field. */
export interface TraceIdLayout {
  /** Field id of the trace id column, whose bounds become traceIdMin/Max; null when they do not compare as hex text. */
  fieldId: number | null;
  /** Name of the bucket[16] partition field on the trace id, whose value becomes traceIdBucket; null when none. */
  bucketField: string | null;
}

/** The span table's own: trace_id is field 1, partitioned by bucket[16] as trace_id_bucket. */
export const SPAN_TABLE_TRACE_IDS: TraceIdLayout = { fieldId: 1, bucketField: 'trace_id_bucket' };

/**
 * Parsed manifests and manifest lists by path. Both are immutable once written, so a parse never
 * goes stale; the evaluator's frequent changesSince calls then only read files new since the last.
 * Bounded (least recently used out) and small: a parse holds every file's column statistics, and
 * callers ask for recent manifests, so a few dozen cover them while memory stays flat with uptime.
 */
export class ManifestCache {
  private readonly io: FileIO;
  private readonly maxEntries: number;
  private readonly traceIds: TraceIdLayout;
  private readonly lists = new Map<string, Promise<ManifestFile[]>>();
  private readonly files = new Map<string, Promise<DataFileEntry[]>>();

  constructor(io: FileIO, traceIds: TraceIdLayout = SPAN_TABLE_TRACE_IDS, maxEntries = 64) {
    this.io = io;
    this.traceIds = traceIds;
    this.maxEntries = maxEntries;
  }

  /** A manifest list; `cache: false` uses a parse already cached but keeps a new one out. */
  manifestList(path: string, options: { cache?: boolean } = {}): Promise<ManifestFile[]> {
    const load = async () => readManifestList(await this.io.read(path), path);
    if (options.cache === false) return this.lists.get(path) ?? load();
    return this.cached(this.lists, path, load);
  }

  /**
   * Live data files of a data manifest with sequence numbers and snapshot ids resolved (inherited
   * from the manifest list record where the entry leaves them null, per the v2 spec).
   * The returned objects are shared: callers must not modify them. `cache: false` uses a parse
   * already cached but keeps a new one out (large rewritten manifests read once).
   */
  dataFiles(manifest: ManifestFile, options: { cache?: boolean } = {}): Promise<DataFileEntry[]> {
    const load = async () => (await this.entries(manifest)).filter((e) => e.status !== ENTRY_DELETED).map((e) => e.file);
    if (options.cache === false) return this.files.get(manifest.path) ?? load();
    return this.cached(this.files, manifest.path, load);
  }

  /** Files a manifest marks deleted, resolved as dataFiles resolves live ones; never cached. */
  async deletedFiles(manifest: ManifestFile): Promise<DataFileEntry[]> {
    return (await this.entries(manifest)).filter((e) => e.status === ENTRY_DELETED).map((e) => e.file);
  }

  private async entries(manifest: ManifestFile): Promise<{ status: number; file: DataFileEntry }[]> {
    const entries = readManifest(await this.io.read(manifest.path), manifest.path);
    const { fieldId, bucketField } = this.traceIds;
    return entries.map((e) => {
      const lower = fieldId === null ? undefined : e.dataFile.lowerBounds.get(fieldId);
      const upper = fieldId === null ? undefined : e.dataFile.upperBounds.get(fieldId);
      const bucket = bucketField === null ? null : (e.dataFile.partition as unknown as Record<string, number | null>)[bucketField];
      const file: DataFileEntry = {
        ...e.dataFile,
        sequenceNumber: e.sequenceNumber ?? manifest.sequenceNumber,
        fileSequenceNumber: e.fileSequenceNumber ?? manifest.sequenceNumber,
        snapshotId: e.snapshotId ?? manifest.addedSnapshotId,
        traceIdMin: lower === undefined ? null : (deserializeBound('string', lower) as string),
        traceIdMax: upper === undefined ? null : (deserializeBound('string', upper) as string),
        traceIdBucket: bucket ?? null,
      };
      return { status: e.status, file };
    });
  }

  forget(path: string): void {
    this.lists.delete(path);
    this.files.delete(path);
  }

  private cached<T>(map: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
    const hit = map.get(key);
    if (hit !== undefined) {
      // Re-insert: Map keeps insertion order, so the first key is the least recently used.
      map.delete(key);
      map.set(key, hit);
      return hit;
    }
    const p = load();
    map.set(key, p);
    // A failed read must not stick: the next call tries again.
    p.catch(() => {
      if (map.get(key) === p) map.delete(key);
    });
    while (map.size > this.maxEntries) map.delete(map.keys().next().value as string);
    return p;
  }
}
