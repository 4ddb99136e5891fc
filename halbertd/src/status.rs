//! System status: CPU, load, memory and swap, real filesystems, uptime, boot time and
//! temperatures, read from `/proc` and `/sys` under a [`HostRoot`].
//!
//! Everything here is plain parsing of kernel formats plus `statvfs`; the CPU percentage is the
//! busy share between two samples of `/proc/stat`, kept by [`StatusReader`] so no call ever
//! sleeps to measure it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::host::HostRoot;
pub use crate::host::mounts::FsUsage;
use crate::host::mounts::{MountinfoError, fs_usage, parse_mountinfo, real_filesystems};

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot parse {path}: {what}")]
    Parse { path: String, what: String },
    #[error(transparent)]
    Mountinfo(#[from] MountinfoError),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub cpu_percent: f64,
    pub cores: u32,
    pub load: [f64; 3],
    pub memory: Memory,
    pub filesystems: Vec<FsUsage>,
    pub uptime_seconds: u64,
    pub boot_time_unix: i64,
    pub temperatures: Vec<Temperature>,
    pub hostname: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_free_bytes: u64,
}

impl Memory {
    pub fn used_bytes(&self) -> u64 {
        self.total_bytes.saturating_sub(self.available_bytes)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Temperature {
    pub source: &'static str,
    pub chip: String,
    pub label: String,
    pub celsius: f64,
}

/// Aggregate CPU counters from the first line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    pub total: u64,
    pub idle: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub cpu: CpuTimes,
    pub cores: u32,
    pub boot_time_unix: i64,
}

/// Samples closer together than this reuse the previous percentage: a delta over a few
/// milliseconds is mostly noise.
const MIN_SAMPLE_GAP: Duration = Duration::from_millis(200);

#[derive(Debug)]
struct CpuSampler {
    at: Instant,
    times: CpuTimes,
    percent: f64,
}

/// Reads status snapshots of one host root, remembering the last CPU sample.
#[derive(Debug)]
pub struct StatusReader {
    root: HostRoot,
    last_cpu: Mutex<Option<CpuSampler>>,
}

fn read(root: &HostRoot, path: &str) -> Result<String, StatusError> {
    root.read_to_string(path)
        .map_err(|source| StatusError::Read {
            path: path.to_owned(),
            source,
        })
}

fn bad(path: &str, what: impl Into<String>) -> StatusError {
    StatusError::Parse {
        path: path.to_owned(),
        what: what.into(),
    }
}

impl StatusReader {
    pub fn new(root: HostRoot) -> Self {
        Self {
            root,
            last_cpu: Mutex::new(None),
        }
    }

    /// One full snapshot. Blocking (file reads and `statvfs`): call it off the async runtime.
    pub fn read(&self) -> Result<Snapshot, StatusError> {
        let stat = parse_proc_stat(&read(&self.root, "/proc/stat")?)?;
        let cpu_percent = self.cpu_percent(stat.cpu);
        let load = parse_loadavg(&read(&self.root, "/proc/loadavg")?)?;
        let memory = parse_meminfo(&read(&self.root, "/proc/meminfo")?)?;
        let uptime_seconds = parse_uptime(&read(&self.root, "/proc/uptime")?)?;
        let mounts = parse_mountinfo(&read(&self.root, "/proc/self/mountinfo")?)?;
        let filesystems = real_filesystems(&mounts)
            .filter_map(|m| fs_usage(&self.root, m))
            .collect();
        Ok(Snapshot {
            cpu_percent,
            cores: stat.cores,
            load,
            memory,
            filesystems,
            uptime_seconds,
            boot_time_unix: stat.boot_time_unix,
            temperatures: read_temperatures(&self.root),
            hostname: self
                .root
                .read_attr("/proc/sys/kernel/hostname")
                .unwrap_or_default(),
        })
    }

