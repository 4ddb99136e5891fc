#!/usr/bin/env bash
# The testbed suite: halbertd installed as a real unit in a booted Debian (systemd PID 1,
# system D-Bus, polkitd, journald), halbert-web running inside as two users, real clients.
#
#   tests/testbed/suite.sh [--keep]     (as root; binaries from $HALBERT_BIN_DIR, default target/debug)
#
# Prints "N passed, N failed" and exits non-zero on any failure. --keep leaves the container
# running for inspection (stop it with tests/testbed/stop.sh --name halbert-suite).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=${HALBERT_BIN_DIR:-$REPO/target/debug}
NAME=halbert-suite
KEEP=0
[ "${1:-}" = --keep ] && KEEP=1
for b in halbertd halbert-web scripted-llm; do
	[ -x "$BIN/$b" ] || { echo "missing $BIN/$b: build first (cargo build --workspace)" >&2; exit 2; }
done
# The package under test (make test-testbed builds it from the debug binaries: make deb-dev).
DEB=${HALBERT_DEB:-$(ls -t "$REPO"/target/debian-dev/halbert_*.deb 2>/dev/null | head -n 1)}
[ -n "$DEB" ] && [ -f "$DEB" ] || { echo "missing target/debian-dev/halbert_*.deb: build it first (make deb-dev)" >&2; exit 2; }
case $DEB in "$REPO"/*) ;; *) echo "the package must be under $REPO (the testbed sees the repository as /src): $DEB" >&2; exit 2 ;; esac

PASS=0 FAIL=0
check() { # description cmd...
	local d=$1 out; shift
	if out=$("$@" 2>&1); then
		PASS=$((PASS + 1)); printf 'ok   %s\n' "$d"
	else
		FAIL=$((FAIL + 1)); printf 'FAIL %s\n%s\n' "$d" "$(printf '%s' "$out" | tail -n 12 | sed 's/^/     /')"
	fi
}
X() { "$HERE/exec.sh" --name "$NAME" "$@"; }
XU() { local u=$1; shift; "$HERE/exec.sh" --name "$NAME" --user "$u" "$@"; }

"$HERE/stop.sh" --name "$NAME" >/dev/null 2>&1 || true
# nspawn's seccomp filter (systemd 252) refuses the Landlock syscalls and openat2 with ENOSYS
# unless they are allowed explicitly; without this, halbert-web --sandbox=strict rightly refuses
# to start, and halbertd rightly refuses to open files it cannot open without following links.
BOOT=$("$HERE/boot.sh" --name "$NAME" --private-network --bind-ro "$REPO:/src" --bind-ro "$BIN:/halbert-bin" \
	--nspawn-arg "--system-call-filter=landlock_create_ruleset landlock_add_rule landlock_restrict_self openat2") || { echo "0 passed, 1 failed"; exit 1; }
eval "$BOOT"
cleanup() { [ $KEEP = 1 ] || "$HERE/stop.sh" --name "$NAME" >/dev/null 2>&1; }
trap cleanup EXIT
echo "testbed booted in ${TB_BOOT_SECONDS}s"

# ---------------------------------------------------------------- install, as a package would
check "apt-get install ./halbert_*.deb: binaries, units, sysusers, tmpfiles, polkit policy and rules, the socket enabled" \
	X sh /src/tests/testbed/install-halbert.sh "/src/${DEB#"$REPO"/}"
check "the package's files are where the distribution puts them, and its config files are conffiles" X sh -ec '
	for f in /usr/sbin/halbertd /usr/bin/halbert-web /usr/lib/systemd/system/halbertd.service /usr/lib/systemd/system/halbertd.socket \
		/usr/lib/systemd/user/halbert-web.service /usr/lib/sysusers.d/halbert.conf /usr/lib/tmpfiles.d/halbert.conf \
		/usr/share/polkit-1/actions/org.halbert.policy /usr/share/polkit-1/rules.d/50-halbert.rules /etc/halbert/halbertd.yaml /etc/halbert/policy.yml \
		/usr/share/man/man8/halbertd.8.gz /usr/share/man/man1/halbert-web.1.gz /usr/share/man/man5/halbertd.yaml.5.gz /usr/share/man/man5/halbert-policy.5.gz \
		/usr/share/bash-completion/completions/halbertd /usr/share/zsh/vendor-completions/_halbert-web /usr/share/fish/vendor_completions.d/halbertd.fish \
		/usr/share/doc/halbert/LICENSE /usr/share/doc/halbert/CHANGELOG.md /usr/share/doc/halbert/changelog.Debian.gz /usr/share/doc/halbert/copyright; do
		dpkg -S "$f" >/dev/null || { echo "$f is not the package'"'"'s"; exit 1; }
	done
	dpkg-query -W -f="\${Conffiles}\n" halbert | grep -q "/etc/halbert/policy.yml"
	# The man page is the one --help describes (both come from the clap definition).
	zcat /usr/share/man/man8/halbertd.8.gz | grep -q "^\.TH halbertd 8"
	zcat /usr/share/man/man8/halbertd.8.gz | sed "s/\\\\-/-/g" >/tmp/halbertd.8
	for opt in $(halbertd --help | grep -o -e "--[a-z-]*" | sort -u); do grep -q -e "$opt" /tmp/halbertd.8 || { echo "halbertd.8 lacks $opt"; exit 1; }; done
	[ "$(systemctl is-enabled halbertd.socket)" = enabled ]
	[ "$(stat -c "%a %U" /var/lib/halbert)" = "700 root" ]
	getent group halbert halbert-admin >/dev/null'
check "socket is listening, halbertd not started yet (socket activation)" X sh -ec '
	[ "$(systemctl is-active halbertd.socket)" = active ]
	[ "$(systemctl is-active halbertd.service)" != active ]
	[ "$(stat -c "%a %G" /run/halbert/halbertd.sock)" = "660 halbert" ]'
check "users: alice (halbert, halbert-admin), bob (halbert), carol (neither)" X sh -ec '
	useradd -m -G halbert,halbert-admin alice; useradd -m -G halbert bob; useradd -m carol'
ALICE=$(X id -u alice) BOB=$(X id -u bob)

start_web() { # user port [extra args]
	local u=$1 p=$2; shift 2
	X systemd-run --quiet --uid="$u" --unit="halbert-web-$u" /usr/bin/halbert-web --port "$p" --sandbox strict "$@" &&
		for _ in $(seq 100); do
			XU "$u" curl -sf -o /dev/null "http://127.0.0.1:$p/api/health" && return 0
			sleep 0.1
		done
	X journalctl -u "halbert-web-$u" --no-pager | tail -n 20
	return 1
}
# alice runs the packaged user unit through her own systemd user manager, as a user does
# (lingering, so that it runs without a login session); a drop-in gives her port 8001.
start_user_web() { # user port
	local u=$1 p=$2
	X sh -ec "
		loginctl enable-linger $u
		uid=\$(id -u $u)
		for i in \$(seq 100); do [ -S /run/user/\$uid/bus ] && break; sleep 0.1; done
		d=/home/$u/.config/systemd/user/halbert-web.service.d
		runuser -u $u -- mkdir -p \$d
		printf '[Service]\nExecStart=\nExecStart=/usr/bin/halbert-web --sandbox=strict --port $p\n' | runuser -u $u -- tee \$d/port.conf >/dev/null
		systemctl --user -M $u@ daemon-reload
		systemctl --user -M $u@ enable --now halbert-web.service" &&
		for _ in $(seq 100); do
			XU "$u" curl -sf -o /dev/null "http://127.0.0.1:$p/api/health" && return 0
			sleep 0.1
		done
	X sh -c "systemctl --user -M $u@ status halbert-web --no-pager; journalctl _UID=\$(id -u $u) --no-pager | tail -n 20"
	return 1
}
check "halbert-web runs as alice's user unit, started through her user manager (linger, systemctl --user -M alice@), Landlock strict" \
	start_user_web alice 8001
check "alice's unit is the packaged one, sandboxed and capped (MemoryMax, TasksMax), in her user manager's cgroup" X sh -ec '
	systemctl --user -M alice@ show -p FragmentPath,DropInPaths,ActiveState,MemoryMax,TasksMax,ProtectSystem,PrivateUsers,ControlGroup halbert-web | tee /tmp/web-show
	grep -qx FragmentPath=/usr/lib/systemd/user/halbert-web.service /tmp/web-show
	grep -qx ActiveState=active /tmp/web-show
	grep -qx MemoryMax=1073741824 /tmp/web-show
	grep -qx TasksMax=256 /tmp/web-show
	grep -qx ProtectSystem=strict /tmp/web-show
	grep -qx PrivateUsers=yes /tmp/web-show
	grep -q "^ControlGroup=/user.slice/user-$(id -u alice).slice/user@$(id -u alice).service/" /tmp/web-show'
check "halbert-web runs inside as bob (:8002)" start_web bob 8002
# Both units as installed, scored offline the way the issue measured them; the bounds are the
# project's (halbertd 3.0, halbert-web 1.5). Each exposure left is explained in the unit file.
# Offline analysis judges a file as a system unit, so it charges a user unit 0.4 for "runs as
# root"; a user unit runs as its user, so halbert-web's is scored as alice's manager runs it
# (a copy with User=alice), and its raw score is printed beside.
unit_score() { # unit-file bound [user]
	local user=${3:-}
	X sh -c "f=$1; if [ -n '$user' ]; then systemd-analyze security --offline=true --no-pager \$f | tail -n 1 | sed 's/^/as a file: /';
		mkdir -p /tmp/as-user; sed '/^\[Service\]/a User=$user' \$f >/tmp/as-user/\${f##*/}; f=/tmp/as-user/\${f##*/}; fi
		systemd-analyze security --offline=true --no-pager \$f" 2>&1 | tee /tmp/score-"${1##*/}" | grep -E '^✗|Overall|as a file' || true
	local score
	score=$(sed -n 's/^→ Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' /tmp/score-"${1##*/}")
	echo "score $score (bound $2)"
	[ -n "$score" ] && awk -v s="$score" -v b="$2" 'BEGIN { exit !(s <= b) }'
}
check "systemd-analyze security --offline: installed halbertd.service at most 3.0" unit_score /usr/lib/systemd/system/halbertd.service 3.0
check "systemd-analyze security --offline: installed halbert-web.service at most 1.5, as alice's" unit_score /usr/lib/systemd/user/halbert-web.service 1.5 alice

# curl as USER: prints the body, then the status code on its own line
C() { local u=$1; shift; XU "$u" curl -s -w '\n%{http_code}' "$@"; }
expect() { # want-code want-substring user curl-args...
	local code=$1 sub=$2 out; shift 2
	out=$(C "$@") || true
	printf '%s\n' "$out"
	# Matched in bash, not by piping into grep -q: grep leaves at the first match, and under
	# pipefail the SIGPIPE that a body longer than the pipe's buffer then gets (the OpenAPI
	# document) failed the check at random.
	[ "${out##*$'\n'}" = "$code" ] && [[ $out == *"$sub"* ]]
}
A=http://127.0.0.1:8001 B=http://127.0.0.1:8002
JSON=(-H 'Content-Type: application/json')

# ---------------------------------------------------------------- halbertd as a notify service
check "halbertd was started through its socket and sent READY=1 with a STATUS= line" X sh -ec '
	for i in $(seq 50); do [ "$(systemctl is-active halbertd)" = active ] && break; sleep 0.1; done
	systemctl show -p Type,ActiveState,SubState,StatusText,TriggeredBy halbertd | tee /dev/stderr >/tmp/show
	grep -qx Type=notify /tmp/show; grep -qx ActiveState=active /tmp/show; grep -qx SubState=running /tmp/show
	grep -q "^StatusText=serving on /run/halbert/halbertd.sock (socket activation); safe mode off; authorization ok" /tmp/show
	grep -qx TriggeredBy=halbertd.socket /tmp/show'
check "halbertd dropped every capability" X sh -ec '
	pid=$(systemctl show -P MainPID halbertd); grep ^Cap /proc/$pid/status | tee /dev/stderr >/tmp/caps
	grep -qx "CapEff:	0000000000000000" /tmp/caps; grep -qx "CapPrm:	0000000000000000" /tmp/caps
	grep -qx "CapBnd:	0000000000000000" /tmp/caps'
check "carol (not in group halbert) cannot even connect to the socket" XU carol python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("/run/halbert/halbertd.sock")
except PermissionError:
    sys.exit(0)
sys.exit("connected")'
# carol starts halbert-web anyway: one line says why it cannot reach halbertd and what an
# administrator runs; the API (and so the dashboard) says the same, and nothing else is printed.
check "carol's halbert-web says in one line that she is not in group halbert and names usermod -aG halbert carol" X sh -ec '
	runuser -u carol -- env HOME=/home/carol timeout -s INT 4 /usr/bin/halbert-web --port 8011 >/tmp/carol.out 2>/tmp/carol.err &
	for i in $(seq 50); do runuser -u carol -- curl -sf -o /tmp/carol.health http://127.0.0.1:8011/api/health && grep -q daemon_detail /tmp/carol.health && break; sleep 0.1; done
	wait || true
	cat /tmp/carol.err /tmp/carol.health
	grep -x "halbert-web: halbertd is unreachable at /run/halbert/halbertd.sock: permission denied: carol is not in group halbert, whose members may use halbertd; an administrator runs: usermod -aG halbert carol (then carol logs in again)" /tmp/carol.err
	[ "$(grep -c -i -e grpc -e "status:" -e "transport" /tmp/carol.err)" = 0 ]
	grep -q "\"daemon_connected\":false" /tmp/carol.health
	grep -q "usermod -aG halbert carol" /tmp/carol.health'

# ---------------------------------------------------------------- guardrails: polkit allow/deny
check "guardrails status works for alice" expect 200 '"safe_mode_active":false' alice $A/api/settings/guardrails/status
check "guardrails status works for bob" expect 200 '"cpu_budget":80' bob $B/api/settings/guardrails/status
check "alice (halbert-admin) enters safe mode" expect 200 '"changed":true' alice "${JSON[@]}" -d '{"reason":"disk replacement"}' $A/api/settings/guardrails/safe-mode/enter
check "a second enter is idempotent (changed:false, first reason kept)" expect 200 '"reason":"disk replacement","since"' alice "${JSON[@]}" -d '{"reason":"again"}' $A/api/settings/guardrails/safe-mode/enter
check "bob sees safe mode on" expect 200 '"safe_mode_active":true' bob $B/api/settings/guardrails/status
check "bob may not exit it: 403 naming the polkit action" expect 403 '"action":"org.halbert.guardrails.manage"' bob -X POST $B/api/settings/guardrails/safe-mode/exit
check "bob may not enter it either" expect 403 '"code":"permission_denied"' bob "${JSON[@]}" -d '{"reason":"x"}' $B/api/settings/guardrails/safe-mode/enter
restart_then_status() { X systemctl restart halbertd && expect 200 '"safe_mode_active":true' alice $A/api/settings/guardrails/status; }
check "safe mode survives a restart of halbertd" restart_then_status
check "alice exits safe mode" expect 200 '"safe_mode_active":false,' alice -X POST $A/api/settings/guardrails/safe-mode/exit

# ---------------------------------------------------------------- the web guard
check "Host: evil.example -> 403" expect 403 forbidden_host alice -H 'Host: evil.example' $A/api/settings/guardrails/status
check "empty Host -> 403" expect 403 forbidden_host alice -H 'Host:' $A/api/settings/guardrails/status
check "POST with Origin: http://evil.example -> 403" expect 403 forbidden_origin alice "${JSON[@]}" -H 'Origin: http://evil.example' -d '{"reason":"csrf"}' $A/api/settings/guardrails/safe-mode/enter
check "... and no state change" expect 200 '"safe_mode_active":false' alice $A/api/settings/guardrails/status
check "WebSocket upgrade with a foreign Origin is refused" sh -c "$HERE/exec.sh --name $NAME --user alice python3 /src/tests/testbed/ws_client.py 127.0.0.1 8001 http://evil.example 1 5; [ \$? = 3 ]"
check "a loopback client running as another uid (carol) is refused" expect 403 forbidden_peer carol $A/api/settings/guardrails/status
check "root is not special either" expect 403 forbidden_peer root $A/api/settings/guardrails/status
check "binding beyond loopback without a token is refused at start" sh -c "
	out=\$($HERE/exec.sh --name $NAME --user alice env HOME=/home/alice /usr/bin/halbert-web --host 0.0.0.0 --port 8009 2>&1); rc=\$?
	echo \"\$out\"; [ \$rc != 0 ] && echo \"\$out\" | grep -q 'without a bearer token'"

# ---------------------------------------------------------------- live status over /ws
check "a WebSocket client (same origin) receives two system_status messages" XU alice python3 /src/tests/testbed/ws_client.py 127.0.0.1 8001 http://127.0.0.1:8001 2 15
check "halbert-web runs under Landlock (strict)" expect 200 '"enforcement":"fully enforced"' alice $A/api/health
# Only the head of each body and its status are shown, so that a failure says what came back.
docs_inside() {
	local out rc=0
	for want in '/openapi.json "openapi":"3.1' '/docs/ swagger-ui'; do
		out=$(expect 200 "${want#* }" alice "$A${want%% *}") || rc=1
		printf '%s: %s ... %s\n' "${want%% *}" "$(printf '%s' "$out" | head -c 200)" "$(printf '%s' "$out" | tail -n1)"
	done
	return $rc
}
check "/docs and /openapi.json are served inside" docs_inside

# ---------------------------------------------------------------- the config editor (halbertd files/)
check "a test file with an owner, a mode, a POSIX ACL and a user. xattr" X sh -ec '
	printf "answer = 41\n" >/etc/hb-test.conf
	chown root:root /etc/hb-test.conf; chmod 0640 /etc/hb-test.conf
	setfacl -m u:bob:r /etc/hb-test.conf
	setfattr -n user.halbert -v kept /etc/hb-test.conf
	ln -sf /etc/shadow /etc/hb-to-shadow
	getfacl -cp /etc/hb-test.conf; getfattr -d /etc/hb-test.conf'
# The version of the file now, as alice reads it.
version_of() { C alice "$A/api/editor/file?path=$1" | head -n1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])'; }
meta_kept() { X sh -ec '
	[ "$(stat -c %U:%G:%a /etc/hb-test.conf)" = root:root:640 ]
	getfacl -cp /etc/hb-test.conf | grep -qx "user:bob:r--"
	[ "$(getfattr --only-values -n user.halbert /etc/hb-test.conf)" = kept ]'; }
check "alice reads it through polkit (she cannot herself), needs_sudo true" expect 200 '"needs_sudo":true' alice "$A/api/editor/file?path=/etc/hb-test.conf"
edit_as_alice() {
	local v; v=$(version_of /etc/hb-test.conf)
	expect 200 '"backup_id":"hb-test.conf.bak.' alice "${JSON[@]}" -d "{\"path\":\"/etc/hb-test.conf\",\"content\":\"answer = 42\\n\",\"version\":\"$v\"}" $A/api/editor/file &&
		X grep -qx 'answer = 42' /etc/hb-test.conf && meta_kept
}
check "alice (halbert-admin) edits it; owner, mode, ACL and xattr survive" edit_as_alice
bob_refused() {
	expect 403 '"action":"org.halbert.config.write"' bob "${JSON[@]}" -d '{"path":"/etc/hb-test.conf","content":"bob was here\n"}' $B/api/editor/file &&
		X grep -qx 'answer = 42' /etc/hb-test.conf
}
check "bob (halbert only) is refused with 403 naming org.halbert.config.write; the file is unchanged" bob_refused
check "bob may not read a file only an ACL opens to him (polkit org.halbert.config.read)" expect 403 '"action":"org.halbert.config.read"' bob "$B/api/editor/file?path=/etc/hb-test.conf"
check "bob reads a world-readable file with his own rights" expect 200 '"needs_sudo":true' bob "$B/api/editor/file?path=/etc/hostname"
cas_conflict() {
	local v; v=$(version_of /etc/hb-test.conf)
	expect 200 '"success":true' alice "${JSON[@]}" -d "{\"path\":\"/etc/hb-test.conf\",\"content\":\"answer = 43\\n\",\"version\":\"$v\"}" $A/api/editor/file >/dev/null &&
		expect 409 '"code":"conflict"' alice "${JSON[@]}" -d "{\"path\":\"/etc/hb-test.conf\",\"content\":\"lost\\n\",\"version\":\"$v\"}" $A/api/editor/file &&
		X grep -qx 'answer = 43' /etc/hb-test.conf
}
check "two writers with the same version: the second gets 409 and nothing is lost" cas_conflict
restore_first() {
	local id
	id=$(C alice "$A/api/editor/backups?path=/etc/hb-test.conf" | head -n1 | python3 -c 'import json,sys; b=json.load(sys.stdin)["backups"]; print(b[-1]["backup_id"])')
	expect 200 '"success":true' alice "${JSON[@]}" -d "{\"path\":\"/etc/hb-test.conf\",\"backup\":\"$id\"}" $A/api/editor/restore &&
		X grep -qx 'answer = 41' /etc/hb-test.conf && meta_kept
}
check "alice restores the first backup: byte for byte, metadata kept" restore_first
traversal() {
	expect 403 path_not_allowed alice "$A/api/editor/file?path=/etc/hb-to-shadow" >/dev/null &&
		expect 403 path_not_allowed alice "$A/api/editor/file?path=/etc/shadow" >/dev/null &&
		expect 403 path_not_allowed alice "$A/api/editor/file?path=/proc/self/root/etc/shadow" >/dev/null &&
		expect 422 validation_failed alice "$A/api/editor/file?path=/etc/../etc/shadow" >/dev/null &&
		expect 422 validation_failed alice "$A/api/editor/file?path=etc/shadow" >/dev/null &&
		expect 403 path_not_allowed alice "${JSON[@]}" -d '{"path":"/etc/hb-to-shadow","content":"x\n"}' $A/api/editor/file >/dev/null &&
		X sh -ec 'head -c5 /etc/shadow | grep -q "root:"'
}
check "a symlink to /etc/shadow, /etc/shadow, /proc/self/root, .. and relative paths are refused" traversal
safe_mode_blocks_edits() {
	expect 200 '"changed":true' alice "${JSON[@]}" -d '{"reason":"editor test"}' $A/api/settings/guardrails/safe-mode/enter >/dev/null &&
		expect 423 safe_mode_active alice "${JSON[@]}" -d '{"path":"/etc/hb-test.conf","content":"x\n"}' $A/api/editor/file >/dev/null &&
		X grep -qx 'answer = 41' /etc/hb-test.conf
	local r=$?
	expect 200 '"safe_mode_active":false' alice -X POST $A/api/settings/guardrails/safe-mode/exit >/dev/null
	return $r
}
check "in safe mode an edit is 423 and changes nothing" safe_mode_blocks_edits

# ---------------------------------------------------------------- discovery against real systemd
check "test services: running, failed, oneshot (exited), inactive" X sh -ec '
	printf "[Service]\nExecStart=/bin/sleep infinity\n" >/etc/systemd/system/hb-running.service
	printf "[Service]\nExecStart=/bin/false\n" >/etc/systemd/system/hb-failed.service
	printf "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n" >/etc/systemd/system/hb-oneshot.service
	printf "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n" >/etc/systemd/system/hb-inactive.service
	systemctl daemon-reload
	systemctl start hb-running hb-oneshot
	systemctl start hb-failed || true
	[ "$(systemctl is-active hb-failed)" = failed ]'
scan_and_wait() { # user url types-json
	local before
	before=$(XU "$1" curl -s "$2/api/discovery" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"last_scan\"])")
	# last_scan has one-second resolution: make sure this scan cannot share the previous second.
	sleep 1.1
	expect 202 scan_id "$1" -H 'Content-Type: application/json' -d "$3" "$2/api/discovery/scan" >/dev/null || return 1
	for _ in $(seq 100); do
		now=$(XU "$1" curl -s "$2/api/discovery" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"last_scan\"])")
		[ "$now" != "$before" ] && [ "$now" != None ] && { sleep 0.5; return 0; }
		sleep 0.2
	done
	return 1
}
check "a full scan through halbert-web (202, then results)" scan_and_wait alice $A '{}'
check "the service scanner reports each unit's real state" X python3 - <<'PY'
import json, subprocess
out = subprocess.run(["runuser", "-u", "alice", "--", "curl", "-s", "http://127.0.0.1:8001/api/discovery/service"], capture_output=True, text=True).stdout
d = json.loads(out)
by = {i["id"]: i for i in d["discoveries"]}
want = {
    "service-hb-running": ("healthy", "Running"),
    "service-hb-failed": ("failed", "Failed"),
    "service-hb-oneshot": ("healthy", "Completed"),
    "service-hb-inactive": ("stopped", "Stopped"),
    "service-halbertd": ("healthy", "Running"),
}
for k, (st, detail) in want.items():
    i = by.get(k)
    print(k, i and (i["status"], i["status_detail"], i["data"]["unit_type"], i["data"]["enabled"]))
    assert i and (i["status"], i["status_detail"]) == (st, detail), k
assert by["service-hb-oneshot"]["data"]["unit_type"] == "oneshot"
assert by["service-hb-inactive"]["data"]["enabled"] == "disabled"
assert by["service-systemd-journald"]["data"]["is_critical"] is True
assert not any("@." in i["name"] for i in d["discoveries"]), "no templates"
print(len(d["discoveries"]), "services")
PY
# Podman's API socket is real; running containers is not possible inside systemd-nspawn (crun
# cannot raise RLIMIT_MEMLOCK for its eBPF device filter without CAP_SYS_RESOURCE), so the
# containers are created but not started.
check "podman: API socket up, an imported image, two created containers" X sh -ec '
	mkdir -p /tmp/img/bin && cp /bin/busybox /tmp/img/bin/ && tar -C /tmp/img -cf /tmp/img.tar .
	podman import -q /tmp/img.tar localhost/hb-busybox:1 >/dev/null
	podman create -q --network none --name hb-web -p 8080:80 localhost/hb-busybox:1 /bin/busybox httpd -f >/dev/null
	podman create -q --network none --name hb-job localhost/hb-busybox:1 /bin/busybox true >/dev/null
	systemctl start podman.socket
	curl -sf --unix-socket /run/podman/podman.sock "http://d/_ping"'
check "the container scanner lists them through the Podman API" X python3 - <<'PY'
import json, subprocess, time
subprocess.run(["runuser", "-u", "alice", "--", "curl", "-s", "-H", "Content-Type: application/json", "-d", '{"types":["container"]}', "http://127.0.0.1:8001/api/discovery/scan"], check=True, capture_output=True)
for _ in range(50):
    d = json.loads(subprocess.run(["runuser", "-u", "alice", "--", "curl", "-s", "http://127.0.0.1:8001/api/discovery/container"], capture_output=True, text=True).stdout)
    if d["discoveries"]:
        break
    time.sleep(0.2)
by = {i["id"]: i for i in d["discoveries"]}
for i in d["discoveries"]:
    print(i["id"], i["status"], i["status_detail"], i["data"]["image"], i["data"]["id"], i["data"]["runtime"])
assert set(by) == {"podman-hb-web", "podman-hb-job"}, by.keys()
web = by["podman-hb-web"]
assert (web["status"], web["status_detail"], web["data"]["runtime"]) == ("stopped", "Created", "podman")
assert web["data"]["image"] == "localhost/hb-busybox:1" and len(web["data"]["id"]) == 12
PY
check "GET /api/discovery/{type} answers the contract shape for all eight types" X python3 - <<'PY'
import json, subprocess
def get(path):
    r = subprocess.run(["runuser", "-u", "alice", "--", "curl", "-s", "-w", "\n%{http_code}", "http://127.0.0.1:8001" + path], capture_output=True, text=True).stdout
    body, code = r.rsplit("\n", 1)
    return int(code), json.loads(body)
for t in ["storage", "service", "network", "container", "gpu", "sharing", "security", "backup"]:
    code, d = get("/api/discovery/" + t)
    assert code == 200, (t, code, d)
    for i in d["discoveries"]:
        assert all(isinstance(i[k], str) for k in ["id", "type", "name", "title", "status"]) and isinstance(i["data"], dict), i
        assert i["type"] == t
    print(t, len(d["discoveries"]), "error:", d["error"])
code, d = get("/api/discovery/disks")
assert code == 400 and "storage, service" in d["detail"], d
code, d = get("/api/discovery/storage")
assert any(i["id"] == "fs-root" for i in d["discoveries"]), d
code, d = get("/api/discovery/network")
assert any(i["id"] == "listening-ports" for i in d["discoveries"]), d
PY
vanished() {
	X sh -c 'systemctl stop hb-running; rm /etc/systemd/system/hb-running.service; systemctl daemon-reload' || return 1
	scan_and_wait alice $A '{"types":["service"]}' || return 1
	local out; out=$(C alice $A/api/discovery/service) || return 1
	[ "${out##*$'\n'}" = 200 ] && [[ $out != *'"id":"service-hb-running"'* ]]
}
check "a unit removed from the system is gone after the next scan" vanished

# ---------------------------------------------------------------- chat with tools, real systemd
# The scripted model server (the one stand-in) runs inside; the tools it asks for are answered
# by halbertd from systemd over D-Bus and from the journal, with polkit judging the journal.
check "a unit that fails with a message on stderr" X sh -ec '
	printf "[Service]\nExecStart=/bin/sh -c \"echo hb-crash: cannot open /var/lib/hb/data.db: permission denied >&2; exit 3\"\n" >/etc/systemd/system/hb-crash.service
	systemctl daemon-reload; systemctl start hb-crash || true
	for i in $(seq 50); do [ "$(systemctl is-active hb-crash)" = failed ] && break; sleep 0.1; done
	[ "$(systemctl is-active hb-crash)" = failed ]'
check "the scripted model server runs inside, and both users use it" sh -ec "
	$HERE/exec.sh --name $NAME systemd-run --quiet --uid=alice --unit=scripted-llm /halbert-bin/scripted-llm --port 11435
	for i in \$(seq 50); do $HERE/exec.sh --name $NAME curl -sf http://127.0.0.1:11435/api/tags >/dev/null && break; sleep 0.1; done
	for p in 8001:alice 8002:bob; do
		u=\${p#*:}; port=\${p%%:*}
		$HERE/exec.sh --name $NAME --user \$u curl -sf -H 'Content-Type: application/json' -d '{\"id\":\"local\",\"name\":\"Local\",\"url\":\"http://127.0.0.1:11435\",\"provider\":\"ollama\"}' http://127.0.0.1:\$port/api/settings/endpoints
		$HERE/exec.sh --name $NAME --user \$u curl -sf -H 'Content-Type: application/json' -d '{\"endpoint_id\":\"local\",\"model\":\"scripted:8b\"}' http://127.0.0.1:\$port/api/settings/assign/guide
	done"
check "chat: live service status through a tool, a restart only suggested, nothing run" X python3 - <<'PY'
import json, subprocess
def ask(user, port, message):
    r = subprocess.run(["runuser", "-u", user, "--", "curl", "-s", "-w", "\n%{http_code}", "-H", "Content-Type: application/json",
                        "-d", json.dumps({"message": message}), f"http://127.0.0.1:{port}/api/chat/send"], capture_output=True, text=True).stdout
    body, code = r.rsplit("\n", 1)
    return int(code), json.loads(body)
code, a = ask("alice", 8001, "check if hb-crash.service is running, and restart it if not")
print(code, json.dumps(a["tool_calls"]), json.dumps(a["suggested_actions"]))
assert code == 200, a
assert [(c["tool"], c["ok"]) for c in a["tool_calls"]] == [("get_service_status", True), ("suggest_action", True)], a["tool_calls"]
assert '"active_state":"failed"' in a["response"] and '"result":"exit-code"' in a["response"], a["response"]
s = a["suggested_actions"]
assert len(s) == 1 and s[0]["id"] == "restart" and s[0]["unit"] == "hb-crash.service" and s[0]["target"] == "service-hb-crash", s
state = subprocess.run(["systemctl", "is-active", "hb-crash"], capture_output=True, text=True).stdout.strip()
print("hb-crash is still", state)
assert state == "failed", "a suggestion must not run anything"
PY
check "chat: a WebSocket client sees the decisions, every token in order, then chat_complete" \
	XU alice python3 /src/tests/testbed/chat_stream.py http://127.0.0.1:8001 "How much disk space is left, and what is the system load?"
check "chat: the unit's journal for alice (polkit yes), refused for bob (polkit no)" X python3 - <<'PY'
import json, subprocess
def ask(user, port, message):
    r = subprocess.run(["runuser", "-u", user, "--", "curl", "-s", "-H", "Content-Type: application/json",
                        "-d", json.dumps({"message": message}), f"http://127.0.0.1:{port}/api/chat/send"], capture_output=True, text=True).stdout
    return json.loads(r)
a = ask("alice", 8001, "show the recent errors in the logs of hb-crash.service")
print(json.dumps(a["tool_calls"]), a["response"][:300])
assert [(c["tool"], c["ok"]) for c in a["tool_calls"]] == [("read_journal", True)], a["tool_calls"]
assert "cannot open /var/lib/hb/data.db: permission denied" in a["response"], a["response"]
b = ask("bob", 8002, "show the recent errors in the logs of hb-crash.service")
print(json.dumps(b["tool_calls"]), b["response"][:300])
assert [(c["tool"], c["ok"]) for c in b["tool_calls"]] == [("read_journal", False)], b["tool_calls"]
assert "org.halbert.journal.read" in b["response"] and "data.db" not in b["response"], b["response"]
PY

# An endpoint beyond loopback: a second address on lo inside the testbed's own network
# namespace (--private-network), so nothing leaves it. The scripted model echoes the question
# it received, which shows what left halbert-web.
far_chat() {
	X sh -ec '
		ip addr add 192.0.2.10/32 dev lo 2>/dev/null || true
		systemd-run --quiet --uid=alice --unit=scripted-llm-far /halbert-bin/scripted-llm --host 192.0.2.10 --port 11436
		for i in $(seq 50); do curl -sf http://192.0.2.10:11436/api/tags >/dev/null && break; sleep 0.1; done' || return 1
	XU alice curl -sf "${JSON[@]}" -d '{"id":"far","name":"Far","url":"http://192.0.2.10:11436","provider":"ollama"}' $A/api/settings/endpoints >/dev/null || return 1
	XU alice curl -sf "${JSON[@]}" -d '{"endpoint_id":"far","model":"scripted:8b"}' $A/api/settings/assign/guide >/dev/null || return 1
	X python3 - <<'PY'
import json, subprocess
def ask(message):
    r = subprocess.run(["runuser", "-u", "alice", "--", "curl", "-s", "-H", "Content-Type: application/json",
                        "-d", json.dumps({"message": message, "debug": True}), "http://127.0.0.1:8001/api/chat/send"], capture_output=True, text=True).stdout
    return json.loads(r)
a = ask("explain DB_PASSWORD=hunter2 GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345")
print(a["response"], a["debug"].get("redacted"))
assert a["debug"]["redacted"] is True, a["debug"]
assert "DB_PASSWORD=<secret>" in a["response"] and "GITHUB_TOKEN=<secret>" in a["response"], a["response"]
assert "hunter2" not in a["response"] and "ghp_" not in a["response"], a["response"]
PY
	local rc=$?
	XU alice curl -sf "${JSON[@]}" -d '{"endpoint_id":"local","model":"scripted:8b"}' $A/api/settings/assign/guide >/dev/null
	X systemctl stop scripted-llm-far
	return $rc
}
check "chat to an endpoint beyond loopback: secrets are redacted before they leave" far_chat
check "... and to the local one the same words arrive as typed" X python3 - <<'PY'
import json, subprocess
r = subprocess.run(["runuser", "-u", "alice", "--", "curl", "-s", "-H", "Content-Type: application/json",
                    "-d", json.dumps({"message": "explain DB_PASSWORD=hunter2", "debug": True}), "http://127.0.0.1:8001/api/chat/send"], capture_output=True, text=True).stdout
a = json.loads(r)
print(a["response"])
assert "DB_PASSWORD=hunter2" in a["response"] and a["debug"]["redacted"] is False, a
PY

# ---------------------------------------------------------------- services: systemd jobs over D-Bus
AD() { X python3 /src/tests/testbed/admin.py "$@"; }
check "test units: hb-svc (runs and logs), hb-bad (its start fails with exit code 3)" AD units
check "alice starts hb-svc: job done, active/running" AD service_start
check "alice restarts it: job done, a new main PID" AD service_restart
check "GET /api/services/hb-svc: state, main PID, unit file, since (bob too); unknown 404" AD service_status
check "its logs: the unit's own line with ts/priority/pid; lines=abc 400; bob needs org.halbert.journal.read" AD service_logs
check "alice stops it: inactive/dead" AD service_stop
check "a failing start: success false, job_result failed, systemd's exit-code in the message" AD service_failing
check "bob is refused (org.halbert.service.manage) and nothing changes; unknown unit 404, bad name 422" AD service_refused
check "alice's policy forbids service_control for hb-svc: 403 naming the rule, nothing started" AD policy_denies

# ---------------------------------------------------------------- telemetry ingestion
# alice's journal lines, written with systemd-cat, through halbertd's journal stream into her
# memory; her halbert-web is kill -9'd while lines are written (see ingest.py).
check "ingestion: systemd-cat lines reach alice's self_journald filtered, rate-limited and redacted (memory, raw store, status); kill -9 of halbert-web mid-stream, restarted: every line exactly once" \
	XU alice python3 /src/tests/testbed/ingest.py $A
bob_ingest() {
	expect 403 '"action":"org.halbert.journal.read"' bob -X POST "$B/api/settings/ingestion/start" &&
		expect 200 '"running":false' bob "$B/api/settings/ingestion/status"
}
check "bob, without org.halbert.journal.read, cannot start the journald source: 403 naming the action, nothing running" bob_ingest

# ---------------------------------------------------------------- the manual pages
# Reading the documentation needs no privilege: bob indexes the testbed's /usr/share/man.
check "bob's memory indexes this machine's manual pages (sections 1, 5, 8) under Landlock: journald.conf(5), logind.conf(5) and Halbert's own halbertd.yaml(5) found; cleared, they are indexed again" \
	XU bob python3 /src/tests/testbed/manuals.py "$B"
manuals_watch() {
	X sh -ec 'printf ".TH HBTEST 8\n.SH NAME\nhbtest \\- zebracorn quokkafrost, a page a package added\n" | gzip >/usr/share/man/man8/hbtest.8.gz'
	XU bob python3 /src/tests/testbed/manuals.py "$B" watch
	local rc=$?
	X rm -f /usr/share/man/man8/hbtest.8.gz
	return $rc
}
check "a page added to /usr/share/man (as a package does) is indexed by bob's halbert-web by itself" manuals_watch

# The services page in a real headless Chromium on the host, driving a halbert-web of alice's
# inside through two relays (tests/testbed/relay.py): real systemd behind every button.
ui_services() {
	local port relay rc
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	[ -d "$REPO/tests/browser/node_modules/playwright-core" ] ||
		(cd "$REPO/tests/browser" && npm ci --no-audit --no-fund --loglevel=error) || return 1
	X sh -ec '
		printf "[Unit]\nDescription=Halbert UI test\n[Service]\nExecStart=/bin/sh -c \"echo hb-ui says hello; exec sleep infinity\"\n" >/etc/systemd/system/hb-ui.service
		systemctl daemon-reload' || return 1
	X systemd-run --quiet --uid=alice --unit=halbert-web-alice-ui --setenv=XDG_DATA_HOME=/home/alice/.ui-data \
		--setenv=XDG_CONFIG_HOME=/home/alice/.ui-config /usr/bin/halbert-web --port "$port" --sandbox strict || return 1
	X chmod 1777 "$TB_SHARE_GUEST" || return 1
	X systemd-run --quiet --uid=alice --unit=hb-ui-relay python3 /src/tests/testbed/relay.py unix "$TB_SHARE_GUEST/ui.sock" tcp 127.0.0.1 "$port" || return 1
	for _ in $(seq 100); do XU alice curl -sf -o /dev/null "http://127.0.0.1:$port/api/health" && [ -S "$TB_SHARE/ui.sock" ] && break; sleep 0.1; done
	python3 "$HERE/relay.py" tcp 127.0.0.1 "$port" unix "$TB_SHARE/ui.sock" &
	relay=$!
	node "$REPO/tests/browser/admin_ui.mjs" "http://127.0.0.1:$port" services; rc=$?
	kill "$relay"; wait "$relay" 2>/dev/null
	X systemctl stop halbert-web-alice-ui hb-ui-relay hb-ui
	return $rc
}
check "dashboard in Chromium: a unit's state and journal, start/restart/stop, a failed start (real systemd)" ui_services

# ---------------------------------------------------------------- terminal: transient units as the caller
check "terminal: alice and bob run as themselves (uid, stdout, stderr, exit code, home); no unit left" AD terminal_as_user
check "terminal: sudo id -u prints 0 for alice; bob is refused (org.halbert.exec.root)" AD terminal_sudo
check "terminal: a timed out tree with a sleep 1000 child leaves no process and no unit behind" AD terminal_timeout
check "terminal: 10 MiB of output is capped at 1 MiB and says so" AD terminal_capped
check "terminal: history newest first, each user's own" AD terminal_history

# ---------------------------------------------------------------- recovery
check "recovery: rollbacks step back one write each, up to max_rollback_depth (429)" AD recovery_rollback
check "recovery: restarts counted against max_restart_attempts (429); status lists the outcomes" AD recovery_restarts
check "recovery: an alert is kept and reaches /ws as an alert event" AD recovery_alert
check "safe mode on: every service, terminal, recovery and editor change is 423 and nothing changes" AD safe_mode_blocks_everything

# ---------------------------------------------------------------- paths, races, kill -9
check "traversal: %2e%2e, a symlink to /root, a directory" AD traversal_more
check "halbertd.yaml: an added deny entry is enforced after a restart; a broken file stops the start with the reason" AD config
check "a directory swapped for a symlink to /root during writes: nothing under /root read or written" AD swap_race
check "100 writes while halbertd is kill -9'd at random: never torn, acknowledged writes backed up, audit verify passes" AD durability

# ---------------------------------------------------------------- the safety gate
GT() { X python3 /src/tests/testbed/gate.py "$@"; }
check "gate units: hb-cfg (runs while its config says mode=ok) with hb-dep bound to it; hb-ok* stopped" GT units
check "system-wide policy: service_control for hb-* and terminal_root denied by halbertd (403 naming the rule, audited, nothing changed); a broken file refuses all" GT system_policy
check "dry run: sshd -t rejects a broken sshd_config on a private copy in a sandboxed unit; the live file untouched; bob refused" GT dryrun_sshd
check "dry run: visudo -c rejects a broken sudoers drop-in, nothing written; simulation_required stops the editor's write (422)" GT dryrun_visudo
check "dry run: systemd-analyze verify rejects a broken unit" GT dryrun_unit
check "restart plan: stop/start, the bound unit, the last start's duration; sshd warned as cutting off; unknown 404" GT restart_plan
check "a model's suggestion: an approval request on /ws, nothing run until alice approves, then run with polkit and the decision broadcast" GT approval_approved
check "a rejected suggestion runs nothing, and cannot be approved after" GT approval_rejected
check "an expired request (2 s lifetime) is refused and never runs" GT approval_expired
check "bob approves his model's suggestion; halbertd refuses it (no polkit right), nothing runs" GT approval_bob
check "health gate: a change that breaks hb-cfg is rolled back byte for byte, hb-cfg runs again, alert on /ws, both steps audited; a healthy change is kept" GT rollback

# ---------------------------------------------------------------- audit and journal
check "halbertd audit verify passes" X halbertd audit verify
check "audit records carry both uids (alice allowed, bob denied)" X python3 - "$ALICE" "$BOB" <<'PY'
import glob, json, sys
alice, bob = int(sys.argv[1]), int(sys.argv[2])
recs = [json.loads(l) for f in sorted(glob.glob("/var/lib/halbert/audit/*.jsonl")) for l in open(f)]
for r in recs:
    print(r["caller"]["uid"], r["caller"]["comm"], r["rpc"], r["outcome"], r["details"].get("granted_by", ""))
by = {(r["caller"]["uid"], r["outcome"]) for r in recs}
assert (alice, "ok") in by and (alice, "unchanged") in by, by
assert (bob, "denied") in by, by
known = {"org.halbert.guardrails.manage", "org.halbert.config.write", "org.halbert.service.manage",
         "org.halbert.exec.self", "org.halbert.exec.root"}
assert all(r["action"] in known for r in recs), {r["action"] for r in recs}
runs = [r for r in recs if r["rpc"] == "Terminal.Execute" and r["outcome"] == "ok"]
assert runs and all({"argv", "run_as_uid", "exit_code", "duration_ms"} <= set(r["details"]) for r in runs), runs[:2]
assert not any("x" * 16 in json.dumps(r) for r in recs), "the 10 MiB command's output reached the audit log"
assert any(r["rpc"] == "Services.Control" and r["outcome"] == "failed" and r["details"].get("job_result") == "failed" for r in recs)
PY
check "journald holds halbertd's structured fields" X sh -ec "
	journalctl -u halbertd -o json --no-pager >/tmp/j.json
	grep -q '\"SYSLOG_IDENTIFIER\":\"halbertd\"' /tmp/j.json
	grep -q '\"HALBERT_RPC\":\"Guardrails.EnterSafeMode\"' /tmp/j.json
	grep -q '\"HALBERT_CALLER_UID\":\"$ALICE\"' /tmp/j.json
	grep -q '\"HALBERT_CALLER_UID\":\"$BOB\"' /tmp/j.json
	grep -q '\"HALBERT_ACTION\":\"org.halbert.guardrails.manage\"' /tmp/j.json"
check "bob's 1,100 idle connections to alice's halbert-web are answered 403 and closed; alice is served meanwhile" sh -c "
	out=\$(mktemp); $HERE/exec.sh --name $NAME --user bob python3 /src/tests/testbed/hold_connections.py 8001 1100 5 >\$out & h=\$!
	sleep 1
	for i in \$(seq 20); do $HERE/exec.sh --name $NAME --user alice curl -sf -m 2 -o /dev/null http://127.0.0.1:8001/api/health || { echo \"alice's request \$i failed\"; exit 1; }; done
	wait \$h; cat \$out; grep -q 'closed 1100 refused 1100' \$out"
flood() {
	local before
	before=$(X sh -c 'cat /var/lib/halbert/audit/*.jsonl | wc -l')
	# The bucket refills at one record a second while the flood lasts, so the bound on what is
	# written follows the flood's own duration (a CI run once took 13 s for the 300 requests and
	# wrote 34 records, correctly): at most the burst, one per second elapsed, and the last one.
	local took
	took=$(XU bob sh -c 'a=$(date +%s.%N); for i in $(seq 300); do curl -s -o /dev/null -H "Content-Type: application/json" -d "{\"reason\":\"flood $i\"}" http://127.0.0.1:8002/api/settings/guardrails/safe-mode/enter; done; echo "$a $(date +%s.%N)"')
	# A token back in bob's bucket: his next refusal is written, after one record summing up
	# what was held back.
	sleep 2
	XU bob curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"reason":"after the flood"}' $B/api/settings/guardrails/safe-mode/enter
	X python3 - "$BOB" "$before" "$took" <<'PY'
import glob, json, math, sys
bob, before = int(sys.argv[1]), int(sys.argv[2])
start, end = map(float, sys.argv[3].split())
took = end - start
lines = [l for f in sorted(glob.glob("/var/lib/halbert/audit/*.jsonl")) for l in open(f)]
new = [json.loads(l) for l in lines[before:]]
denied = [r for r in new if r["outcome"] == "denied" and r["caller"]["uid"] == bob]
held = [r for r in new if r["outcome"] == "suppressed" and r["caller"]["uid"] == bob]
size = sum(len(l.encode()) for l in lines[before:])
count = sum(int(r["details"]["count"]) for r in held)
# RefusalLimiter: a burst of 20, one more a second, and the request after the pause.
bound = 20 + math.ceil(took) + 1
print(f"301 denied requests from bob in {took:.1f} s: {len(denied)} records (at most {bound}), {len(held)} suppressed record(s) counting {count}, {size} bytes ({size // 301} per request)")
assert took < 100, "the flood was too slow for the limit to be seen"
assert len(denied) + count == 301, (len(denied), count)
assert len(denied) <= bound and len(held) >= 1, (len(denied), bound, len(held))
assert size < 1_200 * (len(denied) + len(held)), size
PY
}
check "bob's 301 denied requests: a burst of 20 records and one a second, the rest counted in suppressed records" flood
check "cutting the newest audit record is found through the journal's copy of the head" X python3 - <<'PY'
import glob, shutil, subprocess
f = sorted(glob.glob("/var/lib/halbert/audit/*.jsonl"))[-1]
ok = subprocess.run(["halbertd", "audit", "verify"], capture_output=True, text=True)
print(ok.returncode, ok.stdout)
assert ok.returncode == 0 and "is in the chain" in ok.stdout, ok.stdout
shutil.copy(f, "/tmp/audit.bak")
data = open(f, "rb").read()
cut = data[: data.rstrip(b"\n").rfind(b"\n") + 1]
open(f, "wb").write(cut)
r = subprocess.run(["halbertd", "audit", "verify"], capture_output=True, text=True)
shutil.copy("/tmp/audit.bak", f)
print(r.returncode, r.stdout)
assert r.returncode == 1 and "the journal recorded head" in r.stdout, r.stdout
PY
full_disk() {
	X sh -ec '
		mkdir -p /srv/small; mountpoint -q /srv/small || mount -t tmpfs -o size=1m tmpfs /srv/small
		systemd-run --quiet --unit=hb-small /usr/sbin/halbertd serve --socket /run/halbert/small.sock --state-dir /srv/small/state
		for i in $(seq 100); do [ -S /run/halbert/small.sock ] && break; sleep 0.1; done
		chmod 666 /run/halbert/small.sock
		mkdir -p /home/alice/small && chown alice /home/alice/small
		systemd-run --quiet --uid=alice --unit=halbert-web-small --setenv=XDG_DATA_HOME=/home/alice/small /usr/bin/halbert-web --port 8003 --socket /run/halbert/small.sock
		for i in $(seq 100); do runuser -u alice -- curl -sf -o /dev/null http://127.0.0.1:8003/api/health && break; sleep 0.1; done
		dd if=/dev/zero of=/srv/small/fill bs=4k 2>/dev/null || true
		df -h /srv/small | tail -n1' || return 1
	X python3 - <<'PY' || return 1
import json, subprocess
codes = {}
for i in range(200):
    for verb, body in (("enter", json.dumps({"reason": f"full disk {i}"})), ("exit", "{}")):
        r = subprocess.run(["runuser", "-u", "alice", "--", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            "-H", "Content-Type: application/json", "-d", body,
                            f"http://127.0.0.1:8003/api/settings/guardrails/safe-mode/{verb}"], capture_output=True, text=True)
        codes[r.stdout] = codes.get(r.stdout, 0) + 1
print("answers on a full disk:", codes)
assert codes.get("200", 0) > 0, "the reserve must carry some changes"
assert sum(v for k, v in codes.items() if k != "200") > 0, "the disk never filled up"
v = subprocess.run(["halbertd", "audit", "verify", "--state-dir", "/srv/small/state"], capture_output=True, text=True)
print(v.stdout)
assert v.returncode == 0, "a full disk must not leave a torn record"
PY
	X sh -ec '
		rm /srv/small/fill; systemctl restart hb-small
		for i in $(seq 100); do [ -S /run/halbert/small.sock ] && break; sleep 0.1; done; chmod 666 /run/halbert/small.sock
		for i in $(seq 50); do runuser -u alice -- curl -sf -o /dev/null -H "Content-Type: application/json" -d "{\"reason\":\"space again\"}" http://127.0.0.1:8003/api/settings/guardrails/safe-mode/enter && break; sleep 0.2; done
		halbertd audit verify --state-dir /srv/small/state
		systemctl stop halbert-web-small hb-small; umount /srv/small'
}
check "a full disk: changes go on from the reserve, then fail cleanly; the chain never holds a torn record" full_disk
check "one flipped byte makes audit verify fail at that record" X python3 - <<'PY'
import glob, subprocess
f = sorted(glob.glob("/var/lib/halbert/audit/*.jsonl"))[-1]
data = bytearray(open(f, "rb").read())
lines = data.split(b"\n")
# flip one byte inside the summary of the second record
start = len(lines[0]) + 1
pos = data.index(b'"summary":"', start) + len(b'"summary":"')
data[pos] ^= 0x01
open(f, "wb").write(bytes(data))
r = subprocess.run(["halbertd", "audit", "verify"], capture_output=True, text=True)
print(r.returncode, r.stdout)
assert r.returncode == 1, r.returncode
assert f"{f}:2 " in r.stdout and "hash mismatch" in r.stdout, r.stdout
# The byte back: the package's upgrade below checks the chain holds across it.
data[pos] ^= 0x01
open(f, "wb").write(bytes(data))
assert subprocess.run(["halbertd", "audit", "verify"]).returncode == 0
PY
# ---------------------------------------------------------------- the embedding model's package
# Installed last, so that everything above ran with hashed words: alice's entries are embedded
# again in the background, and a paraphrase finds what shares no word with it.
MODEL_DEB=$(ls -t "$REPO"/target/debian-dev/halbert-model-minilm_*.deb 2>/dev/null | head -n 1)
semantic_memory() {
	[ -n "$MODEL_DEB" ] || { echo "no target/debian-dev/halbert-model-minilm_*.deb (make deb-dev)"; return 1; }
	X sh -ec "cp /src/${MODEL_DEB#"$REPO"/} /tmp/model.deb; DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/model.deb >/dev/null; rm /tmp/model.deb
		test -f /usr/share/halbert/models/all-MiniLM-L6-v2/model.safetensors
		systemctl --user -M alice@ restart halbert-web"
	for _ in $(seq 100); do XU alice curl -sf -o /dev/null "$A/api/health" && break; sleep 0.2; done
	XU alice python3 /src/tests/testbed/semantic.py "$A"
}
check "apt-get install halbert-model-minilm: alice's memory uses all-MiniLM-L6-v2, 'disk is full' finds 'No space left on device', her older entries embedded again" semantic_memory

# ---------------------------------------------------------------- the package's life: upgrade, remove, purge, reinstall
NEXT=$(ls -t "$REPO"/target/debian-dev/next/halbert_*.deb 2>/dev/null | head -n 1)
PK() { X sh /src/tests/testbed/package.sh "$@"; }
check "upgrade to the next revision: halbertd restarted, safe mode with its reason, the audit log, discovery and alice's conversation kept (her unit restarted onto the new binary); audit verify passes" \
	PK upgrade "/src/${NEXT#"$REPO"/}"
check "remove: binaries and the socket gone, /etc/halbert and /var/lib/halbert kept" PK remove
check "purge: /etc/halbert and /var/lib/halbert gone, alice's own state left alone" PK purge
check "reinstall after purge: the socket enabled and listening, alice's halbert-web reaches halbertd again" \
	PK reinstall "/src/${DEB#"$REPO"/}"
echo "$PASS passed, $FAIL failed"
[ $FAIL = 0 ]
