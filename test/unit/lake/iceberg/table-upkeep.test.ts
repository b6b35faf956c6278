import { test } from 'node:test';
import assert from 'node:assert/strict';
import { currentSnapshot } from '../../../../src/lake/iceberg/metadata.ts';
import { ENTRY_DELETED, ENTRY_EXISTING } from '../../../../src/lake/iceberg/manifest.ts';
import { firstKeptDay } from '../../../../src/lake/iceberg/retention.ts';
import type { SpanColumns } from '../../../../src/lake/span-schema.ts';
import type { SnapshotRef, SpanTable } from '../../../../src/lake/table.ts';
import { spanBatch } from './span-batch-fixture.ts';
import { DAY_MS, filesOnDisk, manifestEntries, manifestList, referenced, upkeepTable } from './upkeep-support.ts';

const DAY_MICROS = 86_400_000_000n;

/** `trace_id/span_id` of every row of `batches` whose day passes `keep`, sorted (duplicates kept). */
function rowKeys(batches: readonly SpanColumns[], keep: (day: number) => boolean = () => true): string[] {
  const out: string[] = [];
  for (const b of batches) {
    for (let i = 0; i < b.length; i++) if (keep(Number(b.timestamp[i]! / DAY_MICROS))) out.push(`${b.trace_id[i]}/${b.span_id[i]}`);
  }
  return out.sort();
}

/** The same keys as the table holds them: every row of every file changesSince(since) returns. */
async function tableRowKeys(table: SpanTable, since: number): Promise<string[]> {
  const out: string[] = [];
  for (const f of (await table.changesSince(since)).files) {
    const cols = await table.read(f, ['trace_id', 'span_id']);
    for (let i = 0; i < cols.length; i++) out.push(`${cols.trace_id![i]}/${cols.span_id![i]}`);
  }
  return out.sort();
}

const carryPosition = (parent: SnapshotRef | null): Record<string, string> => ({ 'tailsampler.spool-position': parent!.summary['tailsampler.spool-position']! });

test('firstKeptDay drops a day only once all of it is older than the retention', () => {
  // 2024-10-13 12:00 with 3 days: 2024-10-10 ended 2.5 days ago and stays; 2024-10-09 ended 3.5 days ago.
  assert.equal(firstKeptDay(20_009 * DAY_MS + DAY_MS / 2, 3), 20_006);
  assert.equal(firstKeptDay(20_009 * DAY_MS, 3), 20_006);
  assert.equal(firstKeptDay(20_009 * DAY_MS - 1, 3), 20_005);
});

test('merged manifests keep every row exactly once, and changesSince stays right at every sequence number', async () => {
  const { table, io, metadata, catalog } = await upkeepTable({ maxSnapshots: 100, merge: { enabled: true, minCountToMerge: 4, targetSizeBytes: 1 << 20 } });
  const batches: SpanColumns[] = [];
  const refs: SnapshotRef[] = [];
  for (let i = 1; i <= 14; i++) {
    batches.push(spanBatch({ traces: 6, spansPerTrace: 2, seed: i, days: 2 }));
    refs.push(await table.append(batches.at(-1)!, {}));
    const manifests = await manifestList(io, currentSnapshot(await metadata())!['manifest-list']);
    assert.ok(manifests.length <= 5, `commit ${i}: ${manifests.length} manifests (at most 4 small ones + the new one)`);
  }
  assert.ok(refs.filter((r) => Number(r.summary['manifests-replaced']) > 0).length >= 2, 'several commits merged');
  assert.equal(refs.at(-1)!.summary['total-records'], String(14 * 12));

  const manifests = await manifestList(io, currentSnapshot(await metadata())!['manifest-list']);
  const merged = manifests.filter((m) => m.addedFilesCount === 0);
  assert.ok(merged.length >= 1);
  for (const m of merged) {
    const entries = await manifestEntries(io, m);
    assert.equal(m.existingFilesCount, entries.length);
    for (const e of entries) {
      assert.equal(e.status, ENTRY_EXISTING);
      // Written out, never left to inherit: the values of the snapshot that added the file.
      assert.ok(e.sequenceNumber !== null && e.fileSequenceNumber !== null && e.snapshotId !== null);
      assert.ok(e.sequenceNumber < m.sequenceNumber);
      assert.equal(e.fileSequenceNumber, e.sequenceNumber);
      assert.equal(e.snapshotId, refs[e.sequenceNumber - 1]!.snapshotId);
    }
    assert.equal(m.minSequenceNumber, Math.min(...entries.map((e) => e.sequenceNumber!)));
  }

  // What an evaluator that read up to k gets next: exactly the rows of the later commits, once each.
  for (let k = 0; k <= 14; k++) {
    const changes = await table.changesSince(k);
    assert.ok(changes.files.every((f) => f.sequenceNumber > k && f.snapshotId === refs[f.sequenceNumber - 1]!.snapshotId));
    assert.deepEqual(await tableRowKeys(table, k), rowKeys(batches.slice(k)), `changesSince(${k})`);
  }
  await catalog.close();
});

