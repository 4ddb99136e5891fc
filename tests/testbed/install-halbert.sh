#!/bin/sh
# Inside a testbed instance, as root: installs Halbert the way its package does (binaries from
# /halbert-bin, units, sysusers, tmpfiles, polkit policy and rules) and enables the socket.
# Used by suite.sh and bench-admin.sh.
set -e
install -m755 /halbert-bin/halbertd /usr/sbin/halbertd
install -m755 /halbert-bin/halbert-web /usr/bin/halbert-web
install -m644 /src/systemd/halbertd.socket /src/systemd/halbertd.service /etc/systemd/system/
install -D -m644 /src/systemd/halbert.sysusers /usr/lib/sysusers.d/halbert.conf
install -D -m644 /src/systemd/halbert.tmpfiles /usr/lib/tmpfiles.d/halbert.conf
install -D -m644 /src/polkit/org.halbert.policy /usr/share/polkit-1/actions/org.halbert.policy
install -D -m644 /src/polkit/50-halbert.rules /etc/polkit-1/rules.d/50-halbert.rules
# The documented default system-wide policy (allows everything; examples in comments).
install -D -m644 /src/packaging/policy.yml /etc/halbert/policy.yml
systemd-sysusers halbert.conf
systemd-tmpfiles --create halbert.conf
systemctl daemon-reload
systemctl enable --now halbertd.socket
