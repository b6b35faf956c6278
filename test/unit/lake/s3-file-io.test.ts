import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, parseConfig } from '../../../src/config/load.ts';
import type { FileIO } from '../../../src/lake/file-io.ts';
import { FileNotFoundError, InvalidFileUriError, ObjectStoreRequestError } from '../../../src/lake/file-io-errors.ts';
import { warehouseUri } from '../../../src/lake/file-io-factory.ts';
import { RoutingFileIO } from '../../../src/lake/file-io-router.ts';
import {
  DEFAULT_S3_OPTIONS,
  parseS3Uri,
  S3FileIO,
  s3ClientConfig,
  type S3FileIOOptions,
  s3OperationLabel,
  s3OptionsFromConfig,
  s3OptionsFromProperties,
  toFileIOError,
} from '../../../src/lake/s3-file-io.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';

const MIB = 1024 * 1024;

test('s3:// and s3a:// URIs split into bucket and literal key', () => {
  assert.deepEqual(parseS3Uri('s3://tailsampler/wh/observability.db/otel_spans/data/x=1/a.parquet'), {
    bucket: 'tailsampler',
    key: 'wh/observability.db/otel_spans/data/x=1/a.parquet',
  });
  assert.deepEqual(parseS3Uri('s3a://my.bucket-1/k'), { bucket: 'my.bucket-1', key: 'k' });
  // Keys are taken as written (Iceberg paths are not URL-encoded).
  assert.deepEqual(parseS3Uri('s3://b12/a%20b/c d'), { bucket: 'b12', key: 'a%20b/c d' });
});

test('URIs that address no object are a typed error', () => {
  for (const bad of ['http://h/b/k', 'file:///tmp/x', 's3://bucket', 's3://bucket/', 's3:///key', 's3://Bad_Bucket/k', 's3://ab/k', 's3://b12/dir/', 'S3://b12/k']) {
    assert.throws(
      () => parseS3Uri(bad),
      (e: unknown) => e instanceof InvalidFileUriError && e.code === 'TS_FILEIO_INVALID_URI' && e.uri === bad,
      bad,
    );
  }
});

test('storage.s3 defaults keep the embedded mode and mean AWS with the default credential chain', () => {
  const s3 = parseConfig('', 'inline', {}).storage.s3;
  assert.deepEqual(s3, {
    endpoint: null,
    region: 'us-east-1',
    path_style: true,
    access_key_id: null,
    secret_access_key: null,
    session_token: null,
    multipart_threshold_mib: 16,
    part_size_mib: 8,
    max_attempts: 3,
  });
  const client = s3ClientConfig(s3OptionsFromConfig(s3));
  assert.equal(client.endpoint, undefined);
  assert.equal(client.credentials, undefined, 'no static credentials: the SDK default chain');
  assert.equal(client.forcePathStyle, true);
});

test('storage.s3 with ${VAR} secrets → client options for an S3-compatible store', () => {
  const yaml = `
storage:
  catalog: { warehouse: s3://tailsampler/wh }
  s3:
    endpoint: \${S3_ENDPOINT}
    region: garage
    access_key_id: \${S3_KEY}
    secret_access_key: \${S3_SECRET}
    session_token: \${S3_TOKEN:-}
    multipart_threshold_mib: 32
    part_size_mib: 0.5
    max_attempts: 5
`;
  const s3 = parseConfig(yaml, 'inline', { S3_ENDPOINT: 'http://127.0.0.1:3900', S3_KEY: 'GKabc123', S3_SECRET: 'c2VjcmV0c2VjcmV0' }).storage.s3;
  assert.equal(s3.session_token, null, 'an empty ${VAR:-} is "not set"');
  const options = s3OptionsFromConfig(s3);
  assert.equal(options.multipartThresholdBytes, 32 * MIB);
  assert.equal(options.partSizeBytes, MIB / 2);
  assert.deepEqual(s3ClientConfig(options), {
    endpoint: 'http://127.0.0.1:3900',
    region: 'garage',
    forcePathStyle: true,
    maxAttempts: 5,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: { accessKeyId: 'GKabc123', secretAccessKey: 'c2VjcmV0c2VjcmV0' },
  });
  const withToken = parseConfig(yaml, 'inline', { S3_ENDPOINT: 'https://s3.example', S3_KEY: 'k', S3_SECRET: 's', S3_TOKEN: 'tok' }).storage.s3;
  assert.deepEqual(s3ClientConfig(s3OptionsFromConfig(withToken)).credentials, { accessKeyId: 'k', secretAccessKey: 's', sessionToken: 'tok' });
});

