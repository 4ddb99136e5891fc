//! Mounts: `/proc/self/mountinfo` parsed, the filesystems that hold data on this machine, and
//! their size and use (`statvfs`). Status and the storage and sharing scanners all read them
//! this way.

use super::HostRoot;

/// A mountinfo line that is not in the kernel's format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse /proc/self/mountinfo: {0}")]
pub struct MountinfoError(pub &'static str);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsUsage {
    pub mountpoint: String,
    pub device: String,
    pub fstype: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub available_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub dev: String,
    pub mountpoint: String,
    pub fstype: String,
    pub source: String,
}

/// Undoes the octal escapes (`\040` for a space) the kernel uses in mountinfo fields.
pub fn unescape_mount_field(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/self/mountinfo`.
pub fn parse_mountinfo(text: &str) -> Result<Vec<MountEntry>, MountinfoError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        // id parent major:minor root mountpoint options [optional...] - fstype source superopts
        let (left, right) = line
            .split_once(" - ")
            .ok_or(MountinfoError("no ' - ' separator"))?;
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 2 {
            return Err(MountinfoError("short line"));
        }
        out.push(MountEntry {
            dev: l[2].to_owned(),
            mountpoint: unescape_mount_field(l[4]),
            fstype: r[0].to_owned(),
            source: unescape_mount_field(r[1]),
        });
    }
    Ok(out)
}

/// Kernel-internal and virtual filesystems that hold no user data.
const PSEUDO_FS: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "tmpfs",
    "securityfs",
    "cgroup",
    "cgroup2",
    "pstore",
    "bpf",
    "debugfs",
    "tracefs",
    "mqueue",
    "hugetlbfs",
    "configfs",
    "fusectl",
    "autofs",
    "binfmt_misc",
    "efivarfs",
    "squashfs",
    "overlay",
    "nsfs",
    "ramfs",
    "rpc_pipefs",
    "selinuxfs",
    "nfsd",
];

/// Network and FUSE filesystems: `statvfs` on a dead server blocks without a bound, so the
/// status (which must answer every few seconds) leaves them to the discovery scanners.
fn is_remote(fstype: &str) -> bool {
    matches!(
        fstype,
        "nfs" | "nfs4" | "cifs" | "smb3" | "9p" | "ceph" | "glusterfs"
    ) || fstype.starts_with("fuse")
}

/// Filesystems that hold data on this machine, one per device (bind mounts and btrfs
/// subvolumes of one device report the same usage). `/` is always kept, whatever it is
/// (containers boot from overlayfs).
pub fn real_filesystems(mounts: &[MountEntry]) -> impl Iterator<Item = &MountEntry> {
    let mut seen = std::collections::HashSet::new();
    mounts.iter().filter(move |m| {
        let keep = m.mountpoint == "/"
            || (!PSEUDO_FS.contains(&m.fstype.as_str())
                && !is_remote(&m.fstype)
                && !m.mountpoint.starts_with("/snap/")
                && m.source.starts_with('/')
                && !m.source.starts_with("/dev/loop"));
        keep && seen.insert(m.dev.clone())
    })
}

/// Size and use of one mounted filesystem (`statvfs` on its mount point under `root`).
pub fn fs_usage(root: &HostRoot, m: &MountEntry) -> Option<FsUsage> {
    let st = nix::sys::statvfs::statvfs(&root.path(&m.mountpoint)).ok()?;
    let frsize = st.fragment_size();
    let total = st.blocks().saturating_mul(frsize);
    let free = st.blocks_free().saturating_mul(frsize);
    let avail = st.blocks_available().saturating_mul(frsize);
    Some(FsUsage {
        mountpoint: m.mountpoint.clone(),
        device: m.source.clone(),
        fstype: m.fstype.clone(),
        total_bytes: total,
        used_bytes: total.saturating_sub(free),
        available_bytes: avail,
    })
}
