/**
 * The Datadog Agent's naming rules for OTLP spans ("V2", its defaults): operation name, resource, span
 * type and HTTP status, from span attributes first and resource attributes second
 * (DataDog/datadog-agent `pkg/trace/traceutil/otel_util.go`). Used for traces and for APM stats, so
 * both name a span alike.
 */
import { opentelemetry } from '../../otlp/gen/otlp.js';
import { MAX_RESOURCE_BYTES, normalizeTagValue, truncateUtf8 } from './normalize.ts';
import { asString, int64Of, type AnyValue } from './values.ts';

export type Attrs = ReadonlyMap<string, AnyValue>;
type Kind = opentelemetry.proto.trace.v1.Span.SpanKind;
const SpanKind = opentelemetry.proto.trace.v1.Span.SpanKind;

const REMOTE_KINDS: ReadonlySet<Kind> = new Set([SpanKind.SPAN_KIND_SERVER, SpanKind.SPAN_KIND_CLIENT, SpanKind.SPAN_KIND_PRODUCER, SpanKind.SPAN_KIND_CONSUMER]);

/** Go's `ptrace.SpanKind.String()`, the operation name's last resort. */
const KIND_STRINGS = ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'];
const SQL = 'sql';
/** `db.system` → span type (otel_util.go dbTypes); any other database is `db`. */
const DB_TYPES: ReadonlyMap<string, string> = new Map([
  ...[
    'other_sql', 'mssql', 'mysql', 'oracle', 'db2', 'postgresql', 'redshift', 'cloudscape', 'hsqldb', 'maxdb', 'ingres',
    'firstsql', 'edb', 'cache', 'firebird', 'derby', 'informix', 'mariadb', 'sqlite', 'sybase', 'teradata', 'vertica', 'h2',
    'coldfusion', 'cockroachdb', 'progress', 'hanadb', 'adabas', 'filemaker', 'instantdb', 'interbase', 'netezza',
    'pervasive', 'pointbase', 'clickhouse',
  ].map((s): [string, string] => [s, SQL]),
  ['cassandra', 'cassandra'],
  ['redis', 'redis'],
  ['memcached', 'memcached'],
  ['mongodb', 'mongodb'],
  ['elasticsearch', 'elasticsearch'],
  ['opensearch', 'opensearch'],
  ...['hive', 'hbase', 'neo4j', 'couchbase', 'couchdb', 'cosmosdb', 'dynamodb', 'geode'].map((s): [string, string] => [s, 'db']),
]);

/** traceutil.GetOTelOperationNameV2. */
export function operationName(kind: Kind, s: Attrs, r: Attrs): string {
  const explicit = either(s, r, true, 'operation.name');
  if (explicit !== '') return explicit;
  const isClient = kind === SpanKind.SPAN_KIND_CLIENT;
  const isServer = kind === SpanKind.SPAN_KIND_SERVER;
  if (either(s, r, false, 'http.request.method', 'http.method') !== '') {
    if (isServer) return 'http.server.request';
    if (isClient) return 'http.client.request';
  }
  const db = either(s, r, true, 'db.system');
  if (db !== '' && isClient) return `${db}.query`;
  const system = either(s, r, true, 'messaging.system');
  const op = either(s, r, true, 'messaging.operation');
  if (system !== '' && op !== '' && REMOTE_KINDS.has(kind)) return `${system}.${op}`;
  const rpc = either(s, r, true, 'rpc.system');
  if (rpc === 'aws-api' && isClient) {
    const service = either(s, r, true, 'rpc.service');
    return service !== '' ? `aws.${service}.request` : 'aws.client.request';
  }
  if (rpc !== '' && isClient) return `${rpc}.client.request`;
  if (rpc !== '' && isServer) return `${rpc}.server.request`;
  const provider = either(s, r, true, 'faas.invoked_provider');
  const invoked = either(s, r, true, 'faas.invoked_name');
  if (provider !== '' && invoked !== '' && isClient) return `${provider}.${invoked}.invoke`;
  const trigger = either(s, r, true, 'faas.trigger');
  if (trigger !== '' && isServer) return `${trigger}.invoke`;
  if (either(s, r, true, 'graphql.operation.type') !== '') return 'graphql.server.request';
  const protocol = either(s, r, true, 'network.protocol.name');
  if (isServer) return protocol !== '' ? `${protocol}.server.request` : 'server.request';
  if (isClient) return protocol !== '' ? `${protocol}.client.request` : 'client.request';
  return kind !== SpanKind.SPAN_KIND_UNSPECIFIED ? (KIND_STRINGS[kind] ?? 'Internal') : 'Internal';
}

