#!/usr/bin/env bash
# Installs kubernetes-validate (PyPI) into a cached virtualenv and prints the path of its command. It
# checks manifests against the Kubernetes API's JSON schemas, which ship inside the package
# (kubernetes_validate/kubernetes-json-schema/), so validating needs no network once installed.
# Its own venv: it pins nothing the readers' venv (ensure-python.sh) cares about. Idempotent.
set -euo pipefail
cache="${TAILSAMPLER_CACHE:-$HOME/.cache/tailsampler}"
version=1.37.0
venv="$cache/venv-kubernetes-validate"
stamp="$venv/.installed-$version"
if [ ! -f "$stamp" ]; then
  mkdir -p "$cache"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$version" >&2
  touch "$stamp"
fi
echo "$venv/bin/kubernetes-validate"
