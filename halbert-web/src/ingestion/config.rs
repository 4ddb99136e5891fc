//! `ingestion.yml`: which sources run, what the journal source keeps, how long things are
//! kept, and which redaction rules apply. A missing file means the defaults; a bad one is
//! refused with the field named, and ingestion does not start on it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::chat::redact::Rules;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct IngestionConfig {
    pub sources: Sources,
    pub retention: Retention,
    pub redaction: Rules,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Sources {
    pub journald: Journald,
    pub hwmon: Hwmon,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Journald {
    pub enabled: bool,
    /// Severities kept: critical, error, warn, info, debug.
    pub severities: Vec<String>,
    /// SYSLOG_IDENTIFIERs; with `units`, an entry passes when either list names it, and both
    /// empty pass everything.
    pub identifiers: Vec<String>,
    pub units: Vec<String>,
    /// Events kept per `identifier:severity` in any 60 seconds of journal time.
    pub rate_limit_per_min: u32,
    /// The journal cursor is saved after this many events (and at every stop).
    pub cursor_persist_every: u32,
}

impl Default for Journald {
    fn default() -> Self {
        Self {
            enabled: true,
            severities: vec!["critical".into(), "error".into(), "warn".into()],
            identifiers: Vec::new(),
            units: Vec::new(),
            rate_limit_per_min: 60,
            cursor_persist_every: 100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hwmon {
    pub enabled: bool,
    /// Seconds between readings.
    pub interval_s: u32,
}

impl Default for Hwmon {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_s: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Days the raw events are kept.
    pub raw_days: u32,
    /// Days their memory entries are kept.
    pub index_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw_days: 14,
            index_days: 60,
        }
    }
}

/// Why the file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {what}")]
pub struct ConfigError {
    pub path: PathBuf,
    pub what: String,
    /// The file could not be read at all (its permissions), as opposed to read and refused.
    pub unreadable: bool,
}

const SEVERITIES: [&str; 5] = ["critical", "error", "warn", "info", "debug"];

impl IngestionConfig {
    pub fn file(dirs: &crate::config::Dirs) -> PathBuf {
        dirs.config.join("ingestion.yml")
    }

    /// Reads and checks the file; a missing or empty one means the defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let err = |what: String| ConfigError {
            path: path.to_owned(),
            what,
            unreadable: false,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(ConfigError {
                    unreadable: true,
                    ..err(e.to_string())
                });
            }
        };
        let cfg: Self = if text.trim().is_empty() {
            Self::default()
        } else {
            serde_norway::from_str(&text).map_err(|e| err(e.to_string()))?
        };
        cfg.validate().map_err(err)?;
        Ok(cfg)
    }

    /// The bounds of every field, named as in the file.
    pub fn validate(&self) -> Result<(), String> {
        let j = &self.sources.journald;
        if let Some(s) = j
            .severities
            .iter()
            .find(|s| !SEVERITIES.contains(&s.as_str()))
        {
            return Err(format!(
                "sources.journald.severities: unknown severity {s:?} (critical, error, warn, info, debug)"
            ));
        }
        if j.identifiers.len() > 64 || j.units.len() > 64 {
            return Err("sources.journald.identifiers and .units: at most 64 each".into());
        }
        if !(1..=100_000).contains(&j.rate_limit_per_min) {
            return Err(format!(
                "sources.journald.rate_limit_per_min must be between 1 and 100000, not {}",
                j.rate_limit_per_min
            ));
        }
        if !(1..=100_000).contains(&j.cursor_persist_every) {
            return Err(format!(
                "sources.journald.cursor_persist_every must be between 1 and 100000, not {}",
                j.cursor_persist_every
            ));
        }
        if !(1..=3600).contains(&self.sources.hwmon.interval_s) {
            return Err(format!(
                "sources.hwmon.interval_s must be between 1 and 3600, not {}",
                self.sources.hwmon.interval_s
            ));
        }
        let r = &self.retention;
        if !(1..=3650).contains(&r.raw_days) || !(1..=3650).contains(&r.index_days) {
            return Err("retention.raw_days and .index_days must be between 1 and 3650".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_a_partial_file_and_errors_that_name_the_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("ingestion.yml");
        assert_eq!(
            IngestionConfig::load(&p).expect("missing"),
            IngestionConfig::default()
        );
        std::fs::write(
            &p,
            "sources:\n  journald:\n    severities: [error]\n    units: [nginx]\nredaction:\n  ipv4: false\n",
        )
        .expect("write");
        let c = IngestionConfig::load(&p).expect("valid");
        assert_eq!(c.sources.journald.severities, ["error"]);
        assert_eq!(c.sources.journald.rate_limit_per_min, 60);
        assert!(!c.redaction.ipv4 && c.redaction.secrets);
        for (text, names) in [
            (
                "sources:\n  journald:\n    severities: [loud]\n",
                "sources.journald.severities",
            ),
            (
                "sources:\n  hwmon:\n    interval_s: 0\n",
                "sources.hwmon.interval_s",
            ),
            ("retention:\n  raw_days: 0\n", "retention.raw_days"),
            ("sources:\n  journald:\n    rate_limit: 5\n", "rate_limit"),
            ("redaction:\n  phone_numbers: true\n", "phone_numbers"),
        ] {
            std::fs::write(&p, text).expect("write");
            let e = IngestionConfig::load(&p).expect_err(text);
            assert!(e.to_string().contains(names), "{e}");
            assert!(!e.unreadable, "a refused file was read");
        }
        // A file that cannot be read is told apart from one that was read and refused (it was
        // once answered 422, as if the request were wrong): a directory stands in for a file
        // whose permissions keep it from the reader, since this test may run as root.
        std::fs::remove_file(&p).expect("remove");
        std::fs::create_dir(&p).expect("mkdir");
        let e = IngestionConfig::load(&p).expect_err("a directory");
        assert!(e.unreadable, "{e}");
    }
}