    fn cpu_percent(&self, now: CpuTimes) -> f64 {
        let mut last = self.last_cpu.lock().unwrap_or_else(|p| p.into_inner());
        let percent = match last.as_ref() {
            Some(prev) if prev.at.elapsed() < MIN_SAMPLE_GAP => return prev.percent,
            Some(prev) => busy_percent(prev.times, now),
            // First sample: the average since boot is the only honest figure available.
            None => busy_percent(CpuTimes { total: 0, idle: 0 }, now),
        };
        *last = Some(CpuSampler {
            at: Instant::now(),
            times: now,
            percent,
        });
        percent
    }
}

pub fn busy_percent(prev: CpuTimes, now: CpuTimes) -> f64 {
    let total = now.total.saturating_sub(prev.total);
    let idle = now.idle.saturating_sub(prev.idle);
    if total == 0 {
        return 0.0;
    }
    let busy = total.saturating_sub(idle) as f64 * 100.0 / total as f64;
    (busy * 10.0).round() / 10.0
}

pub fn parse_proc_stat(text: &str) -> Result<ProcStat, StatusError> {
    const P: &str = "/proc/stat";
    let mut cpu = None;
    let mut cores = 0;
    let mut btime = None;
    for line in text.lines() {
        let mut it = line.split_ascii_whitespace();
        match it.next() {
            Some("cpu") => {
                let v: Vec<u64> = it
                    .map(|f| f.parse().map_err(|_| bad(P, "non-numeric cpu field")))
                    .collect::<Result<_, _>>()?;
                if v.len() < 4 {
                    return Err(bad(P, "short cpu line"));
                }
                // user nice system idle iowait irq softirq steal; guest time is already
                // counted in user and nice, so it is left out of the total.
                let total = v.iter().take(8).sum();
                let idle = v[3] + v.get(4).copied().unwrap_or(0);
                cpu = Some(CpuTimes { total, idle });
            }
            Some(k) if k.starts_with("cpu") && k[3..].bytes().all(|b| b.is_ascii_digit()) => {
                cores += 1
            }
            Some("btime") => btime = it.next().and_then(|v| v.parse().ok()),
            _ => {}
        }
    }
    Ok(ProcStat {
        cpu: cpu.ok_or_else(|| bad(P, "no cpu line"))?,
        cores,
        boot_time_unix: btime.ok_or_else(|| bad(P, "no btime line"))?,
    })
}

pub fn parse_loadavg(text: &str) -> Result<[f64; 3], StatusError> {
    const P: &str = "/proc/loadavg";
    let mut it = text
        .split_ascii_whitespace()
        .map(|f| f.parse::<f64>().map_err(|_| bad(P, "non-numeric load")));
    let mut next = || it.next().unwrap_or_else(|| Err(bad(P, "short line")));
    Ok([next()?, next()?, next()?])
}

pub fn parse_meminfo(text: &str) -> Result<Memory, StatusError> {
    const P: &str = "/proc/meminfo";
    let mut m = Memory::default();
    let mut seen_avail = false;
    let mut free = 0;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let kib: u64 = rest
            .split_ascii_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let bytes = kib.saturating_mul(1024);
        match key {
            "MemTotal" => m.total_bytes = bytes,
            "MemAvailable" => {
                m.available_bytes = bytes;
                seen_avail = true;
            }
            "MemFree" => free = bytes,
            "SwapTotal" => m.swap_total_bytes = bytes,
            "SwapFree" => m.swap_free_bytes = bytes,
            _ => {}
        }
    }
    if m.total_bytes == 0 {
        return Err(bad(P, "no MemTotal"));
    }
    // Kernels before 3.14 have no MemAvailable; MemFree is the closest lower bound.
    if !seen_avail {
        m.available_bytes = free;
    }
    Ok(m)
}

pub fn parse_uptime(text: &str) -> Result<u64, StatusError> {
    text.split_ascii_whitespace()
        .next()
        .and_then(|f| f.parse::<f64>().ok())
        .map(|s| s as u64)
        .ok_or_else(|| bad("/proc/uptime", "no uptime figure"))
}

fn sorted_dir(root: &HostRoot, abs: &str) -> Vec<std::fs::DirEntry> {
    let mut v: Vec<_> = std::fs::read_dir(root.path(abs))
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    v.sort_by_key(|e| e.file_name());
    v
}

/// hwmon `temp*_input` sensors (read by [`crate::telemetry::hwmon`]) and thermal zones.
pub fn read_temperatures(root: &HostRoot) -> Vec<Temperature> {
    use crate::telemetry::hwmon::{self, Kind};
    let mut out: Vec<Temperature> = hwmon::read(root)
        .into_iter()
        .filter(|s| s.kind == Kind::Temperature)
        .filter_map(|s| {
            Some(Temperature {
                source: "hwmon",
                celsius: s.value?,
                chip: s.chip,
                label: s.label,
            })
        })
        .collect();
    for zone in sorted_dir(root, "/sys/class/thermal") {
        let zname = zone.file_name().to_string_lossy().into_owned();
        if !zname.starts_with("thermal_zone") {
            continue;
        }
        let base = format!("/sys/class/thermal/{zname}");
        let Some(milli) = root
            .read_attr(format!("{base}/temp"))
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        let chip = root.read_attr(format!("{base}/type")).unwrap_or_default();
        out.push(Temperature {
            source: "thermal",
            chip,
            label: zname,
            celsius: milli / 1000.0,
        });
    }
    out
}
