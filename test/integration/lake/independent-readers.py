"""Reads the span table with engines that share no code with tailsampler (pyiceberg, DuckDB).

Usage: independent-readers.py <catalog.db> <warehouse uri> <namespace> <table> <trace id>
Prints one JSON object on stdout.
"""
import json
import sys

import duckdb
import pyarrow.compute as pc
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo

from span_rows import rows

db_path, warehouse, namespace, name, trace_id = sys.argv[1:6]
catalog = SqlCatalog("default", uri=f"sqlite:///{db_path}", warehouse=warehouse)
table = catalog.load_table(f"{namespace}.{name}")


full = table.scan().to_arrow()
filtered_scan = table.scan(row_filter=EqualTo("trace_id", trace_id))
planned = list(filtered_scan.plan_files())
filtered = filtered_scan.to_arrow()
all_files = list(table.scan().plan_files())

paths = [t.file.file_path.removeprefix("file://") for t in all_files]
con = duckdb.connect()
duck = con.execute(
    "SELECT count(*), sum(span_size), count(DISTINCT trace_id) FROM read_parquet($1)", [paths]
).fetchone()
duck_trace = con.execute(
    "SELECT span_id FROM read_parquet($1) WHERE trace_id = $2 ORDER BY span_id", [paths, trace_id]
).fetchall()

snapshots = table.snapshots()
current = table.current_snapshot()
print(json.dumps({
    "pyiceberg": {
        "count": full.num_rows,
        "span_size_sum": pc.sum(full["span_size"]).as_py(),
        "distinct_traces": len(pc.unique(full["trace_id"])),
        "sample": rows(full)[:3],
        "all_span_ids": sorted(full["span_id"].to_pylist()),
        "trace_rows": rows(filtered),
        "trace_planned_files": len(planned),
        "total_files": len(all_files),
        "partitions": sorted({f"{t.file.partition[0]}/{t.file.partition[1]}" for t in all_files}),
    },
    "duckdb": {
        "count": duck[0],
        "span_size_sum": int(duck[1]),
        "distinct_traces": duck[2],
        "trace_span_ids": [r[0] for r in duck_trace],
    },
    "snapshots": {
        "count": len(snapshots),
        "current_id": current.snapshot_id,
        "current_sequence_number": current.sequence_number,
        "summary": current.summary.model_dump() if hasattr(current.summary, "model_dump") else dict(current.summary),
        "summary_keys": sorted(current.summary.additional_properties.keys()) + ["operation"],
        "operation": current.summary.operation.value,
        "parents": [s.parent_snapshot_id for s in snapshots],
    },
    "format_version": table.metadata.format_version,
    "sort_order_id": table.sort_order().order_id,
}))
