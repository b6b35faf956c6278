import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRACE_ID_BUCKETS, type ColumnName, type PartialSpanColumns } from '../../../src/lake/span-schema.ts';
import type { DataFileRef, PartitionValues, SpanTable } from '../../../src/lake/table.ts';
import { bucketString } from '../../../src/lake/transforms.ts';
import { attributeMatcher, candidateFiles, filesInRange, findTraces, locateTraces, queryColumns, type SearchProgress } from '../../../src/rescue/finder.ts';
import { withRescueMark } from '../../../src/rescue/mark.ts';
import type { RescueQuery } from '../../../src/rescue/request.ts';

const DAY = 86_400_000;
const id = (n: number) => n.toString(16).padStart(32, '0');

function file(name: string, seq: number, opts: { bucket?: number | null; day?: number | null; bounds?: [string, string] } = {}): DataFileRef {
  return {
    path: `mem://t/${name}`,
    partition: (opts.day === null ? {} : { timestamp_day: opts.day ?? 20_000 }) as unknown as PartitionValues,
    recordCount: 1,
    fileSizeInBytes: 1,
    sequenceNumber: seq,
    traceIdMin: opts.bounds?.[0] ?? null,
    traceIdMax: opts.bounds?.[1] ?? null,
    traceIdBucket: opts.bucket === undefined ? null : opts.bucket,
  };
}

/** Rows per file path; read() projects and filters as the table does, and records what was asked. */
function memTable(rows: Record<string, Record<string, unknown>[]>) {
  const reads: { path: string; columns: readonly ColumnName[] }[] = [];
  const table = {
    async read(f: DataFileRef, columns: readonly ColumnName[], ids?: ReadonlySet<string>): Promise<PartialSpanColumns> {
      reads.push({ path: f.path.slice('mem://t/'.length), columns });
      const picked = (rows[f.path.slice('mem://t/'.length)] ?? []).filter((r) => ids === undefined || ids.has(r.trace_id as string));
      const out: Record<string, unknown> = { length: picked.length };
      for (const c of columns) out[c] = picked.map((r) => r[c]);
      return out as PartialSpanColumns;
    },
  } as unknown as SpanTable;
  return { table, reads };
}

const progress = (): SearchProgress => ({ filesTotal: 0, filesScanned: 0, tracesFound: 0 });

test('by id, only files of the id\'s bucket (or of none) whose trace_id bounds take it are candidates', () => {
  const a = id(1);
  const b = bucketString(a, TRACE_ID_BUCKETS);
  const files = [
    file('same-bucket', 1, { bucket: b }),
    file('other-bucket', 2, { bucket: (b + 1) % TRACE_ID_BUCKETS }),
    file('unbucketed', 3, { bucket: null }),
    file('out-of-bounds', 4, { bucket: b, bounds: [id(2), id(9)] }),
    file('in-bounds', 5, { bucket: b, bounds: [id(0), id(9)] }),
  ];
  assert.deepEqual([...candidateFiles(files, [a]).keys()].map((f) => f.path.slice(8)), ['same-bucket', 'unbucketed', 'in-bounds']);
});

test('locating reads trace_id only, once per candidate file; an id no file holds is not found; ranges span the files holding it', async () => {
  const [a, b, gone] = [id(1), id(2), id(3)];
  const { table, reads } = memTable({ f1: [{ trace_id: a }], f2: [{ trace_id: b }], f3: [{ trace_id: a }] });
  const p = progress();
  const located = await locateTraces(table, [file('f1', 1), file('f2', 2), file('f3', 3)], [a, b, gone], p);
  assert.deepEqual(located.locations, [{ traceId: a, firstSeq: 1, lastSeq: 3 }, { traceId: b, firstSeq: 2, lastSeq: 2 }]);
  assert.deepEqual(located.notFound, [gone]);
  assert.deepEqual(located.files.map((f) => f.path.slice(8)), ['f1', 'f2', 'f3']);
  assert.deepEqual(reads, [{ path: 'f1', columns: ['trace_id'] }, { path: 'f2', columns: ['trace_id'] }, { path: 'f3', columns: ['trace_id'] }]);
  assert.deepEqual(p, { filesTotal: 3, filesScanned: 3, tracesFound: 2 });
});

