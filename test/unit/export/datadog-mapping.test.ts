/**
 * OTLP → Datadog span mapping, rule by rule, against what the Datadog Agent's OTLP ingest produces
 * (pkg/trace/traceutil/otel_util.go, pkg/trace/transform/transform.go). Requests are encoded with the
 * generated OTLP classes and go through the exporter's own decode, as in production.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Long from 'long';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { DEFAULT_SERVICE, POLICY_TAG, mapRequest, type DdSpan } from '../../../src/export/datadog/mapping.ts';
import { normalizeService, normalizeTagValue, truncateUtf8 } from '../../../src/export/datadog/normalize.ts';
import { allValueKinds, hex, i64, u64 } from '../../fixtures/otlp/requests.ts';

const { ExportTraceServiceRequest } = opentelemetry.proto.collector.trace.v1;
type SpanProps = opentelemetry.proto.trace.v1.Span.$Properties;
type KeyValue = opentelemetry.proto.common.v1.KeyValue.$Properties;
const Kind = opentelemetry.proto.trace.v1.Span.SpanKind;
const { STATUS_CODE_ERROR, STATUS_CODE_OK } = opentelemetry.proto.trace.v1.Status.StatusCode;

const TRACE = '0af7651916cd43dd8448eb211c80319c';

/** Attributes from a plain object: strings, booleans, bigints as ints, numbers as doubles. */
function attrs(o: Record<string, string | boolean | bigint | number>): KeyValue[] {
  return Object.entries(o).map(([key, v]) => ({
    key,
    value:
      typeof v === 'string' ? { stringValue: v }
      : typeof v === 'boolean' ? { boolValue: v }
      : typeof v === 'bigint' ? { intValue: Long.fromString(v.toString()) }
      : { doubleValue: v },
  }));
}

interface One {
  span?: SpanProps;
  resource?: KeyValue[];
  scope?: { name?: string; version?: string; attributes?: KeyValue[] };
  policy?: string;
}

function request(spans: SpanProps[], resource: KeyValue[] = attrs({ 'service.name': 'checkout' }), scope: One['scope'] = { name: 'io.lib', version: '1.2.3' }): Uint8Array {
  return ExportTraceServiceRequest.encode({ resourceSpans: [{ resource: { attributes: resource }, scopeSpans: [{ scope, spans }] }] }).finish();
}

function span(p: SpanProps = {}): SpanProps {
  return {
    traceId: hex(TRACE),
    spanId: hex('b7ad6b7169203331'),
    name: 'span name',
    kind: Kind.SPAN_KIND_INTERNAL,
    startTimeUnixNano: u64('1700000000123456789'),
    endTimeUnixNano: u64('1700000000223456789'),
    ...p,
  };
}

function mapOne(o: One = {}): DdSpan {
  const mapped = mapRequest(request([span(o.span)], o.resource, o.scope), o.policy ? { policies: new Map([[TRACE, o.policy]]) } : {});
  assert.equal(mapped.spanCount, 1);
  return mapped.groups[0]!.traces[0]!.spans[0]!;
}

const meta = (s: DdSpan): Record<string, string> => Object.fromEntries(s.meta);
const metrics = (s: DdSpan): Record<string, number> => Object.fromEntries(s.metrics);

