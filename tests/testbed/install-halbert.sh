#!/bin/sh
# Inside a testbed instance, as root: installs Halbert the way an administrator does, from its
# Debian package (`apt-get install ./halbert_*.deb`; the image holds every dependency, so no
# network is needed). The package's postinst creates the groups and /var/lib/halbert and enables
# and starts halbertd.socket. Used by suite.sh and bench-admin.sh.
#
#   install-halbert.sh PATH/TO/halbert_VERSION_ARCH.deb
set -e
deb=${1:?usage: install-halbert.sh PATH/TO/halbert.deb}
[ -f "$deb" ] || { echo "no package at $deb (make deb builds it)" >&2; exit 2; }
# apt takes a local file only by a path with a slash; a copy keeps the bind mount read-only.
cp "$deb" /tmp/halbert.deb
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	-o Dpkg::Options::=--force-confold /tmp/halbert.deb
rm -f /tmp/halbert.deb
