//! The real manager: typed proxies for `org.freedesktop.systemd1.Manager` and the standard
//! properties interface. Properties are never cached by the proxies: every read is a fresh
//! question to PID 1, since the point is to report the state now.

use zbus::OwnedObjectPath;
use zbus::fdo::PropertiesProxy;
use zbus::names::InterfaceName;
use zbus::proxy::CacheProperties;

use super::{Iface, Props, SystemdError, UnitFile, UnitRow};

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
