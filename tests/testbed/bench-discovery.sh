#!/usr/bin/env bash
# The discovery benchmark inside the testbed (real systemd, D-Bus): boots an instance, runs
# target/release/examples/bench_discovery in it as root, prints its report, stops the instance.
#
#   tests/testbed/bench-discovery.sh [--runs N]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=$REPO/target/release/examples
[ -x "$BIN/bench_discovery" ] || { echo "build it first: cargo build --release --example bench_discovery -p halbertd" >&2; exit 2; }
NAME=halbert-bench
"$HERE/stop.sh" --name "$NAME" >/dev/null 2>&1 || true
eval "$("$HERE/boot.sh" --name "$NAME" --private-network --bind-ro "$BIN:/bench")"
trap '"$HERE/stop.sh" --name "$NAME" >/dev/null 2>&1' EXIT
"$HERE/exec.sh" --name "$NAME" /bench/bench_discovery "$@"
