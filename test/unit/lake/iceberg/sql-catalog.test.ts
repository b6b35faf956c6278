import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { LocalFileIO, toFileUri, type FileIO } from '../../../../src/lake/file-io.ts';
import { SqlCatalog } from '../../../../src/lake/iceberg/sql-catalog.ts';
import { CommitConflictError, TableAlreadyExistsError } from '../../../../src/lake/iceberg/errors.ts';
import { spanTableDefinition, type Snapshot } from '../../../../src/lake/iceberg/metadata.ts';
import type { TableUpdate } from '../../../../src/lake/iceberg/catalog.ts';
import { silentLogger } from '../../../../src/telemetry/logger.ts';

const id = { namespace: 'observability', name: 'otel_spans' };

function setup(io: FileIO = new LocalFileIO()) {
  const dir = mkdtempSync(join(tmpdir(), 'sqlcat-'));
  const dbPath = join(dir, 'catalog.db');
  const location = `${toFileUri(join(dir, 'warehouse'))}/observability.db/otel_spans`;
  const catalog = new SqlCatalog({ path: dbPath, name: 'default', io, logger: silentLogger() });
  return { dir, dbPath, location, catalog };
}

function appendUpdates(snapshotId: number, seq: number, parent: number | null): TableUpdate[] {
  const snapshot: Snapshot = {
    'snapshot-id': snapshotId,
    ...(parent === null ? {} : { 'parent-snapshot-id': parent }),
    'sequence-number': seq,
    'timestamp-ms': Date.now(),
    'manifest-list': `file:///nowhere/snap-${snapshotId}.avro`,
    summary: { operation: 'append' },
  };
  return [
    { action: 'add-snapshot', snapshot },
    { action: 'set-snapshot-ref', 'ref-name': 'main', type: 'branch', 'snapshot-id': snapshotId },
  ];
}

