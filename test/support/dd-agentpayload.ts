/**
 * Agentless Datadog request bodies decoded as Datadog decodes them: test/infra/dd-agentpayload, a Go
 * program reading the body with Datadog's own pbgo/trace AgentPayload (datadog-agent/pkg/proto at the
 * version its go.mod pins), built by scripts/ensure-dd-agentpayload.sh. And the scenario the agentless
 * test sends: kept traces of every shape the mapping handles.
 */
import { execFile, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import Long from 'long';
import { opentelemetry } from '../../src/otlp/gen/otlp.js';

/** The decoder's JSON: 64-bit integers and times as decimal strings; a non-finite double as "NaN", "+Inf", "-Inf". */
export interface DdPbSpan {
  service: string;
  name: string;
  resource: string;
  trace_id: string;
  span_id: string;
  parent_id: string;
  start: string;
  duration: string;
  error: number;
  meta: Record<string, string>;
  metrics: Record<string, number | string>;
  type: string;
  meta_struct_keys: string[];
  span_links?: { trace_id: string; trace_id_high: string; span_id: string; attributes: Record<string, string>; tracestate: string; flags: number }[];
  span_events?: { time_unix_nano: string; name: string; attribute_keys: string[] }[];
}

export interface DdPbChunk {
  priority: number;
  origin: string;
  dropped_trace: boolean;
  tags: Record<string, string>;
  spans: DdPbSpan[];
}

export interface DdPbTracerPayload {
  container_id: string;
  language_name: string;
  language_version: string;
  tracer_version: string;
  runtime_id: string;
  env: string;
  hostname: string;
  app_version: string;
  tags: Record<string, string>;
  chunks: DdPbChunk[];
}

export interface DdPbAgentPayload {
  host_name: string;
  env: string;
  agent_version: string;
  target_tps: number | string;
  error_tps: number | string;
  rare_sampler_enabled: boolean;
  tags: Record<string, string>;
  tracer_payloads: DdPbTracerPayload[];
  /** The v1.0 (idx) payloads, which this exporter does not send. */
  idx_tracer_payloads: number;
  /** Messages holding a field number pbgo/trace does not declare (a wrong tag), with their byte counts. */
  unknown_fields: { path: string; bytes: number }[];
  compressed_bytes: number;
  bytes: number;
  gzip: boolean;
}

const execFileAsync = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');

/** $TAILSAMPLER_DD_AGENTPAYLOAD, else what scripts/ensure-dd-agentpayload.sh builds (cached). */
export async function ddAgentPayloadBinary(): Promise<string> {
  const fromEnv = process.env.TAILSAMPLER_DD_AGENTPAYLOAD;
  if (fromEnv) return fromEnv;
  const { stdout } = await execFileAsync('bash', [join(REPO, 'scripts/ensure-dd-agentpayload.sh')], { timeout: 10 * 60_000 });
  const path = stdout.trim().split('\n').at(-1);
  if (!path) throw new Error('ensure-dd-agentpayload.sh printed no path');
  return path;
}

/** Runs the decoder on `body`: its exit status, stdout and stderr. */
export function runDecoder(bin: string, body: Uint8Array, args: readonly string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', rej);
    child.once('close', (code) => res({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.on('error', () => {}); // a decoder that exits early closes its stdin; its status says why
    child.stdin.end(body);
  });
}

/** The body as Datadog's pbgo/trace reads it; throws with the decoder's message when it does not decode. */
export async function decodeWithDatadog(bin: string, body: Uint8Array): Promise<DdPbAgentPayload> {
  const r = await runDecoder(bin, body);
  if (r.code !== 0) throw new Error(`dd-agentpayload exited with ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as DdPbAgentPayload;
}

const { ExportTraceServiceRequest } = opentelemetry.proto.collector.trace.v1;
const { SpanKind } = opentelemetry.proto.trace.v1.Span;
const { StatusCode } = opentelemetry.proto.trace.v1.Status;
type KeyValue = opentelemetry.proto.common.v1.KeyValue.$Properties;

/** A 128-bit trace id (high half non-zero, shown as `_dd.p.tid`) and a 64-bit one. */
export const TRACE_A = 'fedcba98765432100123456789abcdef';
export const TRACE_B = '000000000000000000000000000000ff';
/** Nanoseconds above 2^53: a double would round them. */
export const T0 = 1_764_620_000_123_456_789n;
export const SCENARIO_POLICIES: ReadonlyMap<string, string> = new Map([
  [TRACE_A, 'errors'],
  [TRACE_B, 'sample-10pct'],
]);

const u64 = (v: bigint): Long => Long.fromString(v.toString(), true);
const id = (hex: string): Buffer => Buffer.from(hex, 'hex');
const str = (key: string, v: string): KeyValue => ({ key, value: { stringValue: v } });
const int = (key: string, v: bigint): KeyValue => ({ key, value: { intValue: Long.fromString(v.toString()) } });

/**
 * Two resources. Trace A (128-bit id): an HTTP server root that failed with an exception event, a
 * database client child with an attribute of every kind and a span link, an HTTP client child, and
 * `extra` internal spans (to make the request big enough to cut); trace B (64-bit id): a Kafka consumer
 * span of the other service.
 */
export function keptTracesRequest(extra: number): { bytes: Uint8Array; spans: number } {
  const root = {
    traceId: id(TRACE_A),
    spanId: id('ffffffffffffffff'),
    name: 'GET /cart/:id',
    kind: SpanKind.SPAN_KIND_SERVER,
    startTimeUnixNano: u64(T0),
    endTimeUnixNano: u64(T0 + 250_000_001n),
    traceState: 'ot=th:c;rv:0123456789abcd',
    attributes: [str('http.request.method', 'GET'), str('http.route', '/cart/:id'), int('http.response.status_code', 500n), str('url.full', 'https://shop.example/cart/7')],
    status: { code: StatusCode.STATUS_CODE_ERROR, message: 'internal error' },
    events: [
      {
        timeUnixNano: u64(T0 + 1n),
        name: 'exception',
        attributes: [str('exception.type', 'CartError'), str('exception.message', 'cart 7 is locked'), str('exception.stacktrace', 'CartError: cart 7 is locked\n    at lock (cart.js:1:1)')],
      },
    ],
  };
  const db = {
    traceId: id(TRACE_A),
    spanId: id('8000000000000001'),
    parentSpanId: id('ffffffffffffffff'),
    name: 'SELECT carts',
    kind: SpanKind.SPAN_KIND_CLIENT,
    startTimeUnixNano: u64(T0 + 1_000n),
    endTimeUnixNano: u64(T0 + 1_000n + 9_007_199_254_740_993n),
    attributes: [
      str('db.system', 'postgresql'),
      str('db.statement', 'SELECT * FROM carts WHERE id = $1'),
      str('db.namespace', 'shop'),
      { key: 'flag', value: { boolValue: true } },
      int('rows', 9_007_199_254_740_993n),
      { key: 'ratio', value: { doubleValue: 0.25 } },
      { key: 'tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: Long.fromNumber(2) }] } } },
      { key: 'kv', value: { kvlistValue: { values: [{ key: 'z', value: { boolValue: false } }, { key: 'a', value: { stringValue: 'x' } }] } } },
      { key: 'raw', value: { bytesValue: Buffer.from([0xde, 0xad, 0xbe, 0xef]) } },
      str('note', 'ünïcødé ✓ 🚀'),
    ],
    links: [{ traceId: id(TRACE_B), spanId: id('00000000000000b1'), traceState: 'vendor=1', attributes: [str('link.reason', 'retry')] }],
    status: { code: StatusCode.STATUS_CODE_OK },
  };
  const client = {
    traceId: id(TRACE_A),
    spanId: id('8000000000000002'),
    parentSpanId: id('ffffffffffffffff'),
    name: 'GET',
    kind: SpanKind.SPAN_KIND_CLIENT,
    startTimeUnixNano: u64(T0 + 2_000n),
    endTimeUnixNano: u64(T0 + 2_000n + 3_000_000n),
    attributes: [str('http.request.method', 'GET'), str('url.full', 'http://pricing.internal/v1/price?id=7'), str('server.address', 'pricing.internal'), int('http.response.status_code', 200n)],
  };
  const internals = Array.from({ length: extra }, (_, i) => ({
    traceId: id(TRACE_A),
    spanId: Buffer.from([0x10, 0, 0, 0, 0, 0, (i >> 8) & 0xff, i & 0xff]),
    parentSpanId: id('ffffffffffffffff'),
    name: `step ${i}`,
    kind: SpanKind.SPAN_KIND_INTERNAL,
    startTimeUnixNano: u64(T0 + BigInt(i)),
    endTimeUnixNano: u64(T0 + BigInt(i) + 10n),
    attributes: [str('payload', 'x'.repeat(200))],
  }));
  const consumer = {
    traceId: id(TRACE_B),
    spanId: id('00000000000000b1'),
    name: 'orders process',
    kind: SpanKind.SPAN_KIND_CONSUMER,
    startTimeUnixNano: u64(T0),
    endTimeUnixNano: u64(T0 + 5n),
    attributes: [str('messaging.system', 'kafka'), str('messaging.operation', 'process'), str('messaging.destination.name', 'orders')],
  };
  const bytes = ExportTraceServiceRequest.encode({
    resourceSpans: [
      {
        resource: {
          attributes: [
            str('service.name', 'shop-api'),
            str('deployment.environment.name', 'Staging'),
            str('service.version', '4.2.0'),
            str('host.name', 'web-1'),
            str('telemetry.sdk.language', 'nodejs'),
          ],
        },
        scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0' }, spans: [root, db, client, ...internals] }],
      },
      { resource: { attributes: [str('service.name', 'billing-worker')] }, scopeSpans: [{ scope: { name: 'kafkajs' }, spans: [consumer] }] },
    ],
  }).finish();
  return { bytes, spans: 4 + extra };
}
