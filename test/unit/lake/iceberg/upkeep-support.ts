import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalFileIO, toFileUri } from '../../../../src/lake/file-io.ts';
import { openIcebergSpanTable } from '../../../../src/lake/iceberg/iceberg-table.ts';
import { readManifest, ENTRY_DELETED, type ManifestEntry } from '../../../../src/lake/iceberg/manifest.ts';
import { readManifestList, type ManifestFile } from '../../../../src/lake/iceberg/manifest-list.ts';
import type { ManifestMergePolicy } from '../../../../src/lake/iceberg/manifest-rewrite.ts';
import { currentSnapshot, type TableMetadata } from '../../../../src/lake/iceberg/metadata.ts';
import { SqlCatalog } from '../../../../src/lake/iceberg/sql-catalog.ts';
import type { SpanTable } from '../../../../src/lake/table.ts';
import { silentLogger } from '../../../../src/telemetry/logger.ts';

export const id = { namespace: 'observability', name: 'otel_spans' };
export const DAY_MS = 86_400_000;

export interface UpkeepOptions {
  maxSnapshots: number;
  retentionDays?: number;
  merge?: ManifestMergePolicy;
}

/** A span table on the SQL catalog in a fresh directory, with the given upkeep settings. */
export async function upkeepTable(options: UpkeepOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'ice-upkeep-'));
  const io = new LocalFileIO();
  const catalog = new SqlCatalog({ path: join(dir, 'catalog.db'), name: 'default', io, logger: silentLogger() });
  const location = `${toFileUri(join(dir, 'warehouse'))}/observability.db/otel_spans`;
  const table: SpanTable = await openIcebergSpanTable({
    catalog,
    io,
    id,
    location,
    maxSnapshots: options.maxSnapshots,
    rowGroupSize: 50,
    logger: silentLogger(),
    ...(options.retentionDays !== undefined ? { retentionDays: options.retentionDays } : {}),
    ...(options.merge ? { manifestMerge: options.merge } : {}),
  });
  const tableDir = join(dir, 'warehouse', 'observability.db', 'otel_spans');
  return { dir, io, catalog, table, tableDir, metadata: async () => (await catalog.loadTable(id))!.metadata };
}

export async function manifestList(io: LocalFileIO, path: string): Promise<ManifestFile[]> {
  return readManifestList(await io.read(path), path);
}

export async function manifestEntries(io: LocalFileIO, m: ManifestFile): Promise<ManifestEntry[]> {
  return readManifest(await io.read(m.path), m.path);
}

/** Files under the table directory, as file:// URIs, by kind. */
export function filesOnDisk(tableDir: string): { manifestLists: Set<string>; manifests: Set<string>; metadataJson: Set<string>; data: Set<string> } {
  const out = { manifestLists: new Set<string>(), manifests: new Set<string>(), metadataJson: new Set<string>(), data: new Set<string>() };
  for (const rel of readdirSync(tableDir, { recursive: true }).map(String)) {
    const uri = toFileUri(join(tableDir, rel));
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    if (rel.startsWith('metadata/') && name.startsWith('snap-')) out.manifestLists.add(uri);
    else if (rel.startsWith('metadata/') && name.endsWith('.avro')) out.manifests.add(uri);
    else if (name.endsWith('.metadata.json')) out.metadataJson.add(uri);
    else if (name.endsWith('.parquet')) out.data.add(uri);
  }
  return out;
}

/**
 * Everything the kept snapshots reference: their manifest lists, manifests, and data files live in
 * any of them (a file a kept snapshot marks DELETED may be gone when no kept snapshot has it live).
 */
export async function referenced(io: LocalFileIO, metadata: TableMetadata) {
  const lists = new Set<string>();
  const manifests = new Set<string>();
  const live = new Set<string>();
  for (const s of metadata.snapshots ?? []) {
    lists.add(s['manifest-list']);
    for (const m of await manifestList(io, s['manifest-list'])) {
      manifests.add(m.path);
      for (const e of await manifestEntries(io, m)) if (e.status !== ENTRY_DELETED) live.add(e.dataFile.path);
    }
  }
  const current = currentSnapshot(metadata);
  const currentManifests = current ? await manifestList(io, current['manifest-list']) : [];
  return { lists, manifests, live, currentManifests };
}

export function pathOf(uri: string): string {
  return fileURLToPath(uri);
}
