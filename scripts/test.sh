#!/usr/bin/env bash
# The whole test suite: type check, unit tests, then integration tests against real components
# (pyiceberg/duckdb from PyPI, an OpenTelemetry Collector built from the Go module proxy), which this
# script installs into a cache under $HOME on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 24 ]; then
  echo "npm test needs the Node 24 from node_modules on PATH (run it through npm after npm ci); got $(node --version)" >&2
  exit 1
fi
echo "== type check"
node node_modules/typescript/bin/tsc -p tsconfig.json
echo "== unit tests"
node --test --test-concurrency=2 'test/unit/**/*.test.ts'
echo "== installing real components for integration tests (cached)"
TAILSAMPLER_PYTHON=$(bash scripts/ensure-python.sh)
TAILSAMPLER_OTELCOL=$(bash scripts/ensure-otelcol.sh)
export TAILSAMPLER_PYTHON TAILSAMPLER_OTELCOL
echo "== integration tests"
node --test --test-concurrency=1 --test-timeout=600000 'test/integration/**/*.test.ts'
