# Sourced by tests/browser/run.sh and tests/api/schemathesis.sh: halbertd, halbert-web and the
# scripted model server from $HALBERT_BIN_DIR (default target/debug) on a temporary socket, state
# and free ports. After start_stack: $tmp, $web (halbert-web's port), $llm (the model server's
# port), $base (halbert-web's URL); everything stops, and $tmp goes, when the script exits.
# With STACK_HOST_ROOT=<fixture name>, halbertd sees a copy of tests/fixtures/hosts/<name> as /
# (its status, discovery and the files it edits): a run that writes files writes them there.
# halbertd gets no system bus, so nothing here reaches this machine's systemd or polkit.
# halbert-web indexes the fixture manual pages (tests/fixtures/man), not this machine's.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${HALBERT_BIN_DIR:-$REPO/target/debug}

start_stack() {
	for b in halbertd halbert-web scripted-llm; do
		[ -x "$BIN/$b" ] || { echo "missing $BIN/$b: build first (make build)" >&2; exit 2; }
	done
	tmp=$(mktemp -d)
	pids=()
	trap stop_stack EXIT
	web=$(free_port)
	llm=$(free_port)
	local root=()
	if [ -n "${STACK_HOST_ROOT:-}" ]; then
		cp -a "$REPO/tests/fixtures/hosts/$STACK_HOST_ROOT" "$tmp/host"
		root=(--host-root "$tmp/host")
	fi
	# No system bus for this halbertd: what the tests send (generated unit names, restarts)
	# must never reach this machine's systemd. Units are the testbed's business.
	DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/halbert-no-bus \
		"$BIN/halbertd" serve --socket "$tmp/d.sock" --state-dir "$tmp/state" "${root[@]}" >"$tmp/halbertd.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do [ -S "$tmp/d.sock" ] && break; sleep 0.1; done
	XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" "$BIN/halbert-web" --socket "$tmp/d.sock" --port "$web" --man-root "$REPO/tests/fixtures/man" >"$tmp/web.log" 2>&1 &
	pids+=($!)
	"$BIN/scripted-llm" --port "$llm" >"$tmp/llm.log" 2>&1 &
	pids+=($!)
	base="http://127.0.0.1:$web"
	for _ in $(seq 100); do
		curl -sf "$base/api/health" >/dev/null && curl -sf "http://127.0.0.1:$llm/api/tags" >/dev/null && return
		sleep 0.1
	done
	echo "the processes did not come up" >&2
	show_logs
	exit 2
}

stop_stack() {
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$tmp"
}

show_logs() {
	for f in halbertd web llm; do echo "--- $f.log"; tail -n 20 "$tmp/$f.log"; done
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
