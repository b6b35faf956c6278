import type { SpanColumns } from '../../../../src/lake/span-schema.ts';

export interface FixtureSpan {
  traceId: string;
  spanId: string;
  startMicros: bigint;
}

/**
 * A deterministic batch: `traces` traces of `spansPerTrace` spans, trace t starting `dayOf(t)` days
 * after `baseDay` (so a batch can cover several days), distinct ids across calls via `seed`.
 */
export function spanBatch(options: { traces: number; spansPerTrace: number; seed: number; days?: number; baseDay?: number }): SpanColumns {
  const days = options.days ?? 1;
  const baseDay = options.baseDay ?? 20_000; // 2024-10-04
  const n = options.traces * options.spansPerTrace;
  const trace_id: string[] = [];
  const span_id: string[] = [];
  const parent_span_id: (string | null)[] = [];
  const status_code = new Int32Array(n);
  const duration = new BigInt64Array(n);
  const timestamp = new BigInt64Array(n);
  const service_name: (string | null)[] = [];
  const operation_name: string[] = [];
  const span_kind = new Int32Array(n);
  const start = new BigInt64Array(n);
  const end = new BigInt64Array(n);
  const span_size = new Int32Array(n);
  const strings = (v: string) => Array.from({ length: n }, () => v);
  const ints = () => new Int32Array(n);
  let i = 0;
  for (let t = 0; t < options.traces; t++) {
    const traceId = (options.seed * 1_000_003 + t).toString(16).padStart(8, '0').repeat(4);
    const day = baseDay + (t % days);
    const traceStartMicros = BigInt(day) * 86_400_000_000n + BigInt(t) * 1_000_000n;
    for (let s = 0; s < options.spansPerTrace; s++, i++) {
      trace_id.push(traceId);
      span_id.push(`${t.toString(16).padStart(8, '0')}${s.toString(16).padStart(8, '0')}`);
      parent_span_id.push(s === 0 ? null : `${t.toString(16).padStart(8, '0')}${'0'.repeat(8)}`);
      status_code[i] = s === 1 && t % 5 === 0 ? 2 : 0;
      const startMicros = traceStartMicros + BigInt(s) * 1000n;
      timestamp[i] = startMicros;
      start[i] = startMicros * 1000n;
      duration[i] = 500_000n + BigInt(s);
      end[i] = start[i]! + duration[i]!;
      service_name.push(s % 2 === 0 ? 'frontend' : null);
      operation_name.push(`op-${s}`);
      span_kind[i] = s === 0 ? 2 : 1;
      span_size[i] = 100 + s;
    }
  }
  return {
    length: n,
    trace_id,
    span_id,
    parent_span_id,
    status_code,
    duration,
    timestamp,
    service_name,
    operation_name,
    span_kind,
    start_time_unix_nano: start,
    end_time_unix_nano: end,
    span_size,
    attributes: strings('[]'),
    dropped_attributes_count: ints(),
    resource: strings('{"attributes":[]}'),
    resource_schema_url: Array.from({ length: n }, () => null),
    scope: strings('{"name":"test"}'),
    scope_schema_url: Array.from({ length: n }, () => null),
    events: strings('[]'),
    dropped_events_count: ints(),
    links: strings('[]'),
    dropped_links_count: ints(),
    status_message: Array.from({ length: n }, () => null),
    trace_state: Array.from({ length: n }, () => null),
    flags: new BigInt64Array(n),
    _kafka_metadata: Array.from({ length: n }, () => null),
  };
}
