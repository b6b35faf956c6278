import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthenticationError, MultipleErrors, NetworkError, ProtocolError, TimeoutError } from '@platformatic/kafka';
import { parseConfig } from '../../../src/config/load.ts';
import { configIssues } from '../../support/config.ts';
import { handleExport } from '../../../src/receive/otlp/export-handler.ts';
import { createSpool } from '../../../src/spool/factory.ts';
import { kafkaClientOptions } from '../../../src/spool/kafka/client-options.ts';
import { KafkaPositionError, KafkaSpoolError, KafkaUnavailableError } from '../../../src/spool/kafka/errors.ts';
import { kafkaError } from '../../../src/spool/kafka/errors.ts';
import { KafkaSpool } from '../../../src/spool/kafka/kafka-spool.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { ExportTraceServiceRequest, hex } from '../../fixtures/otlp/requests.ts';


test('spool.type kafka with nothing else runs on the documented defaults', async () => {
  const c = parseConfig('spool: { type: kafka }', 'inline', {});
  assert.equal(c.spool.type, 'kafka');
  assert.deepEqual(c.spool.kafka, {
    brokers: ['localhost:9092'],
    topic: 'otel-traces-raw',
    decisions_topic: null,
    client_id: 'tailsampler',
    group_id: 'tailsampler',
    partitions: 16,
    compression: 'none',
    max_message_bytes: 1_000_000,
    timeout_ms: 10_000,
    sasl: null,
    tls: null,
    schema_registry: null,
  });
  assert.ok((await createSpool(c.spool, { metrics: new Metrics(), logger: silentLogger() })) instanceof KafkaSpool);
});

test('a full kafka section loads, secrets from the environment', async () => {
  const yaml = `
spool:
  type: kafka
  kafka:
    brokers: [kafka-0.kafka:9093, "[::1]:9094"]
    topic: traces.raw_v2
    client_id: ts-1
    group_id: ts-prod
    partitions: 48
    compression: zstd
    max_message_bytes: 4000000
    timeout_ms: 2500
    sasl: { mechanism: SCRAM-SHA-512, username: tailsampler, password: "\${KAFKA_PASSWORD}" }
    tls: { insecure_skip_verify: true, server_name_override: kafka.internal }
`;
  const c = parseConfig(yaml, 'inline', { KAFKA_PASSWORD: 's3cr3t' });
  const k = c.spool.kafka;
  assert.deepEqual(k.brokers, ['kafka-0.kafka:9093', '[::1]:9094']);
  assert.equal(k.compression, 'zstd');
  assert.deepEqual(k.sasl, { mechanism: 'SCRAM-SHA-512', username: 'tailsampler', password: 's3cr3t' });
  assert.deepEqual(k.tls, { insecure_skip_verify: true, server_name_override: 'kafka.internal' });
  // What the Kafka clients get from it.
  const o = await kafkaClientOptions(k);
  assert.deepEqual(o.bootstrapBrokers, k.brokers);
  assert.equal(o.clientId, 'ts-1');
  assert.deepEqual(o.sasl, { mechanism: 'SCRAM-SHA-512', username: 'tailsampler', password: 's3cr3t' });
  assert.deepEqual(o.tls, { rejectUnauthorized: false });
  assert.equal(o.tlsServerName, 'kafka.internal');
  assert.ok(o.timeout < k.timeout_ms, 'a request is bounded below the append timeout');
});

