# halbert's %postun: $1 is 0 after an erase, 1 after an upgrade. RPM has no purge: halbertd's
# state in /var/lib/halbert (audit log, backups) stays after an erase, as on Debian after a
# remove, for the administrator to delete (rm -rf /var/lib/halbert).
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
	if [ "$1" -ge 1 ]; then
		# Upgrade: the running daemon (if any) is replaced; its state stays.
		systemctl try-restart halbertd.service || :
	fi
fi
