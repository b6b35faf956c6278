# Sourced by the scripts that install Python tools from PyPI into cached virtualenvs (ensure-python.sh,
# ensure-ddagent.sh, ensure-kubernetes-validate.sh): one venv per tool set, so their pins never clash.
#   ensure_venv NAME STAMP PIP_ARGS...  creates $TAILSAMPLER_CACHE/venv-NAME with PIP_ARGS installed,
#   unless the marker STAMP says it already has them (change STAMP when the pins change), and sets VENV.
ensure_venv() {
  local name=$1 stamp=$2
  shift 2
  local cache="${TAILSAMPLER_CACHE:-$HOME/.cache/tailsampler}"
  VENV="$cache/venv-$name"
  if [ ! -f "$VENV/.installed-$stamp" ]; then
    mkdir -p "$cache"
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
    touch "$VENV/.installed-$stamp"
  fi
}
