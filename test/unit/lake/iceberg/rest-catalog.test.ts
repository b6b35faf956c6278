import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CatalogAuthError,
  CatalogRequestError,
  CatalogUnavailableError,
  CommitConflictError,
  CommitStateUnknownError,
  InvalidMetadataError,
  NoSuchTableError,
  TableAlreadyExistsError,
} from '../../../../src/lake/iceberg/errors.ts';
import { newTableMetadata, spanTableDefinition, type TableMetadata } from '../../../../src/lake/iceberg/metadata.ts';
import { RestCatalog, type RestCatalogOptions } from '../../../../src/lake/iceberg/rest-catalog.ts';
import { UnsafeIntegerError } from '../../../../src/lake/iceberg/rest-json.ts';
import { silentLogger } from '../../../../src/telemetry/logger.ts';
import { fakeServer, icebergError, type FakeReply, type SeenRequest } from './rest-support.ts';

const id = { namespace: 'observability', name: 'otel_spans' };
const LOCATION = 's3://bucket/wh/observability/otel_spans';

function metadata(): TableMetadata {
  return newTableMetadata(spanTableDefinition(LOCATION));
}

function loadResult(m: TableMetadata = metadata(), extra: Record<string, unknown> = {}): FakeReply {
  return { status: 200, body: { 'metadata-location': `${LOCATION}/metadata/00000-a.metadata.json`, metadata: m, ...extra } };
}

const CONFIG_OK: FakeReply = { status: 200, body: { defaults: {}, overrides: {} } };

/** A fake catalog: `/v1/config` answers `config`, everything else goes to `routes`. */
async function setup(routes: (r: SeenRequest) => FakeReply, options: Partial<RestCatalogOptions> = {}, config: FakeReply = CONFIG_OK) {
  const server = await fakeServer((r) => (r.path.endsWith('/v1/config') ? config : routes(r)));
  const catalog = await RestCatalog.open({ uri: server.uri, requestTimeoutMs: 2000, logger: silentLogger(), ...options });
  return { server, catalog, requests: () => server.seen.filter((r) => !r.path.endsWith('/v1/config')) };
}

test('config: warehouse is sent, prefix merges defaults < client < overrides, namespaces use the server separator', async () => {
  const server = await fakeServer((r) =>
    r.path === '/cat/v1/config'
      ? { status: 200, body: { defaults: { prefix: 'from-defaults', clients: '4' }, overrides: { prefix: 'wh/1', 'namespace-separator': '%2E' } } }
      : { status: 404, body: { error: { message: 'no', type: 'NoSuchTableException', code: 404 } } },
  );
  const catalog = await RestCatalog.open({ uri: `${server.uri}/cat/`, warehouse: 'my warehouse', prefix: 'client', requestTimeoutMs: 2000, logger: silentLogger() });
  assert.equal(server.seen[0]!.query.get('warehouse'), 'my warehouse');
  assert.equal(catalog.properties.prefix, 'wh/1', 'overrides win');
  assert.equal(catalog.properties.clients, '4', 'defaults stay when nobody overrides them');
  assert.equal(catalog.tablePath({ namespace: 'a.b c', name: 't/1' }), '/v1/wh/1/namespaces/a%2Eb%20c/tables/t%2F1');
  assert.equal(await catalog.loadTable(id), null);
  assert.equal(server.seen[1]!.path, '/cat/v1/wh/1/namespaces/observability/tables/otel_spans');
  await server.close();

  // Without a server prefix the client's applies; without a separator override, 0x1F joins parts.
  const s2 = await fakeServer(() => ({ status: 200, body: { defaults: { prefix: 'd' }, overrides: {} } }));
  const c2 = await RestCatalog.open({ uri: s2.uri, prefix: 'client', requestTimeoutMs: 2000, logger: silentLogger() });
  assert.equal(c2.tablePath({ namespace: 'a.b', name: 't' }), '/v1/client/namespaces/a%1Fb/tables/t');
  await s2.close();
});