describe('Datadog mapping: service', () => {
  it('service.name of the span, else of the resource, else otlpresourcenoservicename; normalized', () => {
    assert.equal(mapOne().service, 'checkout');
    assert.equal(mapOne({ span: span({ attributes: attrs({ 'service.name': 'override' }) }) }).service, 'override');
    assert.equal(mapOne({ resource: [] }).service, DEFAULT_SERVICE);
    assert.equal(mapOne({ resource: attrs({ 'service.name': 'My Shop!! API' }) }).service, 'my_shop_api');
    assert.equal(mapOne({ resource: attrs({ 'service.name': '' }) }).service, DEFAULT_SERVICE);
  });

  it('normalizes as the Agent: lowercase, runs of other characters to one _, none trailing, 100 bytes for services', () => {
    assert.equal(normalizeTagValue('Hello__World  !'), 'hello_world');
    assert.equal(normalizeTagValue('_a:b/c.d-e'), '_a:b/c.d-e');
    assert.equal(normalizeTagValue('ÉTÉ 2026'), 'été_2026');
    assert.equal(normalizeTagValue('x'.repeat(250)).length, 200);
    assert.equal(normalizeService('s'.repeat(150)).length, 100);
    assert.equal(normalizeService('!!!'), 'unnamed-service');
    assert.equal(truncateUtf8('ééé', 5), 'éé', 'never inside a character');
  });
});

describe('Datadog mapping: operation name (V2)', () => {
  const name = (kind: number, a: Record<string, string | bigint>, resource: Record<string, string> = { 'service.name': 'svc' }): string =>
    mapOne({ span: span({ kind, attributes: attrs(a) }), resource: attrs(resource) }).name;

  it('operation.name wins, normalized', () => {
    assert.equal(name(Kind.SPAN_KIND_SERVER, { 'operation.name': 'My Op', 'http.request.method': 'GET' }), 'my_op');
  });
  it('HTTP: http.server.request / http.client.request, from http.request.method or http.method', () => {
    assert.equal(name(Kind.SPAN_KIND_SERVER, { 'http.request.method': 'GET' }), 'http.server.request');
    assert.equal(name(Kind.SPAN_KIND_CLIENT, { 'http.method': 'POST' }), 'http.client.request');
    assert.equal(name(Kind.SPAN_KIND_INTERNAL, { 'http.method': 'POST' }), 'Internal', 'only server and client spans');
  });
  it('database clients: <db.system>.query', () => {
    assert.equal(name(Kind.SPAN_KIND_CLIENT, { 'db.system': 'PostgreSQL' }), 'postgresql.query');
  });
  it('messaging: <messaging.system>.<messaging.operation> for client, server, producer and consumer spans', () => {
    assert.equal(name(Kind.SPAN_KIND_PRODUCER, { 'messaging.system': 'kafka', 'messaging.operation': 'publish' }), 'kafka.publish');
    assert.equal(name(Kind.SPAN_KIND_CONSUMER, { 'messaging.system': 'rabbitmq', 'messaging.operation': 'receive' }), 'rabbitmq.receive');
    assert.equal(name(Kind.SPAN_KIND_INTERNAL, { 'messaging.system': 'kafka', 'messaging.operation': 'publish' }), 'Internal');
  });
  it('AWS SDK clients: aws.<rpc.service>.request, else aws.client.request', () => {
    assert.equal(name(Kind.SPAN_KIND_CLIENT, { 'rpc.system': 'aws-api', 'rpc.service': 'S3' }), 'aws.s3.request');
    assert.equal(name(Kind.SPAN_KIND_CLIENT, { 'rpc.system': 'aws-api' }), 'aws.client.request');
  });
  it('RPC: <rpc.system>.client.request / .server.request', () => {
    assert.equal(name(Kind.SPAN_KIND_CLIENT, { 'rpc.system': 'grpc' }), 'grpc.client.request');
    assert.equal(name(Kind.SPAN_KIND_SERVER, { 'rpc.system': 'grpc' }), 'grpc.server.request');
  });
  it('FaaS: <provider>.<invoked name>.invoke for clients, <trigger>.invoke for servers', () => {
    assert.equal(name(Kind.SPAN_KIND_CLIENT, { 'faas.invoked_provider': 'aws', 'faas.invoked_name': 'resize' }), 'aws.resize.invoke');
    assert.equal(name(Kind.SPAN_KIND_SERVER, { 'faas.trigger': 'http' }), 'http.invoke');
  });
  it('GraphQL: graphql.server.request', () => {
    assert.equal(name(Kind.SPAN_KIND_INTERNAL, { 'graphql.operation.type': 'query' }), 'graphql.server.request');
  });
  it('otherwise by kind: <network.protocol.name>.server.request, server.request, client.request, the kind', () => {
    assert.equal(name(Kind.SPAN_KIND_SERVER, { 'network.protocol.name': 'amqp' }), 'amqp.server.request');
    assert.equal(name(Kind.SPAN_KIND_CLIENT, { 'network.protocol.name': 'amqp' }), 'amqp.client.request');
    assert.equal(name(Kind.SPAN_KIND_SERVER, {}), 'server.request');
    assert.equal(name(Kind.SPAN_KIND_CLIENT, {}), 'client.request');
    assert.equal(name(Kind.SPAN_KIND_PRODUCER, {}), 'Producer');
    assert.equal(name(Kind.SPAN_KIND_CONSUMER, {}), 'Consumer');
    assert.equal(name(Kind.SPAN_KIND_INTERNAL, {}), 'Internal');
    assert.equal(name(Kind.SPAN_KIND_UNSPECIFIED, {}), 'Internal');
  });
  it('span attributes win over resource attributes', () => {
    assert.equal(name(Kind.SPAN_KIND_CLIENT, { 'db.system': 'redis' }, { 'db.system': 'mysql' }), 'redis.query');
    assert.equal(name(Kind.SPAN_KIND_CLIENT, {}, { 'db.system': 'mysql' }), 'mysql.query');
  });
});

