import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXTERNAL_REQUIRED, fillAbsent, resolveExternalLayout } from '../../../../src/lake/iceberg/external-layout.ts';
import { ExternalTableLayoutError } from '../../../../src/lake/iceberg/errors.ts';
import type { IcebergSchema, PartitionSpec, SchemaField } from '../../../../src/lake/iceberg/metadata.ts';
import type { ColumnName, PartialSpanColumns } from '../../../../src/lake/span-schema.ts';

const WHERE = 's3://w/ns/t/metadata/00001.metadata.json';

/** An AutoMQ-like flatten table: other ids, other order, `name` for the span name, no events/links/span_size. */
function flatten(overrides: Partial<Record<string, string>> = {}, drop: readonly string[] = []): IcebergSchema {
  const fields: SchemaField[] = [
    { id: 1, name: 'timestamp', required: true, type: 'timestamptz' },
    { id: 2, name: 'name', required: true, type: 'string' },
    { id: 3, name: 'span_id', required: true, type: 'string' },
    { id: 4, name: 'trace_id', required: true, type: 'string' },
    { id: 5, name: 'parent_span_id', required: false, type: 'string' },
    { id: 6, name: 'status_code', required: true, type: 'long' },
    { id: 7, name: 'start_time_unix_nano', required: true, type: 'long' },
    { id: 8, name: 'end_time_unix_nano', required: true, type: 'long' },
    { id: 9, name: 'duration', required: true, type: 'long' },
    { id: 10, name: 'service_name', required: false, type: 'string' },
    { id: 11, name: 'span_kind', required: true, type: 'int' },
    { id: 12, name: 'attributes', required: true, type: 'string' },
    { id: 13, name: 'resource', required: true, type: 'string' },
    {
      id: 17,
      name: '_kafka_metadata',
      required: false,
      type: {
        type: 'struct',
        fields: [
          { id: 18, name: 'partition', required: true, type: 'int' },
          { id: 19, name: 'offset', required: true, type: 'long' },
          { id: 20, name: 'timestamp', required: true, type: 'long' },
        ],
      },
    },
  ];
  return {
    type: 'struct',
    'schema-id': 0,
    fields: fields.filter((f) => !drop.includes(f.name)).map((f) => (overrides[f.name] === undefined ? f : { ...f, type: overrides[f.name]! })),
  };
}

const bucketOnTraceId = (name: string, transform = 'bucket[16]', sourceId = 4): PartitionSpec => ({
  'spec-id': 0,
  fields: [
    { 'source-id': 1, 'field-id': 1000, name: 'ts_day', transform: 'day' },
    { 'source-id': sourceId, 'field-id': 1001, name, transform },
  ],
});

function layoutError(fn: () => unknown): ExternalTableLayoutError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ExternalTableLayoutError, String(e));
    assert.equal(e.code, 'TS_ICEBERG_EXTERNAL_LAYOUT');
    return e;
  }
  assert.fail('expected an ExternalTableLayoutError');
}

test('span columns resolve to the table field id and name, through the mapping', () => {
  const layout = resolveExternalLayout(flatten(), bucketOnTraceId('trace_id_bucket'), { operation_name: 'name' }, WHERE);
  assert.deepEqual(layout.columns.get('operation_name'), { id: 2, name: 'name' });
  assert.deepEqual(layout.columns.get('trace_id'), { id: 4, name: 'trace_id' });
  assert.deepEqual(layout.columns.get('span_id'), { id: 3, name: 'span_id' });
  assert.deepEqual(layout.columns.get('status_code'), { id: 6, name: 'status_code' });
  assert.deepEqual(layout.columns.get('timestamp'), { id: 1, name: 'timestamp' });
  assert.deepEqual(layout.columns.get('span_kind'), { id: 11, name: 'span_kind' });
  assert.deepEqual(
    [...layout.absent].sort(),
    [
      'dropped_attributes_count',
      'dropped_events_count',
      'dropped_links_count',
      'events',
      'flags',
      'links',
      'resource_schema_url',
      'scope',
      'scope_schema_url',
      'span_size',
      'status_message',
      'trace_state',
    ],
  );
  for (const name of layout.absent) assert.equal(layout.columns.has(name), false, name);
});

test('a _kafka_metadata struct with other field ids is accepted', () => {
  const layout = resolveExternalLayout(flatten(), undefined, { operation_name: 'name' }, WHERE);
  assert.deepEqual(layout.columns.get('_kafka_metadata'), { id: 17, name: '_kafka_metadata' });
  assert.equal(layout.absent.has('_kafka_metadata'), false);
});