test('requests carry the bearer token, extra headers and, on loads only, the access-delegation header', async () => {
  const { server, catalog, requests } = await setup(
    (r) => (r.method === 'GET' ? loadResult(undefined, { config: { 's3.access-key-id': 'AK' } }) : { status: 200, body: { 'metadata-location': 'x', metadata: metadata() } }),
    { token: 'tok-1', headers: { 'x-project-id': 'p-42', Authorization: 'Basic nope' }, vendedCredentials: true },
  );
  assert.equal(server.seen[0]!.headers.authorization, 'Bearer tok-1', '/v1/config is authenticated too');
  const t = await catalog.loadTable(id);
  assert.deepEqual(t?.config, { 's3.access-key-id': 'AK' });
  await catalog.commitTable(id, [], []);
  const [load, commit] = requests();
  assert.equal(load!.headers.authorization, 'Bearer tok-1', 'the configured token replaces a header of the same name');
  assert.equal(load!.headers['x-project-id'], 'p-42');
  assert.equal(load!.headers['x-iceberg-access-delegation'], 'vended-credentials');
  assert.equal(commit!.headers['x-iceberg-access-delegation'], undefined);
  assert.equal(commit!.headers['x-project-id'], 'p-42');
  await server.close();
});

test('loadTable: 404 is null; config and the most specific storage credential feed the FileIO properties', async () => {
  let found = false;
  const { server, catalog } = await setup(() =>
    found
      ? loadResult(undefined, {
          config: { 's3.endpoint': 'http://s3:9000', 's3.access-key-id': 'from-config' },
          'storage-credentials': [
            { prefix: 's3://bucket/', config: { 's3.access-key-id': 'bucket-wide' } },
            { prefix: 's3://bucket/wh/observability/', config: { 's3.access-key-id': 'namespace', 's3.session-token': 'st' } },
            { prefix: 's3://other/', config: { 's3.access-key-id': 'other' } },
          ],
        })
      : icebergError(404, 'NoSuchTableException', 'Table does not exist: observability.otel_spans'),
  );
  assert.equal(await catalog.loadTable(id), null);
  found = true;
  const t = (await catalog.loadTable(id))!;
  assert.equal(t.metadataLocation, `${LOCATION}/metadata/00000-a.metadata.json`);
  assert.equal(t.storageCredentials?.length, 3);
  const props = catalog.fileIOProperties(id);
  assert.equal(props['s3.access-key-id'], 'namespace', 'the longest matching prefix wins over config');
  assert.equal(props['s3.session-token'], 'st');
  assert.equal(props['s3.endpoint'], 'http://s3:9000');
  await server.close();
});

test('createTable sends the layout, creates a missing namespace, maps 409 to TS_CATALOG_TABLE_EXISTS', async () => {
  let namespaceExists = false;
  let tableExists = false;
  const { server, catalog, requests } = await setup((r) => {
    if (r.method === 'POST' && r.path === '/v1/namespaces') {
      namespaceExists = true;
      return { status: 200, body: { namespace: ['observability'], properties: {} } };
    }
    if (!namespaceExists) return icebergError(404, 'NoSuchNamespaceException', 'Namespace does not exist: observability');
    if (tableExists) return icebergError(409, 'AlreadyExistsException', 'Table already exists: observability.otel_spans');
    tableExists = true;
    return loadResult();
  });
  const def = spanTableDefinition('');
  const created = await catalog.createTable(id, def);
  assert.equal(created.metadata['format-version'], 2);
  const [first, ns, second] = requests();
  assert.equal(first!.path, '/v1/namespaces/observability/tables');
  assert.deepEqual(JSON.parse(ns!.body), { namespace: ['observability'], properties: {} });
  const body = JSON.parse(second!.body) as Record<string, unknown>;
  assert.equal(body.name, 'otel_spans');
  assert.equal('location' in body, false, 'an empty location lets the server place the table');
  assert.deepEqual(body.schema, def.schema);
  assert.deepEqual(body['partition-spec'], def.partitionSpec);
  assert.deepEqual(body['write-order'], def.sortOrder);
  assert.equal((body.properties as Record<string, string>)['format-version'], '2');
  assert.equal((body.properties as Record<string, string>)['write.parquet.compression-codec'], 'zstd');

  await assert.rejects(catalog.createTable(id, def), (e: unknown) => e instanceof TableAlreadyExistsError && e.code === 'TS_CATALOG_TABLE_EXISTS' && /already exists/.test(e.message));
  await server.close();
});

