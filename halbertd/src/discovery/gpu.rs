//! GPUs: PCI display-class devices from sysfs, their driver, and per-GPU figures from
//! `nvidia-smi` (matched by PCI bus id) or amdgpu's sysfs files.

use std::collections::HashMap;
use std::time::Duration;

use super::{Item, Kind, ScanCtx, ScanError, Status};
use crate::host::HostRoot;

const NVIDIA_QUERY: &str = "--query-gpu=pci.bus_id,name,driver_version,memory.total,memory.used,temperature.gpu,power.draw,power.limit,utilization.gpu";

fn vendor_name(id: &str) -> &'static str {
    match id {
        "0x10de" => "NVIDIA",
        "0x1002" => "AMD",
        "0x8086" => "Intel",
        "0x1af4" => "Red Hat (virtio)",
        "0x1234" => "QEMU",
        "0x15ad" => "VMware",
        "0x1b36" => "Red Hat (QXL)",
        "0x102b" => "Matrox",
        "0x1a03" => "ASPEED",
        _ => "Unknown vendor",
    }
}

/// `0000:01:00.0` from nvidia-smi's `00000000:01:00.0` (its domain has 8 digits).
pub fn normalize_bus_id(id: &str) -> String {
    let id = id.trim().to_ascii_lowercase();
    match id.split_once(':') {
        Some((domain, rest)) => format!(
            "{:04x}:{rest}",
            u32::from_str_radix(domain, 16).unwrap_or(0)
        ),
        None => id,
    }
}

/// One row of `nvidia-smi --query-gpu=... --format=csv,noheader,nounits`.
#[derive(Debug, Clone, PartialEq)]
pub struct NvidiaRow {
    pub bus_id: String,
    pub name: String,
    pub driver_version: String,
    pub memory_total_mb: Option<f64>,
    pub memory_used_mb: Option<f64>,
    pub temperature_c: Option<f64>,
    pub power_draw_w: Option<f64>,
    pub power_limit_w: Option<f64>,
    pub utilization_percent: Option<f64>,
}

pub fn parse_nvidia_csv(text: &str) -> Vec<NvidiaRow> {
    let num = |s: &str| s.trim().parse::<f64>().ok();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            (f.len() >= 9).then(|| NvidiaRow {
                bus_id: normalize_bus_id(f[0]),
                name: f[1].to_owned(),
                driver_version: f[2].to_owned(),
                memory_total_mb: num(f[3]),
                memory_used_mb: num(f[4]),
                temperature_c: num(f[5]),
                power_draw_w: num(f[6]),
                power_limit_w: num(f[7]),
                utilization_percent: num(f[8]),
            })
        })
        .collect()
}

/// Device names from pci.ids, when the tree has it (pciutils / hwdata).
fn pci_name(root: &HostRoot, vendor: &str, device: &str) -> Option<String> {
    let text = ["/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"]
        .iter()
        .find_map(|p| root.read_to_string(p).ok())?;
    let (v, d) = (
        vendor.trim_start_matches("0x"),
        device.trim_start_matches("0x"),
    );
    let mut in_vendor = false;
    for line in text.lines() {
        if !line.starts_with('\t') && !line.starts_with('#') {
            in_vendor = line.starts_with(v);
        } else if in_vendor
            && line.starts_with('\t')
            && !line.starts_with("\t\t")
            && line[1..].starts_with(d)
        {
            return Some(line[1 + d.len()..].trim().to_owned());
        }
    }
    None
}

fn connected_display(root: &HostRoot, slot: &str) -> bool {
    let Ok(rd) = std::fs::read_dir(root.path(format!("/sys/bus/pci/devices/{slot}/drm"))) else {
        return false;
    };
    rd.flatten().any(|card| {
        std::fs::read_dir(card.path())
            .map(|c| {
                c.flatten().any(|conn| {
                    std::fs::read_to_string(conn.path().join("status"))
                        .map(|s| s.trim() == "connected")
                        .unwrap_or(false)
                })
            })
            .unwrap_or(false)
    })
}

