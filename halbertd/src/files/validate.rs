//! Which validator judges which configuration file, and the private copy it judges.
//!
//! A dry run of a file write never touches the live file: the proposed content goes into a
//! fresh directory under halbertd's state dir (0700, root), laid out so that the validator sees
//! it where it expects it (a unit keeps its file name; nginx's and postfix's directories are
//! mirrored with symlinks to the live files, so relative includes resolve to the live tree),
//! and `exec/` runs the validator on that copy, sandboxed. The table below is the one place
//! that says which tool checks what; a path with no entry says so ([`Check::None`]), and a
//! validator that is not installed is reported as such by the runner — never a silent pass.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::policy::check_syntax;
use crate::host::HostRoot;

/// How the proposed content is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// An external validator: `argv`, with [`COPY`] and [`DIR`] standing for the staged copy
    /// and its directory.
    Program {
        name: &'static str,
        argv: &'static [&'static str],
        layout: Layout,
        /// What the validator must be able to write in its read-only sandbox.
        writable: &'static [&'static str],
    },
    /// A syntax check halbertd does itself.
    Syntax(Format),
    /// Nothing knows this kind of file.
    None,
}

/// Where the copy goes in its private directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `<dir>/<file name>` (a unit must keep its name for `systemd-analyze verify`).
    SameName,
    /// `<dir>/<file name>` beside symlinks to every other entry of the live file's directory,
    /// so that relative includes resolve to the live tree.
    MirrorDir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
        }
    }

    /// `Ok` or the parser's message.
    pub fn check(self, content: &str) -> Result<(), String> {
        match self {
            // A YAML file may hold several documents; each must parse.
            Format::Yaml => {
                use serde::Deserialize;
                for d in serde_norway::Deserializer::from_str(content) {
                    serde::de::IgnoredAny::deserialize(d).map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            Format::Json => serde_json::from_str::<serde::de::IgnoredAny>(content)
                .map(drop)
                .map_err(|e| e.to_string()),
        }
    }
}

/// Stands for the staged copy in a validator's argv.
pub const COPY: &str = "{copy}";
/// Stands for the copy's private directory.
pub const DIR: &str = "{dir}";

/// Unit file suffixes `systemd-analyze verify` judges.
const UNIT_SUFFIXES: &[&str] = &[
    ".service",
    ".socket",
    ".timer",
    ".mount",
    ".path",
    ".target",
    ".automount",
    ".swap",
    ".slice",
];

/// Which check judges the file at `path` (as asked: the table is about what a path means, not
/// where a symlink leads).
pub fn check_for(path: &str) -> Check {
    let name = path.rsplit('/').next().unwrap_or_default();
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    let program = |name, argv, layout| Check::Program {
        name,
        argv,
        layout,
        writable: &[],
    };
    match (dir, name) {
        ("/etc/ssh", "sshd_config") | ("/etc/ssh/sshd_config.d", _) => {
            program("sshd", &["sshd", "-t", "-f", COPY], Layout::SameName)
        }
        ("/etc", "sudoers") | ("/etc/sudoers.d", _) => {
            program("visudo", &["visudo", "-c", "-f", COPY], Layout::SameName)
        }
        ("/etc/nginx", "nginx.conf") => {
            program("nginx", &["nginx", "-t", "-c", COPY], Layout::MirrorDir)
        }
        ("/etc/apache2", "apache2.conf") => program(
            "apache2ctl",
            &["apache2ctl", "-t", "-f", COPY],
            Layout::SameName,
        ),
        ("/etc/samba", "smb.conf") => Check::Program {
            name: "testparm",
            argv: &["testparm", "-s", COPY],
            layout: Layout::SameName,
            writable: &["/tmp"],
        },
        ("/etc", "nftables.conf") | ("/etc/nftables.d", _) => {
            program("nft", &["nft", "-c", "-f", COPY], Layout::SameName)
        }
        ("/etc/bind", n) if n.starts_with("named.conf") => program(
            "named-checkconf",
            &["named-checkconf", COPY],
            Layout::SameName,
        ),
        ("/etc/haproxy", "haproxy.cfg") => {
            program("haproxy", &["haproxy", "-c", "-f", COPY], Layout::SameName)
        }
        ("/etc/postfix", "main.cf") => program(
            "postfix",
            &["postfix", "-c", DIR, "check"],
            Layout::MirrorDir,
        ),
        (d, n)
            if (d == "/etc/systemd/system" || d.starts_with("/etc/systemd/system/"))
                && !d.ends_with(".d")
                && UNIT_SUFFIXES.iter().any(|s| n.ends_with(s)) =>
        {
            // It sets up a temporary unit search path of its own.
            Check::Program {
                name: "systemd-analyze",
                argv: &["systemd-analyze", "verify", COPY],
                layout: Layout::SameName,
                writable: &["/tmp"],
            }
        }
        (_, n) if n.ends_with(".yaml") || n.ends_with(".yml") => Check::Syntax(Format::Yaml),
        (_, n) if n.ends_with(".json") => Check::Syntax(Format::Json),
        _ => Check::None,
    }
}

/// A private copy, removed with this value.
#[derive(Debug)]
pub struct Staged {
    pub dir: PathBuf,
    pub copy: PathBuf,
    /// The validator's argv with the placeholders filled in.
    pub argv: Vec<String>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "removing a validator's private copy");
        }
    }
}

