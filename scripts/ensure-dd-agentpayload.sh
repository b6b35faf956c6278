#!/usr/bin/env bash
# Builds (once) test/infra/dd-agentpayload, the decoder of agentless Datadog request bodies written
# with Datadog's own pbgo/trace AgentPayload (github.com/DataDog/datadog-agent/pkg/proto, pinned in its
# go.mod), and prints the binary's path on stdout. Progress goes to stderr. Used by
# test/integration/export/datadog-agentless.test.ts (as $TAILSAMPLER_DD_AGENTPAYLOAD).
#   bash scripts/ensure-dd-agentpayload.sh
# Cached as ${TAILSAMPLER_CACHE:-$HOME/.cache/tailsampler}/go/bin/dd-agentpayload-<pkg/proto version>-
# <hash of main.go, go.mod, go.sum>, so a changed decoder or pin builds anew; built with the project's Go
# caches (scripts/go-env.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/test/infra/dd-agentpayload"
CACHE="${TAILSAMPLER_CACHE:-$HOME/.cache/tailsampler}"

log() { echo "ensure-dd-agentpayload: $*" >&2; }

version="$(sed -n 's|^[[:space:]]*github.com/DataDog/datadog-agent/pkg/proto \(v[^ ]*\).*|\1|p' "$SRC/go.mod" | head -n1)"
[[ -n "$version" ]] || { log "$SRC/go.mod does not require github.com/DataDog/datadog-agent/pkg/proto"; exit 1; }
hash="$(cat "$SRC/main.go" "$SRC/go.mod" "$SRC/go.sum" | sha256sum | cut -c1-12)"
bin="$CACHE/go/bin/dd-agentpayload-$version-$hash"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi
source "$ROOT/scripts/go-env.sh"
mkdir -p "$CACHE/go/bin"
exec 9>"$CACHE/.dd-agentpayload-build.lock"
flock 9
if [[ ! -x "$bin" ]]; then
  log "building dd-agentpayload with datadog-agent/pkg/proto $version (GOPROXY=$proxy)"
  # Into a scratch directory, moved in place last: an interrupted build never leaves a binary behind.
  tmp="$(mktemp -d "$CACHE/go/bin/tmp-dd-agentpayload.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # -mod=readonly: the committed go.mod and go.sum are the pin; a build never rewrites them.
  (cd "$SRC" && go build -mod=readonly -trimpath -ldflags='-s -w' -o "$tmp/dd-agentpayload" .) 2> >(grep -v '^go: downloading' >&2 || true)
  mv "$tmp/dd-agentpayload" "$bin"
  log "built $bin"
fi
echo "$bin"
