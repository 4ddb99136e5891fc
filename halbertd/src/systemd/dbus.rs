//! The real manager: typed proxies for `org.freedesktop.systemd1.Manager` and the standard
//! properties interface. Properties are never cached by the proxies: every read is a fresh
//! question to PID 1, since the point is to report the state now.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::oneshot;
use zbus::fdo::PropertiesProxy;
use zbus::names::InterfaceName;
use zbus::proxy::CacheProperties;
use zbus::{OwnedObjectPath, Variant};

use super::{Iface, JobEnd, Props, SystemdError, Transient, UnitFile, UnitRow, Verb};

const DEST: &str = "org.freedesktop.systemd1";

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    fn list_units(&self) -> zbus::Result<Vec<UnitRow>>;
    fn list_unit_files_by_patterns(
        &self,
        states: &[&str],
        patterns: &[&str],
    ) -> zbus::Result<Vec<UnitFile>>;
    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: &[(&str, Variant<'_>)],
        aux: &[(&str, &[(&str, Variant<'_>)])],
    ) -> zbus::Result<OwnedObjectPath>;
    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;
    fn subscribe(&self) -> zbus::Result<()>;
    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: OwnedObjectPath,
        unit: String,
        result: String,
    ) -> zbus::Result<()>;
}

fn failed(call: &'static str) -> impl FnOnce(zbus::Error) -> SystemdError {
    move |e| SystemdError::Call {
        call,
        reason: e.to_string(),
    }
}

async fn manager(c: &zbus::Connection) -> Result<ManagerProxy<'static>, SystemdError> {
    ManagerProxy::builder(c)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .map_err(failed("the manager proxy"))
}

pub(super) async fn list_units(c: &zbus::Connection) -> Result<Vec<UnitRow>, SystemdError> {
    manager(c)
        .await?
        .list_units()
        .await
        .map_err(failed("ListUnits"))
}

pub(super) async fn list_unit_files(
    c: &zbus::Connection,
    patterns: &[&str],
) -> Result<Vec<UnitFile>, SystemdError> {
    manager(c)
        .await?
        .list_unit_files_by_patterns(&[], patterns)
        .await
        .map_err(failed("ListUnitFilesByPatterns"))
}

pub(super) async fn load_unit(
    c: &zbus::Connection,
    unit: &str,
) -> Result<OwnedObjectPath, SystemdError> {
    manager(c)
        .await?
        .load_unit(unit)
        .await
        .map_err(failed("LoadUnit"))
}

/// What a refused method call means: systemd's own error names for a unit it does not know or
/// will not act on, so that callers can say so instead of "systemd did not answer".
fn refused(call: &'static str, unit: &str, e: zbus::Error) -> SystemdError {
    match &e {
        zbus::Error::MethodError(name, msg, _) => match name.as_str() {
            "org.freedesktop.systemd1.NoSuchUnit" | "org.freedesktop.systemd1.LoadFailed" => {
                SystemdError::NoSuchUnit(unit.to_owned())
            }
            n if n.starts_with("org.freedesktop.systemd1.") => SystemdError::Refused {
                unit: unit.to_owned(),
                reason: msg.clone().unwrap_or_else(|| n.to_owned()),
            },
            _ => failed(call)(e),
        },
        _ => failed(call)(e),
    }
}

/// PID 1 on one bus connection, with the one `JobRemoved` subscription every job waits on.
/// Opening a signal match per job, and subscribing again each time, cost three extra round
/// trips per job (a quarter of what halbertd added to a restart in the benchmark).
#[derive(Debug)]
pub struct Pid1 {
    conn: zbus::Connection,
    jobs: tokio::sync::OnceCell<Arc<JobWatcher>>,
}

/// Jobs waited on, and jobs that ended before anyone asked (the answer to `StartUnit` and
/// the `JobRemoved` of a quick job race; the signal may come first).
#[derive(Debug, Default)]
struct JobWatcher {
    state: Mutex<Jobs>,
}

#[derive(Debug, Default)]
struct Jobs {
    waiting: HashMap<OwnedObjectPath, oneshot::Sender<String>>,
    ended: VecDeque<(OwnedObjectPath, String)>,
    closed: bool,
}

/// Jobs that ended unasked, kept for a waiter that comes a moment late; other clients' jobs
/// pass through here too, so it is bounded.
const ENDED_KEPT: usize = 256;

enum Waiting {
    Ended(String),
    Pending(oneshot::Receiver<String>),
}

impl JobWatcher {
    fn lock(&self) -> std::sync::MutexGuard<'_, Jobs> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ended(&self, job: OwnedObjectPath, result: String) {
        let mut s = self.lock();
        match s.waiting.remove(&job) {
            Some(tx) => {
                let _ = tx.send(result);
            }
            None => {
                s.ended.push_back((job, result));
                if s.ended.len() > ENDED_KEPT {
                    s.ended.pop_front();
                }
            }
        }
    }

    fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        s.waiting.clear();
    }

    fn wait_for(&self, job: &OwnedObjectPath) -> Option<Waiting> {
        let mut s = self.lock();
        if let Some(i) = s.ended.iter().position(|(p, _)| p == job) {
            return s.ended.remove(i).map(|(_, r)| Waiting::Ended(r));
        }
        if s.closed {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        s.waiting.insert(job.clone(), tx);
        Some(Waiting::Pending(rx))
    }

    fn forget(&self, job: &OwnedObjectPath) {
        self.lock().waiting.remove(job);
    }
}

impl Pid1 {
    pub fn new(conn: zbus::Connection) -> Self {
        Self {
            conn,
            jobs: tokio::sync::OnceCell::new(),
        }
    }

    pub fn connection(&self) -> &zbus::Connection {
        &self.conn
    }

    /// Whether this is the manager on `conn` (the shared connection is replaced after a
    /// failure).
    pub fn is_on(&self, conn: &zbus::Connection) -> bool {
        self.conn.unique_name() == conn.unique_name()
    }

    /// The subscription, made on first use: `Subscribe` (without it PID 1 sends no
    /// `JobRemoved`) and one signal stream, read by a task for as long as this lives.
    async fn watcher(&self) -> Result<Arc<JobWatcher>, SystemdError> {
        self.jobs
            .get_or_try_init(|| async {
                let m = manager(&self.conn).await?;
                if let Err(e) = m.subscribe().await {
                    tracing::debug!(error = %e, "systemd Subscribe");
                }
                let mut removed = m
                    .receive_job_removed()
                    .await
                    .map_err(failed("JobRemoved"))?;
                let w = Arc::new(JobWatcher::default());
                let weak = Arc::downgrade(&w);
                tokio::spawn(async move {
                    while let Some(sig) = removed.next().await {
                        let Some(w) = weak.upgrade() else { return };
                        if let Ok(a) = sig.args() {
                            w.ended(a.job, a.result);
                        }
                    }
                    if let Some(w) = weak.upgrade() {
                        w.close();
                    }
                });
                Ok(w)
            })
            .await
            .cloned()
    }
}

/// Submits a job with `submit` and waits up to `wait` for its `JobRemoved`. The subscription
/// exists before the job is submitted, so a job that ends at once is not missed.
async fn job<F, Fut>(
    p: &Pid1,
    call: &'static str,
    unit: &str,
    wait: Duration,
    submit: F,
) -> Result<JobEnd, SystemdError>
where
    F: FnOnce(ManagerProxy<'static>) -> Fut,
    Fut: Future<Output = zbus::Result<OwnedObjectPath>>,
{
    let w = p.watcher().await?;
    let path = submit(manager(&p.conn).await?)
        .await
        .map_err(|e| refused(call, unit, e))?;
    let ended = || SystemdError::Call {
        call: "JobRemoved",
        reason: "the signal stream ended".into(),
    };
    match w.wait_for(&path).ok_or_else(ended)? {
        Waiting::Ended(result) => Ok(JobEnd::Done(result)),
        Waiting::Pending(rx) => match tokio::time::timeout(wait, rx).await {
            Ok(Ok(result)) => Ok(JobEnd::Done(result)),
            Ok(Err(_)) => Err(ended()),
            Err(_) => {
                w.forget(&path);
                Ok(JobEnd::StillRunning)
            }
        },
    }
}

pub(super) async fn unit_job(
    c: &Pid1,
    verb: Verb,
    unit: &str,
    wait: Duration,
) -> Result<JobEnd, SystemdError> {
    let u = unit.to_owned();
    job(c, verb.method(), unit, wait, move |m| async move {
        match verb {
            Verb::Start => m.start_unit(&u, "replace").await,
            Verb::Stop => m.stop_unit(&u, "replace").await,
            Verb::Restart => m.restart_unit(&u, "replace").await,
        }
    })
    .await
}

pub(super) async fn start_transient(
    c: &Pid1,
    t: &Transient,
    wait: Duration,
) -> Result<JobEnd, SystemdError> {
    let name = t.name.clone();
    job(
        c,
        "StartTransientUnit",
        &t.name,
        wait,
        move |m| async move {
            m.start_transient_unit(&name, "fail", &t.properties(), &[])
                .await
        },
    )
    .await
}

pub(super) async fn reset_failed(c: &zbus::Connection, unit: &str) -> Result<(), SystemdError> {
    manager(c)
        .await?
        .reset_failed_unit(unit)
        .await
        .map_err(|e| refused("ResetFailedUnit", unit, e))
}

pub(super) async fn get_unit(
    c: &zbus::Connection,
    unit: &str,
) -> Result<OwnedObjectPath, SystemdError> {
    match manager(c).await?.get_unit(unit).await {
        Ok(p) => Ok(p),
        Err(zbus::Error::MethodError(name, _, _))
            if name.as_str() == "org.freedesktop.systemd1.NoSuchUnit" =>
        {
            Err(SystemdError::NoSuchUnit(unit.to_owned()))
        }
        Err(e) => Err(failed("GetUnit")(e)),
    }
}

pub(super) async fn properties(
    c: &zbus::Connection,
    path: &OwnedObjectPath,
    iface: Iface,
) -> Result<Props, SystemdError> {
    let proxy = PropertiesProxy::builder(c)
        .destination(DEST)
        .path(path.as_ref())
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .map_err(failed("the properties proxy"))?;
    proxy
        .get_all(InterfaceName::from_static_str_unchecked(iface.name()))
        .await
        .map_err(|e| SystemdError::Call {
            call: "GetAll",
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(n: u32) -> OwnedObjectPath {
        OwnedObjectPath::try_from(format!("/org/freedesktop/systemd1/job/{n}")).expect("path")
    }

    #[tokio::test]
    async fn a_job_that_ends_before_it_is_waited_for_is_not_missed() {
        let w = JobWatcher::default();
        // Its JobRemoved came before StartUnit's answer did.
        w.ended(path(1), "done".into());
        assert!(matches!(w.wait_for(&path(1)), Some(Waiting::Ended(r)) if r == "done"));
        // Waited for first, then ended.
        let Some(Waiting::Pending(rx)) = w.wait_for(&path(2)) else {
            panic!("pending")
        };
        w.ended(path(3), "failed".into());
        w.ended(path(2), "canceled".into());
        assert_eq!(rx.await.expect("sent"), "canceled");
        // Another client's job stays for a late waiter, within the bound.
        for n in 10..(10 + ENDED_KEPT as u32 + 5) {
            w.ended(path(n), "done".into());
        }
        assert!(w.lock().ended.len() <= ENDED_KEPT);
        w.close();
        assert!(
            w.wait_for(&path(9999)).is_none(),
            "a closed stream waits for nothing"
        );
    }
}
