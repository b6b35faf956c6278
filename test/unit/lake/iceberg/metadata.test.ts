import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LAST_COLUMN_ID, SPAN_COLUMNS } from '../../../../src/lake/span-schema.ts';
import {
  currentSnapshot,
  metadataFileLocation,
  metadataVersion,
  newSnapshotId,
  newTableMetadata,
  spanTableDefinition,
  type Snapshot,
  type TableMetadata,
} from '../../../../src/lake/iceberg/metadata.ts';
import { applyUpdates, checkRequirements } from '../../../../src/lake/iceberg/metadata-updates.ts';
import { CommitConflictError, InvalidMetadataError } from '../../../../src/lake/iceberg/errors.ts';

function table(): TableMetadata {
  return newTableMetadata({ ...spanTableDefinition('file:///w/ns.db/t/'), nowMs: 1000 });
}

function snap(id: number, seq: number, parent: number | null): Snapshot {
  return {
    'snapshot-id': id,
    ...(parent === null ? {} : { 'parent-snapshot-id': parent }),
    'sequence-number': seq,
    'timestamp-ms': 2000 + seq,
    'manifest-list': `file:///w/ns.db/t/metadata/snap-${id}.avro`,
    summary: { operation: 'append' },
  };
}

test('new span table metadata is format v2 with the span schema, spec and sort order', () => {
  const m = table();
  assert.equal(m['format-version'], 2);
  assert.equal(m.location, 'file:///w/ns.db/t');
  assert.match(m['table-uuid'], /^[0-9a-f-]{36}$/);
  assert.equal(m['last-column-id'], LAST_COLUMN_ID);
  assert.equal(m['last-sequence-number'], 0);
  assert.equal(m['last-partition-id'], 1001);
  assert.equal(m['current-schema-id'], 0);
  const schema = m.schemas[0]!;
  assert.equal(schema['schema-id'], 0);
  assert.equal(schema.fields.length, SPAN_COLUMNS.length);
  assert.deepEqual(schema.fields[0], { id: 1, name: 'trace_id', required: true, type: 'string', doc: SPAN_COLUMNS[0].doc });
  assert.equal(schema.fields.find((f) => f.name === 'timestamp')!.type, 'timestamptz');
  assert.equal('identifier-field-ids' in schema, false);
  assert.deepEqual(m['partition-specs'], [
    {
      'spec-id': 0,
      fields: [
        { 'source-id': 6, 'field-id': 1000, name: 'timestamp_day', transform: 'day' },
        { 'source-id': 1, 'field-id': 1001, name: 'trace_id_bucket', transform: 'bucket[16]' },
      ],
    },
  ]);
  assert.equal(m['default-sort-order-id'], 1);
  assert.deepEqual(m['sort-orders'].find((o) => o['order-id'] === 1)!.fields, [
    { transform: 'identity', 'source-id': 1, direction: 'asc', 'null-order': 'nulls-first' },
  ]);
  assert.equal(m.properties['write.format.default'], 'parquet');
  assert.equal(m.properties['write.parquet.compression-codec'], 'zstd');
  assert.equal(currentSnapshot(m), null);
});

test('snapshot ids are positive safe integers', () => {
  for (let i = 0; i < 1000; i++) {
    const id = newSnapshotId();
    assert.ok(Number.isSafeInteger(id) && id > 0, String(id));
  }
});

test('metadata file names carry a zero-padded version', () => {
  const loc = metadataFileLocation('file:///w/t/', 7);
  assert.match(loc, /^file:\/\/\/w\/t\/metadata\/00007-[0-9a-f-]{36}\.metadata\.json$/);
  assert.equal(metadataVersion(loc), 7);
  assert.equal(metadataVersion('file:///x/v3.metadata.json'), -1);
});

