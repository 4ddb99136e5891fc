#!/usr/bin/env bash
# The API description checked against the server: schemathesis (pinned, installed into a venv
# under target/) generates requests from /openapi.json and runs every check on the answers.
# halbertd, halbert-web and the scripted model server run from $HALBERT_BIN_DIR (default
# target/debug) on a temporary socket and free ports, with the scripted server registered and
# assigned as every model role, so chat routes answer without a real model.
#
# Excluded: POST /api/settings/endpoints alone — its generated `url` would make halbert-web
# connect to addresses off this machine (tests/e2e/tests/models.rs covers it). Every other
# operation is run, including the chat and model routes, which only ever reach the scripted
# server.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=${HALBERT_BIN_DIR:-$REPO/target/debug}
VERSION=4.32.5
VENV=${SCHEMATHESIS_VENV:-$REPO/target/schemathesis-$VERSION}
EXAMPLES=${EXAMPLES:-25}
for b in halbertd halbert-web scripted-llm; do
	[ -x "$BIN/$b" ] || { echo "missing $BIN/$b: build first (cargo build --workspace)" >&2; exit 2; }
done
if [ ! -x "$VENV/bin/schemathesis" ]; then
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi
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
base="http://127.0.0.1:$web"
for _ in $(seq 100); do
	curl -sf "$base/api/health" >/dev/null && curl -sf "http://127.0.0.1:$llm/api/tags" >/dev/null && break
	sleep 0.1
done
post() { curl -sf -H 'Content-Type: application/json' -d "$2" "$base$1" >/dev/null; }
post /api/settings/endpoints "{\"id\":\"local\",\"name\":\"Local\",\"url\":\"http://127.0.0.1:$llm\",\"provider\":\"ollama\",\"timeout_s\":5}"
for role in guide specialist vision; do
	post "/api/settings/assign/$role" '{"endpoint_id":"local","model":"scripted:8b"}'
done
curl -sf "$base/openapi.json" >"$tmp/openapi.json"
status=0
"$VENV/bin/schemathesis" --config-file "$HERE/schemathesis.toml" run "$tmp/openapi.json" --url "$base" \
	--checks all --max-examples "$EXAMPLES" --seed 1 --workers 1 --no-color \
	--request-timeout 30 --generation-database none \
	--exclude-name "POST /api/settings/endpoints" \
	--report junit --report-dir "$tmp/report" "$@" || status=$?
if [ $status -ne 0 ]; then
	for f in halbertd web llm; do echo "--- $f.log"; tail -n 20 "$tmp/$f.log"; done
fi
exit $status