test('storage.s3 is validated with paths', () => {
  const issues = (yaml: string) => {
    try {
      parseConfig(yaml, 'inline', {});
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.issues.map((i) => i.path);
    }
    assert.fail('expected a ConfigError');
  };
  assert.deepEqual(issues('storage: { s3: { access_key_id: GK1 } }'), ['storage.s3.secret_access_key']);
  assert.deepEqual(issues('storage: { s3: { session_token: t } }'), ['storage.s3.session_token']);
  assert.deepEqual(issues('storage: { s3: { endpoint: "ftp://h:1" } }'), ['storage.s3.endpoint']);
  assert.deepEqual(issues('storage: { s3: { part_size_mib: 0, max_attempts: 0, surprise: 1 } }').sort(), [
    'storage.s3',
    'storage.s3.max_attempts',
    'storage.s3.part_size_mib',
  ]);
});

test('catalog properties (vended credentials) override the defaults, credentials as a whole', () => {
  const defaults = {
    ...DEFAULT_S3_OPTIONS,
    endpoint: 'http://127.0.0.1:3900',
    region: 'garage',
    credentials: { accessKeyId: 'static', secretAccessKey: 'static-secret', sessionToken: 'static-token' },
  };
  const vended = s3OptionsFromProperties(
    {
      's3.endpoint': 'http://127.0.0.1:9000',
      's3.region': 'eu-west-1',
      's3.path-style-access': 'false',
      's3.access-key-id': 'vended',
      's3.secret-access-key': 'vended-secret',
      'other.property': 'x',
    },
    defaults,
  );
  assert.equal(vended.endpoint, 'http://127.0.0.1:9000');
  assert.equal(vended.region, 'eu-west-1');
  assert.equal(vended.pathStyle, false);
  assert.deepEqual(vended.credentials, { accessKeyId: 'vended', secretAccessKey: 'vended-secret' }, 'no stale session token mixed in');
  assert.deepEqual(defaults.credentials.sessionToken, 'static-token', 'defaults untouched');

  const withToken = s3OptionsFromProperties({ 's3.access-key-id': 'a', 's3.secret-access-key': 'b', 's3.session-token': 'c', 'client.region': 'us-west-2' }, defaults);
  assert.deepEqual(withToken.credentials, { accessKeyId: 'a', secretAccessKey: 'b', sessionToken: 'c' });
  assert.equal(withToken.region, 'us-west-2');
  assert.equal(withToken.endpoint, 'http://127.0.0.1:3900', 'endpoint from defaults');

  const none = s3OptionsFromProperties({ 's3.path-style-access': 'maybe' }, defaults);
  assert.deepEqual(none, defaults, 'nothing usable in the properties: the defaults');

  const io = S3FileIO.fromProperties({ 's3.endpoint': 'http://127.0.0.1:1', 's3.region': 'garage', 's3.access-key-id': 'a', 's3.secret-access-key': 'b' });
  assert.equal(io.options.endpoint, 'http://127.0.0.1:1');
  assert.deepEqual(io.options.credentials, { accessKeyId: 'a', secretAccessKey: 'b' });
  assert.equal(io.options.maxAttempts, DEFAULT_S3_OPTIONS.maxAttempts);
  io.close();
});