describe('Datadog mapping: resource (V2)', () => {
  const resource = (kind: number, a: Record<string, string>, spanName = 'span name'): string =>
    mapOne({ span: span({ kind, name: spanName, attributes: attrs(a) }) }).resource;

  it('resource.name wins', () => {
    assert.equal(resource(Kind.SPAN_KIND_SERVER, { 'resource.name': 'custom', 'http.request.method': 'GET' }), 'custom');
  });
  it('HTTP method, with the route on server spans; _OTHER is HTTP', () => {
    assert.equal(resource(Kind.SPAN_KIND_SERVER, { 'http.request.method': 'GET', 'http.route': '/users/:id' }), 'GET /users/:id');
    assert.equal(resource(Kind.SPAN_KIND_CLIENT, { 'http.method': 'GET', 'http.route': '/users/:id' }), 'GET');
    assert.equal(resource(Kind.SPAN_KIND_SERVER, { 'http.request.method': '_OTHER' }), 'HTTP');
  });
  it('messaging operation and destination', () => {
    assert.equal(resource(Kind.SPAN_KIND_PRODUCER, { 'messaging.operation': 'publish', 'messaging.destination.name': 'orders' }), 'publish orders');
    assert.equal(resource(Kind.SPAN_KIND_PRODUCER, { 'messaging.operation': 'publish', 'messaging.destination': 'old' }), 'publish old');
    assert.equal(resource(Kind.SPAN_KIND_PRODUCER, { 'messaging.operation': 'publish' }), 'publish');
  });
  it('RPC method and service', () => {
    assert.equal(resource(Kind.SPAN_KIND_CLIENT, { 'rpc.method': 'GetUser', 'rpc.service': 'users.Users' }), 'GetUser users.Users');
  });
  it('GraphQL operation type and name', () => {
    assert.equal(resource(Kind.SPAN_KIND_SERVER, { 'graphql.operation.type': 'query', 'graphql.operation.name': 'Me' }), 'query Me');
  });
  it('database statement or query text', () => {
    assert.equal(resource(Kind.SPAN_KIND_CLIENT, { 'db.system': 'mysql', 'db.statement': 'SELECT 1' }), 'SELECT 1');
    assert.equal(resource(Kind.SPAN_KIND_CLIENT, { 'db.system': 'mysql', 'db.query.text': 'SELECT 2' }), 'SELECT 2');
    assert.equal(resource(Kind.SPAN_KIND_CLIENT, { 'db.system': 'mysql' }, 'SELECT users'), 'SELECT users');
  });
  it('else the span name, cut to 5000 bytes', () => {
    assert.equal(resource(Kind.SPAN_KIND_INTERNAL, {}, 'compute'), 'compute');
    assert.equal(Buffer.byteLength(resource(Kind.SPAN_KIND_INTERNAL, {}, 'é'.repeat(3000))), 5000);
  });
});

