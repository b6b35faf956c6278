#!/usr/bin/env bash
# The whole test suite: type check, lint, unit tests, then integration tests against real components
# (pyiceberg/duckdb, kubernetes-validate and Datadog's ddapm-test-agent from PyPI, an OpenTelemetry
# Collector and a decoder using Datadog's pbgo/trace built from the Go module proxy, Kafka and the
# Iceberg REST catalog from Maven Central, Garage from crates.io, Redis from Debian), which this script
# installs into a cache under $HOME on first use and starts for the run.
set -euo pipefail
cd "$(dirname "$0")/.."
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 24 ]; then
  echo "npm test needs the Node 24 from node_modules on PATH (run it through npm after npm ci); got $(node --version)" >&2
  exit 1
fi
echo "== type check"
node node_modules/typescript/bin/tsc -p tsconfig.json
echo "== lint"
node node_modules/eslint/bin/eslint.js .
echo "== unit tests"
node --test --test-concurrency=2 'test/unit/**/*.test.ts'
echo "== installing real components for integration tests (cached)"
TAILSAMPLER_PYTHON=$(bash scripts/ensure-python.sh)
TAILSAMPLER_DDAGENT=$(bash scripts/ensure-ddagent.sh)
TAILSAMPLER_OTELCOL_BIN=$(bash scripts/ensure-otelcol.sh)
TAILSAMPLER_KUBERNETES_VALIDATE=$(bash scripts/ensure-kubernetes-validate.sh)
TAILSAMPLER_TELEMETRYGEN=$(bash scripts/ensure-telemetrygen.sh)
TAILSAMPLER_DD_AGENTPAYLOAD=$(bash scripts/ensure-dd-agentpayload.sh)
export TAILSAMPLER_PYTHON TAILSAMPLER_DDAGENT TAILSAMPLER_OTELCOL_BIN TAILSAMPLER_KUBERNETES_VALIDATE TAILSAMPLER_TELEMETRYGEN TAILSAMPLER_DD_AGENTPAYLOAD
echo "== starting Kafka, Redis, Garage and the Iceberg REST catalog on 127.0.0.1 (scripts/infra.sh)"
# Stopped (ports freed, state removed) on exit however the tests end, unless TAILSAMPLER_KEEP_INFRA=1
# (then a later run reuses them, since `up` is a no-op for a component that is running and answers).
if [ -z "${TAILSAMPLER_KEEP_INFRA:-}" ]; then trap 'bash scripts/infra.sh down >/dev/null 2>&1 || true' EXIT; fi
eval "$(bash scripts/infra.sh up)"
echo "== integration tests"
node --test --test-concurrency=1 --test-timeout=600000 'test/integration/**/*.test.ts'