test('retention drops exactly the day partitions past it, in a delete snapshot that carries the summary on', async () => {
  const base = 20_000;
  const { table, io, metadata, catalog } = await upkeepTable({ maxSnapshots: 100, retentionDays: 3, merge: { enabled: true, minCountToMerge: 3, targetSizeBytes: 1 << 20 } });
  const batches: SpanColumns[] = [];
  for (let i = 1; i <= 6; i++) {
    batches.push(spanBatch({ traces: 20, spansPerTrace: 2, seed: i, days: 10, baseDay: base }));
    await table.append(batches.at(-1)!, { 'tailsampler.spool-position': String(i) });
  }
  assert.equal(await table.expireDays((base + 3) * DAY_MS, carryPosition), null, 'no day is past retention yet');

  const now = (base + 9) * DAY_MS + DAY_MS / 2; // keeps days base+6 … base+9
  const ref = (await table.expireDays(now, carryPosition))!;
  const kept = (day: number) => day >= base + 6;
  assert.equal(ref.sequenceNumber, 7);
  assert.equal(ref.summary.operation, 'delete');
  assert.equal(ref.summary['tailsampler.spool-position'], '6', 'the spool position is carried on');
  assert.equal(ref.summary['deleted-records'], String(rowKeys(batches, (d) => !kept(d)).length));
  assert.equal(ref.summary['total-records'], String(rowKeys(batches, kept).length));
  assert.equal(ref.summary['added-data-files'], undefined);

  const all = await table.changesSince(0);
  assert.deepEqual([...new Set(all.files.map((f) => f.partition.timestamp_day))].sort(), [base + 6, base + 7, base + 8, base + 9]);
  assert.equal(ref.summary['total-data-files'], String(all.files.length));
  assert.deepEqual(await tableRowKeys(table, 0), rowKeys(batches, kept));
  // Nothing new for a reader that had read up to the append before: a delete adds no rows.
  assert.deepEqual((await table.changesSince(6)).files, []);
  assert.equal((await table.changesSince(6)).lastSequenceNumber, 7);

  // The deleted entries belong to the delete snapshot and keep the sequence numbers they had.
  const manifests = await manifestList(io, currentSnapshot(await metadata())!['manifest-list']);
  let deleted = 0;
  for (const m of manifests.filter((x) => x.deletedFilesCount > 0)) {
    assert.equal(m.addedSnapshotId, ref.snapshotId);
    for (const e of await manifestEntries(io, m)) {
      if (e.status !== ENTRY_DELETED) continue;
      deleted++;
      assert.ok(!kept(e.dataFile.partition.timestamp_day));
      assert.equal(e.snapshotId, ref.snapshotId);
      assert.ok(e.sequenceNumber !== null && e.sequenceNumber >= 1 && e.sequenceNumber <= 6);
    }
  }
  assert.equal(String(deleted), ref.summary['deleted-data-files']);

  assert.equal(await table.expireDays(now, carryPosition), null, 'nothing left to drop');
  const next = await table.append(spanBatch({ traces: 4, spansPerTrace: 1, seed: 99, baseDay: base + 9 }), (p) => carryPosition(p));
  assert.equal(next.summary['tailsampler.spool-position'], '6');
  await catalog.close();
});

