#!/usr/bin/env bash
# Installs ddapm-test-agent (Datadog's test agent: accepts /v0.4 traces, checks payloads, returns what it
# got) into its own cached virtualenv and prints the path of its executable. It gets a venv of its own
# because it pins older protobuf/opentelemetry-proto than the readers' venv (ensure-python.sh) wants.
# Idempotent: a second run only checks.
set -euo pipefail
cache="${TAILSAMPLER_CACHE:-$HOME/.cache/tailsampler}"
venv="$cache/venv-ddagent"
stamp="$venv/.installed-1.69.1"
if [ ! -f "$stamp" ]; then
  mkdir -p "$cache"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'ddapm-test-agent==1.69.1' >&2
  touch "$stamp"
fi
echo "$venv/bin/ddapm-test-agent"
