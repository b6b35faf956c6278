import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TraceReader, type TraceLocation } from '../../../src/evaluate/trace-reader.ts';
import { TRACE_ID_BUCKETS } from '../../../src/lake/span-schema.ts';
import type { DataFileRef, PartitionValues, SpanTable } from '../../../src/lake/table.ts';
import { bucketString } from '../../../src/lake/transforms.ts';

/** Deterministic trace ids in two different buckets. */
function idsInTwoBuckets(): [string, string] {
  const first = (0).toString(16).padStart(32, '0');
  for (let i = 1; ; i++) {
    const other = i.toString(16).padStart(32, '0');
    if (bucketString(other, TRACE_ID_BUCKETS) !== bucketString(first, TRACE_ID_BUCKETS)) return [first, other];
  }
}
const [A, B] = idsInTwoBuckets();

/** An external table's file: its partition has no trace_id_bucket; only traceIdBucket says where it belongs. */
function file(name: string, sequenceNumber: number, traceIdBucket: number | null, bounds: [string, string] | null = null): DataFileRef {
  return {
    path: `mem://t/data/${name}.parquet`,
    partition: { timestamp_day: 20_000 } as unknown as PartitionValues,
    recordCount: 10,
    fileSizeInBytes: 1000,
    sequenceNumber,
    traceIdMin: bounds?.[0] ?? null,
    traceIdMax: bounds?.[1] ?? null,
    traceIdBucket,
  };
}

/** The planner never reads; read() goes through this stub. */
function reader(): { reader: TraceReader; reads: { path: string; ids: string[] }[] } {
  const reads: { path: string; ids: string[] }[] = [];
  const table = {
    async read(f: DataFileRef, _columns: unknown, ids?: ReadonlySet<string>) {
      reads.push({ path: f.path, ids: [...(ids ?? [])].sort() });
      return { length: 0 };
    },
  } as unknown as SpanTable;
  return { reader: new TraceReader(table), reads };
}

function planned(r: TraceReader, traces: TraceLocation[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [f, ids] of r.plan(traces)) out[f.path.replace(/^.*\/|\.parquet$/g, '')] = [...ids].sort();
  return out;
}

const bucketA = bucketString(A, TRACE_ID_BUCKETS);
const bucketB = bucketString(B, TRACE_ID_BUCKETS);

test('unbucketed files are planned for every trace whose sequence range covers them, beside its own bucket', () => {
  const { reader: r } = reader();
  // Added out of sequence order: the planner stops at the first file past a trace's range.
  r.add([file('u5', 5, null), file('a1', 1, bucketA), file('u1', 1, null), file('b2', 2, bucketB), file('u3', 3, null)]);
  assert.equal(r.fileCount(), 5);
  assert.deepEqual(planned(r, [{ traceId: A, firstSeq: 1, lastSeq: 3 }]), { a1: [A], u1: [A], u3: [A] });
  assert.deepEqual(planned(r, [{ traceId: B, firstSeq: 2, lastSeq: 5 }]), { b2: [B], u3: [B], u5: [B] });
  assert.deepEqual(
    planned(r, [
      { traceId: A, firstSeq: 1, lastSeq: 3 },
      { traceId: B, firstSeq: 2, lastSeq: 5 },
    ]),
    { a1: [A], u1: [A], u3: [A, B], u5: [B], b2: [B] },
  );
});

test('trace id bounds still exclude an unbucketed file', () => {
  const { reader: r } = reader();
  r.add([file('onlyB', 1, null, [B, B]), file('any', 1, null)]);
  assert.deepEqual(planned(r, [{ traceId: A, firstSeq: 1, lastSeq: 1 }]), { any: [A] });
  assert.deepEqual(planned(r, [{ traceId: B, firstSeq: 1, lastSeq: 1 }]), { onlyB: [B], any: [B] });
});

test('read goes through unbucketed files with the ids they may hold', async () => {
  const { reader: r, reads } = reader();
  r.add([file('u1', 1, null), file('a1', 1, bucketA)]);
  for await (const _ of r.read([{ traceId: A, firstSeq: 1, lastSeq: 1 }, { traceId: B, firstSeq: 1, lastSeq: 1 }], ['status_code'])) assert.fail('nothing to yield');
  assert.deepEqual(
    reads.sort((x, y) => x.path.localeCompare(y.path)),
    [
      { path: 'mem://t/data/a1.parquet', ids: [A] },
      { path: 'mem://t/data/u1.parquet', ids: [A, B].sort() },
    ],
  );
});

test('files older than every owner\'s mark are dropped, unbucketed ones too, and their paths forgotten', () => {
  const { reader: r } = reader();
  r.add([file('u1', 1, null), file('u2', 2, null), file('u4', 4, null), file('a1', 1, bucketA), file('b3', 3, bucketB)]);
  r.retain('emitter', Infinity);
  assert.equal(r.fileCount(), 5, 'nothing is dropped before the evaluator said what it needs');
  r.retain('emitter', 2);
  r.retain('evaluator', 3);
  assert.equal(r.fileCount(), 3, 'the emitter still needs files from 2 on');
  r.reserve('evaluator', 1);
  r.retain('emitter', Infinity);
  assert.equal(r.fileCount(), 3, 'reserve lowered the evaluator mark: nothing more is dropped');
  r.retain('evaluator', 3);
  assert.equal(r.fileCount(), 2);
  assert.deepEqual(planned(r, [{ traceId: A, firstSeq: 0, lastSeq: 9 }]), { u4: [A] });
  assert.deepEqual(planned(r, [{ traceId: B, firstSeq: 0, lastSeq: 9 }]), { b3: [B], u4: [B] });
  r.add([file('u1', 1, null)]);
  assert.equal(r.fileCount(), 3, 'a pruned path can be indexed again');
});