/// Writes `content` as the private copy of `path` for `argv` under `base` (halbertd's state
/// dir), laid out as `layout` says, the live tree read through `root`.
pub fn stage(
    root: &HostRoot,
    base: &Path,
    path: &str,
    content: &[u8],
    argv: &[&str],
    layout: Layout,
) -> std::io::Result<Staged> {
    let asked = check_syntax(path).map_err(std::io::Error::other)?;
    let name = asked
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?
        .to_owned();
    std::fs::create_dir_all(base)?;
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o700))?;
    let dir = base.join(uuid::Uuid::new_v4().simple().to_string());
    std::fs::create_dir(&dir)?;
    let copy = dir.join(&name);
    // From here on the directory goes with `staged` if anything fails.
    let staged = Staged {
        dir: dir.clone(),
        copy: copy.clone(),
        argv: argv
            .iter()
            .map(|a| match *a {
                COPY => copy.display().to_string(),
                DIR => dir.display().to_string(),
                other => other.to_owned(),
            })
            .collect(),
    };
    if layout == Layout::MirrorDir
        && let Some(live_dir) = asked.parent()
        && let Ok(entries) = std::fs::read_dir(root.path(live_dir))
    {
        for e in entries.flatten() {
            if e.file_name() != name {
                std::os::unix::fs::symlink(e.path(), dir.join(e.file_name()))?;
            }
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&copy)?;
    // No fsync: the validator reads it through the page cache, and a crash loses nothing of
    // value (the directory is removed at the next start).
    std::io::Write::write_all(&mut f, content)?;
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_a_check_for_each_kind() {
        let prog = |p: &str| match check_for(p) {
            Check::Program { name, .. } => name,
            Check::Syntax(f) => f.name(),
            Check::None => "none",
        };
        for (path, want) in [
            ("/etc/ssh/sshd_config", "sshd"),
            ("/etc/ssh/sshd_config.d/10-halbert.conf", "sshd"),
            ("/etc/ssh/ssh_config", "none"),
            ("/etc/sudoers", "visudo"),
            ("/etc/sudoers.d/90-admins", "visudo"),
            ("/etc/nginx/nginx.conf", "nginx"),
            ("/etc/samba/smb.conf", "testparm"),
            ("/etc/nftables.conf", "nft"),
            ("/etc/bind/named.conf.local", "named-checkconf"),
            ("/etc/haproxy/haproxy.cfg", "haproxy"),
            ("/etc/apache2/apache2.conf", "apache2ctl"),
            ("/etc/postfix/main.cf", "postfix"),
            ("/etc/systemd/system/hb-web.service", "systemd-analyze"),
            (
                "/etc/systemd/system/multi-user.target.wants/x.service",
                "systemd-analyze",
            ),
            ("/etc/systemd/system/x.service.d/override.conf", "none"),
            ("/etc/netplan/01.yaml", "yaml"),
            ("/etc/app/config.json", "json"),
            ("/etc/hosts", "none"),
        ] {
            assert_eq!(prog(path), want, "{path}");
        }
    }

    #[test]
    fn syntax_checks_say_what_is_wrong() {
        assert_eq!(Format::Yaml.check("a: 1\n---\nb: [2]\n"), Ok(()));
        assert!(Format::Yaml.check("a: [1\n").is_err());
        assert!(
            Format::Yaml.check("a: 1\n---\nb: {\n").is_err(),
            "every document"
        );
        assert_eq!(Format::Json.check("{\"a\": [1]}"), Ok(()));
        assert!(Format::Json.check("{\"a\": }").is_err());
    }

    #[test]
    fn the_copy_is_private_and_mirrors_its_directory_and_goes_away() {
        let live = tempfile::tempdir().expect("tempdir");
        let etc = live.path().join("etc/nginx");
        std::fs::create_dir_all(etc.join("conf.d")).expect("mkdir");
        std::fs::write(etc.join("nginx.conf"), "live").expect("write");
        std::fs::write(etc.join("mime.types"), "types {}").expect("write");
        let state = tempfile::tempdir().expect("tempdir");
        let base = state.path().join("validate");
        let root = HostRoot::new(live.path().to_owned());
        let s = stage(
            &root,
            &base,
            "/etc/nginx/nginx.conf",
            b"proposed",
            &["nginx", "-t", "-c", COPY],
            Layout::MirrorDir,
        )
        .expect("stage");
        assert_eq!(std::fs::read(&s.copy).expect("copy"), b"proposed");
        assert_eq!(
            std::fs::read(etc.join("nginx.conf")).expect("live"),
            b"live"
        );
        assert_eq!(
            std::fs::read_to_string(s.dir.join("mime.types")).expect("mirrored"),
            "types {}"
        );
        assert!(s.dir.join("conf.d").is_dir());
        assert_eq!(s.argv[3], s.copy.display().to_string());
        let mode = std::fs::metadata(&s.copy)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir = s.dir.clone();
        drop(s);
        assert!(!dir.exists());
    }
}
