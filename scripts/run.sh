#!/usr/bin/env bash
# Builds Townhall (server + first-party plugins) and starts it on the
# embedded default: SQLite and the search index under ./data, the demo city
# of Riverbend loaded on first start, http://127.0.0.1:8080/graphql.
# Extra arguments go to `townhall serve` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."

# rust-toolchain.toml pins the compiler; make sure its wasm target is there.
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true

cargo build --release -p townhall
if [ -d plugins ]; then
  for p in plugins/*/; do
    [ -f "$p/Cargo.toml" ] || continue
    (cd "$p" && cargo build --release --target wasm32-wasip2)
  done
fi

exec ./target/release/townhall serve --demo "$@"
