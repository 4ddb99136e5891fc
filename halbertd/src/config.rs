//! halbertd's own configuration file (`/etc/halbert/halbertd.yaml` unless `--config` names
//! another): which trees the config editor reads and writes, and paths it must never touch
//! beyond the built-in ones. A missing file means the defaults; a file that does not parse, or
//! names a relative path, stops halbertd at start with the reason, rather than running with a
//! policy the administrator did not write. `packaging/halbertd.yaml` is the documented example.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::files::Policy;
use crate::files::policy::check_syntax;

pub const DEFAULT_PATH: &str = "/etc/halbert/halbertd.yaml";
/// Config files are a few lines; a larger one is a mistake (or not a config file).
const MAX_BYTES: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} is larger than 64 KiB")]
    TooLarge(PathBuf),
    #[error("{0}: {1}")]
    Parse(PathBuf, String),
    #[error("{0}: {1}")]
    Invalid(PathBuf, String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub files: FilesConfig,
    /// The system-wide policy file (default `/etc/halbert/policy.yml`).
    #[serde(default)]
    pub policy_file: Option<String>,
}

/// `files:` — the config editor's trees.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// Trees whose files may be read; replaces the default list when given.
    pub read: Option<Vec<String>>,
    /// Trees whose files may be written and restored; replaces the default list when given.
    pub write: Option<Vec<String>>,
    /// More paths never served or written (`exact`, `prefix*`, `dir/**`). They are added to
    /// the built-in ones (shadow files, host keys, TLS private keys, Halbert's own state),
    /// which a config file cannot lift.
    #[serde(default)]
    pub deny: Vec<String>,
}

impl Config {
    /// The file at `path`; the defaults when there is none.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(ConfigError::Read(path.to_owned(), e)),
        };
        if meta.len() > MAX_BYTES {
            return Err(ConfigError::TooLarge(path.to_owned()));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_owned(), e))?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let c: Config = serde_norway::from_str(text)
            .map_err(|e| ConfigError::Parse(path.to_owned(), e.to_string()))?;
        c.policy_checked(path)?;
        if let Some(p) = &c.policy_file
            && !p.starts_with('/')
        {
            return Err(ConfigError::Invalid(
                path.to_owned(),
                format!("policy_file: {p:?} must be an absolute path"),
            ));
        }
        Ok(c)
    }

    fn policy_checked(&self, path: &Path) -> Result<Policy, ConfigError> {
        let invalid = |m: String| ConfigError::Invalid(path.to_owned(), m);
        let trees = |field: &str, list: &Option<Vec<String>>, default: Vec<PathBuf>| {
            let Some(list) = list else {
                return Ok(default);
            };
            list.iter()
                .map(|t| check_syntax(t).map_err(|e| invalid(format!("files.{field}: {e}"))))
                .collect::<Result<Vec<_>, _>>()
        };
        let d = Policy::default();
        let mut deny = d.deny.clone();
        for p in &self.files.deny {
            let bare = p.trim_end_matches("/**").trim_end_matches('*');
            if !bare.starts_with('/') || bare.contains("/../") || bare.ends_with("/..") {
                return Err(invalid(format!(
                    "files.deny: {p:?} must be an absolute path (optionally ending in * or /**)"
                )));
            }
            deny.push(p.clone());
        }
        Ok(Policy {
            read: trees("read", &self.files.read, d.read)?,
            write: trees("write", &self.files.write, d.write)?,
            deny,
        })
    }

    /// Where the system-wide policy is.
    pub fn policy_path(&self) -> PathBuf {
        self.policy_file
            .as_deref()
            .unwrap_or(crate::gate::policy::DEFAULT_PATH)
            .into()
    }

    /// The editor's policy this file describes (checked when it was loaded).
    pub fn policy(&self) -> Policy {
        self.policy_checked(Path::new(DEFAULT_PATH))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/halbert/halbertd.yaml"), s)
    }

    #[test]
    fn no_file_or_an_empty_one_is_the_defaults() {
        let c = Config::load(Path::new("/nonexistent/halbertd.yaml")).expect("defaults");
        assert_eq!(c.policy(), Policy::default());
        assert_eq!(parse("\n").expect("empty").policy(), Policy::default());
    }

    #[test]
    fn trees_replace_the_defaults_and_deny_adds_to_them() {
        let c = parse(
            "files:\n  read: [/etc, /opt/app/etc]\n  write: [/opt/app/etc]\n  deny: [/etc/app/secret.key, /opt/app/etc/keys/**]\n",
        )
        .expect("parses");
        let p = c.policy();
        assert_eq!(
            p.read,
            [PathBuf::from("/etc"), PathBuf::from("/opt/app/etc")]
        );
        assert_eq!(p.write, [PathBuf::from("/opt/app/etc")]);
        assert!(
            p.deny.contains(&"/etc/shadow*".to_owned()),
            "built-ins stay"
        );
        assert!(p.deny.contains(&"/opt/app/etc/keys/**".to_owned()));
    }

    #[test]
    fn mistakes_stop_the_start_with_the_reason() {
        for (text, says) in [
            ("files:\n  read: [etc]\n", "files.read"),
            ("files:\n  write: [/]\n", "files.write"),
            ("files:\n  write: [/etc/../root]\n", "files.write"),
            ("files:\n  deny: [relative/**]\n", "files.deny"),
            ("files:\n  reed: [/etc]\n", "unknown field"),
            ("files: [\n", ""),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(says), "{text}: {e}");
            assert!(e.starts_with("/etc/halbert/halbertd.yaml"), "{e}");
        }
    }
}
