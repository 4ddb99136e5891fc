# shellcheck shell=bash
# Common settings and helpers for the halbert testbed scripts.
# Sourced by make-rootfs.sh, boot.sh, exec.sh, stop.sh. Not meant to be run.

set -euo pipefail

TB_ROOT=${TB_ROOT:-/var/tmp/halbert-testbed}      # everything lives under here
TB_SUITE=${TB_SUITE:-bookworm}
TB_CACHE=$TB_ROOT/cache                            # tarballs, .deb cache, vm images
TB_ROOTFS_DIR=$TB_ROOT/rootfs                      # extracted (read-only) base trees
TB_INST_DIR=$TB_ROOT/instances                     # one dir per running container/VM
TB_CGROUP_PARENT=halbert-testbed                   # nspawn instances get their own cgroup

# Packages in the base tree (used by both backends). Bump TB_LAYOUT_VERSION when
# the customisation in make-rootfs.sh changes, so caches are rebuilt.
TB_LAYOUT_VERSION=8
TB_BASE_PKGS=${TB_BASE_PKGS:-systemd,systemd-sysv,dbus,polkitd,libpam-systemd,procps,iproute2,less,curl,python3,acl,attr}
# Installed with apt inside the tree after debootstrap (debootstrap's own resolver fails to
# configure podman's dependencies). podman: the container scanner's tests use its real API socket;
# openssh-server and sudo: the dry runs' real validators (sshd -t, visudo -c); dbus-user-session:
# the user bus that `systemctl --user -M alice@` reaches her user manager through.
TB_EXTRA_PKGS=${TB_EXTRA_PKGS:-podman busybox-static openssh-server sudo dbus-user-session}
# Extra packages for the qemu image (kernel + a way in).
TB_VM_PKGS=${TB_VM_PKGS:-linux-image-amd64 initramfs-tools openssh-server}

tb_log() { printf '[testbed %s] %s\n' "$(date +%T)" "$*" >&2; }
tb_die() { tb_log "ERROR: $*"; exit 1; }

tb_need_root() { [ "$(id -u)" = 0 ] || tb_die "must run as root"; }

