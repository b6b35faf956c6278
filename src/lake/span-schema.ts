/**
 * The span table's columns: one definition used by the OTLP codec, the Parquet writer, the Iceberg
 * schema and the readers. Hot sampling columns come first; the heavy nested ones last, stored as
 * canonical OTLP/JSON text so any lakehouse engine can read them and re-export is lossless.
 */
export type IcebergPrimitive = 'string' | 'int' | 'long' | 'timestamptz';

/** A field of a struct column. */
export interface FieldDef {
  readonly id: number;
  readonly name: string;
  readonly type: IcebergPrimitive;
  readonly required: boolean;
  readonly doc: string;
}

/** Iceberg column types the table uses: primitives, and the one struct (`_kafka_metadata`). */
export type ColumnType = IcebergPrimitive | 'kafka_metadata';

export interface ColumnDef {
  readonly id: number;
  readonly name: ColumnName;
  readonly type: ColumnType;
  readonly required: boolean;
  readonly doc: string;
}

/**
 * Where a span's Kafka record was, in AutoMQ table topics' `_kafka_metadata` shape (same field names
 * and types), so tables written by tailsampler and by AutoMQ are read alike.
 */
export interface KafkaMetadata {
  partition: number;
  offset: bigint;
  /** Record timestamp, milliseconds since epoch. */
  timestamp: bigint;
}

export const KAFKA_METADATA_FIELDS = [
  { id: 27, name: 'partition', type: 'int', required: true, doc: 'Kafka partition of the record' },
  { id: 28, name: 'offset', type: 'long', required: true, doc: 'offset of the record in its partition' },
  { id: 29, name: 'timestamp', type: 'long', required: true, doc: 'record timestamp, milliseconds since epoch' },
] as const satisfies readonly FieldDef[];

export const SPAN_COLUMNS = [
  { id: 1, name: 'trace_id', type: 'string', required: true, doc: 'trace id, 32 lowercase hex characters' },
  { id: 2, name: 'span_id', type: 'string', required: true, doc: 'span id, 16 lowercase hex characters' },
  { id: 3, name: 'parent_span_id', type: 'string', required: false, doc: 'parent span id (hex); null for a root span' },
  { id: 4, name: 'status_code', type: 'int', required: true, doc: 'Status.code: 0 unset, 1 ok, 2 error' },
  { id: 5, name: 'duration', type: 'long', required: true, doc: 'end minus start, nanoseconds' },
  { id: 6, name: 'timestamp', type: 'timestamptz', required: true, doc: 'span start, microseconds since epoch (UTC); partition source' },
  { id: 7, name: 'service_name', type: 'string', required: false, doc: 'resource attribute service.name' },
  { id: 8, name: 'operation_name', type: 'string', required: true, doc: 'span name' },
  { id: 9, name: 'span_kind', type: 'int', required: true, doc: 'Span.kind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer' },
  { id: 10, name: 'start_time_unix_nano', type: 'long', required: true, doc: 'span start, nanoseconds since epoch (full precision)' },
  { id: 11, name: 'end_time_unix_nano', type: 'long', required: true, doc: 'span end, nanoseconds since epoch (full precision)' },
  { id: 12, name: 'span_size', type: 'int', required: true, doc: 'size of the span in OTLP protobuf encoding, bytes' },
  { id: 13, name: 'attributes', type: 'string', required: true, doc: 'span attributes, OTLP/JSON KeyValue array' },
  { id: 14, name: 'dropped_attributes_count', type: 'int', required: true, doc: 'Span.dropped_attributes_count' },
  { id: 15, name: 'resource', type: 'string', required: true, doc: 'Resource, OTLP/JSON object' },
  { id: 16, name: 'resource_schema_url', type: 'string', required: false, doc: 'ResourceSpans.schema_url' },
  { id: 17, name: 'scope', type: 'string', required: true, doc: 'InstrumentationScope, OTLP/JSON object' },
  { id: 18, name: 'scope_schema_url', type: 'string', required: false, doc: 'ScopeSpans.schema_url' },
  { id: 19, name: 'events', type: 'string', required: true, doc: 'span events, OTLP/JSON Span.Event array' },
  { id: 20, name: 'dropped_events_count', type: 'int', required: true, doc: 'Span.dropped_events_count' },
  { id: 21, name: 'links', type: 'string', required: true, doc: 'span links, OTLP/JSON Span.Link array' },
  { id: 22, name: 'dropped_links_count', type: 'int', required: true, doc: 'Span.dropped_links_count' },
  { id: 23, name: 'status_message', type: 'string', required: false, doc: 'Status.message' },
  { id: 24, name: 'trace_state', type: 'string', required: false, doc: 'W3C tracestate of the span' },
  { id: 25, name: 'flags', type: 'long', required: true, doc: 'Span.flags (W3C trace flags and OTLP context bits)' },
  { id: 26, name: '_kafka_metadata', type: 'kafka_metadata', required: false, doc: 'the Kafka record the span came in (null when not spooled in Kafka)' },
] as const satisfies readonly { id: number; name: string; type: ColumnType; required: boolean; doc: string }[];

