//! Storage: disks from `/sys/block` with SMART health from `smartctl --json` (when installed),
//! md arrays from `/proc/mdstat`, and mounted filesystems (mountinfo + statvfs) with btrfs
//! member devices from `/sys/fs/btrfs`.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use super::{Action, Item, Kind, ScanCtx, ScanError, Status, slug};
use crate::exec::{ToolError, ToolOutput};
use crate::host::HostRoot;
use crate::host::mounts::{fs_usage, parse_mountinfo, real_filesystems};

const SMART_TIMEOUT: Duration = Duration::from_secs(10);

/// Block devices that are not disks of their own.
fn is_disk(name: &str) -> bool {
    ![
        "loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd", "bcache",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

fn transport(root: &HostRoot, name: &str) -> &'static str {
    if name.starts_with("nvme") {
        return "nvme";
    }
    if name.starts_with("vd") {
        return "virtio";
    }
    let dev = std::fs::canonicalize(root.path(format!("/sys/block/{name}/device")))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if dev.contains("/usb") {
        "usb"
    } else if dev.contains("/ata") {
        "sata"
    } else if dev.contains("/virtio") {
        "virtio"
    } else if dev.contains("/host") {
        "scsi"
    } else {
        "unknown"
    }
}

/// SMART verdict from `smartctl --json -H -i`: (smart_status, status, detail).
pub fn smart_verdict(res: &Result<ToolOutput, ToolError>) -> (&'static str, Status, String) {
    match res {
        Err(ToolError::Missing(_)) => (
            "N/A",
            Status::Unknown,
            "SMART unavailable (smartctl not installed)".into(),
        ),
        Err(ToolError::Timeout(e)) => (
            "UNKNOWN",
            Status::Unknown,
            format!("SMART query timed out: {e}"),
        ),
        Err(ToolError::Failed(e)) => (
            "UNKNOWN",
            Status::Unknown,
            format!("SMART query failed: {e}"),
        ),
        Ok(o) => {
            let v: Value = serde_json::from_str(&o.stdout).unwrap_or(Value::Null);
            match v.pointer("/smart_status/passed").and_then(Value::as_bool) {
                Some(true) => {
                    // Exit-status bit 3 (8): disk failing; bits 4-5: prefail/usage attributes past threshold.
                    let code = o.code.unwrap_or(0);
                    if code & 0b0011_0000 != 0 {
                        ("WARNING", Status::Warning, "SMART Warning".into())
                    } else {
                        ("PASSED", Status::Healthy, "Healthy".into())
                    }
                }
                Some(false) => ("FAILED", Status::Critical, "SMART Failed".into()),
                None => {
                    let msg = v
                        .pointer("/smartctl/messages/0/string")
                        .and_then(Value::as_str)
                        .unwrap_or("no SMART status reported");
                    let access = msg.contains("Permission denied")
                        || msg.contains("Operation not permitted");
                    (
                        if access { "NO_ACCESS" } else { "UNKNOWN" },
                        Status::Unknown,
                        format!("SMART unavailable: {msg}"),
                    )
                }
            }
        }
    }
}

fn disks(ctx: &ScanCtx) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(ctx.root.path("/sys/block"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| is_disk(n))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

async fn disk_items(ctx: &ScanCtx) -> Vec<Item> {
    let root = &ctx.root;
    let names = disks(ctx);
    // One smartctl per disk, a few at a time, each with its own timeout.
    let queries: Vec<_> = names
        .iter()
        .map(|n| async move {
            let dev = format!("/dev/{n}");
            ctx.tools
                .run(
                    &["smartctl", "--json", "-H", "-i", &dev],
                    ctx.tool_limit(SMART_TIMEOUT),
                )
                .await
        })
        .collect();
    let smart = futures_util::stream::iter(queries)
        .buffered(4)
        .collect::<Vec<_>>()
        .await;
    names
        .iter()
        .zip(smart)
        .map(|(name, sm)| {
            let base = format!("/sys/block/{name}");
            let attr = |f: &str| {
                root.read_attr(format!("{base}/{f}"))
                    .filter(|s| !s.is_empty())
            };
            let size = attr("size")
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
                * 512;
            let rotational = attr("queue/rotational").as_deref() == Some("1");
            let model = attr("device/model").unwrap_or_default();
            let tr = transport(root, name);
            let kind = if name.starts_with("nvme") {
                "NVMe"
            } else if rotational {
                "HDD"
            } else {
                "SSD"
            };
            let (smart_status, status, detail) = smart_verdict(&sm);
            let title = if model.is_empty() {
                format!("{kind} {name}")
            } else {
                model.clone()
            };
            let mut it = Item::new(Kind::Storage, format!("disk-{name}"), name.clone(), title)
                .status(status, detail);
            it.icon = "hard-drive".into();
            it.source = if matches!(sm, Err(ToolError::Missing(_))) {
                "sysfs".into()
            } else {
                "sysfs + smartctl".into()
            };
            it.description = format!("{kind} disk, {:.1} GB, {tr}", size as f64 / 1e9);
            let sm_json: Value = sm
                .as_ref()
                .ok()
                .and_then(|o| serde_json::from_str(&o.stdout).ok())
                .unwrap_or(Value::Null);
            it.set("device", format!("/dev/{name}"));
            it.set("size_bytes", size);
            it.set("size", format!("{:.1} GB", size as f64 / 1e9));
            it.set("model", model);
            it.set("type", kind);
            it.set("transport", tr);
            it.set("removable", attr("removable").as_deref() == Some("1"));
            it.set("smart_status", smart_status);
            it.set(
                "serial",
                attr("device/serial").or_else(|| {
                    sm_json
                        .pointer("/serial_number")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                }),
            );
            it.set("wwn", attr("wwid").or_else(|| attr("device/wwid")));
            it.set(
                "temperature_c",
                sm_json
                    .pointer("/temperature/current")
                    .and_then(Value::as_f64),
            );
            it.set(
                "power_on_hours",
                sm_json
                    .pointer("/power_on_time/hours")
                    .and_then(Value::as_u64),
            );
            it
        })
        .collect()
}

/// One array of `/proc/mdstat`.
#[derive(Debug, Clone, PartialEq)]
pub struct MdArray {
    pub name: String,
    pub state: String,
    pub level: String,
    pub members: Vec<String>,
    /// `[UU_]`: one letter per slot, `_` for a missing member.
    pub health: String,
    pub progress: Option<String>,
}

pub fn parse_mdstat(text: &str) -> Vec<MdArray> {
    let mut out: Vec<MdArray> = Vec::new();
    for line in text.lines() {
        if let Some((name, rest)) = line.split_once(" : ").filter(|(n, _)| n.starts_with("md")) {
            let mut f = rest.split_whitespace();
            let state = f.next().unwrap_or("").to_owned();
            let fields: Vec<&str> = f.collect();
            let (level, members) = match fields.first() {
                Some(l) if l.starts_with("raid") || *l == "linear" => (l.to_string(), &fields[1..]),
                _ => (String::new(), &fields[..]),
            };
            let members = members
                .iter()
                .map(|m| m.split('[').next().unwrap_or(m).to_owned())
                .collect();
            out.push(MdArray {
                name: name.trim().to_owned(),
                state,
                level,
                members,
                health: String::new(),
                progress: None,
            });
        } else if let Some(a) = out.last_mut() {
            let t = line.trim();
            if let Some(h) = t.rsplit(' ').next().filter(|h| {
                h.starts_with('[') && h.ends_with(']') && h.chars().all(|c| "[]U_".contains(c))
            }) {
                a.health = h.to_owned();
            }
            if t.contains("recovery")
                || t.contains("resync")
                || t.contains("reshape")
                || t.contains("check")
            {
                a.progress = t.split_whitespace().find(|w| w.ends_with('%')).map(|p| {
                    format!(
                        "{} {p}",
                        t.split_whitespace()
                            .nth(1)
                            .unwrap_or("sync")
                            .trim_end_matches('=')
                    )
                });
            }
        }
    }
    out
}

fn md_items(root: &HostRoot) -> Vec<Item> {
    let Ok(text) = root.read_to_string("/proc/mdstat") else {
        return Vec::new();
    };
    parse_mdstat(&text)
        .into_iter()
        .map(|a| {
            let degraded = a.health.contains('_');
            let (status, detail) = if a.state != "active" {
                (Status::Critical, a.state.clone())
            } else if degraded {
                (Status::Critical, format!("Degraded {}", a.health))
            } else if let Some(p) = &a.progress {
                (Status::Warning, format!("Active ({p})"))
            } else {
                (Status::Healthy, "Active".into())
            };
            let mut it = Item::new(
                Kind::Storage,
                format!("md-{}", a.name),
                a.name.clone(),
                format!("RAID {} ({})", a.level.trim_start_matches("raid"), a.name),
            )
            .status(status, detail);
            it.icon = "layers".into();
            it.source = "/proc/mdstat".into();
            it.set("device", format!("/dev/{}", a.name));
            it.set("level", a.level);
            it.set("members", a.members);
            it.set("health", a.health);
            it.set("sync_progress", a.progress);
            it
        })
        .collect()
}

/// The disk a partition or device node belongs to (`/dev/nvme0n1p2` → `nvme0n1`).
fn parent_disk(root: &HostRoot, device: &str) -> Option<String> {
    let name = device.strip_prefix("/dev/")?;
    let real = std::fs::canonicalize(root.path(format!("/sys/class/block/{name}"))).ok()?;
    if real.join("partition").exists() {
        real.parent()?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    } else {
        Some(name.to_owned())
    }
}

fn btrfs_devices(root: &HostRoot, device: &str) -> Vec<String> {
    let Some(name) = device.strip_prefix("/dev/") else {
        return Vec::new();
    };
    let Ok(fss) = std::fs::read_dir(root.path("/sys/fs/btrfs")) else {
        return Vec::new();
    };
    for fs in fss.flatten() {
        let devs: Vec<String> = std::fs::read_dir(fs.path().join("devices"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if devs.iter().any(|d| d == name) {
            let mut devs = devs;
            devs.sort();
            return devs;
        }
    }
    Vec::new()
}

fn fs_items(root: &HostRoot) -> Result<Vec<Item>, ScanError> {
    let text = root
        .read_to_string("/proc/self/mountinfo")
        .map_err(|e| ScanError::Failed(format!("/proc/self/mountinfo: {e}")))?;
    let mounts = parse_mountinfo(&text).map_err(|e| ScanError::Failed(e.to_string()))?;
    Ok(real_filesystems(&mounts)
        .filter_map(|m| fs_usage(root, m))
        .map(|u| {
            let pct = if u.total_bytes == 0 {
                0
            } else {
                ((u.used_bytes as f64 * 100.0) / (u.used_bytes + u.available_bytes).max(1) as f64)
                    .round() as u64
            };
            let (status, detail) = match pct {
                95.. => (Status::Critical, format!("{pct}% Full")),
                85..=94 => (Status::Warning, format!("{pct}% Used")),
                _ => (Status::Healthy, format!("{pct}% Used")),
            };
            let mut it = Item::new(
                Kind::Storage,
                format!("fs-{}", slug(&u.mountpoint)),
                u.mountpoint.clone(),
                format!("{} ({})", u.mountpoint, u.fstype),
            )
            .status(status, detail);
            it.icon = "folder".into();
            it.source = "mountinfo + statvfs".into();
            it.actions = vec![Action::new("details", "Details", "info", false, false)];
            it.set("mountpoint", u.mountpoint.clone());
            it.set("device", u.device.clone());
            it.set("fstype", u.fstype.clone());
            it.set("total_bytes", u.total_bytes);
            it.set("used_bytes", u.used_bytes);
            it.set("free_bytes", u.available_bytes);
            it.set("percent", pct);
            it.set("parent_disk", parent_disk(root, &u.device));
            if u.fstype == "btrfs" {
                it.set("btrfs_devices", btrfs_devices(root, &u.device));
            }
            it
        })
        .collect())
}

/// bcache devices: `/sys/block/bcache*/bcache` (state, cache mode, backing device, dirty data).
fn bcache_items(root: &HostRoot) -> Vec<Item> {
    let mut names: Vec<String> = std::fs::read_dir(root.path("/sys/block"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("bcache"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let a = |f: &str| root.read_attr(format!("/sys/block/{n}/bcache/{f}"));
            let state = a("state").unwrap_or_else(|| "unknown".into());
            // cache_mode lists every mode with the active one in brackets.
            let mode = a("cache_mode").and_then(|m| {
                m.split_whitespace()
                    .find(|w| w.starts_with('['))
                    .map(|w| w.trim_matches(['[', ']']).to_owned())
            });
            let backing = std::fs::canonicalize(root.path(format!("/sys/block/{n}/bcache")))
                .ok()
                .and_then(|p| {
                    p.parent()
                        .and_then(|d| d.file_name())
                        .map(|f| f.to_string_lossy().into_owned())
                });
            let (status, detail) = match state.as_str() {
                "clean" | "dirty" => (Status::Healthy, format!("Cached ({state})")),
                "no cache" => (Status::Warning, "No cache device".to_owned()),
                "inconsistent" => (Status::Critical, "Inconsistent".to_owned()),
                other => (Status::Unknown, other.to_owned()),
            };
            let mut it = Item::new(
                Kind::Storage,
                format!("bcache-{n}"),
                n.clone(),
                format!("bcache {n}"),
            )
            .status(status, detail);
            it.icon = "layers".into();
            it.source = "sysfs (bcache)".into();
            it.set("device", format!("/dev/{n}"));
            it.set("state", state);
            it.set("cache_mode", mode);
            it.set("backing_device", backing);
            it.set("dirty_data", a("dirty_data"));
            it
        })
        .collect()
}

/// bcachefs filesystems: `/sys/fs/bcachefs/<uuid>/` with its member devices.
fn bcachefs_items(root: &HostRoot) -> Vec<Item> {
    let mut fss: Vec<String> = std::fs::read_dir(root.path("/sys/fs/bcachefs"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    fss.sort();
    fss.into_iter()
        .map(|uuid| {
            let base = format!("/sys/fs/bcachefs/{uuid}");
            // In member order (dev-0, dev-1, ...): (device, label, state).
            let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(root.path(&base))
                .map(|d| {
                    d.flatten()
                        .filter(|e| e.file_name().to_string_lossy().starts_with("dev-"))
                        .collect()
                })
                .unwrap_or_default();
            entries.sort_by_key(|e| {
                e.file_name()
                    .to_string_lossy()
                    .trim_start_matches("dev-")
                    .parse::<u32>()
                    .unwrap_or(u32::MAX)
            });
            let members: Vec<(String, String, String)> = entries
                .iter()
                .map(|e| {
                    let dev = std::fs::read_link(e.path().join("block"))
                        .ok()
                        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                        .unwrap_or_default();
                    let f = |a: &str| {
                        std::fs::read_to_string(e.path().join(a))
                            .map(|s| s.trim().to_owned())
                            .unwrap_or_default()
                    };
                    (dev, f("label"), f("state"))
                })
                .collect();
            let bad = members
                .iter()
                .filter(|m| !m.2.is_empty() && m.2 != "rw")
                .count();
            let (status, detail) = if bad > 0 {
                (Status::Warning, format!("{bad} device(s) not rw"))
            } else {
                (Status::Healthy, format!("{} device(s)", members.len()))
            };
            let short: String = uuid.chars().take(8).collect();
            let mut it = Item::new(
                Kind::Storage,
                format!("bcachefs-{short}"),
                uuid.clone(),
                format!("bcachefs {short}"),
            )
            .status(status, detail);
            it.icon = "layers".into();
            it.source = "sysfs (bcachefs)".into();
            it.set("uuid", uuid.clone());
            it.set(
                "devices",
                members.iter().map(|m| m.0.clone()).collect::<Vec<_>>(),
            );
            it.set(
                "labels",
                members
                    .iter()
                    .map(|m| m.1.clone())
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>(),
            );
            it.set(
                "device_states",
                members.iter().map(|m| m.2.clone()).collect::<Vec<_>>(),
            );
            it
        })
        .collect()
}

/// ZFS pools from `zpool list -H -p` (name, size, alloc, free, health), where ZFS is installed.
pub fn parse_zpool_list(text: &str) -> Vec<Item> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 5).then(|| {
                let num = |s: &str| s.parse::<u64>().ok();
                let (size, alloc) = (num(f[1]), num(f[2]));
                let health = f[4].to_owned();
                let (status, detail) = match health.as_str() {
                    "ONLINE" => (Status::Healthy, "Online".to_owned()),
                    "DEGRADED" => (Status::Warning, "Degraded".to_owned()),
                    "FAULTED" | "UNAVAIL" | "REMOVED" => (Status::Critical, health.clone()),
                    other => (Status::Unknown, other.to_owned()),
                };
                let mut it = Item::new(
                    Kind::Storage,
                    format!("zpool-{}", slug(f[0])),
                    f[0].to_owned(),
                    format!("ZFS pool {}", f[0]),
                )
                .status(status, detail);
                it.icon = "database".into();
                it.source = "zpool".into();
                it.set("pool", f[0]);
                it.set("size_bytes", size);
                it.set("used_bytes", alloc);
                it.set("free_bytes", num(f[3]));
                it.set("health", health);
                it
            })
        })
        .collect()
}

async fn zfs_items(ctx: &ScanCtx) -> Vec<Item> {
    match ctx
        .tools
        .run(
            &[
                "zpool",
                "list",
                "-H",
                "-p",
                "-o",
                "name,size,alloc,free,health",
            ],
            ctx.tool_limit(Duration::from_secs(5)),
        )
        .await
    {
        Ok(o) if o.code == Some(0) => parse_zpool_list(&o.stdout),
        _ => Vec::new(),
    }
}

pub async fn scan(ctx: &ScanCtx) -> Result<Vec<Item>, ScanError> {
    let mut items = disk_items(ctx).await;
    items.extend(md_items(&ctx.root));
    items.extend(bcache_items(&ctx.root));
    items.extend(bcachefs_items(&ctx.root));
    items.extend(zfs_items(ctx).await);
    items.extend(fs_items(&ctx.root)?);
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdstat_degraded_and_rebuilding() {
        let text = "Personalities : [raid1] [raid6] [raid5] [raid4]\nmd0 : active raid1 sdb1[1] sda1[0]\n      1046528 blocks super 1.2 [2/2] [UU]\n\nmd1 : active raid5 sdc1[3] sdd1[1] sde1[0]\n      209584128 blocks super 1.2 level 5, 512k chunk, algorithm 2 [3/2] [UU_]\n      [=>...................]  recovery =  8.5% (8912896/104792064) finish=12.3min speed=129871K/sec\n\nunused devices: <none>\n";
        let a = parse_mdstat(text);
        assert_eq!(a.len(), 2);
        assert_eq!(
            (
                a[0].level.as_str(),
                a[0].members.clone(),
                a[0].health.as_str()
            ),
            ("raid1", vec!["sdb1".to_owned(), "sda1".to_owned()], "[UU]")
        );
        assert_eq!(a[1].health, "[UU_]");
        assert_eq!(a[1].progress.as_deref(), Some("recovery 8.5%"));
    }

    #[test]
    fn smart_never_claims_health_without_a_verdict() {
        let ok = |code, stdout: &str| {
            Ok(crate::exec::ToolOutput {
                code: Some(code),
                stdout: stdout.into(),
            })
        };
        assert_eq!(
            smart_verdict(&ok(0, r#"{"smart_status":{"passed":true}}"#)).1,
            Status::Healthy
        );
        assert_eq!(
            smart_verdict(&ok(8, r#"{"smart_status":{"passed":false}}"#)).1,
            Status::Critical
        );
        assert_eq!(smart_verdict(&ok(2, r#"{"smartctl":{"messages":[{"string":"Smartctl open device: /dev/sda failed: Permission denied"}]}}"#)).0, "NO_ACCESS");
        assert_eq!(
            smart_verdict(&Err(ToolError::Missing("smartctl".into()))).1,
            Status::Unknown
        );
        assert_eq!(
            smart_verdict(&Err(ToolError::Timeout("smartctl did not finish".into()))).1,
            Status::Unknown
        );
    }
}