describe('Datadog mapping: span type', () => {
  const type = (kind: number, a: Record<string, string> = {}): string => mapOne({ span: span({ kind, attributes: attrs(a) }) }).type;
  it('span.type wins; server → web; client → http, or the database type; others custom', () => {
    assert.equal(type(Kind.SPAN_KIND_SERVER, { 'span.type': 'worker' }), 'worker');
    assert.equal(type(Kind.SPAN_KIND_SERVER), 'web');
    assert.equal(type(Kind.SPAN_KIND_CLIENT), 'http');
    assert.equal(type(Kind.SPAN_KIND_CLIENT, { 'db.system': 'postgresql' }), 'sql');
    assert.equal(type(Kind.SPAN_KIND_CLIENT, { 'db.system': 'redis' }), 'redis');
    assert.equal(type(Kind.SPAN_KIND_CLIENT, { 'db.system': 'memcached' }), 'memcached');
    assert.equal(type(Kind.SPAN_KIND_CLIENT, { 'db.system': 'mongodb' }), 'mongodb');
    assert.equal(type(Kind.SPAN_KIND_CLIENT, { 'db.system': 'dynamodb' }), 'db');
    assert.equal(type(Kind.SPAN_KIND_CLIENT, { 'db.system': 'somethingnew' }), 'db');
    assert.equal(type(Kind.SPAN_KIND_INTERNAL), 'custom');
    assert.equal(type(Kind.SPAN_KIND_PRODUCER), 'custom');
    assert.equal(mapOne({ span: span({ attributes: attrs({ 'span.type': 'x' }) }) }).meta.has('span.type'), false, 'not a tag');
  });
});

describe('Datadog mapping: ids and times', () => {
  it('trace_id is the low 64 bits, the high half is _dd.p.tid (16 hex), the full id is otel.trace_id', () => {
    const s = mapOne({ span: span({ traceId: hex('fedcba9876543210ffffffffffffffff'), spanId: hex('ffffffffffffffff'), parentSpanId: hex('8000000000000001') }) });
    assert.equal(s.traceId, 0xffffffffffffffffn, 'uint64 above 2^63 exact');
    assert.equal(meta(s)['_dd.p.tid'], 'fedcba9876543210');
    assert.equal(meta(s)['otel.trace_id'], 'fedcba9876543210ffffffffffffffff');
    assert.equal(s.spanId, 0xffffffffffffffffn);
    assert.equal(s.parentId, 0x8000000000000001n);
  });
  it('a zero high half has no _dd.p.tid; a root span has parent 0', () => {
    const s = mapOne({ span: span({ traceId: hex('00000000000000000000000000000abc'), parentSpanId: new Uint8Array(0) }) });
    assert.equal(s.traceId, 0xabcn);
    assert.equal(s.meta.has('_dd.p.tid'), false);
    assert.equal(s.parentId, 0n);
    assert.equal(meta(s)['_dd.p.tid'], undefined);
  });
  it('start and duration in exact nanoseconds, far above 2^53', () => {
    const s = mapOne({ span: span({ startTimeUnixNano: u64('1764620000123456789'), endTimeUnixNano: u64('1764620000123456790') }) });
    assert.equal(s.start, 1764620000123456789n);
    assert.equal(s.duration, 1n);
    const long = mapOne({ span: span({ startTimeUnixNano: u64('1'), endTimeUnixNano: u64('9007199254740995') }) });
    assert.equal(long.duration, 9007199254740994n, 'a duration above 2^53 stays exact');
    const negative = mapOne({ span: span({ startTimeUnixNano: u64('1000'), endTimeUnixNano: u64('999') }) });
    assert.equal(negative.duration, 0n, 'an end before the start is a zero duration, as the Agent normalizes it');
  });
});

