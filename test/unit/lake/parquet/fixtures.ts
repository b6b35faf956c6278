/** Synthetic span batches for the Parquet tests and the throughput script. */
import type { KafkaMetadata, SpanColumns } from '../../../../src/lake/span-schema.ts';

function hex(n: number, width: number, salt: number): string {
  // Deterministic, well-spread hex: a cheap LCG per id, not random, so runs are reproducible.
  let out = '';
  let x = (n * 2654435761 + salt * 40503 + 1) >>> 0;
  while (out.length < width) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out += x.toString(16).padStart(8, '0');
  }
  return out.slice(0, width);
}

export interface SyntheticOptions {
  spans: number;
  spansPerTrace: number;
  /** Microseconds of the first span; spans advance 1 ms each. */
  startMicros?: bigint;
}

export function syntheticBatch(opts: SyntheticOptions): SpanColumns {
  const n = opts.spans;
  const start = opts.startMicros ?? 1_760_000_000_000_000n;
  const trace_id = new Array<string>(n);
  const span_id = new Array<string>(n);
  const parent_span_id = new Array<string | null>(n);
  const service_name = new Array<string | null>(n);
  const operation_name = new Array<string>(n);
  const attributes = new Array<string>(n);
  const resource = new Array<string>(n);
  const scope = new Array<string>(n);
  const events = new Array<string>(n);
  const links = new Array<string>(n);
  const resource_schema_url = new Array<string | null>(n);
  const scope_schema_url = new Array<string | null>(n);
  const status_message = new Array<string | null>(n);
  const trace_state = new Array<string | null>(n);
  const status_code = new Int32Array(n);
  const span_kind = new Int32Array(n);
  const span_size = new Int32Array(n);
  const dropped_attributes_count = new Int32Array(n);
  const dropped_events_count = new Int32Array(n);
  const dropped_links_count = new Int32Array(n);
  const duration = new BigInt64Array(n);
  const timestamp = new BigInt64Array(n);
  const start_time_unix_nano = new BigInt64Array(n);
  const end_time_unix_nano = new BigInt64Array(n);
  const flags = new BigInt64Array(n);
  const _kafka_metadata = new Array<(KafkaMetadata | null)>(n);
  let record: KafkaMetadata | null = null;
  const services = ['checkout', 'cart', 'payment', 'frontend', 'shipping', 'ad', 'email', 'recommendation'];
  for (let i = 0; i < n; i++) {
    const t = Math.floor(i / opts.spansPerTrace);
    const k = i % opts.spansPerTrace;
    trace_id[i] = hex(t, 32, 7);
    span_id[i] = hex(i, 16, 11);
    parent_span_id[i] = k === 0 ? null : hex(i - k, 16, 11);
    const svc = services[(t + k) % services.length]!;
    service_name[i] = i % 97 === 0 ? null : svc;
    operation_name[i] = `${k % 2 ? 'GET' : 'POST'} /api/${svc}/${k % 5}`;
    status_code[i] = i % 13 === 0 ? 2 : i % 3 === 0 ? 1 : 0;
    span_kind[i] = (k % 5) + 1;
    const micros = start + BigInt(i) * 1000n;
    timestamp[i] = micros;
    start_time_unix_nano[i] = micros * 1000n + BigInt(i % 1000);
    const dur = BigInt(1000 + ((i * 7919) % 5_000_000));
    duration[i] = dur;
    end_time_unix_nano[i] = start_time_unix_nano[i]! + dur;
    span_size[i] = 200 + (i % 400);
    attributes[i] = JSON.stringify([
      { key: 'http.method', value: { stringValue: k % 2 ? 'GET' : 'POST' } },
      { key: 'http.route', value: { stringValue: `/api/${svc}/${k % 5}` } },
      { key: 'http.status_code', value: { intValue: String(status_code[i] === 2 ? 500 : 200) } },
      { key: 'user.id', value: { stringValue: `user-${(i * 31) % 10007}` } },
      { key: 'net.peer.ip', value: { stringValue: `10.0.${i % 256}.${(i >> 8) % 256}` } },
    ]);
    resource[i] = JSON.stringify({
      attributes: [
        { key: 'service.name', value: { stringValue: svc } },
        { key: 'service.version', value: { stringValue: '1.4.2' } },
        { key: 'host.name', value: { stringValue: `pod-${svc}-${t % 4}` } },
        { key: 'k8s.namespace.name', value: { stringValue: 'shop' } },
      ],
    });
    scope[i] = JSON.stringify({ name: '@opentelemetry/instrumentation-http', version: '0.57.0' });
    events[i] = k === 2 ? JSON.stringify([{ timeUnixNano: String(start_time_unix_nano[i]! + 10n), name: 'exception', attributes: [{ key: 'exception.message', value: { stringValue: 'boom' } }] }]) : '[]';
    links[i] = '[]';
    resource_schema_url[i] = i % 2 ? 'https://opentelemetry.io/schemas/1.24.0' : null;
    scope_schema_url[i] = null;
    status_message[i] = status_code[i] === 2 ? 'internal error' : null;
    trace_state[i] = i % 5 === 0 ? 'rojo=00f067aa0ba902b7' : null;
    flags[i] = 0x301n;
    // Rows of one Kafka record share its metadata object; every seventh row came from no record.
    if (i % 4 === 0) record = { partition: i % 3, offset: BigInt(1000 + i), timestamp: 1_760_000_000_000n + BigInt(i) };
    _kafka_metadata[i] = i % 7 === 3 ? null : record;
  }
  return {
    length: n,
    trace_id, span_id, parent_span_id, status_code, duration, timestamp, service_name, operation_name,
    span_kind, start_time_unix_nano, end_time_unix_nano, span_size, attributes, dropped_attributes_count,
    resource, resource_schema_url, scope, scope_schema_url, events, dropped_events_count, links,
    dropped_links_count, status_message, trace_state, flags, _kafka_metadata,
  };
}
