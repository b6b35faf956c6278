#!/usr/bin/env bash
# Builds (once) the OpenTelemetry Collector the integration tests export to, from
# test/infra/otelcol/builder.yaml, and prints the binary's path on stdout. Progress goes to stderr.
#
# The binary is cached under ${TAILSAMPLER_CACHE:-$HOME/.cache/tailsampler}/otelcol-<version>-<manifest hash>/,
# so a second run prints the path at once and a changed manifest builds anew. Go's own caches
# (GOPATH, GOCACHE, GOMODCACHE) live under the same cache root, so a fresh machine needs only `go`
# and the Go module proxy.
set -euo pipefail

BUILDER_VERSION=v0.165.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MANIFEST="$ROOT/test/infra/otelcol/builder.yaml"
CACHE="${TAILSAMPLER_CACHE:-$HOME/.cache/tailsampler}"
BIN_NAME=otelcol-tailsampler-test

log() { echo "ensure-otelcol: $*" >&2; }

hash="$( (cat "$MANIFEST"; echo "builder=$BUILDER_VERSION") | sha256sum | cut -c1-12)"
version="$(sed -n 's/^  version: *//p' "$MANIFEST" | head -n1)"
dir="$CACHE/otelcol-${version}-${hash}"
bin="$dir/$BIN_NAME"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { log "go is not installed (need Go >= 1.26 on PATH)"; exit 1; }
mkdir -p "$CACHE"

# Two test runs starting at once must not build into the same directory.
exec 9>"$CACHE/.otelcol-build.lock"
flock 9
if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

export GOPATH="$CACHE/go"
export GOCACHE="$CACHE/go-build"
export GOMODCACHE="$CACHE/go/pkg/mod"
export GOFLAGS="${GOFLAGS:-} -modcacherw"
export CGO_ENABLED=0

proxy="$(go env GOPROXY)"
if [[ -z "$proxy" || "$proxy" == off* ]]; then
  log "GOPROXY is '$proxy'; the build needs the Go module proxy (e.g. GOPROXY=https://proxy.golang.org,direct)"
  exit 1
fi

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
