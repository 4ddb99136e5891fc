//! Configuration files: the one module of halbertd that writes outside its state dir.
//!
//! A path is checked for syntax, its symlinks resolved once, and the *resolved* path judged by
//! the [`policy::Policy`]; then it is opened with `openat2(RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS)`, so a component swapped for a symlink after the check makes the open
//! fail instead of escaping. Reads give the content with a version tag over inode, mtime, size
//! and SHA-256. A write compares that tag when the caller sends one (compare-and-swap, as
//! Cockpit's `fsreplace1` does), backs up the current content, writes a temp file in the same
//! directory with the old owner, group, mode and extended attributes, fsyncs it, renames it
//! over the file and fsyncs the directory: a crash leaves the old file or the new one, never a
//! torn one. Everything goes through [`HostRoot`], so tests run on a temporary tree.

pub mod backups;
pub mod policy;
pub mod validate;
mod xattr;

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2, renameat};
use nix::sys::stat::{FileStat, Mode, fchmod, fstat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fsync, unlinkat};
use sha2::{Digest, Sha256};

use crate::host::HostRoot;
use backups::{BackupMeta, Backups};
pub use policy::{Access, PathError, Policy};

/// The largest file read or written, in bytes.
pub const MAX_SIZE: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0} is not a regular file")]
    NotRegular(String),
    #[error("{path} is {size} bytes; at most {MAX_SIZE} are read or written")]
    TooLarge { path: String, size: u64 },
    #[error("{0} is not UTF-8 text, so it is not edited here")]
    Binary(String),
    #[error("{path} changed since it was read (now version {current})")]
    Conflict { path: String, current: String },
    #[error("no backup {id:?} of {path}")]
    NoBackup { path: String, id: String },
    /// A symlink (or a file) appeared where the resolved path had a directory: the tree
    /// changed between the check and the open, and nothing was opened through it.
    #[error("{0} changed while it was being opened (a symlink appeared); try again")]
    Changed(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: io::Error,
    },
}

/// A file as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileView {
    /// The resolved path.
    pub path: String,
    pub content: String,
    pub size: u64,
    pub modified_unix: i64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub version: String,
    pub language: &'static str,
}

/// What a write or a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: String,
    /// The backup of the content replaced; `None` for a new file.
    pub backup: Option<BackupMeta>,
    pub version: String,
    pub old_sha256: Option<String>,
    pub new_sha256: String,
    pub size: u64,
}

/// A caller as ordinary file permissions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// What ordinary permissions would let a caller do with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permits {
    pub read: bool,
    pub write: bool,
}

fn allowed(st: &std::fs::Metadata, who: &Who, bits: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    if who.uid == 0 {
        return true;
    }
    let mode = st.mode();
    let shift = if st.uid() == who.uid {
        6
    } else if st.gid() == who.gid || who.groups.contains(&st.gid()) {
        3
    } else {
        0
    };
    (mode >> shift) & bits == bits
}

