import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { configSchema } from '../../../src/config/schema.ts';
import { createSpanTable } from '../../../src/lake/factory.ts';
import { createFileIO } from '../../../src/lake/file-io-factory.ts';
import { openIcebergSpanTable } from '../../../src/lake/iceberg/iceberg-table.ts';
import { spanPartitionSpec, spanSchema } from '../../../src/lake/iceberg/metadata.ts';
import { RestCatalog } from '../../../src/lake/iceberg/rest-catalog.ts';
import type { SpanColumns } from '../../../src/lake/span-schema.ts';
import type { SnapshotRef } from '../../../src/lake/table.ts';
import { silentLogger, type Logger } from '../../../src/telemetry/logger.ts';
import { garageS3Config, infraEnv } from '../../support/infra.ts';
import { spanBatch } from '../../unit/lake/iceberg/span-batch-fixture.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '../../..');
const rest = infraEnv('iceberg-rest');
const uri = rest.TAILSAMPLER_ICEBERG_REST_URI!;
const warehouse = rest.TAILSAMPLER_ICEBERG_REST_WAREHOUSE!;

/** A namespace of its own per test: the server keeps its catalog between runs. */
function uniqueNamespace(): string {
  return `it_${randomBytes(4).toString('hex')}.spans`;
}

function storageConfig(namespace: string, catalogUri = uri) {
  return configSchema.parse({
    storage: { catalog: { type: 'rest', uri: catalogUri, warehouse }, table: { namespace, name: 'otel_spans' }, s3: garageS3Config(), row_group_size: 64 },
  }).storage;
}

/** A logger that keeps the messages of warn lines (to see conflicts being retried). */
function recordingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push((JSON.parse(line) as { msg: string }).msg) });
  return { logger, warnings };
}

function sortedSpanIds(batches: SpanColumns[]): string[] {
  return batches.flatMap((b) => Array.from(b.span_id)).sort();
}

test('the span table through the REST catalog: created with our ids, appended, reopened, read back', async () => {
  const namespace = uniqueNamespace();
  const config = storageConfig(namespace);
  const first = await createSpanTable(config, { logger: silentLogger() });
  const batches = [1, 2].map((seed) => spanBatch({ traces: 30, spansPerTrace: 4, seed, days: 2 }));
  const refs: SnapshotRef[] = [];
  for (const [i, b] of batches.entries()) refs.push(await first.table.append(b, { 'tailsampler.spool-position': String(i + 1) }));
  assert.equal(refs[1]!.sequenceNumber, 2);
  assert.equal(refs[1]!.parentId, refs[0]!.snapshotId);
  await first.close();

  // The server created the table under its own warehouse with our field ids, spec and sort order.
  const catalog = await RestCatalog.open({ uri, warehouse, requestTimeoutMs: 10_000, logger: silentLogger() });
  const loaded = (await catalog.loadTable({ namespace, name: 'otel_spans' }))!;
  await catalog.close();
  // Hadoop spells file URIs file:/path; compare paths.
  const under = (uri: string) => uri.replace(/^file:\/+/, '/').startsWith(`${warehouse.replace(/^file:\/+/, '/').replace(/\/+$/, '')}/`);
  assert.ok(under(loaded.metadataLocation), `${loaded.metadataLocation} under ${warehouse}`);
  assert.ok(under(loaded.metadata.location), `${loaded.metadata.location} under ${warehouse}`);
  const schema = loaded.metadata.schemas.find((s) => s['schema-id'] === loaded.metadata['current-schema-id'])!;
  assert.deepEqual(
    schema.fields.map((f) => [f.id, f.name, f.type, f.required]),
    spanSchema().fields.map((f) => [f.id, f.name, f.type, f.required]),
  );
  const spec = loaded.metadata['partition-specs'].find((s) => s['spec-id'] === loaded.metadata['default-spec-id'])!;
  assert.deepEqual(spec.fields, spanPartitionSpec().fields);
  assert.equal(loaded.metadata['format-version'], 2);
  assert.equal(loaded.metadata.properties['write.parquet.compression-codec'], 'zstd');

  // Reopened: same current snapshot, every file, and rows read back.
  const second = await createSpanTable(config, { logger: silentLogger() });
  assert.deepEqual(await second.table.currentSnapshot(), refs[1]);
  const changes = await second.table.changesSince(0);
  assert.equal(changes.lastSequenceNumber, 2);
  assert.equal(changes.files.reduce((n, f) => n + f.recordCount, 0), 240);
  const traceId = batches[1]!.trace_id[8]!;
  const file = changes.files.find((f) => f.traceIdMin! <= traceId && traceId <= f.traceIdMax! && f.snapshotId === refs[1]!.snapshotId)!;
  const cols = await second.table.read(file, ['trace_id', 'span_id'], new Set([traceId]));
  assert.equal(cols.length, 4);
  assert.deepEqual(Array.from(cols.span_id!).sort(), Array.from(batches[1]!.span_id).filter((_, i) => batches[1]!.trace_id[i] === traceId).sort());
  await second.close();
});