test('retention 0 keeps everything', async () => {
  const { table, catalog } = await upkeepTable({ maxSnapshots: 10, retentionDays: 0 });
  await table.append(spanBatch({ traces: 4, spansPerTrace: 1, seed: 1, baseDay: 1 }), {});
  assert.equal(await table.expireDays(Date.now(), {}), null);
  assert.equal((await table.changesSince(0)).files.length > 0, true);
  await catalog.close();
});

test('expiry deletes the manifests and data files no kept snapshot references, and nothing a kept one does', async () => {
  const base = 20_000;
  const { table, io, metadata, catalog, tableDir } = await upkeepTable({ maxSnapshots: 4, retentionDays: 1, merge: { enabled: true, minCountToMerge: 3, targetSizeBytes: 1 << 20 } });
  /** Files on disk are exactly those the kept snapshots reference (data files: live in one of them). */
  const checkExact = async (when: string) => {
    const refd = await referenced(io, await metadata());
    const disk = filesOnDisk(tableDir);
    assert.deepEqual([...disk.manifestLists].sort(), [...refd.lists].sort(), `${when}: manifest lists`);
    assert.deepEqual([...disk.manifests].sort(), [...refd.manifests].sort(), `${when}: manifests`);
    assert.deepEqual([...disk.data].sort(), [...refd.live].sort(), `${when}: data files`);
  };
  for (let i = 1; i <= 6; i++) {
    await table.append(spanBatch({ traces: 12, spansPerTrace: 1, seed: i, days: 4, baseDay: base }), {});
    await checkExact(`append ${i}`);
  }
  const doomed = (await table.changesSince(0)).files.filter((f) => f.partition.timestamp_day < base + 2).map((f) => f.path);
  assert.ok(doomed.length > 0);
  const ref = (await table.expireDays((base + 3) * DAY_MS + 1, {}))!;
  assert.equal(Number(ref.summary['deleted-data-files']), doomed.length);
  await checkExact('after the delete');
  const onDisk = () => filesOnDisk(tableDir).data;
  assert.ok(doomed.every((p) => onDisk().has(p)), 'older snapshots still read the dropped days');
  for (let i = 7; i <= 10; i++) {
    await table.append(spanBatch({ traces: 12, spansPerTrace: 1, seed: i, days: 2, baseDay: base + 2 }), {});
    await checkExact(`append ${i}`);
    const s = (await metadata()).snapshots!.map((x) => x['snapshot-id']);
    // Files go once the delete snapshot is the oldest kept one (its parent expired), not before.
    const parentKept = s.includes(ref.parentId!);
    assert.equal(doomed.some((p) => onDisk().has(p)), parentKept, `append ${i}`);
  }
  assert.ok(doomed.every((p) => !onDisk().has(p)));
  await catalog.close();
});

test('merging can be switched off: one manifest per append, as before', async () => {
  const { table, io, metadata, catalog } = await upkeepTable({ maxSnapshots: 50, merge: { enabled: false, minCountToMerge: 2, targetSizeBytes: 1 << 20 } });
  for (let i = 1; i <= 6; i++) await table.append(spanBatch({ traces: 3, spansPerTrace: 1, seed: i }), {});
  assert.equal((await manifestList(io, currentSnapshot(await metadata())!['manifest-list'])).length, 6);
  await catalog.close();
});
