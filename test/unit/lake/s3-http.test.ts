import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { errorAnswer, objectPath, SignedS3Http, type BucketEndpoint } from '../../../src/lake/s3-http.ts';

// The worked examples of AWS's "Signature Calculations for the Authorization Header" (S3 API reference,
// sig-v4-header-based-auth): example credentials, bucket `examplebucket` in us-east-1, 24 May 2013.
const EXAMPLE_CREDENTIALS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const EXAMPLE_DATE = new Date('2013-05-24T00:00:00Z');
const example: BucketEndpoint = { url: new URL('https://examplebucket.s3.amazonaws.com/'), signingRegion: 'us-east-1', signingName: 's3' };

test('a ranged GET is signed as in the AWS SigV4 example', async () => {
  const http = new SignedS3Http('us-east-1', EXAMPLE_CREDENTIALS);
  try {
    const headers = await http.signedHeaders(example, { method: 'GET', path: objectPath(example, 'test.txt'), headers: { range: 'bytes=0-9' } }, EXAMPLE_DATE);
    assert.equal(headers.host, 'examplebucket.s3.amazonaws.com');
    assert.equal(headers['x-amz-date'], '20130524T000000Z');
    assert.equal(headers['x-amz-content-sha256'], 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(
      headers.authorization,
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  } finally {
    http.close();
  }
});

test('a PUT is signed as the SDK signs the same PutObject: same path, body hash and signature', async () => {
  // The SDK's PutObject to a local store, as sent.
  let seen: { url: string; headers: IncomingHttpHeaders } | undefined;
  const server = createServer((req, res) => {
    seen = { url: req.url ?? '', headers: req.headers };
    req.resume().on('end', () => res.writeHead(200, { etag: '"e"', 'content-length': '0' }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const credentials = { accessKeyId: 'GKexample', secretAccessKey: 'secret/example', sessionToken: 'token' };
  const client = new S3Client({ region: 'garage', endpoint, forcePathStyle: true, credentials, requestChecksumCalculation: 'WHEN_REQUIRED' });
  const body = new TextEncoder().encode('Welcome to Amazon S3.');
  const key = 'wh/data/x=a b+c/test$file.parquet';
  // The SDK tags the URL with `?x-id=PutObject` (signed too); single-object requests carry no query.
  client.middlewareStack.add(
    (next) => (args) => {
      delete (args.request as { query: Record<string, unknown> }).query['x-id'];
      return next(args);
    },
    { step: 'build' },
  );
  try {
    await client.send(new PutObjectCommand({ Bucket: 'b12', Key: key, Body: body, ContentLength: body.byteLength }));
  } finally {
    client.destroy();
    server.close();
  }
  assert.ok(seen);
  const { authorization, host, connection: _c, 'x-amz-date': amzDate, 'x-amz-content-sha256': _h, 'x-amz-security-token': _t, ...sdkHeaders } = seen.headers;
  const date = new Date(String(amzDate).replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));

  const http = new SignedS3Http('garage', credentials);
  try {
    const bucket: BucketEndpoint = { url: new URL(`${endpoint}/b12`), signingRegion: 'garage', signingName: 's3' };
    const path = objectPath(bucket, key);
    assert.equal(path, seen.url, 'the path the SDK sends');
    const headers = await http.signedHeaders(bucket, { method: 'PUT', path, headers: sdkHeaders as Record<string, string>, body }, date);
    assert.equal(headers.host, host);
    assert.equal(headers['x-amz-content-sha256'], createHash('sha256').update(body).digest('hex'));
    assert.equal(headers['x-amz-content-sha256'], seen.headers['x-amz-content-sha256']);
    assert.equal(headers['x-amz-security-token'], 'token');
    assert.equal(headers.authorization, authorization);
  } finally {
    http.close();
  }
});

test('object paths: under a path-style endpoint, segments encoded as the SDK encodes them, slashes kept', () => {
  const pathStyle: BucketEndpoint = { url: new URL('http://127.0.0.1:3900/b12'), signingRegion: 'garage', signingName: 's3' };
  assert.equal(objectPath(pathStyle, 'wh/a b/c+d=e?f!(g).parquet'), '/b12/wh/a%20b/c%2Bd%3De%3Ff%21%28g%29.parquet');
  assert.equal(objectPath(example, 'x/y'), '/x/y');
});

test('error answers: S3 error code and message, or the SDK names for a body without one', () => {
  const xml = new TextEncoder().encode('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>');
  const slow = errorAnswer(503, xml);
  assert.equal(slow.name, 'SlowDown');
  assert.equal(slow.message, 'Reduce your rate');
  assert.deepEqual(slow.$metadata, { httpStatusCode: 503 });
  assert.equal(errorAnswer(404, new Uint8Array(0)).name, 'NotFound');
  const proxy = errorAnswer(502, new TextEncoder().encode('<html>bad gateway</html>'));
  assert.equal(proxy.name, 'UnknownError');
  assert.equal(proxy.message, 'HTTP 502');
});
