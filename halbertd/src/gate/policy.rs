//! The system-wide policy (`/etc/halbert/policy.yml`, root-owned, the schema of the user's
//! `policy.yml`): what Halbert may do for anyone on this machine. halbertd judges every
//! mutating call by it before polkit is asked, so an administrator's rule (no `terminal_root`,
//! no writes under `/etc/sudoers.d`) holds for every user and whatever halbert-web does.
//!
//! The file is read again when it changes (by size, mtime and inode), so an edit takes effect
//! on the next call without a restart. A missing file allows everything (polkit, the path rules
//! and safe mode still judge); a file that does not load denies every mutation, naming the
//! reason, until it is fixed — never a silent fall-back to "allow".

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use halbert_policy::{Context, Decision, Inputs, Policy};

pub const DEFAULT_PATH: &str = "/etc/halbert/policy.yml";

/// A file's identity for "has it changed".
type Stamp = Option<(u64, i64, i64, u64)>;

#[derive(Debug)]
pub struct SystemPolicy {
    path: PathBuf,
    cached: Mutex<(Stamp, Result<Policy, String>)>,
}

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.len(), m.mtime(), m.mtime_nsec(), m.ino()))
}

/// With no file there is no system-wide rule: everything is left to polkit and the rest.
fn allow_all() -> Policy {
    Policy {
        default_allow: true,
        tools: Default::default(),
    }
}

impl SystemPolicy {
    pub fn new(path: PathBuf) -> Self {
        let s = stamp(&path);
        let p = halbert_policy::load(&path, allow_all);
        if let Err(e) = &p {
            tracing::error!(error = %e, "the system-wide policy does not load: every change is refused until it is fixed");
        }
        Self {
            path,
            cached: Mutex::new((s, p)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The policy in force, read again first if the file changed.
    pub fn current(&self) -> Result<Policy, String> {
        let now = stamp(&self.path);
        let mut c = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if c.0 != now {
            let p = halbert_policy::load(&self.path, allow_all);
            match &p {
                Ok(_) => tracing::info!(path = %self.path.display(), "system-wide policy loaded"),
                Err(e) => {
                    tracing::error!(error = %e, "the system-wide policy does not load: every change is refused until it is fixed");
                }
            }
            *c = (now, p);
        }
        c.1.clone()
    }

    /// Judges `tool` with `inputs` for `user`.
    pub fn decide(&self, tool: &str, inputs: &Inputs, user: String) -> Decision {
        match self.current() {
            Ok(p) => p.decide(tool, inputs, &Context::now_for(user)),
            Err(why) => Decision {
                allow: false,
                reason: format!(
                    "the system-wide policy does not load, so nothing is allowed: {why}"
                ),
                rule: self.path.display().to_string(),
                simulation_required: false,
                rollback_required: false,
                approvals_needed: Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(n: &str) -> Inputs {
        Inputs {
            path: None,
            name: Some(n.into()),
        }
    }

    #[test]
    fn missing_allows_broken_denies_and_edits_take_effect() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("policy.yml");
        let sp = SystemPolicy::new(path.clone());
        assert!(
            sp.decide("terminal_root", &unit("id"), "alice".into())
                .allow
        );
        std::fs::write(&path, "tools:\n  terminal_root: {allow: false}\n").expect("write");
        let d = sp.decide("terminal_root", &unit("id"), "alice".into());
        assert_eq!(
            (d.allow, d.rule.as_str()),
            (false, "tools.terminal_root.allow")
        );
        assert!(sp.decide("terminal", &unit("id"), "alice".into()).allow);
        std::fs::write(&path, "tools: [").expect("write");
        let d = sp.decide("terminal", &unit("id"), "alice".into());
        assert!(!d.allow && d.reason.contains("does not load"), "{d:?}");
        std::fs::remove_file(&path).expect("rm");
        assert!(sp.decide("terminal", &unit("id"), "alice".into()).allow);
    }
}
