"""Spans of an Arrow table as the TypeScript tests compare them (test/support/span-rows.ts)."""


def rows(arrow):
    """Rows as JSON-safe dicts sorted by trace and span id, longs as strings (JSON numbers lose precision above 2^53)."""
    out = []
    for r in arrow.sort_by([("trace_id", "ascending"), ("span_id", "ascending")]).to_pylist():
        out.append({
            "trace_id": r["trace_id"],
            "span_id": r["span_id"],
            "parent_span_id": r["parent_span_id"],
            "status_code": r["status_code"],
            "duration": str(r["duration"]),
            "start_time_unix_nano": str(r["start_time_unix_nano"]),
            "timestamp_micros": str(int(r["timestamp"].timestamp() * 1_000_000)) if r["timestamp"] else None,
            "service_name": r["service_name"],
            "span_size": r["span_size"],
        })
    return out
