"""Reads tailsampler Parquet data files with independent readers (DuckDB, pyarrow, pyiceberg's
transforms) and prints what they see as JSON, for test/integration/lake/parquet-duckdb.test.ts."""
import json
import sys

import duckdb
import pyarrow.parquet as pq
from pyiceberg.transforms import BucketTransform, DayTransform
from pyiceberg.types import StringType, TimestamptzType

paths = sys.argv[1:]
con = duckdb.connect()
plist = "[" + ",".join("'" + p + "'" for p in paths) + "]"
out = {}
out["count"] = con.sql(f"select count(*) from read_parquet({plist})").fetchall()[0][0]
# epoch_us/varchar keep python's tz libraries out of the way.
out["rows"] = [
    list(r)
    for r in con.sql(
        f"""select trace_id, span_id, parent_span_id, status_code, cast(duration as varchar),
                   epoch_us("timestamp"), service_name, span_kind, cast(start_time_unix_nano as varchar),
                   attributes, cast(flags as varchar), _kafka_metadata.partition,
                   cast(_kafka_metadata."offset" as varchar), cast(_kafka_metadata."timestamp" as varchar)
            from read_parquet({plist}) order by span_id limit 5"""
    ).fetchall()
]
out["sum_duration"] = str(con.sql(f"select sum(duration)::hugeint::varchar from read_parquet({plist})").fetchall()[0][0])
out["nulls_parent"] = con.sql(f"select count(*) from read_parquet({plist}) where parent_span_id is null").fetchall()[0][0]
out["schema"] = [
    list(r)
    for r in con.sql(
        f"select name, type, field_id, repetition_type, converted_type from parquet_schema('{paths[0]}')"
    ).fetchall()
]
out["compression"] = sorted(
    {r[0] for r in con.sql(f"select compression from parquet_metadata('{paths[0]}')").fetchall()}
)
out["row_groups"] = con.sql(f"select count(distinct row_group_id) from parquet_metadata('{paths[0]}')").fetchall()[0][0]
out["trace_stats"] = [
    list(r)
    for r in con.sql(
        f"select stats_min_value, stats_max_value from parquet_metadata('{paths[0]}') where path_in_schema = 'trace_id' order by row_group_id"
    ).fetchall()
]

f = pq.ParquetFile(paths[0])
schema = f.schema_arrow
out["arrow_field_ids"] = {fld.name: int(fld.metadata[b"PARQUET:field_id"]) for fld in schema}
out["arrow_types"] = {fld.name: str(fld.type) for fld in schema}
out["arrow_nullable"] = {fld.name: fld.nullable for fld in schema}
bucket = BucketTransform(16).transform(StringType())
day = DayTransform().transform(TimestamptzType())
out["iceberg_partitions"] = []
for path in paths:
    table = pq.read_table(path, columns=["trace_id", "timestamp"])
    ts = table.column("timestamp").cast("int64").to_pylist()
    ids = table.column("trace_id").to_pylist()
    out["iceberg_partitions"].append(sorted({f"{day(t)}/{bucket(i)}" for i, t in zip(ids, ts)}))
print(json.dumps(out))
