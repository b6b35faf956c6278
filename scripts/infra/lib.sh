#!/usr/bin/env bash
# Shared helpers for scripts/infra/<component>.sh. Each component script takes `up` or `down`:
#   up   installs the component into $TAILSAMPLER_CACHE (cached, idempotent), starts it on 127.0.0.1
#        with its state in $TAILSAMPLER_INFRA_DIR/<component>, waits until it is ready, and writes the
#        KEY=VALUE lines tests need (endpoints, credentials) to $TAILSAMPLER_INFRA_DIR/<component>/env.
#        A second `up` while it runs and answers is a no-op.
#   down stops it (process group from its pid file) and removes its state; safe when not running.
# Logs go to $TAILSAMPLER_INFRA_DIR/<component>/*.log and, on failure, their tail to stderr.
set -euo pipefail
TAILSAMPLER_CACHE="${TAILSAMPLER_CACHE:-$HOME/.cache/tailsampler}"
TAILSAMPLER_INFRA_DIR="${TAILSAMPLER_INFRA_DIR:-$TAILSAMPLER_CACHE/run}"
export TAILSAMPLER_CACHE TAILSAMPLER_INFRA_DIR

infra_log() { echo "[infra:${INFRA_COMPONENT:-?}] $*" >&2; }
infra_fail() { infra_log "error: $*"; exit 1; }

# infra_state_dir COMPONENT → prints and creates the component's state directory.
infra_state_dir() { local d="$TAILSAMPLER_INFRA_DIR/$1"; mkdir -p "$d"; echo "$d"; }

# infra_port_free PORT → success when nothing listens on 127.0.0.1:PORT.
infra_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# infra_wait_port PORT SECONDS PIDFILE LOGFILE → waits until PORT accepts connections; fails with the
# log's tail if the process dies or time runs out.
infra_wait_port() {
  local port=$1 secs=$2 pidfile=$3 log=$4 i
  for ((i = 0; i < secs * 4; i++)); do
    if ! infra_port_free "$port"; then return 0; fi
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      tail -n 40 "$log" >&2 || true
      infra_fail "process exited before port $port opened (log: $log)"
    fi
    sleep 0.25
  done
  tail -n 40 "$log" >&2 || true
  infra_fail "port $port not open after ${secs}s (log: $log)"
}

# infra_start PIDFILE LOGFILE CMD... → starts CMD detached in its own process group.
infra_start() {
  local pidfile=$1 log=$2; shift 2
  setsid "$@" >>"$log" 2>&1 < /dev/null &
  echo $! >"$pidfile"
}

# infra_running PIDFILE → success when the pid in PIDFILE is alive.
infra_running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# infra_stop PIDFILE → TERM the process group, then KILL after 15 s.
infra_stop() {
  local pidfile=$1 pid i
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# infra_down PIDFILE STATE PORT... → stops the component, waits (up to 10 s) for its ports to be free,
# and removes its state.
infra_down() {
  local pidfile=$1 state=$2 p i; shift 2
  infra_stop "$pidfile"
  for p in "$@"; do
    for ((i = 0; i < 40; i++)); do infra_port_free "$p" && break; sleep 0.25; done
    infra_port_free "$p" || infra_log "warning: port $p still in use after stop"
  done
  rm -rf "$state"
  infra_log "stopped"
}

# infra_main "$@" → runs the calling script's `up` or `down` function.
infra_main() {
  case "${1:-}" in
    up) up ;;
    down) down ;;
    *) echo "usage: bash scripts/infra/${INFRA_COMPONENT:-<component>}.sh up|down" >&2; exit 2 ;;
  esac
}
