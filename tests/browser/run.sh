#!/usr/bin/env bash
# The dashboard in a real headless Chromium: halbertd (on a copy of the workstation fixture tree,
# so the editor writes there), halbert-web and the scripted model server (tests/stack.sh);
# chat_ui.mjs and admin_ui.mjs (the editor, the terminal, approvals, the discovery pages, the overview, settings, and halbertd down) drive the pages with playwright-core
# (installed here by npm ci on first use). The services page runs against real systemd in the
# testbed suite. Screenshots of every page go to SHOTS (default target/browser-shots/, the
# test's output dir, kept as CI artifacts and never committed).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../stack.sh"
[ -d "$HERE/node_modules/playwright-core" ] || (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
SHOTS=${SHOTS:-$REPO/target/browser-shots}
rm -rf "$SHOTS" && mkdir -p "$SHOTS"
STACK_HOST_ROOT=workstation start_stack
if ! node "$HERE/chat_ui.mjs" "$base" "http://127.0.0.1:$llm" "$SHOTS/chat.png" ||
	! LLM_URL="http://127.0.0.1:$llm" node "$HERE/admin_ui.mjs" "$base" editor,terminal,approvals,discovery,overview,settings "$tmp/host" "$SHOTS" ||
	# Last: halbertd stopped (pids[0] is halbertd), the dashboard says what to do about it.
	! { kill "${pids[0]}" && rm -f "$tmp/d.sock" && node "$HERE/admin_ui.mjs" "$base" daemon-down "$tmp/host" "$SHOTS"; }; then
	show_logs
	exit 1
fi
echo "screenshots: $(ls "$SHOTS" | tr '\n' ' ')in $SHOTS"
