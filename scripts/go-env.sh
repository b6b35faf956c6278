# Sourced by the scripts that build or install Go tools from the Go module proxy (ensure-otelcol.sh,
# ensure-telemetrygen.sh): Go's own caches (GOPATH, GOCACHE, GOMODCACHE) live under the project's cache
# root, so a fresh machine needs only `go` and the proxy. Expects CACHE and a log function.
command -v go >/dev/null || { log "go is not installed (need Go >= 1.26 on PATH)"; exit 1; }
mkdir -p "$CACHE"
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
