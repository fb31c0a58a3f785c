#!/bin/sh
# Runs `townhall serve` (or any other townhall command). With
# TOWNHALL_DEMO=1 the demo city and the first-party plugins are loaded
# first (idempotent), as ./scripts/run.sh does on a laptop.
set -eu
if [ "${1:-serve}" = "serve" ] && [ "${TOWNHALL_DEMO:-0}" = "1" ]; then
  townhall seed-demo
  townhall plugin install /usr/share/townhall/plugins/public_works.wasm \
    --config-file /usr/share/townhall/plugins/public-works.demo-config.json --upgrade
  shift || true
  exec townhall serve --demo "$@"
fi
exec townhall "$@"
