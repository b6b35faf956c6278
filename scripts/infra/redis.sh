#!/usr/bin/env bash
# Redis from Debian's redis-server package, on 127.0.0.1 without persistence:
#   bash scripts/infra/redis.sh up|down
# Uses redis-server from PATH when there is one. Otherwise the package and the libraries it needs that
# the system lacks are fetched with `apt-get download` and unpacked with `dpkg -x` into
# $TAILSAMPLER_CACHE/redis-deb (nothing installed system-wide); only if that cannot work is the package
# installed with apt-get. Env file: TAILSAMPLER_REDIS_URL=redis://127.0.0.1:<port>.
# Knobs: TAILSAMPLER_REDIS_PORT (6379).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/infra/lib.sh
INFRA_COMPONENT=redis

PORT="${TAILSAMPLER_REDIS_PORT:-6379}"
ROOT="$TAILSAMPLER_CACHE/redis-deb"
STATE="$TAILSAMPLER_INFRA_DIR/redis"
PIDFILE="$STATE/redis.pid"
LOG="$STATE/redis.log"
# redis-server is a symlink into redis-tools' multi-call binary; the two libraries are the ones a
# Debian base image usually lacks (libc6, libssl3, libsystemd0, libatomic1 are checked by ldd below).
PACKAGES=(redis-server redis-tools libjemalloc2 liblzf1)

REDIS_BIN=""
REDIS_LIBS=""

unpacked_ok() {
  [ -x "$ROOT/usr/bin/redis-server" ] || return 1
  ! LD_LIBRARY_PATH="$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/usr/lib/aarch64-linux-gnu" ldd "$ROOT/usr/bin/redis-server" 2>/dev/null | grep -q 'not found'
}

unpack_from_debs() {
  local debs="$ROOT.debs" p
  rm -rf "$debs" "$ROOT"
  mkdir -p "$debs" "$ROOT"
  if ! (cd "$debs" && apt-get download "${PACKAGES[@]}") >"$ROOT.log" 2>&1; then
    # An image without package lists cannot download anything yet.
    apt-get update >>"$ROOT.log" 2>&1 || return 1
    (cd "$debs" && apt-get download "${PACKAGES[@]}") >>"$ROOT.log" 2>&1 || return 1
  fi
  for p in "$debs"/*.deb; do dpkg -x "$p" "$ROOT" || return 1; done
  unpacked_ok
}

install_redis() {
  if command -v redis-server >/dev/null; then
    REDIS_BIN=$(command -v redis-server)
    return 0
  fi
  if ! unpacked_ok; then
    infra_log "unpacking Debian's redis-server into $ROOT"
    if ! unpack_from_debs; then
      infra_log "unpacking did not give a runnable redis-server (log: $ROOT.log); installing the package with apt-get"
      rm -rf "$ROOT"
      { apt-get install -y redis-server >>"$ROOT.log" 2>&1 || { apt-get update >>"$ROOT.log" 2>&1 && apt-get install -y redis-server >>"$ROOT.log" 2>&1; }; } ||
        { tail -n 20 "$ROOT.log" >&2; infra_fail "could not install redis-server"; }
      REDIS_BIN=$(command -v redis-server) || infra_fail "redis-server still not on PATH after apt-get install"
      return 0
    fi
  fi
  REDIS_BIN="$ROOT/usr/bin/redis-server"
  REDIS_LIBS="$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/usr/lib/aarch64-linux-gnu"
}

# RESP PING over bash's /dev/tcp; ready when the answer is +PONG.
ping_ok() {
  local reply
  reply=$(
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
    printf 'PING\r\n' >&3
    timeout 2 head -c 7 <&3
  ) 2>/dev/null || return 1
  [ "${reply%$'\r'*}" = "+PONG" ]
}

write_env() {
  printf 'TAILSAMPLER_REDIS_URL=redis://127.0.0.1:%s\n' "$PORT" >"$STATE/env"
}

up() {
  install_redis
  mkdir -p "$STATE"
  if infra_running "$PIDFILE" && ping_ok; then
    write_env
    infra_log "already running on 127.0.0.1:$PORT"
    return 0
  fi
  infra_stop "$PIDFILE"
  infra_port_free "$PORT" || infra_fail "port $PORT is taken by another process (set TAILSAMPLER_REDIS_PORT)"
  rm -f "$STATE/env"
  : >"$LOG"
  infra_start "$PIDFILE" "$LOG" env LD_LIBRARY_PATH="$REDIS_LIBS" "$REDIS_BIN" \
    --bind 127.0.0.1 --port "$PORT" --protected-mode yes --daemonize no \
    --save '' --appendonly no --dir "$STATE" --logfile '' --maxmemory 256mb
  infra_wait_port "$PORT" 30 "$PIDFILE" "$LOG"
  local i
  for ((i = 0; i < 40; i++)); do
    if ping_ok; then
      write_env
      infra_log "redis ready on 127.0.0.1:$PORT ($REDIS_BIN)"
      return 0
    fi
    sleep 0.25
  done
  tail -n 20 "$LOG" >&2 || true
  infra_fail "redis listens on $PORT but does not answer PING (log: $LOG)"
}

down() {
  infra_down "$PIDFILE" "$STATE" "$PORT"
}

infra_main "$@"