/** traceutil.GetOTelResourceV2, cut to 5000 bytes. */
export function resourceName(spanName: string, kind: Kind, s: Attrs, r: Attrs): string {
  return truncateUtf8(resourceNameFull(spanName, kind, s, r), MAX_RESOURCE_BYTES);
}

function resourceNameFull(spanName: string, kind: Kind, s: Attrs, r: Attrs): string {
  const explicit = either(s, r, false, 'resource.name');
  if (explicit !== '') return explicit;
  let method = either(s, r, false, 'http.request.method', 'http.method');
  if (method !== '') {
    if (method === '_OTHER') method = 'HTTP';
    if (kind === SpanKind.SPAN_KIND_SERVER) {
      const route = either(s, r, false, 'http.route');
      if (route !== '') return `${method} ${route}`;
    }
    return method;
  }
  const op = either(s, r, false, 'messaging.operation');
  if (op !== '') {
    const dest = either(s, r, false, 'messaging.destination', 'messaging.destination.name');
    return dest !== '' ? `${op} ${dest}` : op;
  }
  const rpcMethod = either(s, r, false, 'rpc.method');
  if (rpcMethod !== '') {
    const service = either(s, r, false, 'rpc.service');
    return service !== '' ? `${rpcMethod} ${service}` : rpcMethod;
  }
  const gqlType = either(s, r, false, 'graphql.operation.type');
  if (gqlType !== '') {
    const gqlName = either(s, r, false, 'graphql.operation.name');
    return gqlName !== '' ? `${gqlType} ${gqlName}` : gqlType;
  }
  if (either(s, r, false, 'db.system') !== '') {
    // The Agent obfuscates SQL found in the resource, so the statement itself is the resource.
    const statement = either(s, r, false, 'db.statement');
    if (statement !== '') return statement;
    const query = either(s, r, false, 'db.query.text');
    if (query !== '') return query;
  }
  return spanName;
}

/** traceutil.GetOTelSpanType. */
export function spanType(kind: Kind, s: Attrs, r: Attrs): string {
  const explicit = either(s, r, false, 'span.type');
  if (explicit !== '') return explicit;
  if (kind === SpanKind.SPAN_KIND_SERVER) return 'web';
  if (kind === SpanKind.SPAN_KIND_CLIENT) {
    const db = either(s, r, true, 'db.system');
    return db === '' ? 'http' : (DB_TYPES.get(db) ?? 'db');
  }
  return 'custom';
}

/** The HTTP status code as an integer attribute, span before resource, old convention before new. */
export function httpStatusCode(s: Attrs, r: Attrs): number | null {
  for (const attrs of [s, r]) {
    for (const key of ['http.status_code', 'http.response.status_code']) {
      const v = attrs.get(key);
      if (v?.value === 'intValue') {
        const code = Number(int64Of(v.intValue));
        if (code >= 0) return code;
      }
    }
  }
  return null;
}

/** traceutil.GetOTelAttrVal: the first of `keys` present, as text, normalized on request. */
export function value(attrs: Attrs, normalize: boolean, ...keys: string[]): string {
  let v = '';
  for (const k of keys) {
    const found = attrs.get(k);
    if (found !== undefined) {
      v = asString(found);
      break;
    }
  }
  return normalize ? normalizeTagValue(v) : v;
}

/** traceutil.GetOTelAttrFromEitherMap: from `first`, else from `second`. */
export function either(first: Attrs, second: Attrs, normalize: boolean, ...keys: string[]): string {
  const v = value(first, normalize, ...keys);
  return v !== '' ? v : value(second, normalize, ...keys);
}
