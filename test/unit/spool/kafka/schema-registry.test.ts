/**
 * The schema registry client against a scripted local HTTP server (the Confluent REST API's register
 * call), the `spool.kafka.schema_registry` config block, and the span_record spool refusing to start
 * without a schema id.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { kafkaSpoolSchema } from '../../../../src/spool/kafka/config.ts';
import { KafkaSpoolConfigError, SchemaRegistryError } from '../../../../src/spool/kafka/errors.ts';
import { KafkaSpool } from '../../../../src/spool/kafka/kafka-spool.ts';
import { SchemaRegistryClient } from '../../../../src/spool/kafka/schema-registry.ts';
import { SPAN_RECORD_PROTO } from '../../../../src/spool/kafka/span-record.ts';
import { silentLogger } from '../../../../src/telemetry/logger.ts';
import { Metrics } from '../../../../src/telemetry/metrics.ts';
import { fakeServer, type FakeReply } from '../../lake/iceberg/rest-support.ts';

const USER = 'ts-user';
const PASSWORD = 's3cr3t-Pa55';
const SECRETS = [USER, PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')];

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

async function registry(handler: () => FakeReply) {
  const server = await fakeServer(handler);
  closers.push(server.close);
  return server;
}

function client(url: string, auth = true, timeoutMs = 5_000): SchemaRegistryClient {
  return new SchemaRegistryClient({ url, username: auth ? USER : null, password: auth ? PASSWORD : null, timeoutMs });
}

/** Expects a SchemaRegistryError and returns it after checking no credential leaked into it. */
async function refusal(p: Promise<unknown>): Promise<SchemaRegistryError> {
  const e = await p.then(
    () => assert.fail('expected a SchemaRegistryError'),
    (err: unknown) => err,
  );
  assert.ok(e instanceof SchemaRegistryError, String(e));
  assert.equal(e.code, 'TS_SPOOL_KAFKA_SCHEMA_REGISTRY');
  for (const s of SECRETS) assert.ok(!e.message.includes(s), `credential in: ${e.message}`);
  return e;
}

test('register: POST /subjects/{subject}/versions with the protobuf schema, basic auth, returns the id', async () => {
  const server = await registry(() => ({ status: 200, body: { id: 42 } }));
  // A base path (e.g. a compatibility API under a prefix) and a trailing slash are kept / dropped.
  const id = await client(`${server.uri}/ccompat/`).register('otel traces/raw-value', SPAN_RECORD_PROTO);
  assert.equal(id, 42);
  assert.equal(server.seen.length, 1);
  const req = server.seen[0]!;
  assert.equal(req.method, 'POST');
  assert.equal(req.path, '/ccompat/subjects/otel%20traces%2Fraw-value/versions');
  assert.equal(req.headers['content-type'], 'application/vnd.schemaregistry.v1+json');
  assert.equal(req.headers.authorization, `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`);
  assert.deepEqual(JSON.parse(req.body), { schemaType: 'PROTOBUF', schema: SPAN_RECORD_PROTO });
});

test('without credentials no authorization header is sent', async () => {
  const server = await registry(() => ({ status: 200, body: { id: 7 } }));
  assert.equal(await client(server.uri, false).register('t-value', 'syntax = "proto3";'), 7);
  assert.equal(server.seen[0]!.headers.authorization, undefined);
});

test("a refusal names the URL, the status and the registry's message, never the credentials", async () => {
  const cases: [number, string][] = [
    [409, 'Schema being registered is incompatible with an earlier schema for subject "t-value"'],
    [422, 'Either the input schema or one its references is invalid'],
    [401, 'Unauthorized'],
  ];
  for (const [status, message] of cases) {
    const server = await registry(() => ({ status, body: { error_code: status * 100 + 1, message } }));
    const e = await refusal(client(server.uri).register('t-value', SPAN_RECORD_PROTO));
    assert.equal(e.status, status);
    assert.equal(e.retryable, false);
    assert.ok(e.message.includes(`${server.uri}/subjects/t-value/versions`), e.message);
    assert.ok(e.message.includes(String(status)), e.message);
    assert.ok(e.message.includes(message), e.message);
  }
});

test('5xx, no answer and unreachable registries are retryable refusals; an answer without an id is refused', async () => {
  const down = await registry(() => ({ status: 503, text: 'upstream unavailable' }));
  const e503 = await refusal(client(down.uri).register('t-value', 'x'));
  assert.equal(e503.status, 503);
  assert.equal(e503.retryable, true);
  assert.ok(e503.message.includes('upstream unavailable'), e503.message);

  const silent = await registry(() => ({ status: 200, hang: true }));
  const timeout = await refusal(client(silent.uri, true, 200).register('t-value', 'x'));
  assert.equal(timeout.status, null);
  assert.equal(timeout.retryable, true);
  assert.ok(timeout.message.includes('no answer within 200 ms'), timeout.message);

  const gone = await registry(() => ({ status: 200 }));
  await gone.close();
  const refused = await refusal(client(gone.uri).register('t-value', 'x'));
  assert.equal(refused.status, null);
  assert.ok(refused.message.includes(gone.uri) && refused.message.includes('cannot reach'), refused.message);

  const odd = await registry(() => ({ status: 200, body: { version: 3 } }));
  const noId = await refusal(client(odd.uri).register('t-value', 'x'));
  assert.equal(noId.status, 200);
  assert.ok(noId.message.includes('without a schema id'), noId.message);
});

test('spool.kafka.schema_registry: defaults, both-or-neither credentials, url or schema_id required', () => {
  const parse = (schema_registry: unknown) => kafkaSpoolSchema.safeParse({ schema_registry });
  assert.equal(kafkaSpoolSchema.parse({}).schema_registry, null);
  assert.deepEqual(parse({ url: 'https://registry:8081' }).data?.schema_registry, {
    url: 'https://registry:8081',
    subject: null,
    schema_id: null,
    username: null,
    password: null,
  });
  assert.equal(parse({ schema_id: 12 }).data?.schema_registry?.schema_id, 12);
  assert.ok(parse({ url: 'http://r:8081', subject: 's', username: 'u', password: 'p' }).success);
  const issue = (v: unknown): string => {
    const r = parse(v);
    assert.ok(!r.success, JSON.stringify(v));
    return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };
  assert.match(issue({}), /schema_registry\.url: set url .* or schema_id/);
  assert.match(issue({ url: 'http://r:8081', username: 'u' }), /password: username and password go together/);
  assert.match(issue({ url: 'http://u:p@r:8081' }), /no credentials in the URL/);
  assert.match(issue({ url: 'ftp://r:8081' }), /url/);
  assert.match(issue({ schema_id: 0 }), /schema_id/);
  assert.match(issue({ schema_id: 5, extra: 1 }), /extra|Unrecognized/);
});

test('the span_record format without a schema id refuses to start with a config error', async () => {
  const config = kafkaSpoolSchema.parse({ brokers: ['127.0.0.1:1'] });
  const spool = new KafkaSpool(config, { metrics: new Metrics(), logger: silentLogger(), recordFormat: 'span_record' });
  await assert.rejects(spool.start(), (e: unknown) => e instanceof KafkaSpoolConfigError && e.code === 'TS_SPOOL_KAFKA_CONFIG' && /schema_registry/.test(e.message));
  await spool.shutdown();
});
