#!/usr/bin/env bash
# Installs ddapm-test-agent (Datadog's test agent: accepts /v0.4 traces, checks payloads, returns what it
# got) into its own cached virtualenv and prints the path of its executable. It gets a venv of its own
# because it pins older protobuf/opentelemetry-proto than the readers' venv (ensure-python.sh) wants.
# Idempotent: a second run only checks.
set -euo pipefail
. "$(dirname "$0")/venv.sh"
ensure_venv ddagent 1.69.1 'ddapm-test-agent==1.69.1'
echo "$VENV/bin/ddapm-test-agent"
