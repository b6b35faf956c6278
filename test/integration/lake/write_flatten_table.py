"""Writes spans as an AutoMQ table topic would, with pyiceberg (no tailsampler code involved).

usage: write_flatten_table.py CATALOG_URI WAREHOUSE NAMESPACE TABLE ROWS_JSON [ROWS_JSON ...]
Each ROWS_JSON file (a JSON array of span rows) becomes one append snapshot. The layout is AutoMQ's
`flatten`: the record's fields at top level, then `_kafka_metadata {partition, offset, timestamp}`;
partitioned `[bucket(trace_id, 16), day(timestamp)]`. It differs from tailsampler's own table where
other writers' layouts do: the span name is `name`, the columns come in another order (so field ids
differ), and events, links, span_size and the dropped counts are missing. S3 settings for an s3://
warehouse come from the environment (TAILSAMPLER_S3_*). Prints {"snapshots": n} on stdout.
"""
import json
import sys

import pyarrow as pa
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import BucketTransform, DayTransform
from pyiceberg.types import IntegerType, LongType, NestedField, StringType, StructType, TimestamptzType

from s3_env import s3_properties

uri, warehouse, namespace, name, *row_files = sys.argv[1:]
catalog = RestCatalog("rest", uri=uri, warehouse=warehouse, **s3_properties())

schema = Schema(
    NestedField(1, "timestamp", TimestamptzType(), required=True),
    NestedField(2, "name", StringType(), required=True),
    NestedField(3, "span_id", StringType(), required=True),
    NestedField(4, "trace_id", StringType(), required=True),
    NestedField(5, "parent_span_id", StringType(), required=False),
    NestedField(6, "status_code", LongType(), required=True),
    NestedField(7, "start_time_unix_nano", LongType(), required=True),
    NestedField(8, "end_time_unix_nano", LongType(), required=True),
    NestedField(9, "duration", LongType(), required=True),
    NestedField(10, "service_name", StringType(), required=False),
    NestedField(11, "span_kind", IntegerType(), required=True),
    NestedField(12, "attributes", StringType(), required=True),
    NestedField(13, "resource", StringType(), required=True),
    NestedField(14, "scope", StringType(), required=True),
    NestedField(15, "flags", LongType(), required=True),
    NestedField(16, "status_message", StringType(), required=False),
    NestedField(
        17,
        "_kafka_metadata",
        StructType(
            NestedField(18, "partition", IntegerType(), required=True),
            NestedField(19, "offset", LongType(), required=True),
            NestedField(20, "timestamp", LongType(), required=True),
        ),
        required=False,
    ),
)
spec = PartitionSpec(
    PartitionField(source_id=4, field_id=1000, transform=BucketTransform(16), name="trace_id_bucket"),
    PartitionField(source_id=1, field_id=1001, transform=DayTransform(), name="timestamp_day"),
)
catalog.create_namespace_if_not_exists(namespace)
table = catalog.create_table((namespace, name), schema=schema, partition_spec=spec)

arrow_schema = schema.as_arrow()
for path in row_files:
    with open(path) as f:
        rows = json.load(f)
    columns = {field.name: [] for field in arrow_schema}
    for r in rows:
        columns["timestamp"].append(int(r["start_time_unix_nano"]) // 1000)
        columns["name"].append(r["name"])
        for k in ("span_id", "trace_id", "parent_span_id", "service_name", "attributes", "resource", "scope", "status_message"):
            columns[k].append(r[k])
        for k in ("status_code", "start_time_unix_nano", "end_time_unix_nano", "duration", "span_kind", "flags"):
            columns[k].append(int(r[k]))
        m = r["kafka"]
        columns["_kafka_metadata"].append({"partition": m["partition"], "offset": m["offset"], "timestamp": m["timestamp"]})
    arrays = [
        pa.array(columns["timestamp"], type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        if field.name == "timestamp"
        else pa.array(columns[field.name], type=field.type)
        for field in arrow_schema
    ]
    table.append(pa.Table.from_arrays(arrays, schema=arrow_schema))
print(json.dumps({"snapshots": len(table.refresh().snapshots())}))
