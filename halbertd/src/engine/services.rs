//! Starting, stopping and restarting units through the gate: polkit
//! `org.halbert.service.manage` with `unit` and `verb`, refused in safe mode, the job submitted
//! to systemd (mode `replace`) and its `JobRemoved` result awaited, audited either way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Acted, Engine, EngineError, Mutation};
use crate::gate::authz::ACTION_SERVICE;
use crate::host::HostRoot;
use crate::inspect;
use crate::peer::Caller;
use crate::systemd::{Iface, JobEnd, SystemdError, Verb, prop, unit_path};

/// How long a request waits for its job. A unit whose start takes longer is still being
/// started when the answer comes; the answer says so.
const JOB_WAIT: Duration = Duration::from_secs(90);

/// Where systemd looks for system unit files, most specific first (systemd.unit(5)).
const UNIT_PATHS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// What came of a job on a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceControl {
    pub unit: String,
    pub verb: Verb,
    pub success: bool,
    pub message: String,
    /// systemd's job result (`done`, `failed`, `canceled`, `timeout`, `dependency`,
    /// `skipped`), `running` when the wait ran out, `refused` when systemd would not queue it.
    pub job_result: String,
    pub active_state: String,
    pub sub_state: String,
}

/// Whether a unit file named `unit` (or the template of an instance) is installed.
fn unit_file_exists(root: &HostRoot, unit: &str) -> bool {
    let template = unit
        .split_once('@')
        .and_then(|(stem, rest)| rest.rsplit_once('.').map(|(_, t)| format!("{stem}@.{t}")));
    UNIT_PATHS.iter().any(|dir| {
        std::iter::once(unit.to_owned())
            .chain(template.clone())
            .any(|name| root.path(format!("{dir}/{name}")).exists())
    })
}

impl Engine {
    /// Runs `verb` on the unit `raw` names ("nginx" is nginx.service); `reason`, when not
    /// empty, goes into the audit record.
    pub async fn control_service(
        self: &Arc<Self>,
        caller: &Caller,
        raw: &str,
        verb: Verb,
        reason: &str,
        request_id: &str,
    ) -> Result<ServiceControl, EngineError> {
        let (unit, invalid) = match inspect::unit_name(raw) {
            Ok(u) => (u, None),
            Err(e) => (raw.to_owned(), Some(e.to_string())),
        };
        let mut details = BTreeMap::from([
            ("unit".to_owned(), unit.clone()),
            ("verb".to_owned(), verb.as_str().to_owned()),
        ]);
        if !reason.is_empty() {
            details.insert("reason".to_owned(), reason.to_owned());
        }
        let m = Mutation {
            rpc: "Services.Control",
            caller,
            request_id,
            action: ACTION_SERVICE,
            details,
            allowed_in_safe_mode: false,
            dry_run: false,
            tool: Some((
                "service_control",
                crate::gate::policy::Inputs {
                    path: None,
                    name: Some(unit.clone()),
                },
            )),
            invalid,
        };
        self.mutate_async(m, move |e, _uid| async move { e.run_job(unit, verb).await })
            .await
    }