export type ColumnName = (typeof SPAN_COLUMNS)[number]['name'];

/** The highest field id the schema uses (Iceberg's `last-column-id`). */
export const LAST_COLUMN_ID = 29;

/** Partition spec: day(timestamp), bucket[16](trace_id). Field ids start at 1000 as the spec advises. */
export const PARTITION_FIELDS = [
  { fieldId: 1000, sourceId: 6, name: 'timestamp_day', transform: 'day' },
  { fieldId: 1001, sourceId: 1, name: 'trace_id_bucket', transform: 'bucket[16]' },
] as const;
export const TRACE_ID_BUCKETS = 16;

/** Columns the evaluator folds into per-trace summaries. */
export const HOT_COLUMNS = [
  'trace_id',
  'parent_span_id',
  'status_code',
  'start_time_unix_nano',
  'end_time_unix_nano',
  'span_size',
] as const satisfies readonly ColumnName[];

type ColumnValue<T extends ColumnType, R extends boolean> = T extends 'string'
  ? R extends true
    ? string
    : string | null
  : T extends 'int'
    ? number
    : T extends 'kafka_metadata'
      ? KafkaMetadata | null
      : bigint;

/**
 * A batch of spans as columns. Writers fill typed arrays (Int32Array, BigInt64Array) and string
 * arrays; readers may hand back any array-like of the same element type. Optional string columns
 * hold null where OTLP had an empty value. `_kafka_metadata` holds one object per Kafka record,
 * shared by that record's rows.
 */
export type SpanColumns = { length: number } & {
  [C in (typeof SPAN_COLUMNS)[number] as C['name']]: ArrayLike<ColumnValue<C['type'], C['required']>>;
} & {
  /**
   * When each row reached this service, ms since epoch, where this process knows it (not a table
   * column): set on the batches the materializer builds and on hot columns served from memory.
   */
  receivedMs?: ArrayLike<number>;
};

/**
 * The per-span OTLP/JSON columns that the codec hands over as UTF-8 bytes (already checked to be
 * valid UTF-8) rather than strings: they only go on to a Parquet file, where they are written as
 * those bytes, so a string would cost a decode now and an encode there. In the table they are UTF8
 * strings like the others. `resource` and `scope` stay strings: one shared value per ResourceSpans /
 * ScopeSpans, dictionary-encoded by the writer.
 */
export const BYTES_JSON_COLUMNS = ['attributes', 'events', 'links'] as const satisfies readonly ColumnName[];
type BytesJsonColumn = (typeof BYTES_JSON_COLUMNS)[number];

/** A batch as `requestsToColumns` builds it: SpanColumns but with {@link BYTES_JSON_COLUMNS} as UTF-8 bytes. */
export type SpanBatch = Omit<SpanColumns, BytesJsonColumn> & { [C in BytesJsonColumn]: ArrayLike<Uint8Array> };

/**
 * What the write side (the Parquet writer, the table's append, committed-batch observers) takes:
 * a {@link SpanBatch} from the codec or a {@link SpanColumns} (strings) from anywhere else.
 */
export type WriteSpanColumns = Omit<SpanColumns, BytesJsonColumn> & { [C in BytesJsonColumn]: ArrayLike<string | Uint8Array> };

/** Some of the columns of a {@link WriteSpanColumns}. */
export type PartialWriteSpanColumns = { length: number } & Partial<Omit<WriteSpanColumns, 'length'>>;

/** Some of the columns, as a reader returns them for a projection. */
export type PartialSpanColumns = { length: number } & Partial<Omit<SpanColumns, 'length'>>;

export const COLUMN_BY_NAME: ReadonlyMap<ColumnName, ColumnDef> = new Map(
  SPAN_COLUMNS.map((c) => [c.name, c as ColumnDef]),
);
