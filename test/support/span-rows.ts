import type { SpanColumns } from '../../src/lake/span-schema.ts';

/** A span as the Python readers print it (test/integration/lake/span_rows.py): longs as strings. */
export interface SpanRow {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  status_code: number;
  duration: string;
  start_time_unix_nano: string;
  timestamp_micros: string;
  service_name: string | null;
  span_size: number;
}

/** The rows the batches hold, ordered by trace id then span id as the readers sort them. */
export function spanRowsOf(batches: SpanColumns[]): SpanRow[] {
  const out: SpanRow[] = [];
  for (const b of batches) {
    for (let i = 0; i < b.length; i++) {
      out.push({
        trace_id: b.trace_id[i]!,
        span_id: b.span_id[i]!,
        parent_span_id: b.parent_span_id[i]!,
        status_code: b.status_code[i]!,
        duration: String(b.duration[i]),
        start_time_unix_nano: String(b.start_time_unix_nano[i]),
        timestamp_micros: String(b.timestamp[i]),
        service_name: b.service_name[i]!,
        span_size: b.span_size[i]!,
      });
    }
  }
  return out.sort((a, b) => (a.trace_id < b.trace_id ? -1 : a.trace_id > b.trace_id ? 1 : a.span_id < b.span_id ? -1 : 1));
}
