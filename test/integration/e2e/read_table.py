"""Reads the service's span table with independent readers and prints what they saw as JSON.

usage: read_table.py CATALOG_DB WAREHOUSE NAMESPACE TABLE [TRACE_ID ...]
(READ_TABLE_SPAN_IDS=1 adds every span id read.)
pyiceberg opens the table through its SqlCatalog on the same SQLite file (a filtered scan per trace
id exercises partition pruning); duckdb reads the data files pyiceberg planned.
"""
import json
import os
import sys

import duckdb
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo

db, warehouse, namespace, name, *trace_ids = sys.argv[1:]
catalog = SqlCatalog("default", uri=f"sqlite:///{db}", warehouse=f"file://{warehouse}")
table = catalog.load_table(f"{namespace}.{name}")
rows = table.scan().to_arrow()
files = [task.file.file_path.removeprefix("file://") for task in table.scan().plan_files()]
con = duckdb.connect()
duck = con.execute(
    "SELECT count(*), count(DISTINCT span_id), count(DISTINCT trace_id) FROM read_parquet(?)", [files]
).fetchone() if files else (0, 0, 0)
per_trace = {}
for tid in trace_ids:
    scanned = table.scan(row_filter=EqualTo("trace_id", tid)).to_arrow()
    # 64-bit values as decimal strings: a JSON number would lose digits in the reader of this output.
    by_span = {
        row["span_id"]: {
            "start_time_unix_nano": str(row["start_time_unix_nano"]),
            "end_time_unix_nano": str(row["end_time_unix_nano"]),
            "duration": str(row["duration"]),
            "attributes": row["attributes"],
            "events": row["events"],
        }
        for row in scanned.select(["span_id", "start_time_unix_nano", "end_time_unix_nano", "duration", "attributes", "events"]).to_pylist()
    }
    duck_starts = con.execute(
        "SELECT span_id, CAST(start_time_unix_nano AS VARCHAR) FROM read_parquet(?) WHERE trace_id = ?", [files, tid]
    ).fetchall() if files else []
    per_trace[tid] = {
        "rows": scanned.num_rows,
        "span_ids": sorted(scanned.column("span_id").to_pylist()),
        "status_codes": sorted(scanned.column("status_code").to_pylist()),
        "services": sorted(set(scanned.column("service_name").to_pylist())),
        "spans": by_span,
        "duckdb_start_time_unix_nano": dict(duck_starts),
    }
print(json.dumps({
    "rows": rows.num_rows,
    "distinct_span_ids": len(set(rows.column("span_id").to_pylist())),
    "snapshots": len(table.metadata.snapshots),
    "duckdb": {"rows": duck[0], "distinct_span_ids": duck[1], "distinct_traces": duck[2]},
    "traces": per_trace,
    "span_ids": rows.column("span_id").to_pylist() if os.environ.get("READ_TABLE_SPAN_IDS") else None,
}))