describe('Datadog mapping: errors', () => {
  it('an ERROR span is error 1 with error.msg/type/stack from its exception event', () => {
    const s = mapOne({
      span: span({
        status: { code: STATUS_CODE_ERROR, message: 'status says' },
        events: [
          { name: 'exception', timeUnixNano: u64('1700000000150000000'), attributes: attrs({ 'exception.message': 'boom', 'exception.type': 'java.lang.IllegalStateException', 'exception.stacktrace': 'at a.b(C.java:1)' }) },
        ],
      }),
    });
    assert.equal(s.error, 1);
    assert.equal(meta(s)['error.msg'], 'boom');
    assert.equal(meta(s)['error.type'], 'java.lang.IllegalStateException');
    assert.equal(meta(s)['error.stack'], 'at a.b(C.java:1)');
    assert.equal(meta(s)['otel.status_code'], 'Error');
    assert.equal(meta(s)['otel.status_description'], 'status says');
    assert.equal(meta(s)['_dd.span_events.has_exception'], 'true');
  });
  it('without an exception event the message is the status message, else a string HTTP status with its text', () => {
    const fromStatus = mapOne({ span: span({ status: { code: STATUS_CODE_ERROR, message: 'upstream timed out' } }) });
    assert.equal(fromStatus.error, 1);
    assert.equal(meta(fromStatus)['error.msg'], 'upstream timed out');
    assert.equal(fromStatus.meta.has('error.type'), false);
    const fromHttp = mapOne({ span: span({ status: { code: STATUS_CODE_ERROR }, attributes: attrs({ 'http.status_code': '404' }) }) });
    assert.equal(meta(fromHttp)['error.msg'], '404 Not Found');
    const bare = mapOne({ span: span({ status: { code: STATUS_CODE_ERROR } }) });
    assert.equal(bare.error, 1);
    assert.equal(bare.meta.has('error.msg'), false);
  });
  it('an exception event on a span that is not ERROR is no error, but is flagged', () => {
    const s = mapOne({ span: span({ status: { code: STATUS_CODE_OK }, events: [{ name: 'exception', attributes: attrs({ 'exception.message': 'handled' }) }] }) });
    assert.equal(s.error, 0);
    assert.equal(s.meta.has('error.msg'), false);
    assert.equal(meta(s)['_dd.span_events.has_exception'], 'true');
    assert.equal(meta(s)['otel.status_code'], 'Ok');
  });
  it('error.* attributes are kept as given', () => {
    const s = mapOne({
      span: span({
        status: { code: STATUS_CODE_ERROR, message: 'ignored' },
        attributes: attrs({ 'error.msg': 'm', 'error.type': 't', 'error.stack': 's' }),
        events: [{ name: 'exception', attributes: attrs({ 'exception.message': 'not used' }) }],
      }),
    });
    assert.equal(s.error, 1);
    assert.deepEqual([meta(s)['error.msg'], meta(s)['error.type'], meta(s)['error.stack']], ['m', 't', 's']);
  });
});

