//! Dry runs: a proposed file judged by the real validator for its kind, on a private copy
//! (never the live file), and what restarting a unit would take down with it. Nothing here
//! changes the system. A file's dry run still asks polkit `org.halbert.config.write` for the
//! path — the validator runs as root on content the caller wrote, and its messages may quote
//! files it reads — and is audited (outcome `unchanged`); it is allowed in safe mode, which
//! stops changes, not looking.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Acted, Engine, EngineError, Mutation, blocking};
use crate::exec::ExecError;
use crate::files::validate::{self, Check};
use crate::files::{Access, MAX_SIZE};
use crate::gate::authz::ACTION_CONFIG_WRITE;
use crate::peer::Caller;

/// How a dry run's check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    /// The validator for this kind of file is not installed here.
    NotInstalled,
    /// No validator knows this kind of file.
    NoValidator,
    TimedOut,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::NotInstalled => "not_installed",
            Verdict::NoValidator => "no_validator",
            Verdict::TimedOut => "timed_out",
        }
    }
}

/// What the validator said of the proposed content.
#[derive(Debug, Clone)]
pub struct Validation {
    pub path: String,
    /// `sshd`, `visudo`, `yaml`, ...; empty when none applies.
    pub validator: String,
    pub verdict: Verdict,
    pub argv: Vec<String>,
    pub exit_code: Option<i32>,
    pub output: String,
    pub duration: Duration,
    pub runner: &'static str,
}

/// A validator that takes longer than this is stopped and reported as timed out.
const VALIDATOR_TIMEOUT: Duration = Duration::from_secs(20);

impl Engine {
    /// Judges `content` as the new content of `path` with the validator for its kind.
    pub async fn validate_file(
        self: &Arc<Self>,
        caller: &Caller,
        path: &str,
        content: Vec<u8>,
        request_id: &str,
    ) -> Result<Validation, EngineError> {
        let too_large = (content.len() as u64 > MAX_SIZE)
            .then(|| format!("the content is larger than {} MiB", MAX_SIZE >> 20));
        let m = Mutation {
            rpc: "Files.Validate",
            caller,
            request_id,
            action: ACTION_CONFIG_WRITE,
            details: BTreeMap::from([
                ("path".to_owned(), path.to_owned()),
                ("size".to_owned(), content.len().to_string()),
                ("dry_run".to_owned(), "true".to_owned()),
            ]),
            allowed_in_safe_mode: true,
            dry_run: true,
            tool: None,
            invalid: crate::files::policy::check_syntax(path)
                .err()
                .map(|e| e.to_string())
                .or(too_large),
        };
        let p = path.to_owned();
        self.mutate_async(m, move |e, _uid| async move {
            let v = e.run_validation(p, content).await?;
            let summary = format!(
                "dry run of {}: {} {}",
                v.path,
                if v.validator.is_empty() {
                    "no validator"
                } else {
                    &v.validator
                },
                v.verdict.as_str()
            );
            Ok(Acted::change(v.clone(), false, summary)
                .with("validator", v.validator.clone())
                .with("verdict", v.verdict.as_str()))
        })
        .await
    }

