#!/usr/bin/env bash
# The dashboard's speed (make bench): the stack of tests/stack.sh on the workstation fixture,
# from release binaries when they are built, measured by bench_ui.mjs in headless Chromium.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../stack.sh"
[ -d "$HERE/node_modules/playwright-core" ] || (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
STACK_HOST_ROOT=workstation start_stack
node "$HERE/bench_ui.mjs" "$base" "${RUNS:-5}"
