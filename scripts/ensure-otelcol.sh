#!/usr/bin/env bash
# Builds (once) an OpenTelemetry Collector from a builder manifest and prints the binary's path on
# stdout. Progress goes to stderr.
#   bash scripts/ensure-otelcol.sh [MANIFEST]
# MANIFEST defaults to test/infra/otelcol/builder.yaml (the Collector the integration tests export to);
# bench/otelcol-peer/builder.yaml is the tail-sampling peer of `npm run bench -- --peer otelcol`. The
# binary is named after the manifest's dist.name, and the Collector builder used is the release of its
# dist.version (v<version>).
#
# The binary is cached under ${TAILSAMPLER_CACHE:-$HOME/.cache/tailsampler}/otelcol-<version>-<hash of
# manifest and builder version>/, so a second run prints the path at once and a changed manifest builds
# anew; manifests do not share a cache entry. Go's own caches live under the same cache root
# (scripts/go-env.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MANIFEST="$(realpath "${1:-$ROOT/test/infra/otelcol/builder.yaml}")"
CACHE="${TAILSAMPLER_CACHE:-$HOME/.cache/tailsampler}"

log() { echo "ensure-otelcol: $*" >&2; }

[[ -f "$MANIFEST" ]] || { log "no manifest at $MANIFEST"; exit 1; }
version="$(sed -n 's/^  version: *//p' "$MANIFEST" | head -n1)"
BIN_NAME="$(sed -n 's/^  name: *//p' "$MANIFEST" | head -n1)"
[[ -n "$version" && -n "$BIN_NAME" ]] || { log "$MANIFEST has no dist.name or dist.version"; exit 1; }
BUILDER_VERSION="v$version"
hash="$( (cat "$MANIFEST"; echo "builder=$BUILDER_VERSION") | sha256sum | cut -c1-12)"
dir="$CACHE/otelcol-${version}-${hash}"
bin="$dir/$BIN_NAME"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

# Two test runs starting at once must not build into the same directory.
mkdir -p "$CACHE"
exec 9>"$CACHE/.otelcol-build.lock"
flock 9
if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

source "$ROOT/scripts/go-env.sh"

builder="$GOPATH/bin/builder-$BUILDER_VERSION"
if [[ ! -x "$builder" ]]; then
  log "installing the collector builder $BUILDER_VERSION (GOPROXY=$proxy)"
  GOBIN="$CACHE/go/bin/tmp-$$" go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION" >&2
  mv "$CACHE/go/bin/tmp-$$/builder" "$builder"
  rmdir "$CACHE/go/bin/tmp-$$"
fi

# Build in a scratch directory and move the result in place last, so an interrupted build never
# leaves a half-written binary that a later run would take for a finished one.
work="$(mktemp -d "$CACHE/otelcol-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
sed "s|^dist:|dist:\n  output_path: $work/out|" "$MANIFEST" > "$work/builder.yaml"
log "building $BIN_NAME $version into $dir (takes several minutes the first time)"
# The builder's own `go mod tidy` also resolves the *tests* of every component, and some of those
# test-only modules (fileexporter's otlpencodingextension) are not served by the module proxy, so it
# fails although nothing the binary links is missing. So the builder only generates the sources and
# go.mod; tidy runs again with -e (tolerating the unreachable test-only modules) and we compile.
log "the builder may report a go mod tidy failure about test-only modules below; that is expected"
"$builder" --config "$work/builder.yaml" --skip-compilation >&2 || [[ -f "$work/out/go.mod" ]] || {
  log "the builder failed before writing go.mod"
  exit 1
}
(
  cd "$work/out"
  go mod tidy -e -compat=1.25 2> >(grep -v '^go: downloading' >&2 || true)
  go build -trimpath -ldflags='-s -w' -o "$BIN_NAME" . >&2
)
mkdir -p "$dir"
cp "$MANIFEST" "$dir/builder.yaml"
mv "$work/out/$BIN_NAME" "$bin"
log "built $bin"
echo "$bin"