test('creates the JDBC catalog tables as pyiceberg/Java do, with the namespace marker row', async () => {
  const { dbPath, location, catalog } = setup();
  await catalog.createTable(id, spanTableDefinition(location));
  await catalog.close();
  const db = new DatabaseSync(dbPath);
  const cols = (t: string) => (db.prepare(`PRAGMA table_info(${t})`).all() as { name: string; pk: number }[]).map((c) => [c.name, c.pk]);
  assert.deepEqual(cols('iceberg_tables'), [
    ['catalog_name', 1], ['table_namespace', 2], ['table_name', 3], ['metadata_location', 0], ['previous_metadata_location', 0], ['iceberg_type', 0],
  ]);
  assert.deepEqual(cols('iceberg_namespace_properties'), [['catalog_name', 1], ['namespace', 2], ['property_key', 3], ['property_value', 0]]);
  const row = db.prepare('SELECT * FROM iceberg_tables').get() as Record<string, unknown>;
  assert.equal(row.catalog_name, 'default');
  assert.equal(row.table_namespace, 'observability');
  assert.equal(row.iceberg_type, 'TABLE');
  assert.equal(row.previous_metadata_location, null);
  assert.match(String(row.metadata_location), /\/observability\.db\/otel_spans\/metadata\/00000-[0-9a-f-]+\.metadata\.json$/);
  assert.deepEqual(db.prepare('SELECT namespace, property_key, property_value FROM iceberg_namespace_properties').all().map((r) => ({ ...r })), [
    { namespace: 'observability', property_key: 'exists', property_value: 'true' },
  ]);
  assert.equal((db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
  db.close();
});

test('load returns null for an unknown table; create twice fails', async () => {
  const { location, catalog } = setup();
  assert.equal(await catalog.loadTable(id), null);
  const created = await catalog.createTable(id, spanTableDefinition(location));
  const loaded = await catalog.loadTable(id);
  assert.equal(loaded!.metadataLocation, created.metadataLocation);
  assert.equal(loaded!.metadata['table-uuid'], created.metadata['table-uuid']);
  await assert.rejects(catalog.createTable(id, spanTableDefinition(location)), TableAlreadyExistsError);
  await catalog.close();
});

test('commit writes the next metadata version and moves the pointer', async () => {
  const { dbPath, location, catalog } = setup();
  const created = await catalog.createTable(id, spanTableDefinition(location));
  const r = await catalog.commitTable(id, [{ type: 'assert-ref-snapshot-id', ref: 'main', 'snapshot-id': null }], appendUpdates(1, 1, null));
  assert.match(r.metadataLocation, /\/metadata\/00001-[0-9a-f-]+\.metadata\.json$/);
  assert.equal(r.metadata['current-snapshot-id'], 1);
  assert.deepEqual(r.metadata['metadata-log']!.map((e) => e['metadata-file']), [created.metadataLocation]);
  const again = await catalog.loadTable(id);
  assert.equal(again!.metadataLocation, r.metadataLocation);
  const db = new DatabaseSync(dbPath);
  assert.equal((db.prepare('SELECT previous_metadata_location p FROM iceberg_tables').get() as { p: string }).p, created.metadataLocation);
  db.close();
  await catalog.close();
});

test('a stale requirement is a retryable conflict and changes nothing', async () => {
  const { location, catalog } = setup();
  await catalog.createTable(id, spanTableDefinition(location));
  const first = await catalog.commitTable(id, [{ type: 'assert-ref-snapshot-id', ref: 'main', 'snapshot-id': null }], appendUpdates(1, 1, null));
  await assert.rejects(
    catalog.commitTable(id, [{ type: 'assert-ref-snapshot-id', ref: 'main', 'snapshot-id': null }], appendUpdates(2, 2, null)),
    (e: unknown) => e instanceof CommitConflictError && e.code === 'TS_CATALOG_COMMIT_CONFLICT' && e.retryable,
  );
  assert.equal((await catalog.loadTable(id))!.metadataLocation, first.metadataLocation);
  await catalog.close();
});

test('losing the compare-and-swap race is a conflict, and the loser\'s metadata file is removed', async () => {
  // While catalog A writes its new metadata file, catalog B (another process on the same database)
  // commits: A's UPDATE ... WHERE metadata_location = <old> then matches no row.
  const local = new LocalFileIO();
  let racer: (() => Promise<void>) | null = null;
  const io: FileIO = {
    read: (u) => local.read(u),
    readRange: (u, o, l) => local.readRange(u, o, l),
    size: (u) => local.size(u),
    delete: (u) => local.delete(u),
    async write(uri, bytes) {
      await local.write(uri, bytes);
      const r = racer;
      racer = null;
      if (r && uri.endsWith('.metadata.json')) await r();
    },
  };
  const { dir, dbPath, location, catalog: a } = setup(io);
  await a.createTable(id, spanTableDefinition(location));
  const b = new SqlCatalog({ path: dbPath, name: 'default', io: local, logger: silentLogger() });
  let winner = '';
  racer = async () => {
    winner = (await b.commitTable(id, [], appendUpdates(2, 1, null))).metadataLocation;
  };
  await assert.rejects(a.commitTable(id, [], appendUpdates(1, 1, null)), CommitConflictError);
  assert.notEqual(winner, '');
  const now = await a.loadTable(id);
  assert.equal(now!.metadataLocation, winner);
  assert.equal(now!.metadata['current-snapshot-id'], 2);
  const files = readdirSync(join(dir, 'warehouse/observability.db/otel_spans/metadata'));
  assert.equal(files.filter((f) => f.startsWith('00001-')).length, 1, `only the winner's version 1 file remains: ${files.join(',')}`);
  await a.close();
  await b.close();
});

test('old metadata files beyond previous-versions-max are deleted', async () => {
  const { dir, location, catalog } = setup();
  const def = spanTableDefinition(location);
  def.properties['write.metadata.previous-versions-max'] = '2';
  await catalog.createTable(id, def);
  for (let i = 1; i <= 6; i++) await catalog.commitTable(id, [], appendUpdates(i, i, i === 1 ? null : i - 1));
  const files = readdirSync(join(dir, 'warehouse/observability.db/otel_spans/metadata')).filter((f) => f.endsWith('.metadata.json')).sort();
  assert.deepEqual(files.map((f) => f.slice(0, 5)), ['00004', '00005', '00006']);
  await catalog.close();
});