    async fn run_job(
        &self,
        unit: String,
        verb: Verb,
    ) -> Result<Acted<ServiceControl>, EngineError> {
        let sd = match self.systemd().await {
            Ok(sd) => sd,
            // Without a bus there is no way to act; an unknown name is still the caller's
            // mistake, and is said so.
            Err(e) if !unit_file_exists(&self.root, &unit) => {
                tracing::debug!(error = %e, unit, "no system bus, and no such unit file");
                return Err(EngineError::NotFound(format!(
                    "no unit {unit} is installed"
                )));
            }
            Err(e) => return Err(e),
        };
        let submitted = std::time::Instant::now();
        let end = match sd.unit_job(verb, &unit, JOB_WAIT).await {
            Ok(end) => end,
            Err(SystemdError::NoSuchUnit(u)) => {
                return Err(EngineError::NotFound(format!("systemd knows no unit {u}")));
            }
            Err(SystemdError::Refused { reason, .. }) => {
                let v = self.job_answer(&sd, &unit, verb, "refused", reason).await;
                let summary = format!("systemd refused to {} {unit}", verb.as_str());
                return Ok(Acted::failed(v, summary).with("job_result", "refused"));
            }
            Err(e) => return Err(EngineError::Unavailable(e.to_string())),
        };
        let (result, message) = match &end {
            JobEnd::Done(r) if r == "done" => (r.clone(), done_message(verb, &unit)),
            JobEnd::Done(r) => (r.clone(), String::new()),
            JobEnd::StillRunning => (
                "running".to_owned(),
                format!(
                    "the {} job of {unit} was still running after {} s; systemd goes on with it",
                    verb.as_str(),
                    JOB_WAIT.as_secs()
                ),
            ),
        };
        // The job's own time, from its submission to its JobRemoved, for the record (and for
        // the benchmark of what halbertd adds around it).
        let job_ms = submitted.elapsed().as_secs_f64() * 1000.0;
        let v = self.job_answer(&sd, &unit, verb, &result, message).await;
        let summary = format!("{} {unit}: job {result}", verb.as_str());
        let acted = if v.success {
            Acted::change(v, true, summary)
        } else {
            Acted::failed(v, summary)
        };
        Ok(acted
            .with("job_result", result)
            .with("job_ms", format!("{job_ms:.2}")))
    }

    /// The answer to a job: its result and the unit's state after it, with systemd's reason
    /// for a failure (the service's `Result`, e.g. `exit-code`) in the message.
    async fn job_answer(
        &self,
        sd: &crate::systemd::Systemd,
        unit: &str,
        verb: Verb,
        result: &str,
        message: String,
    ) -> ServiceControl {
        let (mut active, mut sub, mut why) = (String::new(), String::new(), String::new());
        let success = result == "done";
        let path = unit_path(unit);
        if let Ok(p) = sd.properties(&path, Iface::Unit).await {
            active = prop::<String>(&p, "ActiveState").unwrap_or_default();
            sub = prop::<String>(&p, "SubState").unwrap_or_default();
        }
        // Why it failed is the service's Result; a job that is done needs no reason.
        if !success
            && unit.ends_with(".service")
            && let Ok(p) = sd.properties(&path, Iface::Service).await
        {
            why = prop::<String>(&p, "Result").unwrap_or_default();
        }
        let message = if !message.is_empty() {
            message
        } else {
            let why = if why.is_empty() || why == "success" {
                String::new()
            } else {
                format!(" (the service's result: {why})")
            };
            format!(
                "the {} job of {unit} ended with '{result}'{why}; see its logs",
                verb.as_str()
            )
        };
        ServiceControl {
            unit: unit.to_owned(),
            verb,
            success,
            message,
            job_result: result.to_owned(),
            active_state: active,
            sub_state: sub,
        }
    }
}

fn done_message(verb: Verb, unit: &str) -> String {
    let past = match verb {
        Verb::Start => "started",
        Verb::Stop => "stopped",
        Verb::Restart => "restarted",
    };
    format!("{past} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_files_are_found_by_name_or_template() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lib = dir.path().join("usr/lib/systemd/system");
        std::fs::create_dir_all(&lib).expect("mkdir");
        std::fs::write(lib.join("nginx.service"), "[Service]\n").expect("unit");
        std::fs::write(lib.join("getty@.service"), "[Service]\n").expect("template");
        let root = HostRoot::new(dir.path());
        assert!(unit_file_exists(&root, "nginx.service"));
        assert!(unit_file_exists(&root, "getty@tty1.service"));
        assert!(!unit_file_exists(&root, "halbert-no-such.service"));
        assert!(!unit_file_exists(&root, "nginx.socket"));
    }
}
