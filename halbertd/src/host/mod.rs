//! The injectable host root: every read of `/proc`, `/sys` or `/etc` made by domain code goes
//! through a [`HostRoot`], so parsers and scanners run unchanged against trees captured from
//! other machines (`tests/fixtures/hosts/`). The system-bus connection ([`bus::SystemBus`])
//! lives here too: it is the other way halbertd sees the host; and so do the parsers more than
//! one capability reads (`mounts`).

pub mod bus;
pub mod mounts;
pub mod statefile;

use std::io;
use std::path::{Path, PathBuf};

/// A directory that stands for `/` of the machine being described.
#[derive(Debug, Clone)]
pub struct HostRoot(PathBuf);

impl HostRoot {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self(root.into())
    }

    /// The real machine.
    pub fn system() -> Self {
        Self(PathBuf::from("/"))
    }

    /// Maps an absolute host path (`/proc/stat`) onto this root.
    pub fn path(&self, abs: impl AsRef<Path>) -> PathBuf {
        let abs = abs.as_ref();
        self.0.join(abs.strip_prefix("/").unwrap_or(abs))
    }

    pub fn read_to_string(&self, abs: impl AsRef<Path>) -> io::Result<String> {
        std::fs::read_to_string(self.path(abs))
    }

    /// The names in directory `abs`, sorted; empty when it is missing or unreadable.
    pub fn names(&self, abs: impl AsRef<Path>) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path(abs))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Reads a small sysfs-style attribute, trimmed; `None` when it is missing or unreadable.
    pub fn read_attr(&self, abs: impl AsRef<Path>) -> Option<String> {
        self.read_to_string(abs).ok().map(|s| s.trim().to_owned())
    }
}
