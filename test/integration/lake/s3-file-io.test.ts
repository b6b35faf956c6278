import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { configSchema } from '../../../src/config/schema.ts';
import { createSpanTable } from '../../../src/lake/factory.ts';
import { FileNotFoundError, ObjectStoreRequestError } from '../../../src/lake/file-io-errors.ts';
import { DEFAULT_S3_OPTIONS, S3FileIO, s3ClientConfig, type S3FileIOOptions } from '../../../src/lake/s3-file-io.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { garageS3Config, infraEnv } from '../../support/infra.ts';
import { spanBatch } from '../../unit/lake/iceberg/span-batch-fixture.ts';
import { spanRowsOf, type SpanRow } from '../../support/span-rows.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '../../..');
const KIB = 1024;

const env = infraEnv('garage');
const bucket = env.TAILSAMPLER_S3_BUCKET!;
const run = `it-${randomUUID()}`;
const options: S3FileIOOptions = {
  ...DEFAULT_S3_OPTIONS,
  endpoint: env.TAILSAMPLER_S3_ENDPOINT!,
  region: env.TAILSAMPLER_S3_REGION!,
  credentials: { accessKeyId: env.TAILSAMPLER_S3_ACCESS_KEY_ID!, secretAccessKey: env.TAILSAMPLER_S3_SECRET_ACCESS_KEY! },
  // Small sizes so a ~1.3 MiB object goes multipart in 6 parts (Garage has no minimum part size).
  multipartThresholdBytes: 1024 * KIB,
  partSizeBytes: 256 * KIB,
};
/** A plain SDK client, to look at the bucket independently of S3FileIO. */
const raw = new S3Client(s3ClientConfig(options));

async function counts(metrics: Metrics): Promise<{ requests: Record<string, number>; bytes: Record<string, number> }> {
  const requests: Record<string, number> = {};
  for (const v of (await metrics.s3Requests.get()).values) requests[String(v.labels.op)] = v.value;
  const bytes: Record<string, number> = {};
  for (const v of (await metrics.s3Bytes.get()).values) bytes[String(v.labels.direction)] = v.value;
  return { requests, bytes };
}

async function listKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) keys.push(o.Key!);
    token = r.NextContinuationToken;
  } while (token);
  return keys;
}

let io: S3FileIO;
let metrics: Metrics;
before(() => {
  metrics = new Metrics();
  io = new S3FileIO(options, { metrics });
});
after(async () => {
  // Leave the shared bucket as it was.
  for (const key of await listKeys(`${run}/`)) await io.delete(`s3://${bucket}/${key}`);
  io.close();
  raw.destroy();
});

test('write, read, readRange, size and delete round-trip through Garage', async () => {
  const uri = `s3://${bucket}/${run}/small/object.bin`;
  const bytes = randomBytes(10_000);
  const before = await counts(metrics);
  await io.write(uri, bytes);
  assert.deepEqual(Buffer.from(await io.read(uri)), bytes);
  assert.deepEqual(Buffer.from(await io.readRange(uri, 1234, 100)), bytes.subarray(1234, 1334));
  assert.deepEqual(Buffer.from(await io.readRange(uri, 9_990, 100)), bytes.subarray(9_990), 'a range past the end comes back short');
  assert.equal((await io.readRange(uri, 20_000, 10)).byteLength, 0, 'a range starting past the end is empty');
  assert.equal(await io.size(uri), 10_000);
  // s3a:// addresses the same object.
  assert.equal(await io.size(`s3a://${bucket}/${run}/small/object.bin`), 10_000);

  const after = await counts(metrics);
  const delta = (op: string) => (after.requests[op] ?? 0) - (before.requests[op] ?? 0);
  assert.equal(delta('put_object'), 1);
  assert.equal(delta('get_object'), 4);
  assert.equal(delta('head_object'), 2);
  assert.equal(delta('create_multipart_upload'), 0, 'a small object is one PutObject');
  assert.equal((after.bytes.upload ?? 0) - (before.bytes.upload ?? 0), 10_000);
  assert.equal((after.bytes.download ?? 0) - (before.bytes.download ?? 0), 10_000 + 100 + 10);

  await io.delete(uri);
  await assert.rejects(io.size(uri), (e: unknown) => e instanceof FileNotFoundError);
  await io.delete(uri); // idempotent
});

test('objects above the threshold go up as a multipart upload and come back byte for byte', async () => {
  const uri = `s3://${bucket}/${run}/big/object.bin`;
  const bytes = randomBytes(1300 * KIB); // 6 parts of at most 256 KiB
  const before = await counts(metrics);
  await io.write(uri, bytes);
  const after = await counts(metrics);
  const delta = (op: string) => (after.requests[op] ?? 0) - (before.requests[op] ?? 0);
  assert.equal(delta('create_multipart_upload'), 1);
  assert.equal(delta('upload_part'), 6);
  assert.equal(delta('complete_multipart_upload'), 1);
  assert.equal(delta('put_object'), 0);
  assert.ok((after.bytes.upload ?? 0) - (before.bytes.upload ?? 0) >= bytes.byteLength);

  // The store itself says so: a multipart object's ETag ends in -<number of parts>.
  const head = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: `${run}/big/object.bin` }));
  assert.match(head.ETag ?? '', /-6"?$/);
  assert.equal(await io.size(uri), bytes.byteLength);
  assert.ok(Buffer.from(await io.read(uri)).equals(bytes));
  const mid = 256 * KIB - 10; // a range across a part boundary
  assert.ok(Buffer.from(await io.readRange(uri, mid, 20)).equals(bytes.subarray(mid, mid + 20)));
});