/// The editor language (Monaco's id) of a path.
pub fn language(path: &Path) -> &'static str {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let in_dir = |d: &str| path.parent().is_some_and(|p| p.starts_with(d));
    match ext {
        "json" => "json",
        "yaml" | "yml" => "yaml",
        "xml" => "xml",
        "py" => "python",
        "sh" | "bash" => "shell",
        "toml" | "conf" | "ini" | "cfg" | "service" | "socket" | "timer" | "mount" | "target"
        | "path" | "slice" | "network" | "netdev" | "link" => {
            if in_dir("/etc/nginx") {
                "nginx"
            } else {
                "ini"
            }
        }
        _ if in_dir("/etc/nginx") => "nginx",
        _ => "plaintext",
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The version tag of a file's state: changes when its inode, mtime, size or content does.
fn version_of(st: &FileStat, content: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(st.st_ino.to_le_bytes());
    h.update(st.st_mtime.to_le_bytes());
    h.update(st.st_mtime_nsec.to_le_bytes());
    h.update(st.st_size.to_le_bytes());
    h.update(Sha256::digest(content));
    format!("v1-{}", &hex::encode(h.finalize())[..32])
}

const NO_LINKS: ResolveFlag =
    ResolveFlag::RESOLVE_NO_SYMLINKS.union(ResolveFlag::RESOLVE_NO_MAGICLINKS);

#[derive(Debug)]
pub struct Files {
    root: HostRoot,
    /// The root directory, canonical, so that resolved paths can be mapped back.
    real_root: PathBuf,
    policy: Policy,
    backups: Backups,
}

impl Files {
    pub fn open(root: HostRoot, policy: Policy, backups_dir: PathBuf) -> io::Result<Self> {
        let real_root = std::fs::canonicalize(root.path("/"))?;
        Ok(Self {
            root,
            real_root,
            policy,
            backups: Backups::open(backups_dir)?,
        })
    }

    fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FileError + 'a {
        move |source| FileError::Io {
            what,
            path: path.display().to_string(),
            source,
        }
    }

    /// Checks `path`, resolves its symlinks once and judges the result. A file that does not
    /// exist yet (a write of a new file) is resolved through its directory.
    pub fn resolve(&self, path: &str, access: Access) -> Result<PathBuf, FileError> {
        let asked = policy::check_syntax(path)?;
        self.policy.check_asked(&asked)?;
        let host = self.root.path(&asked);
        let real = match std::fs::canonicalize(&host) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound && access == Access::Write => {
                let parent = host
                    .parent()
                    .ok_or_else(|| FileError::NotFound(path.into()))?;
                let name = host
                    .file_name()
                    .ok_or_else(|| FileError::NotFound(path.into()))?;
                std::fs::canonicalize(parent)
                    .map_err(|e| match e.kind() {
                        io::ErrorKind::PermissionDenied => PathError::Hidden(path.into()).into(),
                        _ => FileError::NotFound(path.into()),
                    })?
                    .join(name)
            }
            // A missing file, or a file where a directory was named (`/etc/hosts/x`).
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                return Err(FileError::NotFound(path.into()));
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(PathError::Hidden(path.into()).into());
            }
            Err(e) => return Err(Self::io("resolving", &asked)(e)),
        };
        // Back to a host path; a link that leaves the root leaves everything allowed.
        let rel = real.strip_prefix(&self.real_root).map_err(|_| {
            let verb = if access == Access::Write {
                "change"
            } else {
                "read"
            };
            PathError::Outside(path.into(), verb)
        })?;
        let resolved = Path::new("/").join(rel);
        self.policy.check(&resolved, access)?;
        Ok(resolved)
    }

    /// Opens `resolved` (from [`Files::resolve`]) without following any symlink.
    fn open_file(&self, resolved: &Path, flags: OFlag) -> Result<OwnedFd, FileError> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
            .resolve(NO_LINKS);
        openat2(nix::fcntl::AT_FDCWD, &self.root.path(resolved), how).map_err(|e| match e {
            nix::Error::ENOENT => FileError::NotFound(resolved.display().to_string()),
            // A symlink where a resolved path had none: the tree changed under us.
            // Without openat2 (a kernel before 5.6, or a seccomp filter that refuses it) there
            // is no way to open a file without following links: say so instead of opening it
            // another way.
            nix::Error::ENOSYS => FileError::Unsupported(
                "this system does not offer openat2, which halbertd needs to open files without following symlinks".into(),
            ),
            nix::Error::ELOOP | nix::Error::EXDEV | nix::Error::ENOTDIR => {
                FileError::Changed(resolved.display().to_string())
            }
            other => Self::io("opening", resolved)(other.into()),
        })
    }

    /// Reads an open regular file: its stat and content, within [`MAX_SIZE`].
    fn read_fd(fd: &OwnedFd, resolved: &Path) -> Result<(FileStat, Vec<u8>), FileError> {
        let st = fstat(fd.as_fd()).map_err(|e| Self::io("inspecting", resolved)(e.into()))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(FileError::NotRegular(resolved.display().to_string()));
        }
        if st.st_size as u64 > MAX_SIZE {
            return Err(FileError::TooLarge {
                path: resolved.display().to_string(),
                size: st.st_size as u64,
            });
        }
        let mut content = Vec::with_capacity(st.st_size as usize);
        std::fs::File::from(fd.try_clone().map_err(Self::io("reading", resolved))?)
            .take(MAX_SIZE + 1)
            .read_to_end(&mut content)
            .map_err(Self::io("reading", resolved))?;
        if content.len() as u64 > MAX_SIZE {
            return Err(FileError::TooLarge {
                path: resolved.display().to_string(),
                size: content.len() as u64,
            });
        }
        Ok((st, content))
    }

    pub fn read(&self, path: &str) -> Result<FileView, FileError> {
        let resolved = self.resolve(path, Access::Read)?;
        let fd = self.open_file(&resolved, OFlag::O_RDONLY)?;
        let (st, content) = Self::read_fd(&fd, &resolved)?;
        let version = version_of(&st, &content);
        let content = String::from_utf8(content)
            .map_err(|_| FileError::Binary(resolved.display().to_string()))?;
        Ok(FileView {
            path: resolved.display().to_string(),
            size: st.st_size as u64,
            modified_unix: st.st_mtime,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            version,
            language: language(&resolved),
            content,
        })
    }

    /// What `who` could do with the resolved file on their own: read it (search rights on every
    /// directory above it, read on the file) and write it (write on the file, or on its
    /// directory for a file that does not exist yet). POSIX ACLs are not consulted, so a file
    /// an ACL opens to the caller still counts as closed: the answer errs towards asking.
    pub fn permits(&self, resolved: &Path, who: &Who) -> Permits {
        let host = self.root.path(resolved);
        let searchable = resolved
            .ancestors()
            .skip(1)
            .all(|d| std::fs::metadata(self.root.path(d)).is_ok_and(|m| allowed(&m, who, 0o1)));
        match std::fs::metadata(&host) {
            Ok(m) => Permits {
                read: searchable && allowed(&m, who, 0o4),
                write: searchable && allowed(&m, who, 0o2),
            },
            Err(_) => Permits {
                read: false,
                write: searchable
                    && host
                        .parent()
                        .and_then(|p| std::fs::metadata(p).ok())
                        .is_some_and(|m| allowed(&m, who, 0o3)),
            },
        }
    }

    /// The backups of a path, newest first.
    pub fn backups(&self, path: &str) -> Result<Vec<BackupMeta>, FileError> {
        let resolved = self.resolve(path, Access::Read)?;
        self.backups
            .list(&resolved)
            .map_err(Self::io("listing backups of", &resolved))
    }

    /// Replaces the file at `path` with `content`. With `expected`, only if the file is still
    /// at that version (`Conflict` otherwise); the current content is backed up first with
    /// `label`.
    pub fn write(
        &self,
        path: &str,
        content: &[u8],
        expected: Option<&str>,
        label: &str,
        uid: u32,
        now: i64,
    ) -> Result<Written, FileError> {
        if content.len() as u64 > MAX_SIZE {
            return Err(FileError::TooLarge {
                path: path.into(),
                size: content.len() as u64,
            });
        }
        let resolved = self.resolve(path, Access::Write)?;
        self.replace(&resolved, content, expected, label, uid, now)
    }

    /// Writes backup `id` of `path` back, byte for byte, after backing up the current content
    /// ("before restore"). `id` must be in that path's own list.
    pub fn restore(&self, path: &str, id: &str, uid: u32, now: i64) -> Result<Written, FileError> {
        let resolved = self.resolve(path, Access::Write)?;
        let (_, data) = self
            .backups
            .content(&resolved, id)
            .map_err(Self::io("reading a backup of", &resolved))?
            .ok_or_else(|| FileError::NoBackup {
                path: resolved.display().to_string(),
                id: id.into(),
            })?;
        self.replace(&resolved, &data, None, "before restore", uid, now)
    }

    fn replace(
        &self,
        resolved: &Path,
        content: &[u8],
        expected: Option<&str>,
        label: &str,
        uid: u32,
        now: i64,
    ) -> Result<Written, FileError> {
        let parent = resolved.parent().unwrap_or(Path::new("/"));
        let name = resolved
            .file_name()
            .ok_or_else(|| FileError::NotRegular(resolved.display().to_string()))?;
        let dir = self.open_file(parent, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        let beneath = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
            .resolve(NO_LINKS | ResolveFlag::RESOLVE_BENEATH);
        let old = match openat2(dir.as_fd(), name, beneath) {
            Ok(fd) => {
                let (st, data) = Self::read_fd(&fd, resolved)?;
                Some((fd, st, data))
            }
            Err(nix::Error::ENOENT) => None,
            Err(nix::Error::ELOOP | nix::Error::EXDEV) => {
                return Err(FileError::Changed(resolved.display().to_string()));
            }
            Err(e) => return Err(Self::io("opening", resolved)(e.into())),
        };
        if let Some(want) = expected {
            let current = old
                .as_ref()
                .map(|(_, st, data)| version_of(st, data))
                .unwrap_or_default();
            if current != want {
                return Err(FileError::Conflict {
                    path: resolved.display().to_string(),
                    current,
                });
            }
        }
        let backup = match &old {
            Some((_, _, data)) => Some(
                self.backups
                    .add(resolved, data, label, uid, now)
                    .map_err(Self::io("backing up", resolved))?,
            ),
            None => None,
        };

        let tmp_name = format!(
            ".{}.halbert-{}",
            name.to_string_lossy(),
            uuid::Uuid::new_v4().simple()
        );
        let create = OpenHow::new()
            .flags(
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_CLOEXEC
                    | OFlag::O_NOFOLLOW,
            )
            .mode(Mode::from_bits_truncate(0o644))
            .resolve(NO_LINKS | ResolveFlag::RESOLVE_BENEATH);
        let tmp = openat2(dir.as_fd(), tmp_name.as_str(), create)
            .map_err(|e| Self::io("creating a temporary file beside", resolved)(e.into()))?;
        let finish = || -> io::Result<()> {
            let mut f = std::fs::File::from(tmp.try_clone()?);
            f.write_all(content)?;
            match &old {
                Some((fd, st, _)) => {
                    fchown(
                        tmp.as_fd(),
                        Some(Uid::from_raw(st.st_uid)),
                        Some(Gid::from_raw(st.st_gid)),
                    )?;
                    fchmod(tmp.as_fd(), Mode::from_bits_truncate(st.st_mode & 0o7777))?;
                    // After the mode: setting an access ACL also sets the group bits.
                    xattr::copy_all(fd.as_fd(), tmp.as_fd())?;
                }
                None => {
                    fchown(tmp.as_fd(), Some(Uid::from_raw(0)), Some(Gid::from_raw(0)))?;
                    // A default ACL on the directory decided the mode at creation; else 0644
                    // whatever halbertd's umask is.
                    let has_default_acl =
                        xattr::get(dir.as_fd(), c"system.posix_acl_default").is_ok();
                    if !has_default_acl {
                        fchmod(tmp.as_fd(), Mode::from_bits_truncate(0o644))?;
                    }
                }
            }
            fsync(tmp.as_fd())?;
            renameat(dir.as_fd(), tmp_name.as_str(), dir.as_fd(), name)?;
            fsync(dir.as_fd())?;
            Ok(())
        };
        if let Err(e) = finish() {
            let _ = unlinkat(dir.as_fd(), tmp_name.as_str(), UnlinkatFlags::NoRemoveDir);
            return Err(Self::io("writing", resolved)(e));
        }
        let st = fstat(tmp.as_fd()).map_err(|e| Self::io("inspecting", resolved)(e.into()))?;
        Ok(Written {
            path: resolved.display().to_string(),
            old_sha256: old.as_ref().map(|(_, _, d)| sha256_hex(d)),
            new_sha256: sha256_hex(content),
            size: content.len() as u64,
            version: version_of(&st, content),
            backup,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn tree() -> (tempfile::TempDir, Files) {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("etc/app")).expect("mkdir");
        std::fs::create_dir_all(root.join("root")).expect("mkdir");
        std::fs::write(root.join("etc/app/app.conf"), "port = 80\n").expect("write");
        std::fs::write(root.join("etc/shadow"), "root:*:1::::::\n").expect("write");
        std::fs::write(root.join("root/secret"), "x").expect("write");
        let f = Files::open(
            HostRoot::new(&root),
            Policy::default(),
            d.path().join("state/backups"),
        )
        .expect("files");
        (d, f)
    }

    fn host(d: &tempfile::TempDir, p: &str) -> PathBuf {
        d.path().join("root").join(p.trim_start_matches('/'))
    }

    #[test]
    fn reads_with_a_version_and_refuses_what_it_must() {
        let (d, f) = tree();
        let v = f.read("/etc/app/app.conf").expect("read");
        assert_eq!(
            (v.content.as_str(), v.size, v.language),
            ("port = 80\n", 10, "ini")
        );
        assert_eq!(
            v.version,
            f.read("/etc/app/app.conf").expect("read").version,
            "stable"
        );
        assert!(matches!(f.read("/etc/app"), Err(FileError::NotRegular(_))));
        assert!(matches!(
            f.read("/etc/app/missing"),
            Err(FileError::NotFound(_))
        ));
        assert!(matches!(
            f.read("/etc/shadow"),
            Err(FileError::Path(PathError::Denied(_)))
        ));
        // Denied whether it exists or not: a missing shadow file is not "does not exist".
        assert!(matches!(
            f.read("/etc/gshadow-"),
            Err(FileError::Path(PathError::Denied(_)))
        ));
        assert!(matches!(
            f.read("/root/secret"),
            Err(FileError::Path(PathError::Outside(..)))
        ));
        assert!(matches!(
            f.read("/etc/../etc/shadow"),
            Err(FileError::Path(PathError::Syntax(_)))
        ));
        std::fs::write(host(&d, "/etc/app/blob"), [0xff, 0xfe, 0x00]).expect("write");
        assert!(matches!(f.read("/etc/app/blob"), Err(FileError::Binary(_))));
        std::fs::write(host(&d, "/etc/app/big"), vec![b'a'; MAX_SIZE as usize + 1]).expect("write");
        assert!(matches!(
            f.read("/etc/app/big"),
            Err(FileError::TooLarge { .. })
        ));
    }

    /// Under its unit, halbertd finds the homes as directories it may not search (mode 000,
    /// and no capability to pass that): a link into one is refused as a path, not failed as an
    /// internal error (the testbed found this with a link to /root). Run as root, the checks
    /// happen on a thread without the capabilities that pass modes, as halbertd runs.
    #[test]
    fn a_link_into_a_directory_it_may_not_search_is_refused_as_a_path() {
        use caps::{CapSet, Capability};
        use std::os::unix::fs::PermissionsExt;
        let (d, f) = tree();
        std::fs::create_dir(host(&d, "/etc/app/hidden")).expect("mkdir");
        std::fs::write(host(&d, "/etc/app/hidden/x.conf"), "x\n").expect("write");
        symlink("hidden/x.conf", host(&d, "/etc/app/through-hidden")).expect("symlink");
        std::fs::set_permissions(
            host(&d, "/etc/app/hidden"),
            std::fs::Permissions::from_mode(0o000),
        )
        .expect("chmod");
        // Capabilities are per thread: only this one loses them.
        let (read, write) = std::thread::scope(|s| {
            s.spawn(|| {
                for c in [
                    Capability::CAP_DAC_OVERRIDE,
                    Capability::CAP_DAC_READ_SEARCH,
                ] {
                    caps::drop(None, CapSet::Effective, c).expect("drop a capability");
                }
                (
                    f.read("/etc/app/through-hidden"),
                    f.write(
                        "/etc/app/hidden/new.conf",
                        b"y\n",
                        None,
                        "Manual save",
                        0,
                        1,
                    ),
                )
            })
            .join()
            .expect("thread")
        });
        std::fs::set_permissions(
            host(&d, "/etc/app/hidden"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod back");
        assert!(
            matches!(read, Err(FileError::Path(PathError::Hidden(_)))),
            "{read:?}"
        );
        assert!(
            matches!(write, Err(FileError::Path(PathError::Hidden(_)))),
            "{write:?}"
        );
        assert!(!host(&d, "/etc/app/hidden/new.conf").exists());
    }

    #[test]
    fn symlinks_are_judged_where_they_lead() {
        let (d, f) = tree();
        symlink("../shadow", host(&d, "/etc/app/to-shadow")).expect("symlink");
        symlink("../../root/secret", host(&d, "/etc/app/to-root")).expect("symlink");
        symlink("app.conf", host(&d, "/etc/app/alias.conf")).expect("symlink");
        // An absolute link leads out of the tree altogether (to the real machine's /etc).
        symlink("/etc/hostname", host(&d, "/etc/app/absolute")).expect("symlink");
        assert!(matches!(
            f.read("/etc/app/to-shadow"),
            Err(FileError::Path(PathError::Denied(_)))
        ));
        assert!(matches!(
            f.read("/etc/app/to-root"),
            Err(FileError::Path(PathError::Outside(..)))
        ));
        assert!(matches!(
            f.read("/etc/app/absolute"),
            Err(FileError::Path(PathError::Outside(..)))
        ));
        assert_eq!(
            f.read("/etc/app/alias.conf").expect("read").path,
            "/etc/app/app.conf"
        );
        // A write through a link writes the file it resolves to, never the link.
        f.write(
            "/etc/app/alias.conf",
            b"port = 81\n",
            None,
            "Manual save",
            0,
            1,
        )
        .expect("write");
        assert!(
            std::fs::symlink_metadata(host(&d, "/etc/app/alias.conf"))
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(host(&d, "/etc/app/app.conf")).expect("read"),
            "port = 81\n"
        );
    }

    #[test]
    fn a_directory_swapped_for_a_symlink_after_the_check_is_not_followed() {
        let (d, f) = tree();
        let resolved = f
            .resolve("/etc/app/app.conf", Access::Write)
            .expect("resolve");
        // Between the check and the open, /etc/app becomes a link to /root.
        std::fs::rename(host(&d, "/etc/app"), host(&d, "/etc/app.old")).expect("rename");
        symlink("../root", host(&d, "/etc/app")).expect("symlink");
        std::fs::write(host(&d, "/root/app.conf"), "stolen").expect("write");
        let got = f.open_file(&resolved, OFlag::O_RDONLY);
        assert!(matches!(got, Err(FileError::Changed(_))), "{got:?}");
        let w = f.replace(&resolved, b"x", None, "Manual save", 0, 1);
        assert!(matches!(w, Err(FileError::Changed(_))), "{w:?}");
        assert_eq!(
            std::fs::read_to_string(host(&d, "/root/app.conf")).expect("read"),
            "stolen"
        );
    }

    #[test]
    fn writes_back_up_keep_metadata_and_compare_versions() {
        let (d, f) = tree();
        let p = host(&d, "/etc/app/app.conf");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let has_xattr = {
            let fd = std::fs::File::open(&p).expect("open");
            xattr::set(fd.as_fd(), c"user.halbert-test", b"kept").is_ok()
        };
        let before = f.read("/etc/app/app.conf").expect("read");
        let w = f
            .write(
                "/etc/app/app.conf",
                b"port = 8080\n",
                Some(&before.version),
                "Manual save",
                1000,
                50,
            )
            .expect("write");
        let b = w.backup.clone().expect("a backup of the old content");
        assert_eq!(
            (b.backup_id.as_str(), b.size, b.uid),
            ("app.conf.bak.50", 10, 1000)
        );
        assert_eq!(w.old_sha256.as_deref(), Some(b.sha256.as_str()));
        let after = f.read("/etc/app/app.conf").expect("read");
        assert_eq!(
            (after.content.as_str(), after.mode),
            ("port = 8080\n", 0o640)
        );
        assert_eq!(after.version, w.version);
        if has_xattr {
            let fd = std::fs::File::open(&p).expect("open");
            assert_eq!(
                xattr::get(fd.as_fd(), c"user.halbert-test").expect("xattr"),
                b"kept"
            );
        }
        // The old version no longer matches: nothing is written, nothing is lost.
        let stale = f.write(
            "/etc/app/app.conf",
            b"lost\n",
            Some(&before.version),
            "Manual save",
            1000,
            51,
        );
        assert!(
            matches!(stale, Err(FileError::Conflict { ref current, .. }) if *current == after.version)
        );
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "port = 8080\n");
        // No temp file is left beside it.
        let names: Vec<String> = std::fs::read_dir(host(&d, "/etc/app"))
            .expect("ls")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["app.conf"]);

        // Restore: byte for byte, after a backup of what it replaces.
        let r = f
            .restore("/etc/app/app.conf", "app.conf.bak.50", 1000, 60)
            .expect("restore");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "port = 80\n");
        assert_eq!(r.backup.expect("backup").label, "before restore");
        assert_eq!(f.read("/etc/app/app.conf").expect("read").mode, 0o640);
        assert!(matches!(
            f.restore("/etc/app/app.conf", "../../shadow", 0, 61),
            Err(FileError::NoBackup { .. })
        ));
        let ids: Vec<String> = f
            .backups("/etc/app/app.conf")
            .expect("list")
            .into_iter()
            .map(|b| b.backup_id)
            .collect();
        assert_eq!(ids, ["app.conf.bak.60", "app.conf.bak.50"]);
    }

    #[test]
    fn a_new_file_is_0644_and_has_no_backup() {
        let (d, f) = tree();
        let w = f
            .write("/etc/app/new.yaml", b"a: 1\n", None, "Manual save", 0, 1)
            .expect("write");
        assert!(w.backup.is_none() && w.old_sha256.is_none());
        let v = f.read("/etc/app/new.yaml").expect("read");
        assert_eq!((v.mode, v.language), (0o644, "yaml"));
        assert!(host(&d, "/etc/app/new.yaml").exists());
        assert!(matches!(
            f.write("/etc/nowhere/x.conf", b"", None, "Manual save", 0, 1),
            Err(FileError::NotFound(_))
        ));
        assert!(matches!(
            f.write("/usr/lib/systemd/x", b"", None, "Manual save", 0, 1),
            Err(FileError::Path(_)) | Err(FileError::NotFound(_))
        ));
    }

    #[test]
    fn ordinary_permissions_decide_what_needs_asking() {
        let (d, f) = tree();
        let p = host(&d, "/etc/app/app.conf");
        let alice = Who {
            uid: 1000,
            gid: 1000,
            groups: vec![],
        };
        let set = |path: &Path, mode| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod")
        };
        set(&p, 0o644);
        let r = f
            .resolve("/etc/app/app.conf", Access::Read)
            .expect("resolve");
        assert_eq!(
            f.permits(&r, &alice),
            Permits {
                read: true,
                write: false
            }
        );
        set(&p, 0o600);
        assert_eq!(
            f.permits(&r, &alice),
            Permits {
                read: false,
                write: false
            }
        );
        set(&p, 0o644);
        set(&host(&d, "/etc/app"), 0o700);
        assert!(
            !f.permits(&r, &alice).read,
            "a closed directory above closes the file"
        );
        let root = Who {
            uid: 0,
            gid: 0,
            groups: vec![],
        };
        assert_eq!(
            f.permits(&r, &root),
            Permits {
                read: true,
                write: true
            }
        );
        set(&host(&d, "/etc/app"), 0o755);
    }

    #[test]
    fn languages() {
        for (p, l) in [
            ("/etc/app/x.json", "json"),
            ("/etc/netplan/01.yaml", "yaml"),
            ("/etc/systemd/system/a.service", "ini"),
            ("/etc/nginx/sites-enabled/default", "nginx"),
            ("/etc/nginx/nginx.conf", "nginx"),
            ("/etc/hosts", "plaintext"),
            ("/usr/local/etc/run.sh", "shell"),
        ] {
            assert_eq!(language(Path::new(p)), l, "{p}");
        }
    }
}
