# halbert's %post (cargo-generate-rpm expands no %systemd_* macros: this is what they do, as
# the .deb's postinst does). $1 is 1 on a first install, 2 on an upgrade.
systemd-sysusers halbert.conf >/dev/null 2>&1 || systemd-sysusers halbert.conf || :
systemd-tmpfiles --create halbert.conf || :
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || :
	if [ "$1" -eq 1 ]; then
		# First install: listen on the socket now and at every boot.
		systemctl enable --now halbertd.socket || :
	fi
elif [ "$1" -eq 1 ]; then
	# No systemd running (an image build): enable for the next boot only.
	systemctl enable halbertd.socket >/dev/null 2>&1 || :
fi
