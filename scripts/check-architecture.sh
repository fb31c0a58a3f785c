#!/usr/bin/env bash
# The architecture invariants of docs/ARCHITECTURE.md, checked with
# `cargo tree -i`: a crate must not have the named crates anywhere in its
# normal dependency tree.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
forbid() {
  local crate=$1; shift
  for dep in "$@"; do
    if cargo tree -p "$crate" -e normal -i "$dep" --locked >/dev/null 2>&1; then
      echo "VIOLATION: $crate depends on $dep"
      cargo tree -p "$crate" -e normal -i "$dep" --locked 2>/dev/null | head -n 12
      fail=1
    else
      echo "ok: $crate does not depend on $dep"
    fi
  done
}

# The domain: no web, database, wasm or async runtime.
forbid townhall-domain axum async-graphql sea-orm sqlx wasmtime tantivy tokio hyper
# Storage knows nothing of HTTP, GraphQL or plugins.
forbid townhall-store axum async-graphql wasmtime tantivy
# The intake pipeline knows no HTTP/GraphQL and no plugin or search engine.
forbid townhall-intake axum async-graphql wasmtime tantivy meilisearch-sdk
# Search knows no HTTP, GraphQL or plugins.
forbid townhall-search axum async-graphql wasmtime
# Access control knows no HTTP server or GraphQL (its one HTTP client is the
# OpenID Connect discovery and token exchange, through reqwest).
forbid townhall-access axum async-graphql async-graphql-axum
# Plugins and the SDK see only the SDK.
forbid townhall-sdk sea-orm axum tokio wasmtime

exit $fail
