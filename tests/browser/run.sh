#!/usr/bin/env bash
# The dashboard in a real headless Chromium: halbertd, halbert-web and the scripted model server
# (binaries from $HALBERT_BIN_DIR, default target/debug) on a temporary socket and free ports;
# chat_ui.mjs drives the page with playwright-core (installed here by npm ci on first use).
# SCREENSHOT=path keeps the final screenshot.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=${HALBERT_BIN_DIR:-$REPO/target/debug}
for b in halbertd halbert-web scripted-llm; do
	[ -x "$BIN/$b" ] || { echo "missing $BIN/$b: build first (cargo build --workspace)" >&2; exit 2; }
done
[ -d "$HERE/node_modules/playwright-core" ] || (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
tmp=$(mktemp -d)
pids=()
cleanup() {
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
web=$(free_port)
llm=$(free_port)
"$BIN/halbertd" serve --socket "$tmp/d.sock" --state-dir "$tmp/state" >"$tmp/halbertd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$tmp/d.sock" ] && break; sleep 0.1; done
XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" "$BIN/halbert-web" --socket "$tmp/d.sock" --port "$web" >"$tmp/web.log" 2>&1 &
pids+=($!)
"$BIN/scripted-llm" --port "$llm" >"$tmp/llm.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$web/api/health" >/dev/null && curl -sf "http://127.0.0.1:$llm/api/tags" >/dev/null && break
	sleep 0.1
done
if ! node "$HERE/chat_ui.mjs" "http://127.0.0.1:$web" "http://127.0.0.1:$llm" "${SCREENSHOT:-$tmp/chat.png}"; then
	for f in halbertd web llm; do echo "--- $f.log"; tail -n 20 "$tmp/$f.log"; done
	exit 1
fi