test('a query reads only files of its days (newest first) and only the columns its conditions need', () => {
  const day = 20_000;
  const q: RescueQuery = { service: null, fromMs: day * DAY + 1000, toMs: (day + 1) * DAY, errorOnly: false, attributes: [] };
  const files = [file('before', 1, { day: day - 1 }), file('d0', 2, { day }), file('after', 3, { day: day + 1 }), file('no-day', 4, { day: null }), file('d0b', 5, { day })];
  assert.deepEqual(filesInRange(files, q).map((f) => f.path.slice(8)), ['d0b', 'no-day', 'd0'], 'to is exclusive: a range ending at midnight stops before the next day');
  assert.deepEqual(queryColumns(q), ['trace_id', 'timestamp']);
  assert.deepEqual(queryColumns({ ...q, service: 's', errorOnly: true, attributes: [{ key: 'k', op: 'exists', value: null }] }), ['trace_id', 'timestamp', 'service_name', 'status_code', 'attributes', 'resource']);
});

test('a query matches on one span meeting every condition, and stops at the limit', async () => {
  const us = (ms: number) => BigInt(ms) * 1000n;
  const t0 = 20_000 * DAY;
  const row = (trace: number, over: Record<string, unknown> = {}) => ({
    trace_id: id(trace), timestamp: us(t0 + 10), service_name: 'svc', status_code: 2, attributes: '[{"key":"k","value":{"stringValue":"v"}}]', resource: '{"attributes":[]}', ...over,
  });
  const { table, reads } = memTable({
    f1: [row(1, { service_name: 'other' }), row(2, { status_code: 0 }), row(3, { timestamp: us(t0 - 10) }), row(4, { attributes: '[]' }), row(5)],
    f2: [row(6), row(7)],
  });
  const q: RescueQuery = { service: 'svc', fromMs: t0, toMs: t0 + DAY, errorOnly: true, attributes: [{ key: 'k', op: 'eq', value: 'v' }] };
  const files = [file('f1', 1), file('f2', 2)];
  assert.deepEqual(await findTraces(table, files, q, 10, progress()), [id(6), id(7), id(5)], 'newest file first; each condition rules one trace out');
  reads.length = 0;
  const p = progress();
  assert.deepEqual(await findTraces(table, files, q, 1, p), [id(6)]);
  assert.deepEqual(reads.map((r) => r.path), ['f2'], 'no file read past the limit');
  assert.deepEqual(p, { filesTotal: 2, filesScanned: 1, tracesFound: 1 });
});

test('attribute conditions look at the span, then its resource; values compare as text', () => {
  const m = attributeMatcher([
    { key: 'http.status_code', op: 'eq', value: '500' },
    { key: 'env', op: 'regex', value: '^prod' },
    { key: 'debug', op: 'neq', value: 'true' },
  ])!;
  const span = '[{"key":"http.status_code","value":{"intValue":"500"}}]';
  assert.equal(m(span, '{"attributes":[{"key":"env","value":{"stringValue":"production"}}]}'), true);
  assert.equal(m(span, '{"attributes":[{"key":"env","value":{"stringValue":"staging"}}]}'), false);
  assert.equal(m('[{"key":"http.status_code","value":{"intValue":"500"}},{"key":"debug","value":{"boolValue":true}}]', '{"attributes":[{"key":"env","value":{"stringValue":"prod"}}]}'), false);
  assert.equal(attributeMatcher([{ key: 'x', op: 'exists', value: null }])!('not json', '{}'), false, 'unreadable text has no attributes');
  assert.equal(attributeMatcher([]), null);
});

test('the rescue mark is appended after the span\'s own attributes, which stay byte for byte', () => {
  const own = '[{"key":"a","value":{"stringValue":"x, ]"}}]';
  const marked = withRescueMark(own, 'job-1');
  assert.ok(marked.startsWith(own.slice(0, -1) + ','));
  assert.deepEqual(JSON.parse(marked), [
    { key: 'a', value: { stringValue: 'x, ]' } },
    { key: 'tailsampler.rescued', value: { boolValue: true } },
    { key: 'tailsampler.rescue_id', value: { stringValue: 'job-1' } },
  ]);
  assert.equal((JSON.parse(withRescueMark('[]', 'j')) as unknown[]).length, 2);
  assert.throws(() => withRescueMark('{}', 'j'), { code: 'TS_OTLP_CORRUPT_PAYLOAD' });
});
