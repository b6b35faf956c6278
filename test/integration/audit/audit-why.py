"""Answers "why was this trace kept or dropped?" from the decision audit table, with engines that share
no code with tailsampler: pyiceberg (catalog, scan with a row filter) and DuckDB (the README's SQL over
the rows pyiceberg read).

Usage: audit-why.py sql <catalog.db> <warehouse uri> <namespace> <table> <trace id>...
       audit-why.py rest <catalog uri> <warehouse> <namespace> <table> <trace id>...
An s3:// warehouse is read with the S3 settings in the environment (see ../lake/s3_env.py).
Prints one JSON object on stdout.
"""
import json
import os
import sys

import duckdb
from pyiceberg.expressions import EqualTo

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lake"))
from s3_env import s3_properties  # noqa: E402

kind, where, warehouse, namespace, name, *trace_ids = sys.argv[1:]
if kind == "sql":
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("default", uri=f"sqlite:///{where}", warehouse=warehouse, **s3_properties())
else:
    from pyiceberg.catalog.rest import RestCatalog

    catalog = RestCatalog("rest", uri=where, warehouse=warehouse, **s3_properties())
table = catalog.load_table((*namespace.split("."), name))


def why(trace_id):
    rows = table.scan(row_filter=EqualTo("trace_id", trace_id)).to_arrow().to_pylist()
    return [
        {
            "outcome": r["outcome"],
            "policy": r["policy"],
            "threshold": r["threshold"],
            "span_count": r["span_count"],
            "error_count": r["error_count"],
            "duration": r["duration"],
            "trace_bytes": r["trace_bytes"],
            "replica": r["replica"],
            "decided_at": r["decided_at"].isoformat(),
            "first_seen": r["first_seen"].isoformat(),
            "last_seen": r["last_seen"].isoformat(),
        }
        for r in rows
    ]


full = table.scan().to_arrow()
con = duckdb.connect()
con.register("sampling_decisions", full)
# The README's SQL as written there (DuckDB / Databricks), its timestamp left out of what comes back
# (turning a timestamptz into Python needs pytz, which this venv lacks).
WHY_SQL = """
SELECT decided_at, outcome, policy, span_count, error_count, duration / 1e6 AS duration_ms, replica
FROM sampling_decisions
WHERE trace_id = $1
ORDER BY decided_at DESC
"""
duck = {t: con.execute(f"SELECT * EXCLUDE (decided_at) FROM ({WHY_SQL})", [t]).fetchall() for t in trace_ids}
print(json.dumps({
    "count": full.num_rows,
    "trace_ids": sorted(full["trace_id"].to_pylist()),
    "why": {t: why(t) for t in trace_ids},
    "duckdb": {t: [[r[0], r[1], r[2], r[3], r[5]] for r in rows] for t, rows in duck.items()},
    "field_ids": {f.name: f.field_id for f in table.schema().fields},
    "types": {f.name: str(f.field_type) for f in table.schema().fields},
    "partition": [(f.name, f.field_id, f.source_id, str(f.transform)) for f in table.spec().fields],
    "snapshots": len(table.snapshots()),
    "summary": dict(table.current_snapshot().summary.additional_properties) if table.current_snapshot() else {},
}, default=str))
