//! Services: every loaded `.service` unit, from systemd over D-Bus. One `ListUnits` and one
//! `ListUnitFiles` call for the whole set, then one `GetAll` per unit for its service
//! properties, issued concurrently — no `systemctl` process anywhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;

use super::{Action, Item, Kind, ScanCtx, ScanError, Status};
use crate::host::HostRoot;
use crate::systemd::{Iface, Props, Systemd, SystemdError, UnitFile, UnitRow, prop};

fn failed(e: SystemdError) -> ScanError {
    ScanError::Failed(e.to_string())
}

/// Services whose failure takes the machine's management or logging with it.
const CRITICAL: &[&str] = &[
    "ssh",
    "sshd",
    "dbus",
    "dbus-broker",
    "systemd-journald",
    "systemd-logind",
    "systemd-udevd",
    "systemd-networkd",
    "NetworkManager",
    "systemd-resolved",
    "polkit",
    "cron",
    "halbertd",
];

/// A coarse category from the unit name, for grouping in the UI and in prompts.
pub fn category(name: &str) -> &'static str {
    const BUCKETS: &[(&str, &[&str])] = &[
        ("audio", &["pulse", "pipewire", "alsa", "wireplumber"]),
        (
            "network",
            &[
                "network",
                "networkd",
                "resolved",
                "dhcp",
                "wpa_supplicant",
                "avahi",
                "ssh",
                "tailscale",
                "wireguard",
                "wg-quick",
                "openvpn",
            ],
        ),
        (
            "storage",
            &[
                "udisks",
                "smartd",
                "mdmonitor",
                "lvm",
                "zfs",
                "btrfs",
                "multipath",
                "iscsi",
                "nfs",
                "rpcbind",
                "fstrim",
            ],
        ),
        (
            "desktop",
            &[
                "gdm",
                "sddm",
                "lightdm",
                "accounts-daemon",
                "colord",
                "bluetooth",
                "upower",
                "geoclue",
            ],
        ),
        (
            "security",
            &[
                "apparmor",
                "selinux",
                "auditd",
                "fail2ban",
                "ufw",
                "firewalld",
                "polkit",
                "halbert",
            ],
        ),
        ("print", &["cups", "saned"]),
        (
            "virtualization",
            &[
                "libvirt",
                "qemu",
                "docker",
                "containerd",
                "podman",
                "lxc",
                "incus",
                "virtlog",
            ],
        ),
        (
            "database",
            &[
                "postgres",
                "mysql",
                "mariadb",
                "redis",
                "mongod",
                "memcached",
            ],
        ),
        (
            "web",
            &["nginx", "apache2", "httpd", "caddy", "haproxy", "php-fpm"],
        ),
        (
            "packages",
            &[
                "apt",
                "dpkg",
                "unattended-upgrades",
                "packagekit",
                "snapd",
                "flatpak",
            ],
        ),
        ("power", &["thermald", "tlp", "power-profiles", "acpid"]),
        ("logging", &["journald", "rsyslog", "syslog", "logrotate"]),
        ("time", &["timesyncd", "chrony", "ntp"]),
        ("scheduling", &["cron", "atd", "anacron"]),
        (
            "system",
            &["systemd-", "dbus", "getty", "udev", "kmod", "modprobe"],
        ),
    ];
    BUCKETS
        .iter()
        .find(|(_, keys)| keys.iter().any(|k| name.contains(k)))
        .map_or("other", |(c, _)| c)
}

/// The status token and text of a unit's state (docs/decisions.md §7).
pub fn unit_status(active: &str, sub: &str) -> (Status, String) {
    let cap = |s: &str| {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    match (active, sub) {
        ("failed", _) => (Status::Failed, "Failed".into()),
        ("active", "running") => (Status::Healthy, "Running".into()),
        ("active", "exited") => (Status::Healthy, "Completed".into()),
        ("active", other) => (Status::Healthy, cap(other)),
        ("inactive", _) => (Status::Stopped, "Stopped".into()),
        (other, _) => (Status::Warning, cap(other)),
    }
}

fn install_source(path: &str) -> &'static str {
    if path.starts_with("/etc/systemd/") {
        "admin"
    } else if path.starts_with("/usr/lib/systemd/") || path.starts_with("/lib/systemd/") {
        "package"
    } else if path.starts_with("/run/") {
        "runtime"
    } else {
        "unknown"
    }
}

/// Where unit files and their enablement symlinks live; a change to any of them (or to one of
/// their `.wants`/`.requires`/`.d` subdirectories) changes what `ListUnitFiles` would say.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/run/systemd/transient",
    "/run/systemd/generator",
    "/run/systemd/generator.early",
    "/run/systemd/generator.late",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// Modification times of the unit directories and their immediate subdirectories.