    async fn run_validation(
        &self,
        path: String,
        content: Vec<u8>,
    ) -> Result<Validation, EngineError> {
        // The path must be one halbertd would write: a dry run of what cannot be applied
        // would mislead.
        let files = self.files.clone();
        let p = path.clone();
        blocking(move || files.resolve(&p, Access::Write)).await??;
        let mut v = Validation {
            path: path.clone(),
            validator: String::new(),
            verdict: Verdict::NoValidator,
            argv: Vec::new(),
            exit_code: None,
            output: String::new(),
            duration: Duration::ZERO,
            runner: "none",
        };
        let started = std::time::Instant::now();
        match validate::check_for(&path) {
            Check::None => {
                v.output = "no validator knows this kind of file; only the diff is shown".into();
            }
            Check::Syntax(f) => {
                v.validator = f.name().into();
                v.runner = "halbertd";
                match std::str::from_utf8(&content)
                    .map_err(|e| e.to_string())
                    .and_then(|t| f.check(t))
                {
                    Ok(()) => v.verdict = Verdict::Passed,
                    Err(msg) => {
                        v.verdict = Verdict::Failed;
                        v.output = msg;
                    }
                }
                v.duration = started.elapsed();
            }
            Check::Program {
                name,
                argv,
                layout,
                writable,
            } => {
                v.validator = name.into();
                let (root, base, p) = (self.root.clone(), self.validate_dir.clone(), path.clone());
                let staged =
                    blocking(move || validate::stage(&root, &base, &p, &content, argv, layout))
                        .await?
                        .map_err(|e| {
                            EngineError::Internal(format!("staging the private copy: {e}"))
                        })?;
                let sd = match self.systemd().await {
                    Ok(sd) if nix::unistd::geteuid().is_root() && sd.runs_transient_units() => {
                        Some(sd)
                    }
                    _ => None,
                };
                match crate::exec::validate::run(
                    sd.as_ref(),
                    &staged.argv,
                    writable,
                    VALIDATOR_TIMEOUT,
                )
                .await
                {
                    Ok(r) => {
                        v.verdict = if r.timed_out {
                            Verdict::TimedOut
                        } else if r.exit_code == Some(0) {
                            Verdict::Passed
                        } else {
                            Verdict::Failed
                        };
                        v.argv = r.argv;
                        v.exit_code = r.exit_code;
                        v.output = r.output;
                        v.duration = r.elapsed;
                        v.runner = r.runner;
                    }
                    Err(ExecError::NotFound(n)) => {
                        v.verdict = Verdict::NotInstalled;
                        v.argv = staged.argv.clone();
                        v.output = format!(
                            "{n} is not installed on this machine, so the file was not validated"
                        );
                    }
                    Err(e) => return Err(EngineError::Internal(format!("running {name}: {e}"))),
                }
                drop(staged);
            }
        }
        Ok(v)
    }
}

/// What restarting a unit would take: its state now, the units a restart stops with it, and
/// how long its last start took.
#[derive(Debug, Clone, Default)]
pub struct RestartPlan {
    pub unit: String,
    pub description: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    /// Units stopped (and started again) with it: `RequiredBy`, `BoundBy` and `ConsistsOf`
    /// (the reverse of `PartOf`), with their state now.
    pub dependents: Vec<(String, String)>,
    /// Its last start, from leaving `inactive` to entering `active`; `None` when systemd has
    /// no such pair of timestamps (never started since boot, or a unit without a start).
    pub last_start: Option<Duration>,
}

/// Dependents reported at most (a target can be required by hundreds).
const MAX_DEPENDENTS: usize = 64;

impl Engine {
    /// The plan of a restart of the unit `raw` names; nothing is changed.
    pub async fn restart_plan(
        &self,
        caller: &Caller,
        raw: &str,
    ) -> Result<RestartPlan, EngineError> {
        use crate::systemd::{Iface, prop};
        self.check_read(caller)?;
        let unit = crate::inspect::unit_name(raw)?;
        let sd = self.systemd().await?;
        let path = sd
            .load_unit(&unit)
            .await
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let p = sd
            .properties(&path, Iface::Unit)
            .await
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let text = |k: &str| prop::<String>(&p, k).unwrap_or_default();
        let mut plan = RestartPlan {
            unit: unit.clone(),
            description: text("Description"),
            load_state: text("LoadState"),
            active_state: text("ActiveState"),
            sub_state: text("SubState"),
            ..RestartPlan::default()
        };
        if plan.load_state == "not-found" {
            return Err(EngineError::NotFound(format!(
                "systemd knows no unit {unit}"
            )));
        }
        let exit = prop::<u64>(&p, "InactiveExitTimestampMonotonic").unwrap_or(0);
        let enter = prop::<u64>(&p, "ActiveEnterTimestampMonotonic").unwrap_or(0);
        if exit > 0 && enter >= exit {
            plan.last_start = Some(Duration::from_micros(enter - exit));
        }
        let mut names: Vec<String> = ["RequiredBy", "BoundBy", "ConsistsOf"]
            .iter()
            .flat_map(|k| prop::<Vec<String>>(&p, k).unwrap_or_default())
            .collect();
        names.sort();
        names.dedup();
        names.truncate(MAX_DEPENDENTS);
        for n in names {
            let state = sd
                .active_state(&n)
                .await
                .unwrap_or_else(|| "unknown".into());
            plan.dependents.push((n, state));
        }
        Ok(plan)
    }
}