test('SDK errors map to typed errors: missing object, retryable, permanent', () => {
  const sdkError = (name: string, status: number | undefined) =>
    Object.assign(new Error(name), { name, $metadata: status === undefined ? {} : { httpStatusCode: status } });
  const uri = 's3://b12/k';

  const noSuchKey = toFileIOError(sdkError('NoSuchKey', 404), 'get_object', uri);
  assert.ok(noSuchKey instanceof FileNotFoundError);
  assert.equal(noSuchKey.code, 'TS_FILEIO_NOT_FOUND');
  const headMissing = toFileIOError(sdkError('UnknownError', 404), 'head_object', uri);
  assert.ok(headMissing instanceof FileNotFoundError, 'a bare 404 on HEAD is a missing object');

  const noBucket = toFileIOError(sdkError('NoSuchBucket', 404), 'get_object', uri);
  assert.ok(noBucket instanceof ObjectStoreRequestError && !noBucket.retryable);

  const slow = sdkError('SlowDown', 503);
  const mapped = toFileIOError(slow, 'put_object', uri);
  assert.ok(mapped instanceof ObjectStoreRequestError);
  assert.equal(mapped.code, 'TS_FILEIO_REQUEST_FAILED');
  assert.equal(mapped.retryable, true);
  assert.equal(mapped.status, 503);
  assert.equal(mapped.storeCode, 'SlowDown');
  assert.equal(mapped.cause, slow, 'the SDK error is kept as cause');

  const denied = toFileIOError(sdkError('AccessDenied', 403), 'put_object', uri);
  assert.ok(denied instanceof ObjectStoreRequestError && !denied.retryable);
  const refused = toFileIOError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'get_object', uri);
  assert.ok(refused instanceof ObjectStoreRequestError && refused.retryable && refused.status === undefined);
  const noCreds = toFileIOError(sdkError('CredentialsProviderError', undefined), 'get_object', uri);
  assert.ok(noCreds instanceof ObjectStoreRequestError && !noCreds.retryable);
});

test('operation labels for metrics', () => {
  assert.equal(s3OperationLabel('PutObjectCommand'), 'put_object');
  assert.equal(s3OperationLabel('CreateMultipartUploadCommand'), 'create_multipart_upload');
  assert.equal(s3OperationLabel(undefined), 'unknown');
});

test('the routing FileIO picks by scheme and builds the S3 side only when needed', async () => {
  const calls: string[] = [];
  const fake = (tag: string): FileIO => ({
    write: async (uri) => void calls.push(`${tag} write ${uri}`),
    read: async (uri) => (calls.push(`${tag} read ${uri}`), new Uint8Array([1])),
    readRange: async (uri, o, l) => (calls.push(`${tag} range ${uri} ${o} ${l}`), new Uint8Array(l)),
    size: async (uri) => (calls.push(`${tag} size ${uri}`), 7),
    delete: async (uri) => void calls.push(`${tag} delete ${uri}`),
  });
  let built = 0;
  const io = new RoutingFileIO({ local: fake('local'), s3: () => (built++, fake('s3')) });
  await io.write('file:///tmp/a', new Uint8Array(1));
  await io.read('/tmp/plain/path');
  assert.equal(built, 0, 'no S3 client for local paths');
  await io.readRange('s3://b12/k', 4, 2);
  assert.equal(await io.size('s3a://b12/k'), 7);
  await io.delete('s3://b12/k');
  assert.equal(built, 1, 'one S3 FileIO, made lazily and reused');
  assert.deepEqual(calls, ['local write file:///tmp/a', 'local read /tmp/plain/path', 's3 range s3://b12/k 4 2', 's3 size s3a://b12/k', 's3 delete s3://b12/k']);

  await assert.rejects(io.read('gs://bucket/k'), (e: unknown) => e instanceof InvalidFileUriError);
  // A routing error is a rejection, so `io.delete(x).catch(...)` in callers swallows it as intended.
  await io.delete('gs://bucket/k').catch(() => undefined);
  const localOnly = new RoutingFileIO({ local: fake('local') });
  await assert.rejects(localOnly.write('s3://b12/k', new Uint8Array(1)), (e: unknown) => e instanceof InvalidFileUriError && /storage\.s3/.test(e.message));
});