test('a missing object is the typed not-found error for read, readRange and size', async () => {
  const uri = `s3://${bucket}/${run}/missing/nothing-here.parquet`;
  for (const op of [() => io.read(uri), () => io.readRange(uri, 0, 8), () => io.size(uri)]) {
    await assert.rejects(op(), (e: unknown) => {
      assert.ok(e instanceof FileNotFoundError, String(e));
      assert.equal(e.code, 'TS_FILEIO_NOT_FOUND');
      assert.equal(e.uri, uri);
      return true;
    });
  }
});

test('a refused request is a typed, non-retryable error that keeps the cause and not the secret', async () => {
  const secret = 'not-the-secret-0123456789abcdef';
  const wrong = new S3FileIO({ ...options, credentials: { accessKeyId: options.credentials!.accessKeyId, secretAccessKey: secret }, maxAttempts: 1 });
  try {
    await assert.rejects(wrong.write(`s3://${bucket}/${run}/denied.bin`, new Uint8Array(3)), (e: unknown) => {
      assert.ok(e instanceof ObjectStoreRequestError, String(e));
      assert.equal(e.code, 'TS_FILEIO_REQUEST_FAILED');
      assert.equal(e.status, 403);
      assert.equal(e.retryable, false);
      assert.ok(e.cause instanceof Error);
      assert.ok(!e.message.includes(secret));
      return true;
    });
  } finally {
    wrong.close();
  }
});

test('the span table lives on S3 with the SQLite catalog, and pyiceberg reads the same rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's3-table-'));
  const warehouse = `s3://${bucket}/${run}/warehouse`;
  const config = configSchema.parse({
    storage: {
      catalog: { uri: join(dir, 'catalog.db'), warehouse },
      s3: garageS3Config(),
      row_group_size: 64,
    },
  }).storage;
  const tableMetrics = new Metrics();
  const { table, close } = await createSpanTable(config, { logger: silentLogger(), metrics: tableMetrics });
  const batches = [1, 2].map((seed) => spanBatch({ traces: 40, spansPerTrace: 4, seed, days: 2 }));
  let last;
  try {
    for (const [i, b] of batches.entries()) last = await table.append(b, { 'tailsampler.commit': String(i + 1) });
  } catch (e) {
    await close();
    throw e;
  }
  const changes = await table.changesSince(0);
  const file = changes.files[0]!;
  const traceId = file.traceIdMin!;
  const cols = await table.read(file, ['trace_id', 'span_id'], new Set([traceId]));
  await close();

  // Every table file is an S3 object under the warehouse; the local directory holds only the catalog.
  const location = `${warehouse}/observability.db/otel_spans`;
  assert.equal(changes.files.reduce((n, f) => n + f.recordCount, 0), 320);
  for (const f of changes.files) assert.ok(f.path.startsWith(`${location}/data/`), f.path);
  const keys = await listKeys(`${run}/warehouse/observability.db/otel_spans/`);
  const dataKeys = keys.filter((k) => k.endsWith('.parquet')).map((k) => `s3://${bucket}/${k}`).sort();
  assert.deepEqual(dataKeys, changes.files.map((f) => f.path).sort());
  assert.ok(keys.some((k) => /\/metadata\/0000[0-9]-.*\.metadata\.json$/.test(k)), keys.join('\n'));
  assert.ok(keys.some((k) => /\/metadata\/snap-.*\.avro$/.test(k)));
  assert.deepEqual(readdirSync(dir), ['catalog.db']);
  assert.deepEqual([...Array.from(cols.trace_id!)], Array(4).fill(traceId), 'read back through the table from S3');
  const m = await counts(tableMetrics);
  assert.ok((m.requests.put_object ?? 0) >= changes.files.length + 2, 'data files, manifests and metadata went through PutObject');
  assert.ok((m.requests.get_object ?? 0) > 0 && (m.bytes.upload ?? 0) > 0 && (m.bytes.download ?? 0) > 0);

  // A second process opens the same table: metadata, manifests and data come from S3.
  const reopened = await createSpanTable(config, { logger: silentLogger() });
  try {
    assert.deepEqual(await reopened.table.currentSnapshot(), last);
    assert.equal((await reopened.table.changesSince(0)).files.length, changes.files.length);
  } finally {
    await reopened.close();
  }

  // pyiceberg, sharing no code with tailsampler, opens the same SQLite catalog and reads from Garage.
  const python = process.env.TAILSAMPLER_PYTHON ?? execFileSync('bash', [join(repo, 'scripts/ensure-python.sh')], { encoding: 'utf8' }).trim();
  const out = execFileSync(python, [join(here, 's3-pyiceberg-reader.py'), join(dir, 'catalog.db'), warehouse, 'observability', 'otel_spans', traceId], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, ...env },
  });
  const r = JSON.parse(out) as { metadata_location: string; location: string; file_paths: string[]; rows: SpanRow[]; trace_rows: SpanRow[]; snapshots: number };
  const expected = spanRowsOf(batches);
  assert.equal(r.location, location);
  assert.ok(r.metadata_location.startsWith(`${location}/metadata/`), r.metadata_location);
  assert.equal(r.snapshots, 2);
  assert.deepEqual(r.file_paths, changes.files.map((f) => f.path).sort());
  assert.equal(r.rows.length, 320);
  assert.deepEqual(r.rows, expected);
  assert.deepEqual(r.trace_rows, expected.filter((x) => x.trace_id === traceId));
});
