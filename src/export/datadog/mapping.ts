/**
 * OTLP → Datadog spans, as the Datadog Agent's OTLP ingest maps them with its defaults (operation and
 * resource names "V2", span types "V2"): DataDog/datadog-agent `pkg/trace/traceutil/otel_util.go` and
 * `pkg/trace/transform/transform.go`; the naming rules (operation, resource, type) are in naming.ts.
 * Each rule names the Agent's function it follows; where this mapping knowingly differs, the comment
 * says so.
 *
 * The input is one ExportTraceServiceRequest, decoded once. Spans are grouped per resource (the Agent
 * makes one TracerPayload of each ResourceSpans) and, inside it, per trace (one chunk per trace).
 */
import { STATUS_CODES } from 'node:http';
import { opentelemetry } from '../../otlp/gen/otlp.js';
import { parseOtTraceState } from '../../sample/tracestate.ts';
import { MAX_THRESHOLD, thresholdFromHex } from '../../sample/threshold.ts';
import { normalizeService } from './normalize.ts';
import { type Attrs, either, httpStatusCode, operationName, resourceName, spanType, value } from './naming.ts';
import { asString, goJsonString, int64Of, rawJson, uint64Of, type AnyValue, type KeyValue } from './values.ts';
import { hexOf } from '../../otlp/hex.ts';

const { ExportTraceServiceRequest } = opentelemetry.proto.collector.trace.v1;
type OtlpSpan = opentelemetry.proto.trace.v1.Span.$Properties;
type OtlpEvent = opentelemetry.proto.trace.v1.Span.Event.$Properties;
type OtlpLink = opentelemetry.proto.trace.v1.Span.Link.$Properties;
type Kind = opentelemetry.proto.trace.v1.Span.SpanKind;
type StatusCode = opentelemetry.proto.trace.v1.Status.StatusCode;

/** A Datadog span (`pkg/proto/datadog/trace/span.proto`); 64-bit fields as BigInt, never as doubles. */
export interface DdSpan {
  service: string;
  name: string;
  resource: string;
  type: string;
  /** Low 64 bits of the OTel trace id. */
  traceId: bigint;
  spanId: bigint;
  /** 0 for a root span. */
  parentId: bigint;
  /** Unix nanoseconds. */
  start: bigint;
  /** Nanoseconds. */
  duration: bigint;
  error: number;
  meta: Map<string, string>;
  metrics: Map<string, number>;
}

/** The spans of one trace in one request: one Datadog trace chunk. */
export interface DdTrace {
  /** The full OTel trace id, 32 hex characters. */
  id: string;
  spans: DdSpan[];
}

/** The spans of one ResourceSpans, with what the Agent reads from the resource for its TracerPayload. */
export interface DdResourceGroup {
  hostname: string;
  env: string;
  containerId: string;
  languageName: string;
  tracerVersion: string;
  appVersion: string;
  traces: DdTrace[];
}

export interface MappedRequest {
  groups: DdResourceGroup[];
  spanCount: number;
}

export interface MapOptions {
  /** Kept traces' deciding policy by trace id (32 hex), tagged `tailsampling.policy` on their spans. */
  policies?: ReadonlyMap<string, string> | undefined;
}

/** The tag carrying the policy that kept the trace, named as otelcol's tail sampler `recordpolicy` names it. */
export const POLICY_TAG = 'tailsampling.policy';
/** The Agent's default service for OTel spans without `service.name`. */
export const DEFAULT_SERVICE = 'otlpresourcenoservicename';

const EMPTY: Attrs = new Map();
const SpanKind = opentelemetry.proto.trace.v1.Span.SpanKind;
const { STATUS_CODE_ERROR, STATUS_CODE_UNSET } = opentelemetry.proto.trace.v1.Status.StatusCode;
/** Messaging operation names apply to these kinds only. */
/** `span.kind` meta values (traceutil.OTelSpanKindName). */
const KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
/** `otel.status_code` values (`ptrace.StatusCode.String()`). */
const STATUS_STRINGS = ['Unset', 'Ok', 'Error'];