test('warehouse URIs: s3 kept as written, paths made absolute file URIs', () => {
  assert.equal(warehouseUri('s3://tailsampler/wh/'), 's3://tailsampler/wh');
  assert.equal(warehouseUri('s3a://tailsampler/wh'), 's3a://tailsampler/wh');
  assert.equal(warehouseUri('file:///var/wh/'), 'file:///var/wh');
  assert.match(warehouseUri('./data/warehouse'), /^file:\/\/\/.+\/data\/warehouse$/);
});

test('S3FileIO refuses nonsense sizes', () => {
  assert.throws(() => new S3FileIO({ ...DEFAULT_S3_OPTIONS, partSizeBytes: 0 }), (e: unknown) => (e as { code?: string }).code === 'TS_FILEIO_INVALID_OPTIONS');
});

interface S3Call {
  method: string;
  path: string;
  query: URLSearchParams;
  body: Buffer;
}

/**
 * Just enough of S3's multipart API on 127.0.0.1 to watch S3FileIO drive it: every request is kept;
 * `failPart` answers that part (and `failComplete` the completion) with a 500 InternalError at once,
 * other parts after `partDelayMs`.
 */
function fakeS3(opts: { failPart?: number; failComplete?: boolean; concurrency?: number; partDelayMs?: number } = {}) {
  return scriptedS3(
    (call, res) => {
      const xml = (status: number, body: string, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/xml', ...headers });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
      };
      const internal = () => xml(500, '<Error><Code>InternalError</Code><Message>injected</Message></Error>');
      const q = call.query;
      if (call.method === 'POST' && q.has('uploads')) {
        xml(200, '<InitiateMultipartUploadResult><Bucket>b12</Bucket><Key>big.bin</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>');
      } else if (call.method === 'PUT' && q.has('partNumber')) {
        if (Number(q.get('partNumber')) === opts.failPart) internal();
        else setTimeout(() => xml(200, '', { etag: `"etag-${q.get('partNumber')}"` }), opts.partDelayMs ?? 0);
      } else if (call.method === 'POST' && q.has('uploadId')) {
        if (opts.failComplete) internal();
        else xml(200, '<CompleteMultipartUploadResult><Bucket>b12</Bucket><Key>big.bin</Key><ETag>"all-5"</ETag></CompleteMultipartUploadResult>');
      } else if (call.method === 'DELETE' && q.has('uploadId')) {
        res.writeHead(204).end();
      } else {
        res.writeHead(200, { etag: '"single"' }).end();
      }
    },
    { multipartThresholdBytes: 1000, partSizeBytes: 400, multipartConcurrency: opts.concurrency ?? 2, maxAttempts: 1 },
  );
}

const bigObject = Buffer.from(Array.from({ length: 1800 }, (_, i) => i % 251));

