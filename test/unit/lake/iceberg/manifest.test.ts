import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readAvroContainer } from '../../../../src/lake/iceberg/avro-container.ts';
import { ENTRY_ADDED, ENTRY_EXISTING, readManifest, writeManifest, type ManifestEntry } from '../../../../src/lake/iceberg/manifest.ts';
import { readManifestList, writeManifestList, type ManifestFile } from '../../../../src/lake/iceberg/manifest-list.ts';
import { spanPartitionSpec, spanSchema } from '../../../../src/lake/iceberg/metadata.ts';
import { InvalidManifestError } from '../../../../src/lake/iceberg/errors.ts';
import type { DataFile } from '../../../../src/lake/table.ts';

function dataFile(i: number): DataFile {
  return {
    path: `file:///w/t/data/timestamp_day=2024-10-04/trace_id_bucket=${i % 16}/f${i}.parquet`,
    partition: { timestamp_day: 20_000 + (i % 2), trace_id_bucket: i % 16 },
    recordCount: 100 + i,
    fileSizeInBytes: 10_000 + i,
    columnSizes: new Map([[1, 500 + i], [5, 80]]),
    valueCounts: new Map([[1, 100 + i], [5, 100 + i]]),
    nullValueCounts: new Map([[1, 0], [3, 7]]),
    lowerBounds: new Map([[1, new TextEncoder().encode(`${i}`.padStart(32, '0'))]]),
    upperBounds: new Map([[1, new TextEncoder().encode(`${i}`.padStart(32, 'f'))]]),
    splitOffsets: [4, 9000 + i],
    sortOrderId: 1,
  };
}

function entry(i: number, status = ENTRY_ADDED): ManifestEntry {
  return status === ENTRY_ADDED
    ? { status, snapshotId: null, sequenceNumber: null, fileSequenceNumber: null, dataFile: dataFile(i) }
    : { status, snapshotId: 77, sequenceNumber: 3, fileSequenceNumber: 3, dataFile: dataFile(i) };
}

function plain(f: DataFile) {
  const m = (x: Map<number, Uint8Array>) => [...x].map(([k, v]) => [k, [...v]]);
  return { ...f, lowerBounds: m(f.lowerBounds), upperBounds: m(f.upperBounds), columnSizes: [...f.columnSizes], valueCounts: [...f.valueCounts], nullValueCounts: [...f.nullValueCounts] };
}

for (const codec of ['deflate', 'null'] as const) {
  test(`manifest write → read round trip (${codec} codec, more than one block)`, () => {
    const entries = [...Array.from({ length: 1500 }, (_, i) => entry(i)), entry(2000, ENTRY_EXISTING)];
    const bytes = writeManifest(entries, { schema: spanSchema(), spec: spanPartitionSpec(), codec });
    const back = readManifest(bytes, 'm.avro');
    assert.equal(back.length, entries.length);
    for (const [i, e] of entries.entries()) {
      const b = back[i]!;
      assert.equal(b.status, e.status);
      assert.equal(b.snapshotId, e.snapshotId);
      assert.equal(b.sequenceNumber, e.sequenceNumber);
      assert.equal(b.fileSequenceNumber, e.fileSequenceNumber);
      assert.deepEqual(plain(b.dataFile), plain(e.dataFile));
    }
  });
}