describe('Datadog mapping: attributes', () => {
  it('strings and booleans are tags, integers and doubles metrics, the rest tags as text', () => {
    const s = mapOne({ span: span({ attributes: allValueKinds() }) });
    const m = meta(s);
    const n = metrics(s);
    assert.equal(m['str'], 'hé "quoted" \n ✓');
    assert.equal(m['empty.str'], '');
    assert.equal(m['bool.t'], 'true');
    assert.equal(m['bool.f'], 'false');
    assert.equal(n['int.max'], 2 ** 63, 'as the Agent: float64(int64), rounded');
    assert.equal(n['int.min'], -(2 ** 63));
    assert.equal(n['int.neg'], -1);
    assert.equal(n['int.zero'], 0);
    assert.equal(n['int.big'], 9007199254740992, 'rounded to a double, as the Agent does');
    assert.equal(n['dbl'], 3.141592653589793);
    assert.ok(Number.isNaN(n['dbl.nan']));
    assert.equal(n['dbl.inf'], Infinity);
    assert.equal(n['dbl.tiny'], 5e-324);
    assert.equal(m['bytes'], Buffer.from([0, 1, 254, 255, 62, 63]).toString('base64'));
    assert.equal(m['arr'], '["a",-42,null,[true]]');
    assert.equal(m['arr.empty'], '[]');
    assert.equal(m['kv'], '{"inner":1.5,"nested":{"deep":"CQ=="},"novalue":null}', 'keys sorted, as Go encodes maps');
    assert.equal(m['kv.empty'], '{}');
    assert.equal(m['empty.any'], '');
    assert.equal(m['no.value'], '');
    assert.equal(s.meta.has(''), false, 'an empty key is dropped, as the Agent drops it');
    for (const k of ['int.max', 'dbl', 'dbl.nan']) assert.equal(s.meta.has(k), false, `${k} is a metric only`);
  });

  it('HTTP conventions take the Datadog names; request headers become http.request.headers.*', () => {
    const s = mapOne({
      span: span({
        kind: Kind.SPAN_KIND_SERVER,
        attributes: attrs({
          'http.request.method': 'GET',
          'http.response.status_code': 503n,
          'url.full': 'https://shop/cart',
          'user_agent.original': 'curl/8',
          'client.address': '10.0.0.1',
          'server.address': 'shop',
          'network.protocol.version': '1.1',
          'http.request.header.x-tenant': 'acme',
          'http.request.header.referrer': 'https://ref',
          'http.route': '/cart',
        }),
      }),
    });
    const m = meta(s);
    assert.equal(m['http.method'], 'GET');
    assert.equal(metrics(s)['http.status_code'], 503);
    assert.equal(s.metrics.has('http.response.status_code'), false);
    assert.equal(m['http.url'], 'https://shop/cart');
    assert.equal(m['http.useragent'], 'curl/8');
    assert.equal(m['http.client_ip'], '10.0.0.1');
    assert.equal(m['http.server_name'], 'shop');
    assert.equal(m['http.version'], '1.1');
    assert.equal(m['http.request.headers.x-tenant'], 'acme');
    assert.equal(m['http.referrer'], 'https://ref');
    assert.equal(m['http.route'], '/cart');
    assert.equal(s.meta.has('http.request.method'), false);
  });

  it('service.name, operation.name, resource.name and span.type set fields, not tags; sampling.priority and analytics.event as the Agent', () => {
    const s = mapOne({ span: span({ attributes: attrs({ 'service.name': 's', 'operation.name': 'o', 'resource.name': 'r', 'sampling.priority': 1n, 'analytics.event': 'true' }) }) });
    for (const k of ['service.name', 'operation.name', 'resource.name']) assert.equal(s.meta.has(k), false, k);
    assert.deepEqual([s.service, s.name, s.resource], ['s', 'o', 'r']);
    assert.equal(metrics(s)['_sampling_priority_v1'], 1);
    assert.equal(metrics(s)['_dd1.sr.eausr'], 1);
    assert.equal(s.meta.has('analytics.event'), false);
  });

  it('resource attributes are tags as text; the span attribute wins a clash', () => {
    const s = mapOne({
      span: span({ attributes: attrs({ shared: 'from span' }) }),
      resource: attrs({ 'service.name': 'svc', shared: 'from resource', 'host.cpus': 8n, 'k8s.namespace.name': 'prod' }),
    });
    assert.equal(meta(s)['shared'], 'from span');
    assert.equal(meta(s)['host.cpus'], '8');
    assert.equal(meta(s)['k8s.namespace.name'], 'prod');
    assert.equal(s.meta.has('service.name'), false);
  });

  it('span.kind, otel.status_code, the instrumentation scope and its attributes', () => {
    const s = mapOne({ span: span({ kind: Kind.SPAN_KIND_CLIENT }), scope: { name: 'io.lib', version: '1.2.3', attributes: attrs({ 'scope.attr': 'x' }) } });
    const m = meta(s);
    assert.equal(m['span.kind'], 'client');
    assert.equal(m['otel.status_code'], 'Unset');
    assert.equal(s.meta.has('otel.status_description'), false);
    assert.equal(m['otel.library.name'], 'io.lib');
    assert.equal(m['otel.library.version'], '1.2.3');
    assert.equal(m['otel.scope.name'], 'io.lib');
    assert.equal(m['otel.scope.version'], '1.2.3');
    assert.equal(m['scope.attr'], 'x');
    for (const [kind, want] of [[Kind.SPAN_KIND_SERVER, 'server'], [Kind.SPAN_KIND_PRODUCER, 'producer'], [Kind.SPAN_KIND_CONSUMER, 'consumer'], [Kind.SPAN_KIND_INTERNAL, 'internal'], [Kind.SPAN_KIND_UNSPECIFIED, 'unspecified']] as const) {
      assert.equal(mapOne({ span: span({ kind }) }).meta.get('span.kind'), want);
    }
    const noScope = mapOne({ scope: {} });
    assert.equal(noScope.meta.has('otel.library.name'), false);
  });

  it('env and version from the resource (or the span), env normalized; db.name from db.namespace', () => {
    const s = mapOne({ resource: attrs({ 'service.name': 'svc', 'deployment.environment.name': 'Prod EU', 'service.version': '2.0.1', 'db.namespace': 'orders' }) });
    assert.equal(meta(s)['env'], 'prod_eu');
    assert.equal(meta(s)['version'], '2.0.1');
    assert.equal(meta(s)['db.name'], 'orders');
    const old = mapOne({ resource: attrs({ 'deployment.environment': 'staging' }) });
    assert.equal(meta(old)['env'], 'staging');
    const fromSpan = mapOne({ span: span({ attributes: attrs({ 'deployment.environment.name': 'dev' }) }), resource: attrs({ 'deployment.environment.name': 'prod' }) });
    assert.equal(meta(fromSpan)['env'], 'dev');
    assert.equal(mapOne().meta.has('env'), false);
  });
});

