//! Landlock: after start-up halbert-web may read only what it needs and write only its own
//! state dir; it may not bind further TCP ports.
//!
//! A ruleset binds the calling thread and threads created after it, so [`apply`] runs before
//! the tokio runtime and sled start any thread. Connecting to halbertd's Unix socket needs no
//! rule: Landlock does not mediate `connect()` on path sockets.

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, LandlockStatus, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, path_beneath_rules,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    BestEffort,
    /// Refuse to run where Landlock is missing or cannot enforce the whole ruleset.
    Strict,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Mode::Off),
            "best-effort" => Ok(Mode::BestEffort),
            "strict" => Ok(Mode::Strict),
            other => Err(format!(
                "--sandbox must be strict, best-effort or off, not {other:?}"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub read_only: Vec<PathBuf>,
    pub read_write: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The Landlock ABI in use, 0 when unavailable.
    pub abi: i32,
    pub enforcement: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("landlock: {0}")]
    Landlock(#[from] landlock::RulesetError),
    #[error("--sandbox=strict, but Landlock is {0} on this kernel")]
    Unavailable(&'static str),
}

/// The newest ABI this build asks for; older kernels get what they support (best effort).
const TARGET: ABI = ABI::V6;

pub fn apply(mode: Mode, policy: &Policy) -> Result<Outcome, SandboxError> {
    if mode == Mode::Off {
        return Ok(Outcome {
            abi: 0,
            enforcement: "off",
        });
    }
    let existing = |v: &[PathBuf]| v.iter().filter(|p| p.exists()).cloned().collect::<Vec<_>>();
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(TARGET))?
        .handle_access(AccessNet::BindTcp)?
        .create()?
        .add_rules(path_beneath_rules(
            existing(&policy.read_only),
            AccessFs::from_read(TARGET),
        ))?
        .add_rules(path_beneath_rules(
            existing(&policy.read_write),
            AccessFs::from_all(TARGET),
        ))?
        .restrict_self()?;
    let abi = match status.landlock {
        LandlockStatus::Available { effective_abi, .. } => effective_abi as i32,
        _ => 0,
    };
    let enforcement = match status.ruleset {
        RulesetStatus::FullyEnforced => "fully enforced",
        RulesetStatus::PartiallyEnforced => "partially enforced",
        RulesetStatus::NotEnforced => "not enforced",
    };
    if mode == Mode::Strict && status.ruleset == RulesetStatus::NotEnforced {
        let why = match status.landlock {
            LandlockStatus::NotEnabled => "disabled",
            LandlockStatus::NotImplemented => "not built in",
            _ => "unusable",
        };
        return Err(SandboxError::Unavailable(why));
    }
    Ok(Outcome { abi, enforcement })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_outside_the_state_dir_are_refused() {
        let allowed = tempfile::tempdir().expect("tempdir");
        let other = tempfile::tempdir().expect("tempdir");
        let (a, o) = (allowed.path().to_owned(), other.path().to_owned());
        // Landlock binds the calling thread only, so the test sandboxes a thread of its own.
        let res = std::thread::spawn(move || {
            let out = apply(
                Mode::BestEffort,
                &Policy {
                    read_only: vec![],
                    read_write: vec![a.clone()],
                },
            )
            .expect("apply");
            let inside = std::fs::write(a.join("ok"), b"x");
            let outside = std::fs::write(o.join("nope"), b"x");
            let read_outside = std::fs::read_to_string("/etc/hostname");
            (
                out,
                inside.is_ok(),
                outside.map_err(|e| e.kind()),
                read_outside.is_ok(),
            )
        })
        .join()
        .expect("thread");
        let (out, inside_ok, outside, read_outside) = res;
        // These machines run kernels with Landlock; a build host without it must fail loudly
        // rather than pass a sandbox test that checked nothing.
        assert!(out.abi > 0, "Landlock is not available on this kernel");
        assert!(inside_ok, "the state dir must stay writable");
        assert_eq!(outside, Err(std::io::ErrorKind::PermissionDenied));
        assert!(
            !read_outside,
            "paths outside the policy must not be readable"
        );
        assert!(!other.path().join("nope").exists());
    }
}
