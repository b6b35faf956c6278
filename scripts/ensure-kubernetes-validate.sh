#!/usr/bin/env bash
# Installs kubernetes-validate (PyPI) into a cached virtualenv and prints the path of its command. It
# checks manifests against the Kubernetes API's JSON schemas, which ship inside the package
# (kubernetes_validate/kubernetes-json-schema/), so validating needs no network once installed.
# Its own venv: it pins nothing the readers' venv (ensure-python.sh) cares about. Idempotent.
set -euo pipefail
. "$(dirname "$0")/venv.sh"
ensure_venv kubernetes-validate 1.37.0 'kubernetes-validate==1.37.0'
echo "$VENV/bin/kubernetes-validate"