describe('Datadog mapping: events, links, tracestate', () => {
  it('events as the Agent JSON: time_unix_nano exact, name, attributes raw, dropped count', () => {
    const s = mapOne({
      span: span({
        events: [
          { timeUnixNano: u64('1764620000123456789'), name: 'cache <miss>', attributes: [...attrs({ key: 'k1', hit: false, ratio: 0.5 }), { key: 'n', value: { intValue: i64('9007199254740993') } }], droppedAttributesCount: 2 },
          { name: 'bare' },
          {},
        ],
      }),
    });
    const text = meta(s)['events']!;
    assert.equal(
      text,
      '[{"time_unix_nano":1764620000123456789,"name":"cache \\u003cmiss\\u003e","attributes":{"key":"k1","hit":false,"ratio":0.5,"n":9007199254740993},"dropped_attributes_count":2},{"name":"bare"},{}]',
    );
    assert.equal(s.meta.has('_dd.span_events.has_exception'), false);
  });

  it('links as _dd.span_links JSON: hex ids, tracestate, attributes as text, dropped count', () => {
    const s = mapOne({
      span: span({
        links: [
          { traceId: hex('5b8efff798038103d269b633813fc60c'), spanId: hex('eee19b7ec3c1b174'), traceState: 'a=b', attributes: [...attrs({ 'link.kind': 'follows' }), { key: 'n', value: { intValue: i64('7') } }], droppedAttributesCount: 3 },
          { traceId: hex('5b8efff798038103d269b633813fc60d'), spanId: hex('eee19b7ec3c1b175') },
        ],
      }),
    });
    assert.deepEqual(JSON.parse(meta(s)['_dd.span_links']!), [
      { trace_id: '5b8efff798038103d269b633813fc60c', span_id: 'eee19b7ec3c1b174', tracestate: 'a=b', attributes: { 'link.kind': 'follows', n: '7' }, dropped_attributes_count: 3 },
      { trace_id: '5b8efff798038103d269b633813fc60d', span_id: 'eee19b7ec3c1b175' },
    ]);
  });

  it('tracestate as w3c.tracestate; its ot=th threshold as _sample_rate (the probability the trace was kept with)', () => {
    const s = mapOne({ span: span({ traceState: 'ot=th:c;rv:0123456789abcd,dd=s:1' }) });
    assert.equal(meta(s)['w3c.tracestate'], 'ot=th:c;rv:0123456789abcd,dd=s:1');
    assert.equal(metrics(s)['_sample_rate'], 0.25);
    assert.equal(metrics(mapOne({ span: span({ traceState: 'ot=th:0' }) }))['_sample_rate'], 1);
    assert.equal(mapOne({ span: span({ traceState: 'other=1' }) }).metrics.has('_sample_rate'), false);
    assert.equal(metrics(mapOne({ span: span({ traceState: 'ot=th:8', attributes: attrs({ _sample_rate: 0.1 }) }) }))['_sample_rate'], 0.1, 'an explicit one wins');
    assert.equal(mapOne().meta.has('w3c.tracestate'), false);
  });
});