test('a multipart upload sends parts of the configured size in order, completes them by ETag, and counts each request', async () => {
  const s3 = await fakeS3();
  try {
    await s3.io.write('s3://b12/big.bin', bigObject);
    const parts = s3.calls.filter((c) => c.method === 'PUT');
    assert.deepEqual(parts.map((p) => [Number(p.query.get('partNumber')), p.query.get('uploadId'), p.body.length]).sort((a, b) => Number(a[0]) - Number(b[0])), [
      [1, 'up-1', 400], [2, 'up-1', 400], [3, 'up-1', 400], [4, 'up-1', 400], [5, 'up-1', 200],
    ]);
    assert.ok(Buffer.concat(parts.sort((a, b) => Number(a.query.get('partNumber')) - Number(b.query.get('partNumber'))).map((p) => p.body)).equals(bigObject));
    const complete = s3.calls.filter((c) => c.method === 'POST' && c.query.get('uploadId') === 'up-1');
    assert.equal(complete.length, 1);
    const listed = [...complete[0]!.body.toString().matchAll(/<Part>(.*?)<\/Part>/g)].map((m) => m[1]);
    assert.deepEqual(listed, [1, 2, 3, 4, 5].map((n) => `<ETag>&quot;etag-${n}&quot;</ETag><PartNumber>${n}</PartNumber>`));
    assert.equal(s3.calls.filter((c) => c.method === 'DELETE').length, 0, 'nothing to abort');
    assert.equal(await s3.requests('create_multipart_upload'), 1);
    assert.equal(await s3.requests('upload_part'), 5);
    assert.equal(await s3.requests('complete_multipart_upload'), 1);
    assert.equal(await s3.requests('put_object'), 0);

    await s3.io.write('s3://b12/small.bin', bigObject.subarray(0, 999));
    assert.equal(await s3.requests('put_object'), 1, 'below the threshold: one PutObject');
  } finally {
    await s3.close();
  }
});

test('a failed part aborts the multipart upload, sends no completion, and surfaces the typed error', async () => {
  // Part 1 fails at once while part 2 is in flight on the other worker: that worker stops after it.
  const s3 = await fakeS3({ failPart: 1, concurrency: 2, partDelayMs: 100 });
  try {
    await assert.rejects(s3.io.write('s3://b12/big.bin', bigObject), (e: unknown) => {
      assert.ok(e instanceof ObjectStoreRequestError, String(e));
      assert.equal(e.operation, 'upload_part');
      assert.equal(e.status, 500);
      assert.equal(e.retryable, true);
      return true;
    });
    const aborts = s3.calls.filter((c) => c.method === 'DELETE');
    assert.deepEqual(aborts.map((c) => [c.path, c.query.get('uploadId')]), [['/b12/big.bin', 'up-1']]);
    assert.equal(s3.calls.filter((c) => c.method === 'POST' && c.query.has('uploadId')).length, 0, 'never completed');
    assert.equal(s3.calls.filter((c) => c.method === 'PUT').length, 2, 'no part uploaded after the failure');
  } finally {
    await s3.close();
  }
});

test('a failed completion aborts the upload too', async () => {
  const s3 = await fakeS3({ failComplete: true });
  try {
    await assert.rejects(s3.io.write('s3://b12/big.bin', bigObject), (e: unknown) => e instanceof ObjectStoreRequestError && e.operation === 'complete_multipart_upload');
    assert.deepEqual(s3.calls.filter((c) => c.method === 'DELETE').map((c) => c.query.get('uploadId')), ['up-1']);
  } finally {
    await s3.close();
  }
});

/**
 * A store for single-object requests on 127.0.0.1: `answer` decides each response (after the
 * request's body was read); every request is kept with its headers.
 */
