import { test } from 'node:test';
import assert from 'node:assert/strict';
import { currentSnapshot } from '../../../../src/lake/iceberg/metadata.ts';
import { METADATA_PREVIOUS_VERSIONS_MAX } from '../../../../src/lake/iceberg/metadata.ts';
import { spanBatch } from './span-batch-fixture.ts';
import { DAY_MS, filesOnDisk, manifestList, referenced, upkeepTable } from './upkeep-support.ts';

const COMMITS = 300;
const COMMITS_PER_DAY = 30;
const MAX_SNAPSHOTS = 20;
const RETENTION_DAYS = 2;
const MIN_COUNT_TO_MERGE = 8;
const TARGET_SIZE_BYTES = 64 << 10;

/**
 * A long run of the writer's upkeep: 300 appends of up to 16 files each (one per bucket) over ten
 * simulated days, retention checked every 10 commits as the materializer does. Without upkeep every
 * figure would grow with the commits; with it, snapshots stay at max_snapshots, live manifests at
 * about min_count_to_merge plus the large merged ones that retention's days of data need, and files
 * on disk at what the kept snapshots reference (checked exactly every 25 commits).
 */
test('upkeep keeps live manifests, snapshots and metadata files bounded over a long run (figures printed)', async () => {
  const base = 20_000;
  const { table, io, metadata, catalog, tableDir } = await upkeepTable({
    maxSnapshots: MAX_SNAPSHOTS,
    retentionDays: RETENTION_DAYS,
    merge: { enabled: true, minCountToMerge: MIN_COUNT_TO_MERGE, targetSizeBytes: TARGET_SIZE_BYTES },
  });
  const rows: string[] = [];
  rows.push('commit  day  snapshots  live-manifests (merged)  manifest-lists  manifests  metadata-json  data-files  live-files  live-records');
  const figures: { commit: number; snapshots: number; manifests: number; metadataFiles: number; dataFiles: number }[] = [];
  let retentionCommits = 0;
  for (let i = 1; i <= COMMITS; i++) {
    const day = base + Math.floor((i - 1) / COMMITS_PER_DAY);
    await table.append(spanBatch({ traces: 16, spansPerTrace: 2, seed: i, baseDay: day }), { n: String(i) });
    if (i % 10 === 0 && (await table.expireDays(day * DAY_MS + DAY_MS / 2, (p) => ({ n: p!.summary.n! }))) !== null) retentionCommits++;
    if (i % 25 !== 0) continue;
    const md = await metadata();
    const live = await manifestList(io, currentSnapshot(md)!['manifest-list']);
    const disk = filesOnDisk(tableDir);
    const refd = await referenced(io, md);
    // Exactly what the kept snapshots reference is on disk: nothing leaks, nothing in use is gone.
    assert.deepEqual([...disk.manifestLists].sort(), [...refd.lists].sort(), `commit ${i}: manifest lists`);
    assert.deepEqual([...disk.manifests].sort(), [...refd.manifests].sort(), `commit ${i}: manifests`);
    assert.deepEqual([...disk.data].sort(), [...refd.live].sort(), `commit ${i}: data files`);
    const changes = await table.changesSince(0);
    const liveDays = new Set(changes.files.map((f) => f.partition.timestamp_day));
    assert.ok(Math.min(...liveDays) >= day - RETENTION_DAYS - 1, `commit ${i}: days ${[...liveDays].join(',')}`);
    const merged = live.filter((m) => m.addedFilesCount === 0).length;
    const metadataFiles = disk.manifestLists.size + disk.manifests.size + disk.metadataJson.size;
    figures.push({ commit: i, snapshots: md.snapshots!.length, manifests: live.length, metadataFiles, dataFiles: disk.data.size });
    rows.push(
      [i, day - base, md.snapshots!.length, `${live.length} (${merged})`, disk.manifestLists.size, disk.manifests.size, disk.metadataJson.size, disk.data.size, changes.files.length, changes.files.reduce((n, f) => n + f.recordCount, 0)]
        .map((v, k) => String(v).padStart(k === 3 ? 23 : k === 0 ? 6 : [3, 9, 14, 9, 13, 10, 10, 12][k - 1]!))
        .join('  '),
    );
  }
  rows.push(`retention delete commits: ${retentionCommits}`);
  console.log(`\n${rows.join('\n')}`);
  await catalog.close();

  assert.ok(retentionCommits >= 7, 'a delete commit for each day that aged out');
  for (const f of figures) {
    assert.ok(f.snapshots <= MAX_SNAPSHOTS, `commit ${f.commit}: ${f.snapshots} snapshots`);
    // Small ones (at most min_count_to_merge, plus the new one) and merged ones of about the target
    // size: three days of 16 files a commit is ~1,500 entries, a few merged manifests at this target.
    assert.ok(f.manifests <= MIN_COUNT_TO_MERGE + 1 + 6, `commit ${f.commit}: ${f.manifests} live manifests`);
    // Lists of the kept snapshots, the manifests they reference, and the metadata JSON the catalog keeps.
    assert.ok(f.metadataFiles <= MAX_SNAPSHOTS + 40 + METADATA_PREVIOUS_VERSIONS_MAX + 1, `commit ${f.commit}: ${f.metadataFiles} metadata files`);
  }
  // Flat, not growing: the last third is no larger than the middle third.
  const third = (k: number) => figures.slice((k * figures.length) / 3, ((k + 1) * figures.length) / 3);
  const max = (xs: typeof figures, of: (f: (typeof figures)[number]) => number) => Math.max(...xs.map(of));
  assert.ok(max(third(2), (f) => f.manifests) <= max(third(1), (f) => f.manifests) + 2);
  assert.ok(max(third(2), (f) => f.dataFiles) <= max(third(1), (f) => f.dataFiles) * 1.2);
});
