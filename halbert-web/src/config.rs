//! Where the user's files live, and the user's settings read from them.
//!
//! One resolver for every path: config under `$XDG_CONFIG_HOME/halbert` (default
//! `~/.config/halbert`), state under `$XDG_DATA_HOME/halbert` (default `~/.local/share/halbert`,
//! mode 0700). Never relative to the working directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot find the home directory: set HOME or XDG_CONFIG_HOME/XDG_DATA_HOME")]
    NoHome,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Invalid { path: PathBuf, what: String },
}

/// Replaces `path` with `bytes` atomically and privately: a temp file beside it (mode 0600),
/// fsync, rename. A crash leaves the old file or the new one, never a torn one; the model
/// settings and the policy are written so.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[derive(Debug, Clone)]
pub struct Dirs {
    pub config: PathBuf,
    pub state: PathBuf,
}

fn xdg(var: &str, fallback: &str) -> Result<PathBuf, ConfigError> {
    match std::env::var_os(var) {
        // The XDG spec says relative values are invalid and must be ignored.
        Some(v) if Path::new(&v).is_absolute() => Ok(PathBuf::from(v)),
        _ => {
            let home = std::env::var_os("HOME")
                .filter(|h| Path::new(h).is_absolute())
                .ok_or(ConfigError::NoHome)?;
            Ok(PathBuf::from(home).join(fallback))
        }
    }
}

impl Dirs {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            config: xdg("XDG_CONFIG_HOME", ".config")?.join("halbert"),
            state: xdg("XDG_DATA_HOME", ".local/share")?.join("halbert"),
        })
    }

    /// Creates the config dir (mode 0700) when missing; an existing one is left as it is.
    pub fn ensure_config(&self) -> Result<(), ConfigError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.config)
            .map_err(|source| ConfigError::Io {
                path: self.config.clone(),
                source,
            })
    }

    /// Creates the state dir with mode 0700 (tightening a looser existing one).
    pub fn ensure_state(&self) -> Result<(), ConfigError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let io = |source| ConfigError::Io {
            path: self.state.clone(),
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.state)
            .map_err(io)?;
        let mode = std::fs::metadata(&self.state)
            .map_err(io)?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&self.state, std::fs::Permissions::from_mode(0o700))
                .map_err(io)?;
        }
        Ok(())
    }
}

/// `guardrails.yml`: how sure a model must be to act alone, and its CPU budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardrailsConfig {
    /// Confidence at or above which a proposed action may run without approval (0.5–1.0).
    pub confidence_threshold: f64,
    /// CPU share, in percent of all cores, a running task may use (1–100).
    pub cpu_budget: u32,
}

impl Default for GuardrailsConfig {
    fn default() -> Self {
        Self {
            confidence_threshold: 0.8,
            cpu_budget: 80,
        }
    }
}

impl GuardrailsConfig {
    pub fn file(dirs: &Dirs) -> PathBuf {
        dirs.config.join("guardrails.yml")
    }

    /// Reads and validates the file; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let invalid = |what: String| ConfigError::Invalid {
            path: path.to_owned(),
            what,
        };
        let cfg: Self = if text.trim().is_empty() {
            Self::default()
        } else {
            serde_norway::from_str(&text).map_err(|e| invalid(e.to_string()))?
        };
        cfg.validate().map_err(invalid)?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(0.5..=1.0).contains(&self.confidence_threshold) {
            return Err(format!(
                "confidence_threshold must be between 0.5 and 1.0, not {}",
                self.confidence_threshold
            ));
        }
        if !(1..=100).contains(&self.cpu_budget) {
            return Err(format!(
                "cpu_budget must be between 1 and 100 (percent), not {}",
                self.cpu_budget
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<GuardrailsConfig, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("guardrails.yml");
        std::fs::write(&p, text).expect("write");
        GuardrailsConfig::load(&p)
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(
            GuardrailsConfig::load(Path::new("/nonexistent/guardrails.yml")).expect("missing"),
            GuardrailsConfig::default()
        );
        assert_eq!(
            load("cpu_budget: 50\n").expect("partial"),
            GuardrailsConfig {
                confidence_threshold: 0.8,
                cpu_budget: 50
            }
        );
        assert_eq!(
            load("confidence_threshold: 0.9\ncpu_budget: 10\n")
                .expect("full")
                .confidence_threshold,
            0.9
        );
    }

    #[test]
    fn rejects_bad_values_naming_the_field() {
        for (text, field) in [
            ("cpu_budget: 0", "cpu_budget"),
            ("cpu_budget: 101", "cpu_budget"),
            ("confidence_threshold: 1.5", "confidence_threshold"),
            ("cpu_budgte: 5", "cpu_budgte"),
            ("cpu_budget: lots", "cpu_budget"),
        ] {
            let e = load(text).expect_err(text).to_string();
            assert!(e.contains(field), "{text}: {e}");
        }
    }
}