async function scriptedS3(answer: (call: S3Call & { headers: IncomingHttpHeaders; n: number }, res: ServerResponse) => void, options: Partial<S3FileIOOptions> = {}) {
  const calls: (S3Call & { headers: IncomingHttpHeaders })[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://s3');
      const call = { method: req.method ?? '', path: url.pathname, query: url.searchParams, body: Buffer.concat(chunks), headers: req.headers };
      calls.push(call);
      answer({ ...call, n: calls.length }, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const metrics = new Metrics();
  const io = new S3FileIO(
    {
      ...DEFAULT_S3_OPTIONS,
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: 'garage',
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
      ...options,
    },
    { metrics },
  );
  const close = async () => {
    io.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  const requests = async (op: string) => (await metrics.s3Requests.get()).values.find((v) => v.labels.op === op)?.value ?? 0;
  const bytes = async (direction: string) => (await metrics.s3Bytes.get()).values.find((v) => v.labels.direction === direction)?.value ?? 0;
  return { calls, io, close, requests, bytes };
}

const s3Error = (res: ServerResponse, status: number, code: string, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/xml', ...headers });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected</Message></Error>`);
};

test('single-object requests: path-style, signed, with the body hash; GET, ranged GET, HEAD, DELETE answered and counted', async () => {
  const object = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256));
  const s3 = await scriptedS3((call, res) => {
    if (call.method === 'PUT') res.writeHead(200, { etag: '"e"' }).end();
    else if (call.method === 'HEAD') res.writeHead(200, { 'content-length': '300' }).end();
    else if (call.method === 'DELETE') res.writeHead(204).end();
    else if (call.headers.range === 'bytes=10-19') res.writeHead(206, { 'content-range': 'bytes 10-19/300' }).end(object.subarray(10, 20));
    else if (call.headers.range === 'bytes=295-304') res.writeHead(206, { 'content-range': 'bytes 295-299/300' }).end(object.subarray(295));
    else if (call.headers.range === 'bytes=20-29') res.writeHead(200).end(object); // a store that ignores Range
    else if (call.headers.range === 'bytes=400-409') s3Error(res, 416, 'InvalidRange');
    else res.writeHead(200).end(object);
  });
  try {
    const put = new Uint8Array([1, 2, 3]);
    await s3.io.write('s3://b12/wh/a b/x.parquet', put);
    const sent = s3.calls[0]!;
    assert.equal(sent.path, '/b12/wh/a%20b/x.parquet');
    assert.deepEqual([...sent.body], [1, 2, 3]);
    assert.equal(sent.headers['content-length'], '3');
    assert.equal(sent.headers['x-amz-content-sha256'], createHash('sha256').update(put).digest('hex'));
    assert.match(String(sent.headers.authorization), /^AWS4-HMAC-SHA256 Credential=k\/\d{8}\/garage\/s3\/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/);

    assert.ok(Buffer.from(await s3.io.read('s3://b12/k')).equals(object));
    assert.ok(Buffer.from(await s3.io.readRange('s3://b12/k', 10, 10)).equals(object.subarray(10, 20)));
    assert.ok(Buffer.from(await s3.io.readRange('s3://b12/k', 295, 10)).equals(object.subarray(295)), 'short past the end');
    assert.ok(Buffer.from(await s3.io.readRange('s3://b12/k', 20, 10)).equals(object.subarray(20, 30)), 'cut out of a whole-object answer');
    assert.equal((await s3.io.readRange('s3://b12/k', 400, 10)).byteLength, 0, '416: empty');
    assert.equal(await s3.io.size('s3a://b12/k'), 300);
    await s3.io.delete('s3://b12/k');
    assert.deepEqual(s3.calls.map((c) => c.method), ['PUT', 'GET', 'GET', 'GET', 'GET', 'GET', 'HEAD', 'DELETE']);
    assert.deepEqual(s3.calls.map((c) => c.query.size), [0, 0, 0, 0, 0, 0, 0, 0], 'no query string');
    assert.equal(await s3.requests('put_object'), 1);
    assert.equal(await s3.requests('get_object'), 5);
    assert.equal(await s3.requests('head_object'), 1);
    assert.equal(await s3.requests('delete_object'), 1);
    assert.equal(await s3.bytes('upload'), 3);
    assert.equal(await s3.bytes('download'), 300 + 10 + 5 + 300);
  } finally {
    await s3.close();
  }
});

test('single-object requests map error answers to typed errors: missing, denied, throttled after its retries', async () => {
  const s3 = await scriptedS3((call, res) => {
    if (call.path === '/b12/missing' && call.method === 'HEAD') res.writeHead(404).end();
    else if (call.path === '/b12/missing') s3Error(res, 404, 'NoSuchKey');
    else if (call.path === '/b12/denied') s3Error(res, 403, 'AccessDenied');
    else if (call.path === '/b12/nobucket') s3Error(res, 404, 'NoSuchBucket');
    else s3Error(res, 503, 'SlowDown');
  });
  try {
    for (const op of [() => s3.io.read('s3://b12/missing'), () => s3.io.readRange('s3://b12/missing', 0, 8), () => s3.io.size('s3://b12/missing')]) {
      await assert.rejects(op(), (e: unknown) => e instanceof FileNotFoundError && e.uri === 's3://b12/missing');
    }
    await s3.io.delete('s3://b12/missing'); // deleting a missing object succeeds
    await assert.rejects(s3.io.read('s3://b12/nobucket'), (e: unknown) => e instanceof ObjectStoreRequestError && e.storeCode === 'NoSuchBucket' && !e.retryable);
    const before = s3.calls.length;
    await assert.rejects(s3.io.write('s3://b12/denied', new Uint8Array(1)), (e: unknown) => {
      assert.ok(e instanceof ObjectStoreRequestError, String(e));
      assert.equal(e.operation, 'put_object');
      assert.equal(e.status, 403);
      assert.equal(e.storeCode, 'AccessDenied');
      assert.equal(e.retryable, false);
      assert.equal((e.cause as Error).name, 'AccessDenied');
      return true;
    });
    assert.equal(s3.calls.length - before, 1, 'a refusal is not retried');
    const throttledFrom = s3.calls.length;
    await assert.rejects(s3.io.read('s3://b12/slow'), (e: unknown) => e instanceof ObjectStoreRequestError && e.status === 503 && e.storeCode === 'SlowDown' && e.retryable);
    assert.equal(s3.calls.length - throttledFrom, DEFAULT_S3_OPTIONS.maxAttempts, 'throttling retried up to maxAttempts');
    assert.equal(await s3.requests('get_object'), 1 + 1 + 1 + DEFAULT_S3_OPTIONS.maxAttempts, 'every attempt counted');
    assert.equal(await s3.bytes('download'), 0, 'error bodies are not counted');
  } finally {
    await s3.close();
  }
});

test('single-object requests retry a 5xx and a dropped connection, and re-sign with the store clock when it is skewed', async () => {
  const object = Buffer.from('hello');
  const skewMs = 3 * 3600 * 1000;
  const s3 = await scriptedS3((call, res) => {
    if (call.path === '/b12/flaky' && call.n === 1) s3Error(res, 500, 'InternalError');
    else if (call.path === '/b12/flaky' && call.n === 2) res.socket!.destroy();
    else if (call.path === '/b12/skewed') {
      const store = new Date(Date.now() + skewMs);
      const signedAt = Date.parse(String(call.headers['x-amz-date']).replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
      if (Math.abs(signedAt - store.getTime()) > 60_000) s3Error(res, 403, 'RequestTimeTooSkewed', { date: store.toUTCString() });
      else res.writeHead(200).end(object);
    } else res.writeHead(200).end(object);
  });
  try {
    assert.ok(Buffer.from(await s3.io.read('s3://b12/flaky')).equals(object));
    assert.equal(s3.calls.length, 3, 'a 500, a dropped connection, then the answer');
    const from = s3.calls.length;
    assert.ok(Buffer.from(await s3.io.read('s3://b12/skewed')).equals(object));
    assert.equal(s3.calls.length - from, 2, 'refused once, then signed with the corrected clock');
    assert.ok(Buffer.from(await s3.io.read('s3://b12/skewed')).equals(object));
    assert.equal(s3.calls.length - from, 3, 'the correction is kept');
  } finally {
    await s3.close();
  }
});

test('a bucket whose endpoint wants another signing scheme than SigV4 (S3 Express) is refused, typed', async () => {
  const io = new S3FileIO({ ...DEFAULT_S3_OPTIONS, region: 'us-west-2', credentials: { accessKeyId: 'k', secretAccessKey: 's' } });
  try {
    await assert.rejects(io.read('s3://logs--usw2-az1--x-s3/k'), (e: unknown) => (e as { code?: string }).code === 'TS_FILEIO_INVALID_OPTIONS' && /sigv4-s3express/.test(String(e)));
  } finally {
    io.close();
  }
});