/** OTel HTTP semantic conventions → Datadog's HTTP tags (opentelemetry-mapping-go `attributes.HTTPMappings`). */
const HTTP_MAPPINGS: ReadonlyMap<string, string> = new Map([
  ['client.address', 'http.client_ip'],
  ['http.response.body.size', 'http.response.content_length'],
  ['http.response.status_code', 'http.status_code'],
  ['http.request.body.size', 'http.request.content_length'],
  ['http.request.header.referrer', 'http.referrer'],
  ['http.request.method', 'http.method'],
  ['http.route', 'http.route'],
  ['network.protocol.version', 'http.version'],
  ['server.address', 'http.server_name'],
  ['url.full', 'http.url'],
  ['user_agent.original', 'http.useragent'],
]);

/** Attributes that set span fields instead of tags (transform.isDatadogAPMConventionKey). */
const APM_CONVENTION_KEYS = new Set(['service.name', 'operation.name', 'resource.name', 'span.type']);

/** Decodes an ExportTraceServiceRequest and maps every span; throws when the bytes are not one. */
export function mapRequest(request: Uint8Array, options: MapOptions = {}): MappedRequest {
  const decoded = ExportTraceServiceRequest.decode(request);
  const groups: DdResourceGroup[] = [];
  let spanCount = 0;
  for (const rs of decoded.resourceSpans) {
    const res = attrMap(rs.resource?.attributes);
    const byTrace = new Map<string, DdTrace>();
    for (const ss of rs.scopeSpans ?? []) {
      const scope = ss.scope ?? {};
      const scopeAttrs = attrMap(scope.attributes);
      for (const span of ss.spans ?? []) {
        const dd = mapSpan(span, res, scope.name ?? '', scope.version ?? '', scopeAttrs);
        const id = hexOf(span.traceId);
        const policy = options.policies?.get(id);
        if (policy !== undefined && policy !== '') dd.meta.set(POLICY_TAG, policy);
        let trace = byTrace.get(id);
        if (trace === undefined) byTrace.set(id, (trace = { id, spans: [] }));
        trace.spans.push(dd);
        spanCount++;
      }
    }
    if (byTrace.size === 0) continue;
    groups.push({
      hostname: value(res, false, 'datadog.host.name', 'host.name'),
      env: value(res, true, 'deployment.environment.name', 'deployment.environment'),
      containerId: value(res, true, 'container.id', 'k8s.pod.uid'),
      languageName: value(res, true, 'telemetry.sdk.language'),
      tracerVersion: `otlp-${value(res, true, 'telemetry.sdk.version')}`,
      appVersion: value(res, true, 'service.version'),
      traces: [...byTrace.values()],
    });
  }
  return { groups, spanCount };
}

