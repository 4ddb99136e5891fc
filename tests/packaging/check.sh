#!/usr/bin/env bash
# The two packages checked against each other, without an RPM-based system:
#   tests/packaging/check.sh DEB RPM        (as root: rpm --root sets files' owners)
# - the .rpm's payload (rpm -qlp) is the .deb's (dpkg-deb -c), but for each distribution's own
#   conventions, listed below;
# - every maintainer script and scriptlet passes sh -n;
# - rpm --root SCRATCH -i --nodeps --noscripts unpacks the .rpm, with the modes, config files
#   and binaries the .deb has.
# Prints each check; exits non-zero on the first failure.
set -euo pipefail
DEB=$1 RPM=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; exit 1; }

# Regular files and symlinks only: dpkg lists directories, rpm lists only what it owns.
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' | sort >"$tmp/deb"
# Each distribution's conventions, the only differences allowed: Debian's copyright file and
# changelog.Debian.gz (an RPM has the licence and the changelog in its header and in
# CHANGELOG.md), and zsh's completion directory (Fedora's zsh reads site-functions, Debian's
# vendor-completions).
grep -v -x -e /usr/share/doc/halbert/copyright -e /usr/share/doc/halbert/changelog.Debian.gz "$tmp/deb" >"$tmp/deb.cmp"
rpm -qlp "$RPM" | sed 's|^/usr/share/zsh/site-functions/|/usr/share/zsh/vendor-completions/|' | sort >"$tmp/rpm.cmp"
[ "$(wc -l <"$tmp/deb.cmp")" -ge 20 ] || fail "the .deb lists only $(wc -l <"$tmp/deb.cmp") files"
diff -u "$tmp/deb.cmp" "$tmp/rpm.cmp" >"$tmp/diff" || { cat "$tmp/diff"; fail "the .rpm's payload differs from the .deb's"; }
ok "the .rpm's payload is the .deb's: $(wc -l <"$tmp/rpm.cmp") files (rpm -qlp vs dpkg-deb -c)"
[ "$(rpm -qp --configfiles "$RPM" | sort | tr '\n' ' ')" = "/etc/halbert/halbertd.yaml /etc/halbert/policy.yml " ] ||
	fail "config files: $(rpm -qp --configfiles "$RPM" | tr '\n' ' ')"
dpkg-deb -e "$DEB" "$tmp/control"
[ "$(sort "$tmp/control/conffiles" | tr '\n' ' ')" = "/etc/halbert/halbertd.yaml /etc/halbert/policy.yml " ] ||
	fail "conffiles: $(tr '\n' ' ' <"$tmp/control/conffiles")"
ok "both mark /etc/halbert/halbertd.yaml and policy.yml as config files"

n=0
for tag in PREIN POSTIN PREUN POSTUN; do
	rpm -qp --qf "%{$tag}" "$RPM" >"$tmp/$tag"
	[ "$(cat "$tmp/$tag")" = "(none)" ] && continue
	sh -n "$tmp/$tag" || fail "the .rpm's $tag scriptlet does not parse"
	n=$((n + 1))
done
[ $n = 3 ] || fail "expected 3 scriptlets (post, preun, postun), found $n"
for s in postinst prerm postrm; do
	[ -f "$tmp/control/$s" ] || fail "the .deb has no $s"
	sh -n "$tmp/control/$s" || fail "the .deb's $s does not parse"
done
ok "sh -n: the .rpm's 3 scriptlets and the .deb's postinst, prerm, postrm"

root="$tmp/root"
mkdir -p "$root"
rpm --root "$root" --initdb
# Debian's rpm warns that it is not the system's package manager; the warning is expected.
rpm --root "$root" -i --nodeps --noscripts "$RPM" 2>"$tmp/rpm.err" || { cat "$tmp/rpm.err"; fail "rpm -i"; }
rpm --root "$root" -q halbert >/dev/null || fail "rpm does not know halbert after -i"
[ "$(stat -c %a "$root/usr/sbin/halbertd") $(stat -c %a "$root/usr/bin/halbert-web")" = "755 755" ] || fail "binaries' modes"
[ "$(stat -c %a "$root/etc/halbert/policy.yml")" = 644 ] || fail "policy.yml's mode"
"$root/usr/sbin/halbertd" --version | grep -q "^halbertd " || fail "the unpacked halbertd does not run"
"$root/usr/bin/halbert-web" --version | grep -q "^halbert-web " || fail "the unpacked halbert-web does not run"
cmp "$root/usr/lib/systemd/system/halbertd.service" "$REPO/systemd/halbertd.service" || fail "halbertd.service differs from the repository's"
ok "rpm --root SCRATCH -i --nodeps --noscripts unpacks it: $(find "$root/usr" "$root/etc" -type f | wc -l) files, binaries run, modes kept"
