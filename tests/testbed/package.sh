#!/bin/sh
# Inside a testbed instance, as root: the package's life after the install — an upgrade to the
# next revision, remove, purge and a reinstall — each checked for what an administrator relies
# on. Used by suite.sh (late, when there is state to keep).
#
#   package.sh upgrade NEXT.deb | remove | purge | reinstall DEB
set -eu
apt_install() {
	cp "$1" /tmp/halbert.deb
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		-o Dpkg::Options::=--force-confold /tmp/halbert.deb >/dev/null
	rm -f /tmp/halbert.deb
}
records() { cat /var/lib/halbert/audit/*.jsonl | wc -l; }
alice() { runuser -u alice -- curl -sf -H 'Content-Type: application/json' "$@"; }
fail() { echo "$*"; exit 1; }

case $1 in
upgrade)
	# State worth keeping: safe mode on (with its reason), the audit log, discovery's results,
	# and one of alice's conversations (hers, in halbert-web's state).
	alice -d '{"reason":"kept across the upgrade"}' http://127.0.0.1:8001/api/settings/guardrails/safe-mode/enter >/dev/null
	conv=$(alice -d '{"name":"kept across the upgrade","persona":"guide"}' http://127.0.0.1:8001/api/conversations |
		sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
	[ -n "$conv" ] || fail "could not create a conversation"
	webpid=$(systemctl --user -M alice@ show -p MainPID --value halbert-web.service)
	pid=$(systemctl show -p MainPID --value halbertd.service)
	[ "$pid" != 0 ] || fail "halbertd is not running before the upgrade"
	before=$(records)
	[ -d /var/lib/halbert/discovery ] || fail "no discovery state to keep"
	apt_install "$2"
	v=$(dpkg-query -W -f='${Version}' halbert)
	[ "$v" = "${3:-0.1.0-2}" ] || fail "the installed version is $v"
	now=$(systemctl show -p MainPID --value halbertd.service)
	echo "halbertd MainPID $pid -> $now, audit records $before -> $(records)"
	[ "$now" != 0 ] && [ "$now" != "$pid" ] || fail "halbertd was not restarted by the upgrade"
	status=$(alice http://127.0.0.1:8001/api/settings/guardrails/status)
	echo "$status" | grep -q '"safe_mode_active":true' || fail "safe mode did not survive: $status"
	echo "$status" | grep -q 'kept across the upgrade' || fail "its reason did not survive: $status"
	[ "$(records)" -ge "$before" ] || fail "audit records were lost"
	[ -d /var/lib/halbert/discovery ] || fail "discovery state was lost"
	halbertd audit verify
	# alice's halbert-web is hers to restart onto the new binary (the package does not reach
	# into users' managers); her conversation is still there after it.
	systemctl --user -M alice@ restart halbert-web.service
	for i in $(seq 100); do alice -o /dev/null http://127.0.0.1:8001/api/health && break; sleep 0.1; done
	[ "$(systemctl --user -M alice@ show -p MainPID --value halbert-web.service)" != "$webpid" ] ||
		fail "alice's halbert-web was not restarted"
	alice "http://127.0.0.1:8001/api/conversations/$conv" | grep -q '"kept across the upgrade"' ||
		fail "alice's conversation did not survive"
	alice -X POST http://127.0.0.1:8001/api/settings/guardrails/safe-mode/exit >/dev/null
	;;
remove)
	DEBIAN_FRONTEND=noninteractive apt-get remove -y -q halbert >/dev/null
	[ ! -e /usr/sbin/halbertd ] || fail "the binary is still there"
	[ "$(systemctl is-active halbertd.socket || true)" != active ] || fail "the socket still listens"
	[ -f /etc/halbert/halbertd.yaml ] && [ -f /etc/halbert/policy.yml ] || fail "remove took /etc/halbert"
	[ -d /var/lib/halbert/audit ] || fail "remove took /var/lib/halbert"
	;;
purge)
	[ -d /home/alice/.local/share/halbert ] || fail "alice has no halbert-web state to keep"
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -q halbert >/dev/null
	[ ! -e /etc/halbert ] || fail "purge kept /etc/halbert"
	[ ! -e /var/lib/halbert ] || fail "purge kept /var/lib/halbert"
	[ -d /home/alice/.local/share/halbert ] || fail "purge touched alice's own state"
	! dpkg -s halbert >/dev/null 2>&1 || fail "dpkg still knows the package"
	;;
reinstall)
	apt_install "$2"
	[ "$(systemctl is-enabled halbertd.socket)" = enabled ] || fail "the socket is not enabled"
	[ "$(systemctl is-active halbertd.socket)" = active ] || fail "the socket does not listen"
	for i in $(seq 50); do
		alice http://127.0.0.1:8001/api/settings/guardrails/status >/dev/null && break
		sleep 0.2
	done
	alice http://127.0.0.1:8001/api/settings/guardrails/status | grep -q '"safe_mode_active":false' ||
		fail "alice's halbert-web does not reach the reinstalled halbertd"
	;;
*)
	echo "usage: package.sh upgrade NEXT.deb | remove | purge | reinstall DEB" >&2
	exit 2
	;;
esac
