"""Reads the span table through pyiceberg's REST catalog (an engine that shares no code with tailsampler).

Usage: rest-catalog-reader.py <catalog uri> <warehouse> <namespace> <table> <trace id>
An s3:// warehouse is read with the S3 settings in the environment (TAILSAMPLER_S3_ENDPOINT,
TAILSAMPLER_S3_REGION, TAILSAMPLER_S3_ACCESS_KEY_ID, TAILSAMPLER_S3_SECRET_ACCESS_KEY), as a client
of Garage brings its own. Prints one JSON object on stdout (`kafka_metadata`: span id → the Kafka
record's partition, offset and timestamp as strings, or null).
"""
import json
import sys

import pyarrow.compute as pc
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.expressions import EqualTo

from s3_env import s3_properties

uri, warehouse, namespace, name, trace_id = sys.argv[1:6]
catalog = RestCatalog("rest", uri=uri, warehouse=warehouse, **s3_properties())
table = catalog.load_table((*namespace.split("."), name))

full = table.scan().to_arrow()
filtered_scan = table.scan(row_filter=EqualTo("trace_id", trace_id))
planned = list(filtered_scan.plan_files())
filtered = filtered_scan.to_arrow().sort_by([("span_id", "ascending")])
current = table.current_snapshot()
kafka = {
    r["span_id"]: r["_kafka_metadata"] and {k: str(v) for k, v in r["_kafka_metadata"].items()}
    for r in full.select(["span_id", "_kafka_metadata"]).to_pylist()
}
print(json.dumps({
    "count": full.num_rows,
    "span_size_sum": pc.sum(full["span_size"]).as_py(),
    "distinct_traces": len(pc.unique(full["trace_id"])),
    "span_ids": sorted(full["span_id"].to_pylist()),
    "trace_span_ids": filtered["span_id"].to_pylist(),
    "trace_durations": [str(d) for d in filtered["duration"].to_pylist()],
    "trace_planned_files": len(planned),
    "total_files": len(list(table.scan().plan_files())),
    "snapshots": len(table.snapshots()),
    "current_snapshot_id": current.snapshot_id,
    "total_records": current.summary["total-records"],
    "field_ids": {f.name: f.field_id for f in table.schema().fields},
    "partition": [(f.name, f.field_id, f.source_id, str(f.transform)) for f in table.spec().fields],
    "kafka_metadata": kafka,
}))