pub async fn scan(ctx: &ScanCtx) -> Result<Vec<Item>, ScanError> {
    let root = &ctx.root;
    let mut slots: Vec<String> = std::fs::read_dir(root.path("/sys/bus/pci/devices"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    slots.sort();
    let gpus: Vec<String> = slots
        .into_iter()
        .filter(|s| {
            root.read_attr(format!("/sys/bus/pci/devices/{s}/class"))
                .is_some_and(|c| c.starts_with("0x03"))
        })
        .collect();
    if gpus.is_empty() {
        return Ok(Vec::new());
    }
    let driver_of = |s: &str| {
        std::fs::read_link(root.path(format!("/sys/bus/pci/devices/{s}/driver")))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    };
    // nvidia-smi only when an NVIDIA GPU is bound to the nvidia driver.
    let nvidia: HashMap<String, NvidiaRow> = if gpus
        .iter()
        .any(|s| driver_of(s).as_deref() == Some("nvidia"))
    {
        match ctx
            .tools
            .run(
                &["nvidia-smi", NVIDIA_QUERY, "--format=csv,noheader,nounits"],
                ctx.tool_limit(Duration::from_secs(8)),
            )
            .await
        {
            Ok(o) if o.code == Some(0) => parse_nvidia_csv(&o.stdout)
                .into_iter()
                .map(|r| (r.bus_id.clone(), r))
                .collect(),
            Ok(_) | Err(_) => HashMap::new(),
        }
    } else {
        HashMap::new()
    };
    let mut items = Vec::new();
    for slot in gpus {
        let base = format!("/sys/bus/pci/devices/{slot}");
        let vendor = root.read_attr(format!("{base}/vendor")).unwrap_or_default();
        let device = root.read_attr(format!("{base}/device")).unwrap_or_default();
        let driver = driver_of(&slot);
        let nv = nvidia.get(&slot);
        let model = nv
            .map(|r| r.name.clone())
            .or_else(|| pci_name(root, &vendor, &device))
            .unwrap_or_else(|| format!("{} device {}", vendor_name(&vendor), device));
        let mut it = Item::new(
            Kind::Gpu,
            format!("gpu-{}", slot.replace([':', '.'], "-")),
            slot.clone(),
            model.clone(),
        );
        it.icon = "cpu".into();
        it.source = if nv.is_some() {
            "sysfs + nvidia-smi".into()
        } else {
            "sysfs".into()
        };
        it.set("vendor", vendor_name(&vendor));
        it.set("model", model.clone());
        it.set(
            "pci_id",
            format!(
                "{}:{}",
                vendor.trim_start_matches("0x"),
                device.trim_start_matches("0x")
            ),
        );
        it.set("pci_slot", slot.clone());
        it.set("driver_type", driver.clone());
        it.set(
            "role",
            if connected_display(root, &slot) {
                "display"
            } else if driver.as_deref() == Some("nvidia") {
                "compute"
            } else {
                "auto"
            },
        );
        if let Some(r) = nv {
            it.set("driver_version", r.driver_version.clone());
            it.set("vram_mb", r.memory_total_mb);
            it.set("memory_total_mb", r.memory_total_mb);
            it.set("memory_used_mb", r.memory_used_mb);
            it.set("temperature_c", r.temperature_c);
            it.set("power_draw_w", r.power_draw_w);
            it.set("power_limit_w", r.power_limit_w);
            it.set("utilization_percent", r.utilization_percent);
        } else if driver.as_deref() == Some("amdgpu") {
            let mb = |f: &str| {
                root.read_attr(format!("{base}/{f}"))
                    .and_then(|v| v.parse::<f64>().ok())
                    .map(|b| (b / 1048576.0).round())
            };
            it.set("vram_mb", mb("mem_info_vram_total"));
            it.set("memory_total_mb", mb("mem_info_vram_total"));
            it.set("memory_used_mb", mb("mem_info_vram_used"));
            it.set(
                "utilization_percent",
                root.read_attr(format!("{base}/gpu_busy_percent"))
                    .and_then(|v| v.parse::<f64>().ok()),
            );
        }
        let temp = it.data.get("temperature_c").and_then(|v| v.as_f64());
        it = match (&driver, temp) {
            (None, _) => it.status(Status::Warning, "No driver bound"),
            (Some(_), Some(t)) if t >= 90.0 => {
                it.status(Status::Warning, format!("Hot ({t:.0} °C)"))
            }
            (Some(d), _) => it.status(Status::Healthy, format!("Driver {d}")),
        };
        items.push(it);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_rows_match_sysfs_slots() {
        let rows = parse_nvidia_csv(
            "00000000:01:00.0, NVIDIA GeForce RTX 3090, 550.54.14, 24576, 1024, 45, 31.5, 350.00, 3\n00000000:02:00.0, NVIDIA RTX A4000, 550.54.14, 16376, [N/A], 38, [N/A], 140.00, 0\n",
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].bus_id, "0000:01:00.0");
        assert_eq!(rows[1].memory_used_mb, None);
        assert_eq!(rows[1].power_limit_w, Some(140.0));
    }
}