test('two writers committing at once: both snapshots land, the loser retries on the 409', async () => {
  const namespace = uniqueNamespace();
  const config = storageConfig(namespace);
  const a = await createSpanTable(config, { logger: silentLogger() });
  const recB = recordingLogger();
  const recA = recordingLogger();
  // Reopen both on the same (empty) base, each with its own catalog client.
  await a.close();
  const ta = await createSpanTable(config, { logger: recA.logger });
  const tb = await createSpanTable(config, { logger: recB.logger });
  const batches = [10, 11, 12, 13].map((seed) => spanBatch({ traces: 10, spansPerTrace: 3, seed }));
  await Promise.all([
    (async () => {
      await ta.table.append(batches[0]!, { writer: 'a' });
      await ta.table.append(batches[1]!, { writer: 'a' });
    })(),
    (async () => {
      await tb.table.append(batches[2]!, { writer: 'b' });
      await tb.table.append(batches[3]!, { writer: 'b' });
    })(),
  ]);
  const conflicts = [...recA.warnings, ...recB.warnings].filter((m) => m.includes('conflict'));
  assert.ok(conflicts.length >= 1, 'writers that loaded the same base must conflict at least once');
  const current = (await ta.table.currentSnapshot())!;
  assert.equal(current.sequenceNumber, 4);
  assert.equal(current.summary['total-records'], '120');
  const changes = await tb.table.changesSince(0);
  assert.equal(changes.snapshots.length, 4);
  assert.deepEqual(changes.snapshots.map((s) => s.summary.writer).sort(), ['a', 'a', 'b', 'b']);
  const ids: string[] = [];
  for (const f of changes.files) ids.push(...Array.from((await tb.table.read(f, ['span_id'])).span_id!));
  assert.equal(ids.length, 120);
  await ta.close();
  await tb.close();
});

/**
 * A proxy in front of the real server that can break the next commit's answer: `lose-answer` forwards
 * the commit (the server applies it) and answers 504 instead of the result; `refuse` answers 503
 * without forwarding.
 */
async function faultyProxy(): Promise<{ uri: string; server: Server; next: { mode: 'pass' | 'lose-answer' | 'refuse' }; faults: number }> {
  const target = new URL(uri);
  const state = { uri: '', server: null as unknown as Server, next: { mode: 'pass' as 'pass' | 'lose-answer' | 'refuse' }, faults: 0 };
  state.server = createServer((req, res) => {
    const isCommit = req.method === 'POST' && /\/namespaces\/[^/]+\/tables\/[^/]+$/.test(req.url ?? '');
    const mode = isCommit ? state.next.mode : 'pass';
    if (isCommit && mode !== 'pass') {
      state.next.mode = 'pass';
      state.faults++;
    }
    if (mode === 'refuse') {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'injected: unavailable', type: 'ServiceUnavailableException', code: 503 } }));
      return;
    }
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (up) => {
        if (mode === 'lose-answer') {
          up.resume();
          up.on('end', () => {
            res.writeHead(504, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ error: { message: 'injected: gateway timeout', type: 'CommitStateUnknownException', code: 504 } }));
          });
          return;
        }
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(upstream);
  });
  await new Promise<void>((r) => state.server.listen(0, '127.0.0.1', r));
  state.uri = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  return state;
}

