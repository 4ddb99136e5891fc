//! The health gate: after a config write whose file belongs to a unit, restart the unit and
//! watch it for the settle time; if it fails (the restart job, its state, or the file's
//! validator now), write the backup taken before the write back, restart the unit again,
//! raise an `alert`, and say so in the action's result. halbertd audits each step (the
//! restore and both restarts carry the reason in their records).

use std::time::{Duration, Instant};

use halbert_proto::v1 as pb;
use serde::Serialize;

use super::Gate;
use crate::events::{AlertData, Event};
use crate::time::iso8601;

/// What the health gate made of a change.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "verdict", rename_all = "snake_case")]
#[schema(as = HealthVerdict)]
pub enum Health {
    /// The unit came back and stayed up for the settle time: the change stays.
    Kept { unit: String, watched_s: f64 },
    /// The unit failed; the old file is back and the unit was restarted with it.
    RolledBack {
        unit: String,
        reason: String,
        restored_backup: String,
        /// Whether the unit came back with the old file.
        recovered: bool,
    },
    /// The unit failed and the old file could not be put back (see `error`).
    RollbackFailed {
        unit: String,
        reason: String,
        error: String,
    },
    /// Nothing was watched (no unit belongs to the file, or it could not be restarted).
    NotWatched { reason: String },
}

impl Health {
    pub fn verdict(&self) -> &'static str {
        match self {
            Health::Kept { .. } => "kept",
            Health::RolledBack { .. } => "rolled_back",
            Health::RollbackFailed { .. } => "rollback_failed",
            Health::NotWatched { .. } => "not_watched",
        }
    }

    pub fn summary(&self) -> String {
        match self {
            Health::Kept { unit, watched_s } => {
                format!("{unit} stayed up for {watched_s:.0} s: the change is kept")
            }
            Health::RolledBack { unit, reason, .. } => {
                format!("rolled back: {reason}; {unit} was restarted with the previous file")
            }
            Health::RollbackFailed { reason, error, .. } => {
                format!("{reason}, and the rollback failed: {error}")
            }
            Health::NotWatched { reason } => format!("not watched: {reason}"),
        }
    }
}

/// The unit a configuration file belongs to, by its path (a unit file is its own unit).
pub fn unit_for(path: &str) -> Option<String> {
    let table: &[(&str, &str)] = &[
        ("/etc/ssh/sshd_config", "ssh.service"),
        ("/etc/ssh/sshd_config.d/", "ssh.service"),
        ("/etc/nginx/", "nginx.service"),
        ("/etc/apache2/", "apache2.service"),
        ("/etc/samba/smb.conf", "smbd.service"),
        ("/etc/haproxy/", "haproxy.service"),
        ("/etc/bind/", "named.service"),
        ("/etc/postfix/", "postfix.service"),
        ("/etc/nftables.conf", "nftables.service"),
        ("/etc/chrony/", "chrony.service"),
        ("/etc/redis/", "redis-server.service"),
    ];
    table
        .iter()
        .find(|(prefix, _)| {
            if prefix.ends_with('/') {
                path.starts_with(prefix)
            } else {
                path == *prefix
            }
        })
        .map(|(_, unit)| (*unit).to_owned())
}

/// Polled this often while the unit settles.
const POLL: Duration = Duration::from_millis(250);

/// Why the unit is not healthy now, if it is not.
async fn unhealthy(gate: &Gate, unit: &str) -> Option<String> {
    match gate.daemon.service_status(unit).await {
        Ok(s) if s.active_state == "failed" => Some(format!(
            "{unit} failed after the change (result: {})",
            if s.result.is_empty() {
                "unknown"
            } else {
                &s.result
            }
        )),
        Ok(s) if s.sub_state == "auto-restart" => Some(format!(
            "{unit} keeps exiting after the change (systemd is restarting it)"
        )),
        Ok(s) if s.active_state == "inactive" && s.result != "success" => Some(format!(
            "{unit} stopped after the change (result: {})",
            s.result
        )),
        Ok(_) => None,
        Err(e) => Some(format!("{unit}'s state cannot be read: {e}")),
    }
}

