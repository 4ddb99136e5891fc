//! The user's `policy.yml` in the state dir (halbert-web writes only there; its Landlock
//! sandbox keeps the config dir read-only). Changes are validated first and written
//! atomically (temp file 0600, fsync, rename): a bad policy is refused and the old one stays
//! in force. A file that does not load at start makes every action denied, with the reason,
//! until it is fixed or replaced — never the defaults in its place.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use halbert_policy::{Conditions, Context, Decision, Inputs, Policy, TOOLS, ToolRule};

/// This process's user (halbert-web runs as the one user it serves, and its guard admits
/// only that uid's clients, so the kernel names the caller), the host name, and the local
/// time now.
pub fn context_now() -> Context {
    // The process's user cannot change, and looking it up reads the user database: once.
    static USER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let user = USER
        .get_or_init(|| {
            let uid = nix::unistd::geteuid();
            nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map_or_else(|| uid.to_string(), |u| u.name)
        })
        .clone();
    Context::now_for(user)
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Invalid(String),
    #[error("no policy entry for tool {0:?}")]
    NoEntry(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug)]
pub struct PolicyStore {
    path: PathBuf,
    /// The policy in force, or why the file did not load.
    current: Mutex<Result<Policy, String>>,
}

fn load(path: &Path) -> Result<Policy, String> {
    halbert_policy::load(path, Policy::default)
}

impl PolicyStore {
    pub fn open(state_dir: &Path) -> Self {
        let path = state_dir.join("policy.yml");
        let current = load(&path);
        if let Err(e) = &current {
            tracing::error!(error = %e, "the policy does not load: every action is denied until it is fixed");
        }
        Self {
            path,
            current: Mutex::new(current),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The policy in force, or why there is none.
    pub fn get(&self) -> Result<Policy, String> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn decide(&self, tool: &str, inputs: &Inputs, ctx: &Context) -> Decision {
        match self.get() {
            Ok(p) => p.decide(tool, inputs, ctx),
            Err(why) => Decision {
                allow: false,
                reason: format!("the policy does not load, so nothing is allowed: {why}"),
                rule: "policy.yml".into(),
                simulation_required: false,
                rollback_required: false,
                approvals_needed: Vec::new(),
            },
        }
    }

    /// Replaces the whole policy.
    pub fn replace(&self, p: Policy) -> Result<Policy, PolicyError> {
        self.update(|cur| {
            *cur = p;
            Ok(())
        })
    }

    /// Sets one tool's `allow`, keeping the rest of its entry.
    pub fn set_allow(&self, tool: &str, allow: bool) -> Result<Policy, PolicyError> {
        self.update(|cur| {
            cur.tools
                .entry(tool.to_owned())
                .or_insert_with(ToolRule::default)
                .allow = Some(allow);
            Ok(())
        })
    }

    /// Removes one tool's entry, so that `default_allow` applies to it.
    pub fn remove(&self, tool: &str) -> Result<Policy, PolicyError> {
        self.update(|cur| {
            cur.tools
                .remove(tool)
                .map(drop)
                .ok_or_else(|| PolicyError::NoEntry(tool.to_owned()))
        })
    }

    /// Changes the policy in force (a broken file counts as the defaults here, since the
    /// change replaces it), validates the result and writes it before it takes effect.
    fn update(
        &self,
        change: impl FnOnce(&mut Policy) -> Result<(), PolicyError>,
    ) -> Result<Policy, PolicyError> {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = cur.clone().unwrap_or_default();
        change(&mut next)?;
        next.validate().map_err(PolicyError::Invalid)?;
        let io = |source| PolicyError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let text =
            serde_norway::to_string(&next).map_err(|e| io(std::io::Error::other(e.to_string())))?;
        let text = format!(
            "# Halbert's policy for this user (see /docs, Policy). Written by halbert-web.\n{text}"
        );
        crate::config::write_private(&self.path, text.as_bytes()).map_err(io)?;
        *cur = Ok(next.clone());
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_change_leaves_the_old_policy_in_force_and_on_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = PolicyStore::open(dir.path());
        assert_eq!(s.get(), Ok(Policy::default()));
        s.set_allow("terminal_root", false).expect("set");
        let bad: Policy =
            serde_norway::from_str("tools:\n  x:\n    conditions:\n      hours_allow: [soon]\n")
                .expect("yaml");
        assert!(matches!(s.replace(bad), Err(PolicyError::Invalid(_))));
        let again = PolicyStore::open(dir.path());
        assert_eq!(again.get(), s.get(), "the file holds what is in force");
        assert_eq!(
            again.get().expect("policy").tools["terminal_root"].allow,
            Some(false)
        );
        assert!(matches!(
            again.remove("no_such"),
            Err(PolicyError::NoEntry(_))
        ));
        again.remove("terminal_root").expect("remove");
        assert!(
            !again
                .get()
                .expect("policy")
                .tools
                .contains_key("terminal_root")
        );
    }

    #[test]
    fn a_file_that_does_not_load_denies_everything_until_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("policy.yml"), "default_allow: [").expect("write");
        let s = PolicyStore::open(dir.path());
        let ctx = Context {
            user: "alice".into(),
            host: "h".into(),
            minute_of_day: 0,
        };
        let d = s.decide("terminal", &Inputs::default(), &ctx);
        assert!(!d.allow && d.reason.contains("does not load"), "{d:?}");
        s.replace(Policy::default()).expect("replace");
        assert!(s.decide("terminal", &Inputs::default(), &ctx).allow);
    }
}