test('a commit whose answer is lost is reconciled from the table, never applied twice', async () => {
  const proxy = await faultyProxy();
  try {
    const namespace = uniqueNamespace();
    const id = { namespace, name: 'otel_spans' };
    const catalog = await RestCatalog.open({ uri: proxy.uri, warehouse, requestTimeoutMs: 10_000, logger: silentLogger() });
    const table = await openIcebergSpanTable({
      catalog, io: createFileIO({ s3: storageConfig(namespace).s3 }), id, location: '', maxSnapshots: 50, rowGroupSize: 64, logger: silentLogger(),
    });
    const b1 = spanBatch({ traces: 5, spansPerTrace: 2, seed: 21 });
    const b2 = spanBatch({ traces: 5, spansPerTrace: 2, seed: 22 });
    const b3 = spanBatch({ traces: 5, spansPerTrace: 2, seed: 23 });
    await table.append(b1, { n: '1' });

    // The server applies the commit but the client gets 504: append finds its snapshot and returns it.
    proxy.next.mode = 'lose-answer';
    const r2 = await table.append(b2, { n: '2' });
    assert.equal(proxy.faults, 1);
    // The server refuses before applying: append sees its snapshot missing and commits again.
    proxy.next.mode = 'refuse';
    const r3 = await table.append(b3, { n: '3' });
    assert.equal(proxy.faults, 2);

    const changes = await table.changesSince(0);
    assert.deepEqual(changes.snapshots.map((s) => s.summary.n), ['1', '2', '3'], 'each append landed exactly once');
    assert.equal(r2.sequenceNumber, 2);
    assert.equal(r3.sequenceNumber, 3);
    assert.equal(r3.parentId, r2.snapshotId);
    const ids: string[] = [];
    for (const f of changes.files) ids.push(...Array.from((await table.read(f, ['span_id'])).span_id!));
    assert.deepEqual(ids.sort(), sortedSpanIds([b1, b2, b3]));
    await catalog.close();
  } finally {
    await new Promise((r) => proxy.server.close(r));
  }
});

test('pyiceberg loads the table through its REST catalog and scans the right rows', async () => {
  const python = process.env.TAILSAMPLER_PYTHON ?? execFileSync('bash', [join(repo, 'scripts/ensure-python.sh')], { encoding: 'utf8' }).trim();
  const namespace = uniqueNamespace();
  const { table, close } = await createSpanTable(storageConfig(namespace), { logger: silentLogger() });
  const batches = [31, 32, 33].map((seed) => spanBatch({ traces: 40, spansPerTrace: 3, seed, days: 2 }));
  let last;
  for (const b of batches) last = await table.append(b, {});
  await close();
  const traceId = batches[2]!.trace_id[3 * 7]!;
  const b3 = batches[2]!;
  const traceRows = Array.from(b3.span_id, (s, i) => ({ s, d: String(b3.duration[i]), t: b3.trace_id[i] }))
    .filter((r) => r.t === traceId)
    .sort((x, y) => (x.s < y.s ? -1 : 1));

  const out = execFileSync(python, [join(here, 'rest-catalog-reader.py'), uri, warehouse, namespace, 'otel_spans', traceId], {
    env: { ...process.env, ...infraEnv('garage') },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const r = JSON.parse(out) as {
    count: number; span_size_sum: number; distinct_traces: number; span_ids: string[]; trace_span_ids: string[];
    trace_durations: string[]; trace_planned_files: number; total_files: number; snapshots: number; current_snapshot_id: number;
    total_records: string; field_ids: Record<string, number>; partition: [string, number, number, string][];
  };
  assert.equal(r.count, 360);
  assert.equal(r.distinct_traces, 120);
  assert.equal(r.span_size_sum, batches.reduce((n, b) => n + Array.from(b.span_size).reduce((m, x) => m + x, 0), 0));
  assert.deepEqual(r.span_ids, sortedSpanIds(batches));
  assert.equal(traceRows.length, 3);
  assert.deepEqual(r.trace_span_ids, traceRows.map((x) => x.s));
  assert.deepEqual(r.trace_durations, traceRows.map((x) => x.d));
  assert.ok(r.trace_planned_files >= 1 && r.trace_planned_files < r.total_files, `planned ${r.trace_planned_files} of ${r.total_files}`);
  assert.equal(r.snapshots, 3);
  assert.equal(r.current_snapshot_id, last?.snapshotId);
  assert.equal(r.total_records, '360');
  assert.deepEqual(r.field_ids, Object.fromEntries(spanSchema().fields.map((f) => [f.name, f.id])));
  assert.deepEqual(r.partition, [
    ['timestamp_day', 1000, 6, 'day'],
    ['trace_id_bucket', 1001, 1, 'bucket[16]'],
  ]);
});