test('invalid kafka settings are reported with their paths', () => {
  const issues = configIssues(`
spool:
  type: kafka
  kafka:
    brokers: [kafka-0, "kafka 1:9092"]
    topic: "bad topic!"
    group_id: "has space"
    partitions: 0
    compression: brotli
    max_message_bytes: 10
    timeout_ms: 5
    sasl: { mechanism: GSSAPI, password: x }
    tls: { cert_file: /c.pem }
    surprise: 1
`);
  for (const path of [
    'spool.kafka.brokers[0]',
    'spool.kafka.brokers[1]',
    'spool.kafka.topic',
    'spool.kafka.group_id',
    'spool.kafka.partitions',
    'spool.kafka.compression',
    'spool.kafka.max_message_bytes',
    'spool.kafka.timeout_ms',
    'spool.kafka.sasl.mechanism',
    'spool.kafka.sasl.username',
    'spool.kafka.tls.key_file',
    'spool.kafka',
  ]) {
    assert.ok(path in issues, `no issue for ${path}: ${JSON.stringify(issues)}`);
  }
  assert.match(issues['spool.kafka.tls.key_file']!, /cert_file and key_file go together/);
  assert.match(issues['spool.kafka']!, /surprise/);
  assert.ok('spool.kafka.brokers' in configIssues('spool: { type: kafka, kafka: { brokers: [] } }'));
  assert.ok('spool.type' in configIssues('spool: { type: nats }'));
});

test('an unreadable TLS file is a typed, non-retryable error at start', async () => {
  const c = parseConfig('spool: { type: kafka, kafka: { tls: { ca_file: /nonexistent/ca.pem } } }', 'inline', {});
  await assert.rejects(kafkaClientOptions(c.spool.kafka), (e: unknown) => {
    assert.ok(e instanceof KafkaSpoolError);
    assert.equal(e.retryable, false);
    assert.match(e.message, /spool\.kafka\.tls\.ca_file: cannot read \/nonexistent\/ca\.pem/);
    return true;
  });
});

test('Kafka client failures map to retryable unavailability or a permanent error', () => {
  const unavailable = [
    new NetworkError('Connection to 127.0.0.1:9092 refused.'),
    new TimeoutError('Request timed out.'),
    new MultipleErrors('Producing messages failed.', [new ProtocolError('NOT_LEADER_OR_FOLLOWER')]),
    new ProtocolError('REQUEST_TIMED_OUT'),
  ];
  for (const e of unavailable) {
    const mapped = kafkaError(e, 'ctx');
    assert.ok(mapped instanceof KafkaUnavailableError, `${e.message} → ${mapped.constructor.name}`);
    assert.equal(mapped.retryable, true);
    assert.equal(mapped.code, 'TS_SPOOL_KAFKA_UNAVAILABLE');
    assert.equal(mapped.cause, e);
  }
  const permanent = [
    new AuthenticationError('SASL authentication failed.'),
    new MultipleErrors('Producing messages failed.', [new ProtocolError('MESSAGE_TOO_LARGE')]),
    new ProtocolError('TOPIC_AUTHORIZATION_FAILED'),
    new Error('something else'),
  ];
  for (const e of permanent) {
    const mapped = kafkaError(e, 'ctx');
    assert.ok(mapped instanceof KafkaSpoolError, `${e.message} → ${mapped.constructor.name}`);
    assert.equal(mapped.retryable, false);
  }
  const own = new KafkaPositionError('x');
  assert.equal(kafkaError(own, 'ctx'), own);
});

test('receivers answer 503/UNAVAILABLE when Kafka is unavailable, 500 when it refuses for good', async () => {
  const body = ExportTraceServiceRequest.encode({
    resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: hex('0af7651916cd43dd8448eb211c80319c'), spanId: hex('b7ad6b7169203331'), name: 'x' }] }] }],
  }).finish();
  const deps = (err: Error) => ({ consumer: { consume: () => Promise.reject(err) }, metrics: new Metrics(), logger: silentLogger() });
  const down = await handleExport(body, 'grpc', deps(new KafkaUnavailableError('Kafka did not acknowledge')));
  assert.equal(down.ok, false);
  assert.ok(!down.ok && down.grpcCode === 14 && down.httpStatus === 503 && down.retryAfterMs! > 0, JSON.stringify(down));
  const refused = await handleExport(body, 'http', deps(new KafkaSpoolError('MESSAGE_TOO_LARGE')));
  assert.ok(!refused.ok && refused.httpStatus === 500, JSON.stringify(refused));
});