fn unit_dirs_fingerprint(root: &HostRoot) -> Vec<(String, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    for d in UNIT_DIRS {
        let p = root.path(d);
        out.push((
            d.to_string(),
            std::fs::metadata(&p).and_then(|m| m.modified()).ok(),
        ));
        if let Ok(rd) = std::fs::read_dir(&p) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push((
                        e.path().display().to_string(),
                        e.metadata().and_then(|m| m.modified()).ok(),
                    ));
                }
            }
        }
    }
    out.sort();
    out
}

type UnitFiles = Arc<Vec<UnitFile>>;
type UnitFilesCache = Mutex<Option<(Vec<(String, Option<std::time::SystemTime>)>, UnitFiles)>>;

/// `ListUnitFiles` makes systemd walk every unit directory (a third of a second on a small
/// system), so its answer is kept until a unit directory changes.
static UNIT_FILES: UnitFilesCache = Mutex::new(None);

async fn unit_files(sd: &Systemd, root: &HostRoot) -> Result<UnitFiles, ScanError> {
    let fp = unit_dirs_fingerprint(root);
    if let Some((seen, files)) = UNIT_FILES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        && *seen == fp
    {
        return Ok(files.clone());
    }
    let files = Arc::new(sd.list_unit_files(&["*.service"]).await.map_err(failed)?);
    *UNIT_FILES.lock().unwrap_or_else(|p| p.into_inner()) = Some((fp, files.clone()));
    Ok(files)
}

/// A service to report: a loaded unit with its Service properties, or an installed unit file
/// systemd has not loaded (no properties).
struct Row {
    name: String,
    description: String,
    active: String,
    sub: String,
    props: Props,
}

