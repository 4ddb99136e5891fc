#!/usr/bin/env bash
# The API description checked against the server: schemathesis (pinned, installed into a venv
# under target/) generates requests from /openapi.json and runs every check on the answers.
# halbertd, halbert-web and the scripted model server run as tests/stack.sh starts them (halbertd
# on a copy of the workstation fixture tree), with the scripted server registered and assigned as
# every model role, so chat routes answer without a real model.
#
# Excluded: POST /api/settings/endpoints — its generated `url` would make halbert-web connect to
# addresses off this machine (tests/e2e/tests/models.rs covers it); and POST
# /api/terminal/execute — it runs what it is given as a shell line, as the user running the
# tests (tests/e2e/tests/terminal.rs and the testbed cover it). Every other operation is run,
# including the chat and model routes, which only ever reach the scripted server, and the
# service routes, which reach a halbertd without a system bus (tests/stack.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../stack.sh"
VERSION=4.32.5
VENV=${SCHEMATHESIS_VENV:-$REPO/target/schemathesis-$VERSION}
EXAMPLES=${EXAMPLES:-25}
if [ ! -x "$VENV/bin/schemathesis" ]; then
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi
# The editor routes write what the generated requests say: into a copy of a fixture tree, never
# into this machine's /etc.
STACK_HOST_ROOT=workstation start_stack
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
	--exclude-name "POST /api/settings/endpoints" --exclude-name "POST /api/terminal/execute" \
	--report junit --report-dir "$tmp/report" "$@" || status=$?
[ $status -eq 0 ] || show_logs
exit $status