test('manifest header carries Iceberg metadata and an avro.schema with field ids', () => {
  const bytes = writeManifest([entry(1)], { schema: spanSchema(), spec: spanPartitionSpec() });
  const c = readAvroContainer(bytes, 'm.avro');
  assert.equal(c.metadata.get('format-version'), '2');
  assert.equal(c.metadata.get('content'), 'data');
  assert.equal(c.metadata.get('partition-spec-id'), '0');
  assert.equal(c.metadata.get('schema-id'), '0');
  assert.deepEqual(JSON.parse(c.metadata.get('schema')!), spanSchema());
  assert.deepEqual(JSON.parse(c.metadata.get('partition-spec')!), spanPartitionSpec().fields);
  const avroSchema = JSON.parse(c.metadata.get('avro.schema')!) as { fields: { name: string; 'field-id': number; type: unknown }[] };
  assert.deepEqual(avroSchema.fields.map((f) => [f.name, f['field-id']]), [
    ['status', 0], ['snapshot_id', 1], ['sequence_number', 3], ['file_sequence_number', 4], ['data_file', 2],
  ]);
  const df = avroSchema.fields[4]!.type as { fields: { name: string; 'field-id': number; type: unknown }[] };
  const ids = Object.fromEntries(df.fields.map((f) => [f.name, f['field-id']]));
  assert.deepEqual(
    [ids.content, ids.file_path, ids.file_format, ids.partition, ids.record_count, ids.file_size_in_bytes, ids.column_sizes, ids.lower_bounds, ids.upper_bounds, ids.split_offsets, ids.sort_order_id],
    [134, 100, 101, 102, 103, 104, 108, 125, 128, 132, 140],
  );
  const partition = df.fields.find((f) => f.name === 'partition')!.type as { fields: { name: string; 'field-id': number; type: unknown }[] };
  assert.deepEqual(partition.fields.map((f) => [f.name, f['field-id']]), [['timestamp_day', 1000], ['trace_id_bucket', 1001]]);
  assert.deepEqual(partition.fields[0]!.type, ['null', { type: 'int', logicalType: 'date' }]);
  const lower = df.fields.find((f) => f.name === 'lower_bounds')!.type as unknown[];
  assert.deepEqual(lower[1], {
    type: 'array',
    logicalType: 'map',
    items: { type: 'record', name: 'k126_v127', fields: [{ name: 'key', type: 'int', 'field-id': 126 }, { name: 'value', type: 'bytes', 'field-id': 127 }] },
  });
});

test('manifest list write → read round trip with header and field ids', () => {
  const manifests: ManifestFile[] = [1, 2].map((i) => ({
    path: `file:///w/t/metadata/m${i}.avro`,
    length: 1000 + i,
    partitionSpecId: 0,
    content: 0,
    sequenceNumber: 10 - i,
    minSequenceNumber: 10 - i,
    addedSnapshotId: 2 ** 52 + i,
    addedFilesCount: i,
    existingFilesCount: 0,
    deletedFilesCount: 0,
    addedRowsCount: 100 * i,
    existingRowsCount: 0,
    deletedRowsCount: 0,
    partitions: [
      { containsNull: false, containsNan: false, lowerBound: new Uint8Array([1, 0, 0, 0]), upperBound: new Uint8Array([2, 0, 0, 0]) },
      { containsNull: false, containsNan: null, lowerBound: null, upperBound: null },
    ],
  }));
  const bytes = writeManifestList(manifests, { snapshotId: 5, parentSnapshotId: 4, sequenceNumber: 9 });
  const back = readManifestList(bytes, 'l.avro');
  assert.deepEqual(
    back.map((m) => ({ ...m, partitions: m.partitions!.map((p) => ({ ...p, lowerBound: p.lowerBound && [...p.lowerBound], upperBound: p.upperBound && [...p.upperBound] })) })),
    manifests.map((m) => ({ ...m, partitions: m.partitions!.map((p) => ({ ...p, lowerBound: p.lowerBound && [...p.lowerBound], upperBound: p.upperBound && [...p.upperBound] })) })),
  );
  const c = readAvroContainer(bytes, 'l.avro');
  assert.equal(c.metadata.get('snapshot-id'), '5');
  assert.equal(c.metadata.get('parent-snapshot-id'), '4');
  assert.equal(c.metadata.get('sequence-number'), '9');
  const fields = (c.schema as { fields: { name: string; 'field-id': number }[] }).fields.map((f) => f['field-id']);
  assert.deepEqual(fields, [500, 501, 502, 517, 515, 516, 503, 504, 505, 506, 512, 513, 514, 507, 519]);
});

test('a corrupt or truncated manifest is a TS_ICEBERG_INVALID_MANIFEST error', () => {
  const bytes = writeManifest([entry(1), entry(2)], { schema: spanSchema(), spec: spanPartitionSpec() });
  assert.throws(() => readManifest(bytes.subarray(0, bytes.length - 20), 'm'), (e: unknown) => e instanceof InvalidManifestError && e.code === 'TS_ICEBERG_INVALID_MANIFEST');
  assert.throws(() => readManifest(new Uint8Array([1, 2, 3, 4, 5]), 'm'), InvalidManifestError);
});
