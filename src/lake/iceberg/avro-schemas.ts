/**
 * Avro schemas of Iceberg v2 manifests and manifest lists, annotated with the field ids the Iceberg
 * spec assigns ("Manifests" and "Manifest Lists"). Readers such as pyiceberg and Java resolve
 * manifest fields by these ids, not by name, so they must be exact.
 */

type AvroField = { name: string; type: unknown; 'field-id': number; doc?: string; default?: null };

function optional(name: string, type: unknown, fieldId: number, doc?: string): AvroField {
  return { name, type: ['null', type], 'field-id': fieldId, default: null, ...(doc ? { doc } : {}) };
}

function required(name: string, type: unknown, fieldId: number, doc?: string): AvroField {
  return { name, type, 'field-id': fieldId, ...(doc ? { doc } : {}) };
}

/** Iceberg maps with non-string keys are Avro arrays of key/value records marked `logicalType: map`. */
function intKeyMap(keyId: number, valueId: number, valueType: 'long' | 'bytes'): object {
  return {
    type: 'array',
    logicalType: 'map',
    items: {
      type: 'record',
      name: `k${keyId}_v${valueId}`,
      fields: [
        { name: 'key', type: 'int', 'field-id': keyId },
        { name: 'value', type: valueType, 'field-id': valueId },
      ],
    },
  };
}

export interface PartitionFieldAvro {
  name: string;
  fieldId: number;
  /** Day transform results are Iceberg `date` values; bucket results are `int`. */
  resultType: 'date' | 'int';
}

export function manifestEntrySchema(partitionFields: readonly PartitionFieldAvro[]): object {
  const partition = {
    type: 'record',
    name: 'r102',
    fields: partitionFields.map((f) =>
      optional(f.name, f.resultType === 'date' ? { type: 'int', logicalType: 'date' } : 'int', f.fieldId),
    ),
  };
  const dataFile = {
    type: 'record',
    name: 'r2',
    fields: [
      required('content', 'int', 134, 'Contents of the file: 0=data, 1=position deletes, 2=equality deletes'),
      required('file_path', 'string', 100, 'Location URI with FS scheme'),
      required('file_format', 'string', 101, 'File format name: avro, orc, or parquet'),
      required('partition', partition, 102, 'Partition data tuple, schema based on the partition spec'),
      required('record_count', 'long', 103, 'Number of records in the file'),
      required('file_size_in_bytes', 'long', 104, 'Total file size in bytes'),
      optional('column_sizes', intKeyMap(117, 118, 'long'), 108, 'Map of column id to total size on disk'),
      optional('value_counts', intKeyMap(119, 120, 'long'), 109, 'Map of column id to total count, including null and NaN'),
      optional('null_value_counts', intKeyMap(121, 122, 'long'), 110, 'Map of column id to null value count'),
      optional('lower_bounds', intKeyMap(126, 127, 'bytes'), 125, 'Map of column id to lower bound'),
      optional('upper_bounds', intKeyMap(129, 130, 'bytes'), 128, 'Map of column id to upper bound'),
      optional('key_metadata', 'bytes', 131, 'Encryption key metadata blob'),
      optional('split_offsets', { type: 'array', items: 'long', 'element-id': 133 }, 132, 'Splittable offsets'),
      optional('sort_order_id', 'int', 140, 'Sort order ID'),
    ],
  };
  return {
    type: 'record',
    name: 'manifest_entry',
    fields: [
      required('status', 'int', 0),
      optional('snapshot_id', 'long', 1),
      optional('sequence_number', 'long', 3),
      optional('file_sequence_number', 'long', 4),
      required('data_file', dataFile, 2),
    ],
  };
}

export const MANIFEST_LIST_SCHEMA: object = {
  type: 'record',
  name: 'manifest_file',
  fields: [
    required('manifest_path', 'string', 500, 'Location URI with FS scheme'),
    required('manifest_length', 'long', 501, 'Total file size in bytes'),
    required('partition_spec_id', 'int', 502, 'Spec ID used to write'),
    required('content', 'int', 517, 'Contents of the manifest: 0=data, 1=deletes'),
    required('sequence_number', 'long', 515, 'Sequence number when the manifest was added'),
    required('min_sequence_number', 'long', 516, 'Lowest sequence number in the manifest'),
    required('added_snapshot_id', 'long', 503, 'Snapshot ID that added the manifest'),
    required('added_files_count', 'int', 504, 'Added entry count'),
    required('existing_files_count', 'int', 505, 'Existing entry count'),
    required('deleted_files_count', 'int', 506, 'Deleted entry count'),
    required('added_rows_count', 'long', 512, 'Added rows count'),
    required('existing_rows_count', 'long', 513, 'Existing rows count'),
    required('deleted_rows_count', 'long', 514, 'Deleted rows count'),
    optional(
      'partitions',
      {
        type: 'array',
        'element-id': 508,
        items: {
          type: 'record',
          name: 'r508',
          fields: [
            required('contains_null', 'boolean', 509, 'True if any file has a null partition value'),
            optional('contains_nan', 'boolean', 518, 'True if any file has a nan partition value'),
            optional('lower_bound', 'bytes', 510, 'Partition lower bound for all files'),
            optional('upper_bound', 'bytes', 511, 'Partition upper bound for all files'),
          ],
        },
      },
      507,
      'Summary for each partition',
    ),
    optional('key_metadata', 'bytes', 519, 'Encryption key metadata blob'),
  ],
};
