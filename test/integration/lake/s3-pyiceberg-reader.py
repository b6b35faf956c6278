"""Reads the span table on S3 with pyiceberg (SqlCatalog on the same SQLite file, PyArrow FileIO on S3).

Usage: s3-pyiceberg-reader.py <catalog.db> <warehouse uri> <namespace> <table> <trace id>
S3 settings come from the environment: TAILSAMPLER_S3_ENDPOINT, TAILSAMPLER_S3_REGION,
TAILSAMPLER_S3_ACCESS_KEY_ID, TAILSAMPLER_S3_SECRET_ACCESS_KEY. Prints one JSON object on stdout.
"""
import json
import sys

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo

from s3_env import s3_properties
from span_rows import rows

db_path, warehouse, namespace, name, trace_id = sys.argv[1:6]
catalog = SqlCatalog(
    "default",
    **{
        "uri": f"sqlite:///{db_path}",
        "warehouse": warehouse,
        **s3_properties(),
    },
)
table = catalog.load_table(f"{namespace}.{name}")


full = table.scan().to_arrow()
files = list(table.scan().plan_files())
print(json.dumps({
    "metadata_location": table.metadata_location,
    "location": table.metadata.location,
    "file_paths": sorted(t.file.file_path for t in files),
    "rows": rows(full),
    "trace_rows": rows(table.scan(row_filter=EqualTo("trace_id", trace_id)).to_arrow()),
    "snapshots": len(table.snapshots()),
}))
