#!/usr/bin/env bash
# Garage (S3-compatible object store), one node on 127.0.0.1, built from crates.io into the cache:
#   bash scripts/infra/garage.sh up|down      (contract: scripts/infra/lib.sh)
# up: installs garage $GARAGE_VERSION (cargo install, sqlite engine only; skipped when the binary is
#     there), writes garage.toml (replication_factor 1, fresh rpc secret), starts the node, assigns and
#     applies a one-node layout, creates the bucket and a read/write key, waits until a signed S3
#     request succeeds, and writes the env file. A second up while the node answers reuses it.
# down: stops the node and removes its state (metadata, data, keys).
# Ports: TAILSAMPLER_GARAGE_S3_PORT (3900), TAILSAMPLER_GARAGE_RPC_PORT (3901),
#        TAILSAMPLER_GARAGE_ADMIN_PORT (3903). Bucket: TAILSAMPLER_S3_BUCKET (tailsampler).
set -euo pipefail
cd "$(dirname "$0")/../.."
INFRA_COMPONENT=garage
. scripts/infra/lib.sh

GARAGE_VERSION=2.5.0
S3_PORT=${TAILSAMPLER_GARAGE_S3_PORT:-3900}
RPC_PORT=${TAILSAMPLER_GARAGE_RPC_PORT:-3901}
ADMIN_PORT=${TAILSAMPLER_GARAGE_ADMIN_PORT:-3903}
BUCKET=${TAILSAMPLER_S3_BUCKET:-tailsampler}
REGION=garage
ROOT="$TAILSAMPLER_CACHE/garage-$GARAGE_VERSION"
BIN="$ROOT/bin/garage"
STATE="$TAILSAMPLER_INFRA_DIR/garage"
PIDFILE="$STATE/garage.pid"
LOG="$STATE/garage.log"
CONF="$STATE/garage.toml"
CREDS="$STATE/credentials"
ENDPOINT="http://127.0.0.1:$S3_PORT"

