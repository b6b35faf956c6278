#!/usr/bin/env bash
# Regenerates the static protobuf code in src/otlp/gen/ from the vendored proto/ tree.
# The output is committed; run this only after changing proto/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/otlp/gen
mkdir -p "$out"
protos=(
  proto/opentelemetry/proto/collector/trace/v1/trace_service.proto
  proto/google/rpc/status.proto
)
npx pbjs -t static-module -w es6 --es6 --no-beautify --no-delimited --no-verify --no-convert --no-create --no-typeurl --no-service \
  --force-long -p proto -o "$out/otlp.js" "${protos[@]}"
# protobufjs/minimal is CommonJS; name the file so Node's ESM resolver finds it.
sed -i 's#from "protobufjs/minimal"#from "protobufjs/minimal.js"#' "$out/otlp.js"
npx pbts --no-comments -o "$out/otlp.d.ts" "$out/otlp.js"