describe('Datadog mapping: grouping and the deciding policy', () => {
  it('one group per resource, one trace per trace id in first-seen order, span count', () => {
    const t1 = '11111111111111111111111111111111';
    const t2 = '22222222222222222222222222222222';
    const body = ExportTraceServiceRequest.encode({
      resourceSpans: [
        {
          resource: { attributes: attrs({ 'service.name': 'a', 'host.name': 'h1', 'deployment.environment.name': 'Prod', 'container.id': 'c1', 'telemetry.sdk.language': 'go', 'telemetry.sdk.version': '1.30.0', 'service.version': '3' }) },
          scopeSpans: [{ scope: {}, spans: [span({ traceId: hex(t1) }), span({ traceId: hex(t2) }), span({ traceId: hex(t1), spanId: hex('0000000000000002') })] }],
        },
        { resource: { attributes: attrs({ 'service.name': 'b' }) }, scopeSpans: [{ scope: {}, spans: [span({ traceId: hex(t2) })] }] },
        { resource: {}, scopeSpans: [] },
      ],
    }).finish();
    const mapped = mapRequest(body, { policies: new Map([[t1, 'errors'], [t2, 'slow']]) });
    assert.equal(mapped.spanCount, 4);
    assert.equal(mapped.groups.length, 2, 'a resource without spans is no group');
    const [a, b] = mapped.groups;
    assert.deepEqual(a!.traces.map((t) => [t.id, t.spans.length]), [[t1, 2], [t2, 1]]);
    assert.deepEqual({ ...a!, traces: undefined }, { hostname: 'h1', env: 'prod', containerId: 'c1', languageName: 'go', tracerVersion: 'otlp-1.30.0', appVersion: '3', traces: undefined });
    assert.equal(b!.tracerVersion, 'otlp-');
    assert.deepEqual(a!.traces[0]!.spans.map((s) => s.meta.get(POLICY_TAG)), ['errors', 'errors']);
    assert.equal(b!.traces[0]!.spans[0]!.meta.get(POLICY_TAG), 'slow');
  });

  it('without a policy for the trace there is no policy tag', () => {
    assert.equal(mapOne().meta.has(POLICY_TAG), false);
    assert.equal(mapOne({ policy: 'latency' }).meta.get(POLICY_TAG), 'latency');
  });

  it('bytes that are not an ExportTraceServiceRequest throw', () => {
    assert.throws(() => mapRequest(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])));
  });
});