# installed → success when the cached binary is the pinned version (`garage cargo:2.5.0 [features…]`).
installed() { [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -qE "[v:]${GARAGE_VERSION//./\\.}( |$)"; }

install_garage() {
  if installed; then return 0; fi
  command -v cargo >/dev/null || infra_fail "cargo is needed to build garage from crates.io"
  mkdir -p "$ROOT"
  # One build at a time (a concurrent up waits for it); the target dir stays for an interrupted build.
  exec 9>"$ROOT.lock"
  flock 9
  if installed; then return 0; fi
  infra_log "building garage $GARAGE_VERSION from crates.io (long: tens of minutes on 2 cores; log $ROOT/build.log)"
  if ! CARGO_INSTALL_ROOT="$ROOT" CARGO_TARGET_DIR="$TAILSAMPLER_CACHE/garage-build" \
    cargo install garage --locked --version "$GARAGE_VERSION" --no-default-features --features bundled-libs,sqlite \
    >"$ROOT/build.log" 2>&1; then
    tail -n 40 "$ROOT/build.log" >&2
    infra_fail "cargo install garage $GARAGE_VERSION failed (log: $ROOT/build.log)"
  fi
  rm -rf "$TAILSAMPLER_CACHE/garage-build"
}

garage_cli() { "$BIN" -c "$CONF" "$@"; }

write_env() {
  # shellcheck disable=SC1090
  . "$CREDS"
  cat >"$STATE/env.tmp" <<EOF
TAILSAMPLER_S3_ENDPOINT=$ENDPOINT
TAILSAMPLER_S3_BUCKET=$BUCKET
TAILSAMPLER_S3_REGION=$REGION
TAILSAMPLER_S3_ACCESS_KEY_ID=$KEY_ID
TAILSAMPLER_S3_SECRET_ACCESS_KEY=$SECRET_KEY
EOF
  mv "$STATE/env.tmp" "$STATE/env"
}

# s3_answers → success when a signed ListObjectsV2 on the bucket returns 200.
s3_answers() {
  # shellcheck disable=SC1090
  . "$CREDS"
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --aws-sigv4 "aws:amz:$REGION:s3" \
    --user "$KEY_ID:$SECRET_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    "$ENDPOINT/$BUCKET?list-type=2&max-keys=1") || true
  [ "$code" = 200 ]
}

up() {
  install_garage
  if infra_running "$PIDFILE" && [ -f "$CREDS" ] && s3_answers; then
    write_env
    infra_log "already running on $ENDPOINT"
    return 0
  fi
  # Not running (or not answering): start from clean state.
  infra_stop "$PIDFILE"
  rm -rf "$STATE"
  mkdir -p "$STATE/meta" "$STATE/data"
  chmod 700 "$STATE"
  for p in "$S3_PORT" "$RPC_PORT" "$ADMIN_PORT"; do
    infra_port_free "$p" || infra_fail "port $p on 127.0.0.1 is in use (set TAILSAMPLER_GARAGE_*_PORT)"
  done
  (
    umask 077
    cat >"$CONF" <<EOF
metadata_dir = "$STATE/meta"
data_dir = "$STATE/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$(openssl rand -hex 32)"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$S3_PORT"

[admin]
api_bind_addr = "127.0.0.1:$ADMIN_PORT"
admin_token = "$(openssl rand -hex 32)"
EOF
    cat >"$CREDS" <<EOF
KEY_ID=GK$(openssl rand -hex 12)
SECRET_KEY=$(openssl rand -hex 32)
EOF
  )
  infra_start "$PIDFILE" "$LOG" env RUST_LOG="${RUST_LOG:-garage=info}" "$BIN" -c "$CONF" server
  infra_wait_port "$RPC_PORT" 60 "$PIDFILE" "$LOG"
  infra_wait_port "$S3_PORT" 60 "$PIDFILE" "$LOG"

  local node_id i
  node_id=$(garage_cli node id -q 2>>"$LOG" | cut -d@ -f1)
  [ -n "$node_id" ] || infra_fail "could not read the node id (log: $LOG)"
  garage_cli layout assign -z dc1 -c 1G "$node_id" >>"$LOG" 2>&1 || infra_fail "layout assign failed (log: $LOG)"
  garage_cli layout apply --version 1 >>"$LOG" 2>&1 || infra_fail "layout apply failed (log: $LOG)"
  # shellcheck disable=SC1090
  . "$CREDS"
  # The layout takes a moment to settle; retry the first metadata writes until it has.
  for ((i = 0; i < 60; i++)); do
    garage_cli bucket info "$BUCKET" >/dev/null 2>&1 && break
    garage_cli bucket create "$BUCKET" >>"$LOG" 2>&1 && break
    sleep 0.5
  done
  garage_cli bucket info "$BUCKET" >/dev/null 2>&1 || infra_fail "bucket create $BUCKET failed (log: $LOG)"
  garage_cli key import --yes -n tailsampler "$KEY_ID" "$SECRET_KEY" >/dev/null 2>>"$LOG" || infra_fail "key import failed (log: $LOG)"
  garage_cli bucket allow --read --write --owner "$BUCKET" --key "$KEY_ID" >>"$LOG" 2>&1 || infra_fail "bucket allow failed (log: $LOG)"
  for ((i = 0; i < 120; i++)); do
    if s3_answers; then
      write_env
      infra_log "garage $GARAGE_VERSION up on $ENDPOINT (bucket $BUCKET)"
      return 0
    fi
    infra_running "$PIDFILE" || break
    sleep 0.5
  done
  tail -n 40 "$LOG" >&2 || true
  infra_fail "S3 API on $ENDPOINT did not answer a signed request (log: $LOG)"
}

down() {
  infra_down "$PIDFILE" "$STATE" "$S3_PORT" "$RPC_PORT" "$ADMIN_PORT"
}

infra_main "$@"
