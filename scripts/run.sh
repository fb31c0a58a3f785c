#!/usr/bin/env bash
# Builds Townhall (server + first-party plugins) and starts it on the
# embedded default: SQLite and the search index under ./data, the demo city
# of Riverbend with the Public Works plugin installed, on
# http://127.0.0.1:8080/graphql.
#
# Settings come from TOWNHALL__SECTION__KEY environment variables or a file
# named by TOWNHALL_CONFIG (see docs/configuration.md); extra arguments go
# to `townhall serve` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."

# rust-toolchain.toml pins the compiler; make sure its wasm target is there.
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true

cargo build --release -p townhall
for p in plugins/*/; do
  [ -f "$p/Cargo.toml" ] || continue
  (cd "$p" && cargo build --release --target wasm32-wasip2)
done

target_dir="${CARGO_TARGET_DIR:-target}"
townhall=./target/release/townhall
# The binary is always at ./target/release/townhall, wherever cargo builds.
if [ "$(realpath -m "$target_dir")" != "$(realpath -m target)" ]; then
  mkdir -p target/release
  cp -f "$target_dir/release/townhall" "$townhall"
fi
cfg=()
if [ -n "${TOWNHALL_CONFIG:-}" ]; then cfg=(--config "$TOWNHALL_CONFIG"); fi
wasm_dir="$target_dir/wasm32-wasip2/release"

# The demo city first (idempotent), then the first-party plugins (upgraded
# in place when rebuilt), then the server.
"$townhall" "${cfg[@]}" seed-demo
"$townhall" "${cfg[@]}" plugin install "$wasm_dir/public_works.wasm" \
  --config-file plugins/public-works/demo-config.json --upgrade

exec "$townhall" "${cfg[@]}" serve --demo "$@"