test('createTable fails clearly when the server re-numbered our field ids', async () => {
  const m = metadata();
  m.schemas[0]!.fields = m.schemas[0]!.fields.map((f) => (f.name === 'span_id' ? { ...f, id: 99 } : f));
  m['partition-specs'][0]!.fields[1]!['field-id'] = 1005;
  const { server, catalog } = await setup(() => loadResult(m));
  await assert.rejects(
    catalog.createTable(id, spanTableDefinition('')),
    (e: unknown) => e instanceof InvalidMetadataError && /column span_id: id 99/.test(e.message) && /partition field trace_id_bucket/.test(e.message),
  );
  await server.close();
});

test('commitTable: body and error mapping (409 conflict, 5xx and timeouts unknown, 4xx with the server message)', async () => {
  let reply: FakeReply = { status: 200, body: { 'metadata-location': 'loc-2', metadata: metadata() } };
  const { server, catalog, requests } = await setup(() => reply, { requestTimeoutMs: 300 });
  const requirements = [{ type: 'assert-ref-snapshot-id' as const, ref: 'main', 'snapshot-id': null }];
  const updates = [{ action: 'set-properties' as const, updates: { a: 'b' } }];
  const ok = await catalog.commitTable({ namespace: 'a.b', name: 't' }, requirements, updates);
  assert.equal(ok.metadataLocation, 'loc-2');
  const sent = requests()[0]!;
  assert.equal(sent.method, 'POST');
  assert.equal(sent.path, '/v1/namespaces/a%1Fb/tables/t');
  assert.deepEqual(JSON.parse(sent.body), { identifier: { namespace: ['a', 'b'], name: 't' }, requirements, updates });

  reply = icebergError(409, 'CommitFailedException', 'Requirement failed: branch main has changed');
  await assert.rejects(catalog.commitTable(id, requirements, updates), (e: unknown) =>
    e instanceof CommitConflictError && e.retryable && e.code === 'TS_CATALOG_COMMIT_CONFLICT' && /branch main has changed/.test(e.message));
  for (const status of [500, 502, 503, 504]) {
    reply = icebergError(status, 'CommitStateUnknownException', 'boom');
    await assert.rejects(catalog.commitTable(id, requirements, updates), (e: unknown) =>
      e instanceof CommitStateUnknownError && e.code === 'TS_CATALOG_COMMIT_STATE_UNKNOWN' && !e.retryable, `status ${status}`);
  }
  reply = { status: 200, hang: true };
  await assert.rejects(catalog.commitTable(id, requirements, updates), (e: unknown) =>
    e instanceof CommitStateUnknownError && /no answer within 300 ms/.test(e.message));
  reply = icebergError(400, 'ValidationException', 'Cannot add snapshot with sequence number 3 older than last sequence number 4');
  await assert.rejects(catalog.commitTable(id, requirements, updates), (e: unknown) =>
    e instanceof CatalogRequestError && e.status === 400 && e.type === 'ValidationException' && /sequence number 3 older/.test(e.message));
  reply = icebergError(404, 'NoSuchTableException', 'gone');
  await assert.rejects(catalog.commitTable(id, requirements, updates), NoSuchTableError);
  reply = { status: 501, text: 'not implemented' };
  await assert.rejects(catalog.commitTable(id, requirements, updates), (e: unknown) => e instanceof CatalogUnavailableError && /not implemented/.test(e.message));
  await server.close();
});

