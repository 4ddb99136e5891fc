//! Which files halbertd serves and writes: the syntax a path must have, and the allow and deny
//! lists the *resolved* path is checked against (docs/decisions.md §2). A path is checked after
//! its symlinks are resolved, so `/etc/x -> /etc/shadow` is judged as `/etc/shadow`.

use std::path::{Component, Path, PathBuf};

/// The longest path accepted, in bytes (PATH_MAX).
pub const MAX_PATH: usize = 4096;
/// The longest segment of a path, in bytes (NAME_MAX).
pub const MAX_NAME: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Trees whose files may be read.
    pub read: Vec<PathBuf>,
    /// Trees whose files may be written (and restored).
    pub write: Vec<PathBuf>,
    /// Never served or written, whatever the trees say: exact paths, `prefix*` (any name that
    /// starts so, in that directory) or `dir/**` (everything below).
    pub deny: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            read: ["/etc", "/usr/lib/systemd", "/usr/local/etc"]
                .map(PathBuf::from)
                .to_vec(),
            write: ["/etc", "/usr/local/etc"].map(PathBuf::from).to_vec(),
            deny: [
                "/etc/shadow*",
                "/etc/gshadow*",
                "/etc/ssh/ssh_host_*",
                "/etc/ssl/private/**",
                "/etc/halbert/**",
                "/var/lib/halbert/**",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// What a caller wants to do with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Why a path is refused before anything is opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("{0}")]
    Syntax(String),
    #[error("{0} is outside the files Halbert may {1}")]
    Outside(String, &'static str),
    #[error("{0} is never served or changed by Halbert")]
    Denied(String),
    /// Resolving the path met a directory halbertd may not search: its unit hides the homes
    /// (`ProtectHome=yes`) and it holds no capability to pass another owner's modes, so where
    /// the path leads cannot be judged.
    #[error(
        "{0} leads through a directory halbertd may not look into, so it is not served or changed"
    )]
    Hidden(String),
}

/// The syntax every path must have: absolute, at most [`MAX_PATH`] bytes, no NUL, and no `.`,
/// `..` or empty segment (`/etc//x`). Nothing here touches the file system.
pub fn check_syntax(path: &str) -> Result<PathBuf, PathError> {
    let bad = |why: &str| Err(PathError::Syntax(format!("{path:?}: {why}")));
    if path.is_empty() {
        return bad("the path is empty");
    }
    if path.len() > MAX_PATH {
        return bad("the path is longer than 4096 bytes");
    }
    if path.contains('\0') {
        return bad("the path contains a NUL byte");
    }
    if !path.starts_with('/') {
        return bad("the path must be absolute");
    }
    if path.len() > 1 && path.ends_with('/') {
        return bad("the path must name a file, not end in /");
    }
    for seg in path[1..].split('/') {
        match seg {
            "" => return bad("the path has an empty segment"),
            "." | ".." => return bad("the path must not contain . or .. segments"),
            s if s.len() > MAX_NAME => return bad("a path segment is longer than 255 bytes"),
            _ => {}
        }
    }
    Ok(PathBuf::from(path))
}

fn under(path: &Path, tree: &Path) -> bool {
    path.starts_with(tree)
}

/// Whether `path` matches one deny entry.
fn denied_by(path: &Path, entry: &str) -> bool {
    if let Some(dir) = entry.strip_suffix("/**") {
        return path.starts_with(dir);
    }
    if let Some(prefix) = entry.strip_suffix('*') {
        let (dir, stem) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        return path.parent() == Some(Path::new(if dir.is_empty() { "/" } else { dir }))
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(stem));
    }
    path == Path::new(entry)
}

impl Policy {
    /// Refuses a path on the deny list as it was asked for, before anything looks at the file
    /// system, so that a denied path is "never served" whether it exists or not (its
    /// existence is none of the caller's business).
    pub fn check_asked(&self, asked: &Path) -> Result<(), PathError> {
        if self.deny.iter().any(|d| denied_by(asked, d)) {
            return Err(PathError::Denied(asked.display().to_string()));
        }
        Ok(())
    }

    /// Judges a resolved, absolute path (no symlinks, no `..`).
    pub fn check(&self, resolved: &Path, access: Access) -> Result<(), PathError> {
        debug_assert!(
            resolved
                .components()
                .all(|c| !matches!(c, Component::ParentDir))
        );
        let shown = resolved.display().to_string();
        if self.deny.iter().any(|d| denied_by(resolved, d)) {
            return Err(PathError::Denied(shown));
        }
        let (trees, verb) = match access {
            Access::Read => (&self.read, "read"),
            Access::Write => (&self.write, "change"),
        };
        if trees.iter().any(|t| under(resolved, t)) {
            Ok(())
        } else {
            Err(PathError::Outside(shown, verb))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        assert!(check_syntax("/etc/hosts").is_ok());
        for bad in [
            "",
            "etc/hosts",
            "/etc/../etc/shadow",
            "/etc/./hosts",
            "/etc//hosts",
            "/etc/hosts/",
            "/etc/ho\0sts",
        ] {
            assert!(check_syntax(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_syntax(&format!("/{}", "a".repeat(4100))).is_err());
        // Found by schemathesis: a 300-byte name made the kernel answer ENAMETOOLONG, which
        // came back as an internal error.
        assert!(check_syntax(&format!("/etc/{}", "0".repeat(300))).is_err());
        assert!(check_syntax(&format!("/etc/{}", "0".repeat(255))).is_ok());
        assert!(check_syntax("/").is_err());
        // Percent signs are just characters: nothing is decoded here.
        assert!(check_syntax("/etc/%2e%2e/shadow").is_ok());
    }

    #[test]
    fn trees_and_deny_list() {
        let p = Policy::default();
        let ok = |s: &str, a| p.check(Path::new(s), a).is_ok();
        assert!(ok("/etc/nginx/nginx.conf", Access::Write));
        assert!(ok("/usr/lib/systemd/system/ssh.service", Access::Read));
        assert!(!ok("/usr/lib/systemd/system/ssh.service", Access::Write));
        assert!(!ok("/root/.bashrc", Access::Read));
        assert!(
            !ok("/etcetera/x", Access::Read),
            "a tree is a directory, not a prefix"
        );
        for secret in [
            "/etc/shadow",
            "/etc/shadow-",
            "/etc/gshadow",
            "/etc/ssh/ssh_host_ed25519_key",
            "/etc/ssl/private/server.key",
            "/etc/ssl/private/deep/er.pem",
        ] {
            assert_eq!(
                p.check(Path::new(secret), Access::Read),
                Err(PathError::Denied(secret.into())),
                "{secret}"
            );
        }
        assert!(ok("/etc/ssh/sshd_config", Access::Write));
        assert!(
            ok("/etc/shadowsocks/x.conf", Access::Read),
            "a prefix entry names files in its directory only"
        );
    }
}