/// Restarts `unit` after the write of `path` and watches it; rolls back on failure.
pub async fn watch(
    gate: &Gate,
    path: &str,
    unit: Option<&str>,
    written: &pb::FileWritten,
    request_id: &str,
) -> Health {
    let Some(unit) = unit else {
        return Health::NotWatched {
            reason: format!("no unit is known for {path}; name one with `unit`"),
        };
    };
    let d = &gate.daemon;
    let started = Instant::now();
    let why = format!("health gate: applying the change of {path}");
    let failure = match d
        .control_service(unit, pb::ServiceVerb::Restart, &why, request_id)
        .await
    {
        Err(e) => {
            return Health::NotWatched {
                reason: format!("{unit} could not be restarted to apply the change: {e}"),
            };
        }
        Ok(r) if !r.success => Some(format!("restarting {unit} failed: {}", r.message)),
        Ok(_) => loop {
            if let Some(f) = unhealthy(gate, unit).await {
                break Some(f);
            }
            if started.elapsed() >= gate.settle {
                break unhealthy(gate, unit).await;
            }
            tokio::time::sleep(POLL).await;
        },
    };
    // The file's validator, now that the unit runs with it (an include may have changed).
    let failure = match failure {
        Some(f) => Some(f),
        None => match d.read_file(path).await {
            Ok(f) => match d.validate_file(path, f.content, request_id).await {
                Ok(v) if v.verdict == "failed" => Some(format!(
                    "{} now rejects {path}: {}",
                    v.validator,
                    v.output.lines().next().unwrap_or_default()
                )),
                _ => None,
            },
            Err(_) => None,
        },
    };
    let Some(reason) = failure else {
        return Health::Kept {
            unit: unit.to_owned(),
            watched_s: started.elapsed().as_secs_f64(),
        };
    };
    tracing::warn!(
        unit,
        path,
        reason,
        request_id,
        "the change broke its unit: rolling back"
    );
    let rolled = if written.backup_id.is_empty() {
        Err("the file was new, so there is no earlier content to restore".to_owned())
    } else {
        let why = format!("automatic rollback: {reason}");
        match d
            .restore_file(path, &written.backup_id, &why, request_id)
            .await
        {
            Ok(_) => {
                let r = d
                    .control_service(unit, pb::ServiceVerb::Restart, &why, request_id)
                    .await;
                Ok(matches!(r, Ok(r) if r.success))
            }
            Err(e) => Err(e.to_string()),
        }
    };
    let (health, message, severity) = match rolled {
        Ok(recovered) => (
            Health::RolledBack {
                unit: unit.to_owned(),
                reason: reason.clone(),
                restored_backup: written.backup_id.clone(),
                recovered,
            },
            format!(
                "Rolled back {path}: {reason}. The previous file is back and {unit} was restarted{}.",
                if recovered {
                    ""
                } else {
                    ", but it did not come back"
                }
            ),
            if recovered { "error" } else { "critical" },
        ),
        Err(e) => (
            Health::RollbackFailed {
                unit: unit.to_owned(),
                reason: reason.clone(),
                error: e.clone(),
            },
            format!("{path} broke {unit} ({reason}) and could not be rolled back: {e}"),
            "critical",
        ),
    };
    alert(gate, message, severity).await;
    health
}

/// Persists and broadcasts an alert (as `POST /api/settings/recovery/alert` does).
async fn alert(gate: &Gate, message: String, severity: &str) {
    let (r, m, s) = (gate.recovery.clone(), message.clone(), severity.to_owned());
    let at = match tokio::task::spawn_blocking(move || r.alert(m, s)).await {
        Ok(Ok(a)) => Some((a.id, a.at)),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "recording the rollback's alert");
            None
        }
        Err(_) => None,
    };
    let (id, at) = at.unwrap_or_else(|| {
        (
            format!("alert-{}", uuid::Uuid::new_v4().simple()),
            time::OffsetDateTime::now_utc().unix_timestamp(),
        )
    });
    gate.feed.broadcast(&Event::Alert(AlertData {
        id,
        message,
        severity: severity.to_owned(),
        timestamp: iso8601(at).unwrap_or_default(),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_belong_to_their_units() {
        assert_eq!(
            unit_for("/etc/ssh/sshd_config").as_deref(),
            Some("ssh.service")
        );
        assert_eq!(
            unit_for("/etc/ssh/sshd_config.d/10.conf").as_deref(),
            Some("ssh.service")
        );
        assert_eq!(
            unit_for("/etc/nginx/sites-enabled/default").as_deref(),
            Some("nginx.service")
        );
        assert_eq!(
            unit_for("/etc/samba/smb.conf").as_deref(),
            Some("smbd.service")
        );
        assert_eq!(unit_for("/etc/ssh/ssh_config"), None);
        assert_eq!(unit_for("/etc/hosts"), None);
    }
}
