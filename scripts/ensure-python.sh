#!/usr/bin/env bash
# Installs the independent Iceberg/Parquet readers and writers used by the tests (pyiceberg with
# pyiceberg-core for partition transforms on write, duckdb) into a
# cached virtualenv and prints the path of its python. Idempotent: a second run only checks.
set -euo pipefail
. "$(dirname "$0")/venv.sh"
ensure_venv readers v2 'pyiceberg[sql-sqlite,pyarrow,pyiceberg-core]==0.12.0' 'duckdb==2.0.0'
echo "$VENV/bin/python"
