//! `check_disk_space`: size and use of the mounted filesystems, or of the one holding a path.

use serde_json::{Value, json};

use super::{Ran, daemon_error, gb, only, text_arg};
use crate::daemon::Daemon;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckDiskSpace {
    pub path: Option<String>,
}

impl CheckDiskSpace {
    pub const NAME: &'static str = "check_disk_space";

    pub fn definition() -> Value {
        super::function(
            Self::NAME,
            "Size, used and free space of the mounted filesystems, or of the one holding a path.",
            json!({"path": {"type": "string", "description": "An absolute path, e.g. /var/lib"}}),
            &[],
        )
    }

    pub fn parse(args: &Value) -> Result<Self, String> {
        only(args, &["path"])?;
        let path = text_arg(args, "path", 4096)?;
        if let Some(p) = &path
            && (!p.starts_with('/') || p.split('/').any(|c| c == ".."))
        {
            return Err("path must be absolute and must not contain '..'".into());
        }
        Ok(Self { path })
    }

    pub async fn run(&self, daemon: &Daemon) -> Ran {
        daemon
            .status()
            .await
            .map_err(|e| daemon_error(&e))
            .and_then(|s| {
                let view = |f: &halbert_proto::v1::Filesystem| {
                    json!({
                        "mountpoint": f.mountpoint, "device": f.device, "fstype": f.fstype,
                        "size_gb": gb(f.total_bytes), "used_gb": gb(f.used_bytes),
                        "available_gb": gb(f.available_bytes),
                        "used_percent": if f.total_bytes == 0 { 0.0 } else {
                            ((f.used_bytes as f64 / f.total_bytes as f64) * 1000.0).round() / 10.0
                        },
                    })
                };
                match &self.path {
                    None => Ok(
                        json!({"filesystems": s.filesystems.iter().map(view).collect::<Vec<_>>()}),
                    ),
                    Some(p) => s
                        .filesystems
                        .iter()
                        .filter(|f| under(p, &f.mountpoint))
                        .max_by_key(|f| f.mountpoint.len())
                        .map(|f| json!({"path": p, "filesystem": view(f)}))
                        .ok_or_else(|| format!("no mounted filesystem holds {p}")),
                }
            })
            .into()
    }
}

/// Whether `path` lies on the filesystem mounted at `mountpoint`.
fn under(path: &str, mountpoint: &str) -> bool {
    mountpoint == "/"
        || path == mountpoint
        || path
            .strip_prefix(mountpoint)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_the_deepest_mount() {
        assert!(under("/var/lib", "/"));
        assert!(under("/var/lib", "/var"));
        assert!(under("/var", "/var"));
        assert!(!under("/variable", "/var"));
    }
}
