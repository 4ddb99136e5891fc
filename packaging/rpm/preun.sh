# halbert's %preun: $1 is 0 when the package is erased (not on an upgrade, where %postun
# restarts the daemon instead).
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
	systemctl disable --now halbertd.socket halbertd.service >/dev/null 2>&1 || :
fi