test('add-snapshot and set-snapshot-ref advance the table and log the old metadata file', () => {
  const base = table();
  const next = applyUpdates(base, 'file:///m/00000.metadata.json', [
    { action: 'add-snapshot', snapshot: snap(11, 1, null) },
    { action: 'set-snapshot-ref', 'ref-name': 'main', type: 'branch', 'snapshot-id': 11 },
  ], 5000);
  assert.equal(base.snapshots!.length, 0, 'base is not modified');
  assert.equal(next['last-sequence-number'], 1);
  assert.equal(next['current-snapshot-id'], 11);
  assert.deepEqual(next.refs, { main: { 'snapshot-id': 11, type: 'branch' } });
  assert.deepEqual(next['snapshot-log'], [{ 'snapshot-id': 11, 'timestamp-ms': 2001 }]);
  assert.deepEqual(next['metadata-log'], [{ 'metadata-file': 'file:///m/00000.metadata.json', 'timestamp-ms': 1000 }]);
  assert.equal(next['last-updated-ms'], 5000);
  assert.equal(currentSnapshot(next)!['snapshot-id'], 11);
});

test('a snapshot whose sequence number is not above the table\'s is a conflict', () => {
  const one = applyUpdates(table(), 'a', [{ action: 'add-snapshot', snapshot: snap(11, 1, null) }]);
  assert.throws(() => applyUpdates(one, 'b', [{ action: 'add-snapshot', snapshot: snap(12, 1, 11) }]), CommitConflictError);
});

test('remove-snapshots drops snapshots and their log entries but never a referenced one', () => {
  let m = table();
  let parent: number | null = null;
  for (let i = 1; i <= 4; i++) {
    m = applyUpdates(m, `m${i}`, [
      { action: 'add-snapshot', snapshot: snap(i, i, parent) },
      { action: 'set-snapshot-ref', 'ref-name': 'main', type: 'branch', 'snapshot-id': i },
    ]);
    parent = i;
  }
  const pruned = applyUpdates(m, 'm5', [{ action: 'remove-snapshots', 'snapshot-ids': [1, 2] }]);
  assert.deepEqual(pruned.snapshots!.map((s) => s['snapshot-id']), [3, 4]);
  assert.deepEqual(pruned['snapshot-log']!.map((s) => s['snapshot-id']), [3, 4]);
  assert.throws(() => applyUpdates(m, 'm5', [{ action: 'remove-snapshots', 'snapshot-ids': [4] }]), InvalidMetadataError);
});

test('metadata-log keeps at most previous-versions-max entries', () => {
  let m = applyUpdates(table(), 'm0', [{ action: 'set-properties', updates: { 'write.metadata.previous-versions-max': '3' } }]);
  for (let i = 1; i <= 10; i++) m = applyUpdates(m, `m${i}`, []);
  assert.deepEqual(m['metadata-log']!.map((e) => e['metadata-file']), ['m8', 'm9', 'm10']);
});

test('requirements: ref snapshot id and table uuid', () => {
  const m = applyUpdates(table(), 'a', [
    { action: 'add-snapshot', snapshot: snap(11, 1, null) },
    { action: 'set-snapshot-ref', 'ref-name': 'main', type: 'branch', 'snapshot-id': 11 },
  ]);
  checkRequirements(m, [
    { type: 'assert-table-uuid', uuid: m['table-uuid'] },
    { type: 'assert-ref-snapshot-id', ref: 'main', 'snapshot-id': 11 },
  ]);
  checkRequirements(table(), [{ type: 'assert-ref-snapshot-id', ref: 'main', 'snapshot-id': null }]);
  assert.throws(() => checkRequirements(m, [{ type: 'assert-ref-snapshot-id', ref: 'main', 'snapshot-id': null }]), CommitConflictError);
  assert.throws(() => checkRequirements(m, [{ type: 'assert-table-uuid', uuid: 'other' }]), CommitConflictError);
  assert.throws(() => checkRequirements(m, [{ type: 'assert-create' }]), CommitConflictError);
  assert.throws(() => checkRequirements(null, [{ type: 'assert-table-uuid', uuid: 'x' }]), (e: unknown) => e instanceof CommitConflictError && e.retryable);
});
