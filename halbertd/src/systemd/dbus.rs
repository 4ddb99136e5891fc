//! The real manager: typed proxies for `org.freedesktop.systemd1.Manager` and the standard
//! properties interface. Properties are never cached by the proxies: every read is a fresh
//! question to PID 1, since the point is to report the state now.

use std::time::Duration;

use futures_util::StreamExt;
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

/// Starts a job with `submit` and waits up to `wait` for its `JobRemoved`. The signal stream
/// is opened before the job is submitted, so a job that ends at once is not missed.
async fn job<F, Fut>(
    c: &zbus::Connection,
    call: &'static str,
    unit: &str,
    wait: Duration,
    submit: F,
) -> Result<JobEnd, SystemdError>
where
    F: FnOnce(ManagerProxy<'static>) -> Fut,
    Fut: Future<Output = zbus::Result<OwnedObjectPath>>,
{
    let m = manager(c).await?;
    // Without a subscription PID 1 sends no JobRemoved at all. A second Subscribe on the same
    // connection is refused as "already subscribed", which is fine.
    if let Err(e) = m.subscribe().await {
        tracing::debug!(error = %e, "systemd Subscribe");
    }
    let mut removed = m
        .receive_job_removed()
        .await
        .map_err(failed("JobRemoved"))?;
    let path = submit(m).await.map_err(|e| refused(call, unit, e))?;
    let found = tokio::time::timeout(wait, async {
        while let Some(sig) = removed.next().await {
            if let Ok(a) = sig.args()
                && a.job == path
            {
                return Some(a.result);
            }
        }
        None
    })
    .await;
    Ok(match found {
        Ok(Some(result)) => JobEnd::Done(result),
        Ok(None) => {
            return Err(SystemdError::Call {
                call: "JobRemoved",
                reason: "the signal stream ended".into(),
            });
        }
        Err(_) => JobEnd::StillRunning,
    })
}

pub(super) async fn unit_job(
    c: &zbus::Connection,
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
    c: &zbus::Connection,
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
