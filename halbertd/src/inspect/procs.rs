//! Processes by name, from procfs under the host root: pid, owner, command, resident memory.

use crate::host::HostRoot;

pub const MAX_LISTED: usize = 20;
const MAX_CMDLINE: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub uid: u32,
    pub comm: String,
    pub cmdline: String,
    pub rss_bytes: u64,
    pub state: String,
}

/// Processes whose command name (or the file name of their first argument) contains `name`
/// (lower-case, non-empty): the first [`MAX_LISTED`] by pid, and how many matched. Processes
/// that exit while being read are skipped. Blocking: call it off the async runtime.
pub fn find(root: &HostRoot, name: &str) -> (Vec<ProcessInfo>, usize) {
    let Ok(dir) = std::fs::read_dir(root.path("/proc")) else {
        return (Vec::new(), 0);
    };
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let mut found = Vec::new();
    let mut total = 0;
    for pid in pids {
        let base = format!("/proc/{pid}");
        let Some(comm) = root.read_attr(format!("{base}/comm")) else {
            continue;
        };
        let raw = std::fs::read(root.path(format!("{base}/cmdline"))).unwrap_or_default();
        let args: Vec<String> = raw
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let exe = args
            .first()
            .map(|a| a.rsplit('/').next().unwrap_or(a).to_lowercase())
            .unwrap_or_default();
        if !comm.to_lowercase().contains(name) && !exe.contains(name) {
            continue;
        }
        total += 1;
        if found.len() >= MAX_LISTED {
            continue;
        }
        let status = root
            .read_to_string(format!("{base}/status"))
            .unwrap_or_default();
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(str::trim)
                .unwrap_or("")
                .to_owned()
        };
        let mut cmdline = args.join(" ");
        if cmdline.chars().count() > MAX_CMDLINE {
            cmdline = cmdline.chars().take(MAX_CMDLINE).collect::<String>() + "…";
        }
        found.push(ProcessInfo {
            pid,
            uid: field("Uid:")
                .split_whitespace()
                .next()
                .and_then(|u| u.parse().ok())
                .unwrap_or(0),
            rss_bytes: field("VmRSS:")
                .split_whitespace()
                .next()
                .and_then(|k| k.parse::<u64>().ok())
                .map_or(0, |kb| kb * 1024),
            state: field("State:").chars().take(1).collect(),
            comm,
            cmdline,
        });
    }
    (found, total)
}