# Install host packages only if a binary is missing (apt-get update once).
tb_ensure_host_pkgs() { # pairs: binary package
	local missing=() bin pkg
	while [ $# -gt 1 ]; do
		bin=$1 pkg=$2; shift 2
		command -v "$bin" >/dev/null 2>&1 || missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	tb_log "installing host packages: ${missing[*]}"
	if [ ! -e "$TB_ROOT/.apt-updated" ] || [ -n "$(find "$TB_ROOT/.apt-updated" -mmin +360 2>/dev/null)" ]; then
		mkdir -p "$TB_ROOT"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		touch "$TB_ROOT/.apt-updated"
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# The Debian mirror apt is configured with (deb822 or one-line format).
tb_mirror() {
	if [ -n "${TB_MIRROR:-}" ]; then echo "$TB_MIRROR"; return; fi
	local m=""
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		m=$(awk '/^URIs:/{for(i=2;i<=NF;i++) if ($i !~ /security/) {print $i; exit}}' /etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$m" ]; then
		m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' | head -n1)
	fi
	if [ -z "$m" ]; then echo "testbed: no Debian mirror found in apt sources; set TB_MIRROR" >&2; return 1; fi
	echo "$m"
}

# Cache key: changes when package lists / layout / suite change.
tb_base_key() { printf '%s|%s|%s|%s' "$TB_SUITE" "$TB_LAYOUT_VERSION" "$TB_BASE_PKGS" "$TB_EXTRA_PKGS" | sha256sum | cut -c1-12; }
tb_vm_key() { printf '%s|%s' "$(tb_base_key)" "$TB_VM_PKGS" | sha256sum | cut -c1-12; }
tb_base_tree() { echo "$TB_ROOTFS_DIR/base-$(tb_base_key)"; }
tb_vm_image() { echo "$TB_CACHE/vm-$(tb_vm_key)"; }  # dir with rootfs.img, vmlinuz, initrd.img, id_ed25519

tb_inst() { echo "$TB_INST_DIR/$1"; }

# Run a command in its own cgroup $TB_CGROUP_PARENT/<cg> (name=systemd v1 + cgroup2 trees), then
# remove that cgroup. Needed for every systemd-nspawn call here: with --keep-unit, nspawn creates
# payload/ and supervisor/ below its own cgroup, which is otherwise the root (collisions, leftovers).
tb_run_in_cgroup() { # cg cmd...
	local cg=$TB_CGROUP_PARENT/$1; shift
	local rc=0
	(
		for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
			[ -e "$h/cgroup.procs" ] || continue
			mkdir -p "$h/$cg" && echo "$BASHPID" >"$h/$cg/cgroup.procs" || true
		done
		exec "$@"
	) || rc=$?
	tb_cgroup_rm "$cg"
	return $rc
}
tb_cgroup_rm() { # cg (relative to the hierarchy roots); only empty cgroups can be removed
	local h
	for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
		[ -d "$h/$1" ] || continue
		find "$h/$1" -depth -type d -exec rmdir {} \; 2>/dev/null || true
		rmdir "$h/$TB_CGROUP_PARENT" 2>/dev/null || true
	done
	return 0
}

# PID of the container's init (its PID 1) as seen from the host.
tb_leader_pid() {
	local dir; dir=$(tb_inst "$1")
	local ns; ns=$(cat "$dir/nspawn.pid" 2>/dev/null) || return 1
	kill -0 "$ns" 2>/dev/null || return 1
	local c; c=$(cat "/proc/$ns/task/$ns/children" 2>/dev/null | awk '{print $1}')
	[ -n "$c" ] || return 1
	echo "$c"
}

# Run a command inside an nspawn container, with a clean environment.
tb_nspawn_exec() { # name cmd...
	local name=$1; shift
	local leader; leader=$(tb_leader_pid "$name") || { tb_log "container $name not running"; return 125; }
	nsenter -t "$leader" -m -u -i -n -p -C -r -w -- \
		/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

# ssh into a VM instance. The first call starts a multiplexing master (ControlPersist), so later
# calls skip the key exchange (matters a lot under TCG); stop.sh ends the master.
tb_vm_ssh() { # name [ssh args/cmd...]
	local name=$1; shift
	local dir; dir=$(tb_inst "$name")
	local port; port=$(cat "$dir/ssh.port")
	ssh -q -i "$dir/id_ed25519" -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o LogLevel=ERROR -o ConnectTimeout=5 -o BatchMode=yes -o ServerAliveInterval=5 \
		-o ControlMaster=auto -o ControlPath="$dir/ssh.ctl" -o ControlPersist=600 root@127.0.0.1 "$@"
}

# qemu-system-x86_64 command (array TB_QEMU). Uses the host's if installed; otherwise unpacks
# Debian's qemu-system-x86 and the libraries the host lacks into $TB_ROOT/qemu with
# `apt-get download` + `dpkg -x`, because installing qemu-system-x86 (7.2) with apt would
# remove this machine's qemu-utils 10.0 (bookworm-backports; it Breaks qemu-system-common << 8).
tb_qemu() {
	if command -v qemu-system-x86_64 >/dev/null 2>&1; then
		TB_QEMU=(qemu-system-x86_64); return 0
	fi
	local q=$TB_ROOT/qemu
	if [ ! -e "$q/.ready" ]; then
		tb_log "unpacking qemu-system-x86 into $q (no host install)"
		[ -e "$TB_ROOT/.apt-updated" ] || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2; touch "$TB_ROOT/.apt-updated"; }
		rm -rf "$q"; mkdir -p "$q/debs" "$q/root"
		local pkgs
		pkgs=$(apt-get install -s --no-install-recommends qemu-system-x86 2>/dev/null | awk '/^Inst /{print $2}')
		[ -n "$pkgs" ] || tb_die "apt cannot resolve qemu-system-x86"
		# shellcheck disable=SC2086
		(cd "$q/debs" && apt-get download -qq -o APT::Sandbox::User=root $pkgs >&2) || tb_die "apt-get download failed"
		local d; for d in "$q"/debs/*.deb; do dpkg -x "$d" "$q/root"; done
		touch "$q/.ready"
	fi
	TB_QEMU=(env "LD_LIBRARY_PATH=$q/root/usr/lib/x86_64-linux-gnu:$q/root/lib/x86_64-linux-gnu"
		"$q/root/usr/bin/qemu-system-x86_64"
		-L "$q/root/usr/share/qemu" -L "$q/root/usr/share/seabios" -L "$q/root/usr/lib/ipxe/qemu")
}

# kvm if it can run a stock kernel, else tcg. A /dev/kvm backed by kvm_pvm (PVM, as on the
# Firecracker machines: kernel cmdline nested_pvm=1) only runs PVM-enabled guest kernels: a Debian
# kernel hangs right after "Probing EDD" (or qemu aborts on MSR 0x10a with -cpu host).
tb_default_accel() {
	if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then echo kvm; else echo tcg; fi
}

tb_exec() { # name cmd...
	local name=$1; shift
	local dir; dir=$(tb_inst "$name")
	[ -f "$dir/backend" ] || { tb_log "no instance named $name"; return 125; }
	case $(cat "$dir/backend") in
	nspawn) tb_nspawn_exec "$name" "$@" ;;
	qemu)
		# quote every argument for the remote shell
		local q="" a
		for a in "$@"; do q+=" $(printf '%q' "$a")"; done
		tb_vm_ssh "$name" "$q"
		;;
	esac
}
