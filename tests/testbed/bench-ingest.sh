#!/usr/bin/env bash
# Ingestion's end-to-end lag inside the testbed (real journald, halbertd's journal stream,
# alice's halbert-web): boots an instance, installs the release package (target/debian, make
# deb; or --deb PATH), runs halbert-web as alice and tests/testbed/lag.py against it; stops the
# instance.
#
#   tests/testbed/bench-ingest.sh [--lines N] [--deb PATH]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LINES=100 DEB=""
while [ $# -gt 0 ]; do
	case $1 in
	--lines) LINES=$2; shift 2 ;;
	--deb) DEB=$2; shift 2 ;;
	*) echo "usage: bench-ingest.sh [--lines N] [--deb PATH]" >&2; exit 2 ;;
	esac
done
[ -n "$DEB" ] || DEB=$(ls -t "$REPO"/target/debian/halbert_*.deb 2>/dev/null | head -n 1)
[ -n "$DEB" ] && [ -f "$DEB" ] || { echo "build the release package first: make deb (or pass --deb)" >&2; exit 2; }
DEB=$(cd "$(dirname "$DEB")" && pwd)/$(basename "$DEB")
case $DEB in "$REPO"/*) ;; *) echo "the package must be under $REPO: $DEB" >&2; exit 2 ;; esac
NAME=halbert-bench-ingest
"$HERE/stop.sh" --name "$NAME" >/dev/null 2>&1 || true
eval "$("$HERE/boot.sh" --name "$NAME" --private-network --bind-ro "$REPO:/src" \
	--nspawn-arg "--system-call-filter=landlock_create_ruleset landlock_add_rule landlock_restrict_self openat2")"
trap '"$HERE/stop.sh" --name "$NAME" >/dev/null 2>&1' EXIT
X() { "$HERE/exec.sh" --name "$NAME" "$@"; }
X sh /src/tests/testbed/install-halbert.sh "/src/${DEB#"$REPO"/}" >/dev/null
X sh -ec '
	useradd -m -G halbert,halbert-admin alice
	runuser -u alice -- mkdir -p /home/alice/.config/halbert
	systemd-run --quiet --uid=alice --unit=halbert-web-alice /usr/bin/halbert-web --port 8001 --sandbox strict
	for i in $(seq 100); do runuser -u alice -- curl -sf -o /dev/null http://127.0.0.1:8001/api/health && break; sleep 0.1; done'
echo "package: $(basename "$DEB")"
X runuser -u alice -- env HOME=/home/alice python3 /src/tests/testbed/lag.py http://127.0.0.1:8001 "$LINES"
