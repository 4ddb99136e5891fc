//! Live, read-only facts for the assistant's tools: one service's state and the running
//! services (systemd over D-Bus), a unit's recent journal lines (`journalctl` as JSON), processes
//! by name (procfs) and what the machine runs (os-release, kernel, package manager).
//!
//! Arguments are validated here, whoever calls: the model chose them, so they are untrusted.

pub mod host;
pub mod journal;
pub mod procs;
pub mod units;

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The source is not there (no system bus, no journalctl); the message says which.
    #[error("{0}")]
    Unavailable(String),
}

const UNIT_TYPES: &[&str] = &[
    "service",
    "socket",
    "timer",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "slice",
    "scope",
    "device",
];

/// A systemd unit name from what a person or a model typed: `nginx` means `nginx.service`.
/// Only the characters systemd allows in unit names are accepted, and never a leading `-` or
/// `.`, so the name can go into an argv without being read as an option.
pub fn unit_name(raw: &str) -> Result<String, InspectError> {
    let raw = raw.trim();
    let ok_char = |c: char| c.is_ascii_alphanumeric() || ":_.\\-@".contains(c);
    let bad = || {
        InspectError::Invalid(format!(
            "{raw:?} is not a systemd unit name (letters, digits and :_.\\-@ only, at most {UNIT_NAME_MAX} with its type)"
        ))
    };
    if raw.is_empty() || raw.starts_with(['-', '.']) || !raw.chars().all(ok_char) {
        return Err(bad());
    }
    let typed = raw
        .rsplit_once('.')
        .is_some_and(|(stem, t)| !stem.is_empty() && UNIT_TYPES.contains(&t));
    let name = if typed {
        raw.to_owned()
    } else {
        format!("{raw}.service")
    };
    // systemd's own limit applies to the whole name, suffix included.
    if name.len() > UNIT_NAME_MAX {
        return Err(bad());
    }
    Ok(name)
}

/// The longest unit name systemd takes (UNIT_NAME_MAX is 256 with the terminating NUL).
pub const UNIT_NAME_MAX: usize = 255;

/// A case-insensitive search term: printable, at most 100 characters.
pub fn search_term(raw: &str, what: &str) -> Result<String, InspectError> {
    let t = raw.trim();
    if t.chars().count() > 100 || t.chars().any(char::is_control) {
        return Err(InspectError::Invalid(format!(
            "{what} must be at most 100 printable characters"
        )));
    }
    Ok(t.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names() {
        assert_eq!(unit_name("nginx").expect("test value"), "nginx.service");
        assert_eq!(
            unit_name(" sshd.service ").expect("test value"),
            "sshd.service"
        );
        assert_eq!(
            unit_name("backup.timer").expect("test value"),
            "backup.timer"
        );
        assert_eq!(
            unit_name("getty@tty1").expect("test value"),
            "getty@tty1.service"
        );
        assert_eq!(unit_name("foo.bar").expect("test value"), "foo.bar.service");
        // Found by schemathesis: 250 characters were taken, and 258 with the suffix refused.
        assert_eq!(unit_name(&"a".repeat(247)).map(|n| n.len()).ok(), Some(255));
        assert!(unit_name(&"a".repeat(248)).is_err());
        assert!(unit_name(&format!("{}.service", "a".repeat(247))).is_ok());
        for bad in [
            "",
            "-fnginx",
            "--since=1970",
            ".service",
            "a b",
            "x;rm -rf /",
            "../../etc/passwd",
            "ngi\nnx",
            "ü",
        ] {
            assert!(unit_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(unit_name(&"a".repeat(251)).is_err());
    }

    #[test]
    fn search_terms() {
        assert_eq!(
            search_term(" Error ", "filter").expect("test value"),
            "error"
        );
        assert!(search_term("a\u{7}", "filter").is_err());
        assert!(search_term(&"x".repeat(101), "filter").is_err());
    }
}
