#!/usr/bin/env bash
# Installs (once) the Collector project's load generator, telemetrygen, from the Go module proxy and
# prints the binary's path on stdout. Progress goes to stderr. Used by `npm run bench -- --peer otelcol`.
#   bash scripts/ensure-telemetrygen.sh
# Cached as ${TAILSAMPLER_CACHE:-$HOME/.cache/tailsampler}/go/bin/telemetrygen-<version>, built with
# the project's Go caches (scripts/go-env.sh).
set -euo pipefail

# v0.161.0: the newest the module proxy lists (v0.149.0, v0.160.0, v0.161.0); the same release as the
# peer Collector of bench/otelcol-peer/builder.yaml.
VERSION=v0.161.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${TAILSAMPLER_CACHE:-$HOME/.cache/tailsampler}"
bin="$CACHE/go/bin/telemetrygen-$VERSION"

log() { echo "ensure-telemetrygen: $*" >&2; }

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi
source "$ROOT/scripts/go-env.sh"
mkdir -p "$CACHE/go/bin"
exec 9>"$CACHE/.telemetrygen-install.lock"
flock 9
if [[ ! -x "$bin" ]]; then
  log "installing telemetrygen $VERSION (GOPROXY=$proxy)"
  # Into a scratch GOBIN, moved in place last: an interrupted install never leaves a binary behind.
  tmp="$(mktemp -d "$CACHE/go/bin/tmp-telemetrygen.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" go install -trimpath -ldflags='-s -w' \
    "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@$VERSION" 2> >(grep -v '^go: downloading' >&2 || true)
  mv "$tmp/telemetrygen" "$bin"
  log "installed $bin"
fi
echo "$bin"