test('other requests: 5xx and unreachable are retryable TS_CATALOG_UNAVAILABLE, 401/403 TS_CATALOG_AUTH', async () => {
  let reply: FakeReply = icebergError(503, 'ServiceUnavailableException', 'try later');
  const { server, catalog } = await setup(() => reply, { token: 'static' });
  await assert.rejects(catalog.loadTable(id), (e: unknown) => e instanceof CatalogUnavailableError && e.retryable && e.status === 503);
  reply = icebergError(401, 'NotAuthorizedException', 'token expired');
  await assert.rejects(catalog.loadTable(id), (e: unknown) => e instanceof CatalogAuthError && e.code === 'TS_CATALOG_AUTH' && /token expired/.test(e.message) && !e.message.includes('static'));
  reply = icebergError(403, 'ForbiddenException', 'no access to warehouse');
  await assert.rejects(catalog.loadTable(id), (e: unknown) => e instanceof CatalogAuthError && e.status === 403);
  const uri = server.uri;
  await server.close();
  await assert.rejects(
    RestCatalog.open({ uri, requestTimeoutMs: 2000, logger: silentLogger() }),
    (e: unknown) => e instanceof CatalogUnavailableError && e.retryable && e.message.includes('/v1/config'),
  );
});

test('snapshot ids beyond 2^53 are refused, not rounded', async () => {
  const m = metadata();
  const text = JSON.stringify({ 'metadata-location': 'x', metadata: { ...m, 'current-snapshot-id': 1 } }).replace('"current-snapshot-id":1', '"current-snapshot-id":9223372036854775807');
  const { server, catalog } = await setup(() => ({ status: 200, text }));
  await assert.rejects(catalog.loadTable(id), (e: unknown) =>
    e instanceof UnsafeIntegerError && e.code === 'TS_ICEBERG_INVALID_METADATA' && e.field === 'current-snapshot-id' && e.literal === '9223372036854775807');
  await server.close();
});

test('the span table definition keeps its ids under server-side id assignment (top-level fields from 1, then nested ones, partition fields from 1000)', () => {
  // REST createTable lets the server assign fresh ids; Java's (TypeUtil.assignFreshIds, then
  // PartitionSpec field ids from 1000) numbers a struct's fields in order before descending into
  // nested structs. Ours must already be that numbering, or the server would re-number columns the
  // Parquet files were written with.
  const def = spanTableDefinition('');
  const top = def.schema.fields;
  assert.deepEqual(top.map((f) => f.id), top.map((_, i) => i + 1));
  const nested = top.flatMap((f) => (typeof f.type === 'string' ? [] : f.type.fields));
  assert.deepEqual(nested.map((f) => f.id), nested.map((_, i) => top.length + i + 1));
  assert.deepEqual(nested.map((f) => f.name), ['partition', 'offset', 'timestamp'], '_kafka_metadata as AutoMQ shapes it');
  assert.deepEqual(def.partitionSpec.fields.map((f) => f['field-id']), def.partitionSpec.fields.map((_, i) => 1000 + i));
  assert.equal(def.partitionSpec['spec-id'], 0);
  assert.equal(def.schema['schema-id'], 0);
});

test('parseJsonExact keeps safe integers and floats, and names the field of an unsafe integer', async () => {
  const { parseJsonExact } = await import('../../../../src/lake/iceberg/rest-json.ts');
  assert.deepEqual(parseJsonExact('{"a":9007199254740991,"b":1.5e300,"c":[1,-2]}', 't'), { a: 9007199254740991, b: 1.5e300, c: [1, -2] });
  assert.throws(() => parseJsonExact('{"snapshots":[{"parent-snapshot-id":-9007199254740993}]}', 'load x'), (e: unknown) =>
    e instanceof UnsafeIntegerError && e.field === 'parent-snapshot-id' && /load x: parent-snapshot-id = -9007199254740993/.test(e.message));
});