pub async fn scan(ctx: &ScanCtx) -> Result<Vec<Item>, ScanError> {
    let sd = ctx
        .systemd
        .as_ref()
        .ok_or_else(|| ScanError::Failed("the system bus is not reachable".into()))?;
    let units: Vec<UnitRow> = sd.list_units().await.map_err(failed)?;
    let files = unit_files(sd, &ctx.root).await?;
    let file_state: HashMap<String, (String, String)> = files
        .iter()
        .filter_map(|f| {
            Some((
                f.path.rsplit('/').next()?.to_owned(),
                (f.path.clone(), f.state.clone()),
            ))
        })
        .collect();

    let services: Vec<UnitRow> = units
        .into_iter()
        .filter(|u| u.name.ends_with(".service") && u.load_state != "not-found")
        .collect();
    // Properties (memory, main pid, result, type) only matter for units that run or failed;
    // systemd answers one call at a time, so skipping the dead ones keeps a scan fast on
    // machines with hundreds of units.
    let calls: Vec<_> = services
        .iter()
        .map(|u| {
            let wanted = u.active_state != "inactive";
            async move {
                if !wanted {
                    return Props::new();
                }
                sd.properties(&u.path, Iface::Service)
                    .await
                    .unwrap_or_default()
            }
        })
        .collect();
    let props = futures_util::stream::iter(calls)
        .buffered(32)
        .collect::<Vec<_>>()
        .await;

    // Loaded units with their properties, then installed unit files systemd has not loaded
    // (disabled or never started services are services too); templates are not services.
    let mut rows: Vec<Row> = services
        .iter()
        .zip(props)
        .map(|(u, props)| Row {
            name: u.name.clone(),
            description: u.description.clone(),
            active: u.active_state.clone(),
            sub: u.sub_state.clone(),
            props,
        })
        .collect();
    let mut unloaded: Vec<&String> = file_state
        .keys()
        .filter(|n| {
            n.ends_with(".service") && !n.contains("@.") && !services.iter().any(|u| &u.name == *n)
        })
        .collect();
    unloaded.sort();
    rows.extend(unloaded.into_iter().map(|n| Row {
        name: n.clone(),
        description: String::new(),
        active: "inactive".into(),
        sub: "dead".into(),
        props: Props::new(),
    }));

    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let (name, description, active, sub, p) = (
            &row.name,
            &row.description,
            &row.active,
            &row.sub,
            &row.props,
        );
        let short = name.trim_end_matches(".service");
        let (status, detail) = unit_status(active, sub);
        let mut it = Item::new(
            Kind::Service,
            format!("service-{}", super::slug(short)),
            name.clone(),
            short.to_owned(),
        )
        .status(status, detail);
        it.description = description.clone();
        it.icon = "server".into();
        it.source = "systemd D-Bus".into();
        let (unit_file, enabled) = file_state
            .get(name.as_str())
            .or_else(|| {
                name.split_once('@')
                    .and_then(|(base, _)| file_state.get(&format!("{base}@.service")))
            })
            .cloned()
            .unwrap_or_default();
        if enabled == "masked" {
            it.status_detail = "Masked".into();
        }
        let memory: Option<u64> = prop(p, "MemoryCurrent").filter(|&m: &u64| m != u64::MAX);
        let cpu_ns: Option<u64> = prop(p, "CPUUsageNSec").filter(|&c: &u64| c != u64::MAX);
        it.set("service_type", "systemd");
        it.set("unit_type", prop::<String>(p, "Type").unwrap_or_default());
        it.set("enabled", enabled.clone());
        it.set("active_state", active.clone());
        it.set("sub_state", sub.clone());
        it.set("result", prop::<String>(p, "Result").unwrap_or_default());
        it.set("main_pid", prop::<u32>(p, "MainPID").unwrap_or(0));
        it.set(
            "memory_mb",
            memory.map(|m| ((m as f64 / 1048576.0) * 10.0).round() / 10.0),
        );
        it.set(
            "cpu_seconds",
            cpu_ns.map(|c| ((c as f64 / 1e9) * 100.0).round() / 100.0),
        );
        it.set("unit_file", unit_file.clone());
        it.set("install_source", install_source(&unit_file));
        it.set("category", category(short));
        it.set("is_critical", CRITICAL.contains(&short));
        it.actions = vec![
            Action::restart(),
            Action::new("stop", "Stop", "square", true, true),
            Action::logs(),
        ];
        items.push(it);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::RecordedTools;
    use crate::systemd::sim::{SimSystemd, SimUnit};

    /// The scan against a simulated manager: loaded units with their properties, an
    /// installed file systemd has not loaded, a template (not a service) and a masked unit.
    #[tokio::test]
    async fn scan_reads_units_files_and_properties_from_systemd() {
        let sim = Arc::new(SimSystemd::new());
        sim.add_unit(
            "nginx.service",
            SimUnit::new("A high performance web server", "active", "running")
                .with(Iface::Service, "MainPID", 812u32)
                .with(Iface::Service, "MemoryCurrent", 10_485_760u64)
                .with(Iface::Service, "Type", "forking"),
        );
        sim.add_unit(
            "ssh.service",
            SimUnit::new("OpenBSD Secure Shell server", "failed", "failed"),
        );
        sim.add_unit(
            "nginx.socket",
            SimUnit::new("not a service", "active", "listening"),
        );
        sim.add_unit_file("/usr/lib/systemd/system/nginx.service", "enabled");
        sim.add_unit_file("/etc/systemd/system/ssh.service", "masked");
        sim.add_unit_file("/usr/lib/systemd/system/cups.service", "disabled");
        sim.add_unit_file("/usr/lib/systemd/system/getty@.service", "enabled");
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = ScanCtx::new(
            HostRoot::new(dir.path()),
            Arc::new(RecordedTools {
                dir: dir.path().into(),
            }),
            Some(Systemd::Sim(sim)),
        );
        let items = scan(&ctx).await.expect("scan");
        let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["nginx.service", "ssh.service", "cups.service"]);
        let nginx = &items[0];
        assert_eq!(nginx.status, Status::Healthy);
        assert_eq!(nginx.data["main_pid"], 812);
        assert_eq!(nginx.data["memory_mb"], 10.0);
        assert_eq!(nginx.data["unit_type"], "forking");
        assert_eq!(nginx.data["enabled"], "enabled");
        assert_eq!(nginx.data["install_source"], "package");
        let ssh = &items[1];
        assert_eq!(
            (ssh.status, ssh.status_detail.as_str()),
            (Status::Failed, "Masked")
        );
        assert_eq!(ssh.data["is_critical"], true);
        let cups = &items[2];
        assert_eq!(
            (cups.status, cups.data["enabled"].as_str()),
            (Status::Stopped, Some("disabled"))
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(
            unit_status("failed", "failed"),
            (Status::Failed, "Failed".into())
        );
        assert_eq!(
            unit_status("active", "running"),
            (Status::Healthy, "Running".into())
        );
        assert_eq!(
            unit_status("active", "exited"),
            (Status::Healthy, "Completed".into())
        );
        assert_eq!(
            unit_status("inactive", "dead"),
            (Status::Stopped, "Stopped".into())
        );
        assert_eq!(
            unit_status("activating", "start"),
            (Status::Warning, "Activating".into())
        );
        assert_eq!(category("nginx"), "web");
        assert_eq!(category("systemd-journald"), "logging");
        assert_eq!(install_source("/etc/systemd/system/x.service"), "admin");
    }
}
