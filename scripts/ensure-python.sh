#!/usr/bin/env bash
# Installs the independent Iceberg/Parquet readers and writers used by the tests (pyiceberg with
# pyiceberg-core for partition transforms on write, duckdb) into a
# cached virtualenv and prints the path of its python. Idempotent: a second run only checks.
set -euo pipefail
cache="${TAILSAMPLER_CACHE:-$HOME/.cache/tailsampler}"
venv="$cache/venv-readers"
stamp="$venv/.installed-v2"
if [ ! -f "$stamp" ]; then
  mkdir -p "$cache"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'pyiceberg[sql-sqlite,pyarrow,pyiceberg-core]==0.12.0' 'duckdb==2.0.0' >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
