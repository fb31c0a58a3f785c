#!/usr/bin/env bash
# Installs the real peers the black-box suite talks to: Python packages in
# a virtualenv (SMTP server, Open311 client, schemathesis) and npm packages
# (OpenID Connect provider, Playwright driver). Idempotent and quick when
# nothing changed. Prints the exports the tests read.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/test-venv"
stamp="$venv/.requirements"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! cmp -s tests/python/requirements.txt "$stamp" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  cp tests/python/requirements.txt "$stamp"
fi

if [ -f tests/node/package.json ]; then
  if [ ! -d tests/node/node_modules ] || [ tests/node/package.json -nt tests/node/node_modules ]; then
    (cd tests/node && if [ -f package-lock.json ]; then npm ci --silent --no-audit --no-fund; else npm install --silent --no-audit --no-fund; fi)
    touch tests/node/node_modules
  fi
fi