/** One OTel span as a Datadog span (transform.OtelSpanToDDSpan). */
export function mapSpan(span: OtlpSpan, res: Attrs, scopeName: string, scopeVersion: string, scopeAttrs: Attrs = EMPTY): DdSpan {
  const sattr = attrMap(span.attributes);
  const kind: Kind = span.kind ?? SpanKind.SPAN_KIND_UNSPECIFIED;
  const status = span.status ?? {};
  const statusCode: StatusCode = status.code ?? STATUS_CODE_UNSET;
  const statusMessage = status.message ?? '';
  const traceId = span.traceId ?? new Uint8Array(0);
  const start = uint64Of(span.startTimeUnixNano);
  const end = uint64Of(span.endTimeUnixNano);
  // The Agent's normalizer makes a negative duration 0.
  const duration = end > start ? end - start : 0n;
  const dd: DdSpan = {
    service: normalizeService(either(sattr, res, false, 'service.name') || DEFAULT_SERVICE),
    name: operationName(kind, sattr, res),
    resource: resourceName(span.name ?? '', kind, sattr, res),
    type: spanType(kind, sattr, res),
    traceId: u64(traceId, traceId.length - 8),
    spanId: u64(span.spanId, 0),
    parentId: u64(span.parentSpanId, 0),
    start: BigInt.asIntN(64, start),
    duration: BigInt.asIntN(64, duration),
    error: statusCode === STATUS_CODE_ERROR ? 1 : 0,
    meta: new Map(),
    metrics: new Map(),
  };
  const { meta, metrics } = dd;
  meta.set('span.kind', KIND_NAMES[kind] ?? 'unspecified');
  const httpCode = httpStatusCode(sattr, res);
  if (httpCode !== null) metrics.set('http.status_code', httpCode);

  // Span attributes: numbers are metrics, everything else tags; span attributes win over resource ones.
  for (const [k, v] of sattr) {
    if (v.value === 'intValue' || v.value === 'doubleValue') {
      const n = v.value === 'intValue' ? Number(int64Of(v.intValue)) : (v.doubleValue ?? 0);
      setMetricIfAbsent(dd, k, n);
    } else {
      setMetaIfEmpty(dd, k, asString(v));
    }
  }

  meta.set('otel.trace_id', hexOf(traceId));
  // Datadog carries 128-bit trace ids as the low half in trace_id and the high half in _dd.p.tid.
  const high = u64(traceId, traceId.length - 16);
  if (high !== 0n) meta.set('_dd.p.tid', high.toString(16).padStart(16, '0'));
  if (!meta.has('version')) {
    const version = either(sattr, res, true, 'service.version');
    if (version !== '') meta.set('version', version);
  }
  const events = span.events ?? [];
  if (events.length > 0) {
    meta.set('events', eventsJson(events));
    if (events.some((e) => e.name === 'exception')) meta.set('_dd.span_events.has_exception', 'true');
  }
  const links = span.links ?? [];
  if (links.length > 0) meta.set('_dd.span_links', linksJson(links));
  const traceState = span.traceState ?? '';
  if (traceState !== '') {
    meta.set('w3c.tracestate', traceState);
    // transform.SetSampleRateFromTracestate: the probability the trace was kept with, for stats weights.
    if (!metrics.has('_sample_rate')) {
      const rate = sampleRateOf(traceState);
      if (rate !== null) metrics.set('_sample_rate', rate);
    }
  }
  if (scopeName !== '') {
    meta.set('otel.scope.name', scopeName);
    meta.set('otel.library.name', scopeName);
  }
  if (scopeVersion !== '') {
    meta.set('otel.scope.version', scopeVersion);
    meta.set('otel.library.version', scopeVersion);
  }
  meta.set('otel.status_code', STATUS_STRINGS[statusCode] ?? 'Unset');
  if (statusMessage !== '') meta.set('otel.status_description', statusMessage);
  if (!meta.has('error.msg') || !meta.has('error.type') || !meta.has('error.stack')) {
    dd.error = statusToError(statusCode, statusMessage, events, meta);
  }
  if (!meta.has('env')) {
    const env = either(sattr, res, true, 'deployment.environment.name', 'deployment.environment');
    if (env !== '') meta.set('env', env);
  }
  for (const [k, v] of res) setMetaIfEmpty(dd, k, asString(v));
  for (const [k, v] of scopeAttrs) meta.set(k, asString(v));
  if (!meta.has('db.name')) {
    const ns = either(res, sattr, false, 'db.namespace');
    if (ns !== '') meta.set('db.name', ns);
  }
  return dd;
}

/**
 * transform.Status2Error: an ERROR span's `error.msg`, `error.type` and `error.stack` come from its
 * `exception` events (the last one wins), the message else from the status message, else from a
 * string HTTP status code ("404 Not Found").
 */
function statusToError(code: StatusCode, message: string, events: readonly OtlpEvent[], meta: Map<string, string>): number {
  if (code !== STATUS_CODE_ERROR) return 0;
  for (const e of events) {
    if ((e.name ?? '').toLowerCase() !== 'exception') continue;
    const attrs = attrMap(e.attributes);
    const msg = attrs.get('exception.message');
    if (msg !== undefined) meta.set('error.msg', asString(msg));
    const type = attrs.get('exception.type');
    if (type !== undefined) meta.set('error.type', asString(type));
    const stack = attrs.get('exception.stacktrace');
    if (stack !== undefined) meta.set('error.stack', asString(stack));
  }
  if (!meta.has('error.msg')) {
    if (message !== '') {
      meta.set('error.msg', message);
    } else {
      const httpCode = meta.get('http.response.status_code') || meta.get('http.status_code') || '';
      if (httpCode !== '') {
        const text = /^\d+$/.test(httpCode) ? STATUS_CODES[Number(httpCode)] : undefined;
        meta.set('error.msg', text !== undefined ? `${httpCode} ${text}` : httpCode);
      }
    }
  }
  return 1;
}

