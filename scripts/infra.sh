#!/usr/bin/env bash
# Starts or stops the real components the integration tests use, on 127.0.0.1, installed from package
# registries into a cache under $HOME:  bash scripts/infra.sh up|down [component...]
# Components: scripts/infra/<name>.sh. `up` prints `export KEY=VALUE` lines for the started components
# (their endpoints), so `eval "$(bash scripts/infra.sh up)"` configures a shell for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/infra/lib.sh
ALL=(kafka redis garage iceberg-rest)
cmd=${1:-}; shift || true
comps=("$@"); [ ${#comps[@]} -gt 0 ] || comps=("${ALL[@]}")
case "$cmd" in
  up)
    for c in "${comps[@]}"; do
      [ -f "scripts/infra/$c.sh" ] || infra_fail "unknown component $c (have: ${ALL[*]})"
      INFRA_COMPONENT=$c bash "scripts/infra/$c.sh" up
      sed 's/^/export /' "$TAILSAMPLER_INFRA_DIR/$c/env"
    done ;;
  down)
    for c in "${comps[@]}"; do INFRA_COMPONENT=$c bash "scripts/infra/$c.sh" down; done ;;
  *) echo "usage: bash scripts/infra.sh up|down [${ALL[*]}]" >&2; exit 2 ;;
esac
