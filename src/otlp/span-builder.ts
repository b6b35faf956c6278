/** The growing columns `requestsToColumns` decodes spans into (src/otlp/to-columns.ts). */
import type { KafkaMetadata, SpanBatch } from '../lake/span-schema.ts';

/** Rows a batch's text columns are presized for at most. */
const MAX_PRESIZED = 1 << 16;

/** A copy of `a` with room for `cap` elements (the rest zero): how a column array grows. */
export function withCapacity<T extends Int32Array | BigInt64Array>(a: T, cap: number): T {
  const b = new (a.constructor as new (length: number) => T)(cap);
  b.set(a as never);
  return b;
}

/** Growable columns; int64 columns are written through Uint32Array views (lo, hi) of their BigInt64Array. */
export class Builder {
  n = 0;
  cap: number;
  trace_id: string[];
  span_id: string[];
  parent_span_id: (string | null)[];
  status_code: Int32Array;
  duration: BigInt64Array;
  timestamp: BigInt64Array;
  service_name: (string | null)[];
  operation_name: string[];
  span_kind: Int32Array;
  start_time_unix_nano: BigInt64Array;
  end_time_unix_nano: BigInt64Array;
  span_size: Int32Array;
  attributes: Uint8Array[];
  dropped_attributes_count: Int32Array;
  resource: string[];
  resource_schema_url: (string | null)[];
  scope: string[];
  scope_schema_url: (string | null)[];
  events: Uint8Array[];
  dropped_events_count: Int32Array;
  links: Uint8Array[];
  dropped_links_count: Int32Array;
  status_message: (string | null)[];
  trace_state: (string | null)[];
  flags: BigInt64Array;
  _kafka_metadata: (KafkaMetadata | null)[];
  // uint32 views of the int64 columns
  duration32!: Uint32Array;
  timestamp32!: Uint32Array;
  start32!: Uint32Array;
  end32!: Uint32Array;
  flags32!: Uint32Array;

  constructor(cap: number) {
    this.cap = cap;
    // Presized so they are not regrown (and copied) span by span; V8 keeps arrays up to ~100K
    // elements presized and fast, longer ones grow from there.
    const slots = Math.min(cap, MAX_PRESIZED);
    this.trace_id = new Array<string>(slots);
    this.span_id = new Array<string>(slots);
    this.parent_span_id = new Array<string | null>(slots);
    this.service_name = new Array<string | null>(slots);
    this.operation_name = new Array<string>(slots);
    this.attributes = new Array<Uint8Array>(slots);
    this.resource = new Array<string>(slots);
    this.resource_schema_url = new Array<string | null>(slots);
    this.scope = new Array<string>(slots);
    this.scope_schema_url = new Array<string | null>(slots);
    this.events = new Array<Uint8Array>(slots);
    this.links = new Array<Uint8Array>(slots);
    this.status_message = new Array<string | null>(slots);
    this.trace_state = new Array<string | null>(slots);
    this._kafka_metadata = new Array<KafkaMetadata | null>(slots);
    this.status_code = new Int32Array(cap);
    this.span_kind = new Int32Array(cap);
    this.span_size = new Int32Array(cap);
    this.dropped_attributes_count = new Int32Array(cap);
    this.dropped_events_count = new Int32Array(cap);
    this.dropped_links_count = new Int32Array(cap);
    this.duration = new BigInt64Array(cap);
    this.timestamp = new BigInt64Array(cap);
    this.start_time_unix_nano = new BigInt64Array(cap);
    this.end_time_unix_nano = new BigInt64Array(cap);
    this.flags = new BigInt64Array(cap);
    this.views();
  }

  private views(): void {
    this.duration32 = new Uint32Array(this.duration.buffer);
    this.timestamp32 = new Uint32Array(this.timestamp.buffer);
    this.start32 = new Uint32Array(this.start_time_unix_nano.buffer);
    this.end32 = new Uint32Array(this.end_time_unix_nano.buffer);
    this.flags32 = new Uint32Array(this.flags.buffer);
  }

  grow(): void {
    const cap = this.cap * 2;
    const i32 = (a: Int32Array): Int32Array => withCapacity(a, cap);
    const i64 = (a: BigInt64Array): BigInt64Array => withCapacity(a, cap);
    this.status_code = i32(this.status_code);
    this.span_kind = i32(this.span_kind);
    this.span_size = i32(this.span_size);
    this.dropped_attributes_count = i32(this.dropped_attributes_count);
    this.dropped_events_count = i32(this.dropped_events_count);
    this.dropped_links_count = i32(this.dropped_links_count);
    this.duration = i64(this.duration);
    this.timestamp = i64(this.timestamp);
    this.start_time_unix_nano = i64(this.start_time_unix_nano);
    this.end_time_unix_nano = i64(this.end_time_unix_nano);
    this.flags = i64(this.flags);
    this.cap = cap;
    this.views();
  }

  /** Drops the rows from `n` on (a payload that failed half way). */
  truncate(n: number): void {
    this.n = n;
    for (const key of Object.keys(this) as (keyof this)[]) {
      const v = this[key];
      if (Array.isArray(v) && v.length > n) v.length = n;
    }
  }

  finish(): SpanBatch {
    const n = this.n;
    this.truncate(n);
    return {
      length: n,
      trace_id: this.trace_id,
      span_id: this.span_id,
      parent_span_id: this.parent_span_id,
      status_code: this.status_code.subarray(0, n),
      duration: this.duration.subarray(0, n),
      timestamp: this.timestamp.subarray(0, n),
      service_name: this.service_name,
      operation_name: this.operation_name,
      span_kind: this.span_kind.subarray(0, n),
      start_time_unix_nano: this.start_time_unix_nano.subarray(0, n),
      end_time_unix_nano: this.end_time_unix_nano.subarray(0, n),
      span_size: this.span_size.subarray(0, n),
      attributes: this.attributes,
      dropped_attributes_count: this.dropped_attributes_count.subarray(0, n),
      resource: this.resource,
      resource_schema_url: this.resource_schema_url,
      scope: this.scope,
      scope_schema_url: this.scope_schema_url,
      events: this.events,
      dropped_events_count: this.dropped_events_count.subarray(0, n),
      links: this.links,
      dropped_links_count: this.dropped_links_count.subarray(0, n),
      status_message: this.status_message,
      trace_state: this.trace_state,
      flags: this.flags.subarray(0, n),
      _kafka_metadata: this._kafka_metadata,
      // Set by decodeSpans when it knows the times. Present from the start, so setting it
      // does not give the batch a new hidden class: one reached by adding a property dies with the
      // last object that has it, and the optimized code that saw it is thrown away with it.
      receivedMs: undefined,
    };
  }
}