/** transform.MarshalEvents: `[{"time_unix_nano":…,"name":…,"attributes":{…},"dropped_attributes_count":…}]`. */
function eventsJson(events: readonly OtlpEvent[]): string {
  const out: string[] = [];
  for (const e of events) {
    const parts: string[] = [];
    const t = uint64Of(e.timeUnixNano);
    if (t !== 0n) parts.push(`"time_unix_nano":${t}`);
    if ((e.name ?? '') !== '') parts.push(`"name":${goJsonString(e.name!)}`);
    const attrs = e.attributes ?? [];
    if (attrs.length > 0) {
      const kv = attrs.map((a) => `${goJsonString(a.key ?? '')}:${rawJson(a.value) ?? '"redacted"'}`);
      parts.push(`"attributes":{${kv.join(',')}}`);
    }
    if ((e.droppedAttributesCount ?? 0) !== 0) parts.push(`"dropped_attributes_count":${e.droppedAttributesCount}`);
    out.push(`{${parts.join(',')}}`);
  }
  return `[${out.join(',')}]`;
}

/**
 * transform.MarshalLinks: `[{"trace_id":hex,"span_id":hex,"tracestate":…,"attributes":{k:AsString},
 * "dropped_attributes_count":…}]`. Unlike the Agent, strings are JSON-escaped, so the text is always JSON.
 */
function linksJson(links: readonly OtlpLink[]): string {
  const out: string[] = [];
  for (const l of links) {
    let s = `{"trace_id":"${hexOf(l.traceId)}","span_id":"${hexOf(l.spanId)}"`;
    if ((l.traceState ?? '') !== '') s += `,"tracestate":${JSON.stringify(l.traceState)}`;
    const attrs = l.attributes ?? [];
    if (attrs.length > 0) s += `,"attributes":{${attrs.map((a) => `${JSON.stringify(a.key ?? '')}:${JSON.stringify(asString(a.value))}`).join(',')}}`;
    if ((l.droppedAttributesCount ?? 0) > 0) s += `,"dropped_attributes_count":${l.droppedAttributesCount}`;
    out.push(`${s}}`);
  }
  return `[${out.join(',')}]`;
}

/** Sampling probability from tracestate `ot=th:…` (1 - T/2^56); null without a valid threshold. */
function sampleRateOf(traceState: string): number | null {
  const th = parseOtTraceState(traceState).th;
  const t = th === null ? null : thresholdFromHex(th);
  if (t === null) return null;
  return Number(MAX_THRESHOLD - t) / Number(MAX_THRESHOLD);
}

/** transform.conditionallyMapOTLPAttributeToMetric / SetMetricOTLPIfEmpty. */
function setMetricIfAbsent(dd: DdSpan, k: string, v: number): void {
  const key = ddKeyFor(k);
  if (key === '') return;
  const target = key === 'sampling.priority' ? '_sampling_priority_v1' : key;
  if (!dd.metrics.has(key) && !dd.metrics.has(target)) dd.metrics.set(target, v);
}

/** transform.conditionallyMapOTLPAttributeToMeta / SetMetaOTLPIfEmpty. */
function setMetaIfEmpty(dd: DdSpan, k: string, v: string): void {
  const key = ddKeyFor(k);
  if (key === '' || (dd.meta.get(key) ?? '') !== '') return;
  if (key === 'analytics.event') {
    const b = parseGoBool(v);
    if (b !== null && !dd.metrics.has('_dd1.sr.eausr')) dd.metrics.set('_dd1.sr.eausr', b ? 1 : 0);
    return;
  }
  dd.meta.set(key, v);
}

/** transform.GetDDKeyForOTLPAttribute: Datadog's name for the attribute, '' for those that set span fields. */
function ddKeyFor(k: string): string {
  const mapped = HTTP_MAPPINGS.get(k);
  if (mapped !== undefined) return mapped;
  if (k.startsWith('http.request.header.')) return `http.request.headers.${k.slice('http.request.header.'.length)}`;
  return APM_CONVENTION_KEYS.has(k) ? '' : k;
}

function parseGoBool(v: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return null;
}

/** The first value of each key (pcommon.Map.Get finds the first). */
function attrMap(list: readonly KeyValue[] | null | undefined): Map<string, AnyValue> {
  const m = new Map<string, AnyValue>();
  if (list) {
    for (const kv of list) {
      const k = kv.key ?? '';
      if (!m.has(k)) m.set(k, kv.value ?? {});
    }
  }
  return m;
}

/** Big-endian uint64 at `offset`; 0 when the id is too short (absent parent, malformed id). */
function u64(bytes: Uint8Array | null | undefined, offset: number): bigint {
  if (!bytes || offset < 0 || bytes.length < offset + 8) return 0n;
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset);
}

