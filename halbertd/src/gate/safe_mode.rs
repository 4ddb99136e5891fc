//! Safe mode: a system-wide switch, persisted in the state dir, that makes halbertd refuse
//! every mutation until an authorized person turns it off again.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::host::statefile;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafeModeState {
    pub active: bool,
    #[serde(default)]
    pub reason: String,
    /// Unix seconds of the last change; 0 before the first one.
    #[serde(default)]
    pub since_unix: i64,
    #[serde(default)]
    pub changed_by_uid: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum GuardrailsError {
    #[error("cannot persist safe mode in {path}: {source}")]
    Persist {
        path: String,
        source: std::io::Error,
    },
    #[error("safe mode state file {path} is unreadable: {what}")]
    Corrupt { path: String, what: String },
    #[error("{0}")]
    InvalidReason(&'static str),
}

/// Longest reason we keep; it is shown in refusals and in the dashboard.
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Debug)]
pub struct Guardrails {
    path: PathBuf,
    state: Mutex<SafeModeState>,
}

impl Guardrails {
    /// Loads the persisted state. A missing file means "never entered"; an unreadable one is an
    /// error rather than a silent "off", because that would lift safe mode behind the admin's back.
    pub fn load(state_dir: &Path) -> Result<Self, GuardrailsError> {
        let path = state_dir.join("safe-mode.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| GuardrailsError::Corrupt {
                path: path.display().to_string(),
                what: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SafeModeState::default(),
            Err(e) => {
                return Err(GuardrailsError::Persist {
                    path: path.display().to_string(),
                    source: e,
                });
            }
        };
        Ok(Self {
            path,
            state: Mutex::new(state),
        })
    }

    pub fn get(&self) -> SafeModeState {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SafeModeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Turns safe mode on; `Ok((state, false))` when it already was (the first reason stays).
    pub fn enter(
        &self,
        reason: &str,
        uid: u32,
        now_unix: i64,
    ) -> Result<(SafeModeState, bool), GuardrailsError> {
        let reason = validate_reason(reason)?;
        let mut st = self.lock();
        if st.active {
            return Ok((st.clone(), false));
        }
        let next = SafeModeState {
            active: true,
            reason,
            since_unix: now_unix,
            changed_by_uid: uid,
        };
        self.persist(&next)?;
        *st = next;
        Ok((st.clone(), true))
    }

    /// Turns safe mode off; `Ok((state, false))` when it was not on.
    pub fn exit(&self, uid: u32, now_unix: i64) -> Result<(SafeModeState, bool), GuardrailsError> {
        let mut st = self.lock();
        if !st.active {
            return Ok((st.clone(), false));
        }
        let next = SafeModeState {
            active: false,
            reason: String::new(),
            since_unix: now_unix,
            changed_by_uid: uid,
        };
        self.persist(&next)?;
        *st = next;
        Ok((st.clone(), true))
    }

    /// `Err(reason)` while safe mode is on: the gate every mutation passes.
    pub fn check_mutation_allowed(&self) -> Result<(), String> {
        let st = self.lock();
        if st.active {
            Err(st.reason.clone())
        } else {
            Ok(())
        }
    }

    fn persist(&self, st: &SafeModeState) -> Result<(), GuardrailsError> {
        let bytes = serde_json::to_vec_pretty(st).map_err(|e| GuardrailsError::Persist {
            path: self.path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        statefile::write_atomic(&self.path, &bytes).map_err(|source| GuardrailsError::Persist {
            path: self.path.display().to_string(),
            source,
        })
    }
}

pub fn validate_reason(reason: &str) -> Result<String, GuardrailsError> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(GuardrailsError::InvalidReason("reason must not be empty"));
    }
    if r.chars().count() > MAX_REASON_CHARS {
        return Err(GuardrailsError::InvalidReason(
            "reason is longer than 500 characters",
        ));
    }
    if r.chars().any(|c| c.is_control()) {
        return Err(GuardrailsError::InvalidReason(
            "reason must be one line without control characters",
        ));
    }
    Ok(r.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_across_reload_and_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let g = Guardrails::load(dir.path()).expect("load");
        assert!(g.check_mutation_allowed().is_ok());
        let (st, changed) = g.enter("disk failing", 1000, 42).expect("enter");
        assert!(changed && st.active);
        let (st2, changed2) = g.enter("another reason", 1001, 43).expect("enter again");
        assert!(!changed2);
        assert_eq!(
            st2.reason, "disk failing",
            "a second enter must not overwrite the reason"
        );
        assert_eq!(g.check_mutation_allowed(), Err("disk failing".to_owned()));

        let reloaded = Guardrails::load(dir.path()).expect("reload");
        assert_eq!(reloaded.get(), st);
        let (off, changed3) = reloaded.exit(0, 50).expect("exit");
        assert!(changed3 && !off.active);
        assert!(!reloaded.exit(0, 51).expect("exit again").1);
        assert!(!Guardrails::load(dir.path()).expect("reload").get().active);
    }

    #[test]
    fn rejects_bad_reasons_and_corrupt_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let g = Guardrails::load(dir.path()).expect("load");
        assert!(g.enter("   ", 0, 1).is_err());
        assert!(g.enter("two\nlines", 0, 1).is_err());
        assert!(g.enter(&"x".repeat(501), 0, 1).is_err());
        assert!(!g.get().active);
        std::fs::write(dir.path().join("safe-mode.json"), b"{not json").expect("write");
        assert!(matches!(
            Guardrails::load(dir.path()),
            Err(GuardrailsError::Corrupt { .. })
        ));
    }
}