test('a missing required column is refused, naming the column and the mapping', () => {
  const unmapped = layoutError(() => resolveExternalLayout(flatten(), undefined, {}, WHERE));
  assert.match(unmapped.message, /no column operation_name\b/);
  assert.ok(unmapped.message.includes(WHERE));
  assert.match(unmapped.message, /storage\.external\.columns/);

  const mapped = layoutError(() => resolveExternalLayout(flatten(), undefined, { operation_name: 'span_name' }, WHERE));
  assert.match(mapped.message, /no column span_name \(mapped from operation_name\)/);

  for (const column of EXTERNAL_REQUIRED.filter((c) => c !== 'operation_name')) {
    const e = layoutError(() => resolveExternalLayout(flatten({}, [column]), undefined, { operation_name: 'name' }, WHERE));
    assert.match(e.message, new RegExp(`no column ${column}\\b`));
  }
});

test('a column of a type it cannot be read as is refused, naming column and type', () => {
  const e = layoutError(() => resolveExternalLayout(flatten({ status_code: 'string' }), undefined, { operation_name: 'name' }, WHERE));
  assert.match(e.message, /column status_code is string, cannot be read as status_code \(int\)/);
  const struct = layoutError(() => resolveExternalLayout(flatten({ _kafka_metadata: 'string' }), undefined, { operation_name: 'name' }, WHERE));
  assert.match(struct.message, /column _kafka_metadata is string/);
});

test('a string trace id partitioned by bucket[16] prunes by its bounds and bucket field, whatever its name', () => {
  const layout = resolveExternalLayout(flatten(), bucketOnTraceId('tid_bkt'), { operation_name: 'name' }, WHERE);
  assert.deepEqual(layout.traceIds, { fieldId: 4, bucketField: 'tid_bkt' });
});

test('without a bucket[16] partition on the trace id there is no bucket field', () => {
  const m = { operation_name: 'name' } as const;
  assert.deepEqual(resolveExternalLayout(flatten(), undefined, m, WHERE).traceIds, { fieldId: 4, bucketField: null });
  assert.deepEqual(resolveExternalLayout(flatten(), bucketOnTraceId('b', 'bucket[8]'), m, WHERE).traceIds, { fieldId: 4, bucketField: null });
  assert.deepEqual(resolveExternalLayout(flatten(), bucketOnTraceId('b', 'bucket[16]', 3), m, WHERE).traceIds, { fieldId: 4, bucketField: null });
});

test('a binary trace id neither prunes by bounds nor by bucket', () => {
  const layout = resolveExternalLayout(flatten({ trace_id: 'binary' }), bucketOnTraceId('trace_id_bucket'), { operation_name: 'name' }, WHERE);
  assert.deepEqual(layout.columns.get('trace_id'), { id: 4, name: 'trace_id' });
  assert.deepEqual(layout.traceIds, { fieldId: null, bucketField: null });
});

test('fillAbsent gives requested absent OTLP/JSON columns their empty texts and leaves the rest alone', () => {
  const serviceNames = [null, null, null];
  const scope = ['{"name":"a"}', '{}', '{"name":"b"}'];
  const cols: PartialSpanColumns = { length: 3, trace_id: ['a', 'b', 'c'], service_name: serviceNames, scope };
  const requested: ColumnName[] = ['trace_id', 'attributes', 'events', 'links', 'resource', 'scope', 'service_name'];
  const absent = new Set<ColumnName>(['attributes', 'events', 'links', 'resource', 'service_name', 'span_size']);
  const out = fillAbsent(cols, requested, absent);
  assert.deepEqual(out.attributes, ['[]', '[]', '[]']);
  assert.deepEqual(out.events, ['[]', '[]', '[]']);
  assert.deepEqual(out.links, ['[]', '[]', '[]']);
  assert.deepEqual(out.resource, ['{}', '{}', '{}']);
  assert.equal(out.scope, scope, 'a present column is untouched');
  assert.equal(out.service_name, serviceNames, 'absent strings without an OTLP/JSON default stay null');
  assert.equal(out.span_size, undefined, 'columns not requested are not added');
  assert.deepEqual(fillAbsent({ length: 0 }, ['scope'], new Set<ColumnName>(['scope'])).scope, []);
});
