#!/usr/bin/env bash
# Runs the whole test suite: unit tests, the store and black-box suites on
# SQLite and PostgreSQL, plugin sandbox tests, search conformance, and the
# end-to-end suites against real peers (OpenID provider, SMTP server,
# headless Chromium) when their parts are present.
#
# PostgreSQL: TOWNHALL_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null 2>&1 || true

# PostgreSQL must be up for the PostgreSQL half of the suite.
export TOWNHALL_TEST_POSTGRES_URL="${TOWNHALL_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi

# End-to-end peers (installed on demand, offline-safe when already present).
if [ -x scripts/test-deps.sh ]; then
  scripts/test-deps.sh
fi

if [ -z "${MEILISEARCH_URL:-}" ]; then
  echo "note: MEILISEARCH_URL is not set: the Meilisearch conformance suite is SKIPPED (tantivy's runs)."
fi

cargo test --workspace --no-fail-fast "$@"
