import { test } from 'node:test';
import { zstdDecompressSync } from 'node:zlib';
import assert from 'node:assert/strict';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { AUDIT_BOUNDED_STRINGS, AUDIT_COLUMNS, auditPartitionSpec, auditSchema, auditTableDefinition, type AuditColumns } from '../../../src/lake/audit-schema.ts';
import { newTableMetadata, typeKey } from '../../../src/lake/iceberg/metadata.ts';
import { writeFlatFile } from '../../../src/lake/parquet/write-flat.ts';
import { deserializeBound } from '../../../src/lake/transforms.ts';

test('audit schema: ids 1..12 in order, the columns the README names, day(decided_at) partition', () => {
  assert.deepEqual(AUDIT_COLUMNS.map((c) => c.id), Array.from({ length: 12 }, (_, i) => i + 1));
  assert.deepEqual(
    auditSchema().fields.map((f) => `${f.name}:${typeKey(f.type)}${f.required ? '!' : ''}`),
    ['trace_id:string!', 'decided_at:timestamptz!', 'outcome:string!', 'policy:string!', 'threshold:string', 'span_count:int!', 'error_count:int!', 'duration:long!', 'trace_bytes:long!', 'first_seen:timestamptz!', 'last_seen:timestamptz!', 'replica:string!'],
  );
  assert.deepEqual(auditPartitionSpec().fields, [{ 'source-id': 2, 'field-id': 1000, name: 'decided_at_day', transform: 'day' }]);
  const m = newTableMetadata(auditTableDefinition('file:///w/observability.db/sampling_decisions'));
  assert.equal(m['last-column-id'], 12);
  assert.equal(m['last-partition-id'], 1000);
  assert.equal(m['default-sort-order-id'], 0);
});

test('a flat audit file carries Iceberg field ids, reads back row for row, and has the manifest bounds', async () => {
  const batch: AuditColumns = {
    length: 2,
    trace_id: ['b'.repeat(32), 'a'.repeat(32)],
    decided_at: BigInt64Array.from([1_700_000_000_000_000n, 1_700_000_001_000_000n]),
    outcome: ['sampled', 'not_sampled'],
    policy: ['force_rule:abc', ''],
    threshold: ['0', null],
    span_count: Int32Array.from([3, 1]),
    error_count: Int32Array.from([1, 0]),
    duration: BigInt64Array.from([5_000_000n, 7n]),
    trace_bytes: BigInt64Array.from([300n, 100n]),
    first_seen: BigInt64Array.from([1n, 2n]),
    last_seen: BigInt64Array.from([3n, 4n]),
    replica: ['r1', 'r1'],
  };
  const { bytes, metrics } = writeFlatFile(AUDIT_COLUMNS, batch as unknown as Record<string, ArrayLike<unknown>>, Int32Array.from([0, 1]), { rowGroupSize: 10, boundedStrings: AUDIT_BOUNDED_STRINGS });
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const meta = parquetMetadata(file);
  assert.deepEqual(meta.schema.slice(1).map((e) => [e.name, e.field_id]), AUDIT_COLUMNS.map((c) => [c.name, c.id]));
  const rows = await parquetReadObjects({ file, compressors: { ZSTD: (b: Uint8Array) => zstdDecompressSync(b) } });
  assert.deepEqual(rows.map((r): unknown[] => [r.trace_id, r.outcome, r.policy, r.threshold, r.span_count]), [
    ['b'.repeat(32), 'sampled', 'force_rule:abc', '0', 3],
    ['a'.repeat(32), 'not_sampled', '', null, 1],
  ]);
  assert.equal(metrics.recordCount, 2);
  assert.equal(metrics.nullValueCounts.get(5), 1);
  assert.equal(deserializeBound('string', metrics.lowerBounds.get(1)!), 'a'.repeat(32));
  assert.equal(deserializeBound('timestamptz', metrics.upperBounds.get(2)!), 1_700_000_001_000_000n);
  assert.equal(metrics.lowerBounds.has(4), false, 'free-text policy names get no bounds');
});
