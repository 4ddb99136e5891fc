#!/usr/bin/env bash
# The dashboard in a real headless Chromium: halbertd, halbert-web and the scripted model server
# (tests/stack.sh); chat_ui.mjs drives the page with playwright-core (installed here by npm ci on
# first use). SCREENSHOT=path keeps the final screenshot.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../stack.sh"
[ -d "$HERE/node_modules/playwright-core" ] || (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
start_stack
if ! node "$HERE/chat_ui.mjs" "$base" "http://127.0.0.1:$llm" "${SCREENSHOT:-$tmp/chat.png}"; then
	show_logs
	exit 1
fi
