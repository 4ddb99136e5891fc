//! Backups: cron jobs and systemd timers that run backup tools, and the configuration files of
//! the common tools (borg/borgmatic, restic, rclone, timeshift, snapper, btrbk, sanoid,
//! rsnapshot, kopia).

use super::{Action, Item, Kind, ScanCtx, ScanError, Status, slug};
use crate::host::HostRoot;
use crate::systemd::{Iface, prop};

/// Tools recognized in cron lines and unit names, with their display names.
const TOOLS: &[(&str, &str)] = &[
    ("borgmatic", "Borgmatic"),
    ("borg", "Borg"),
    ("restic", "Restic"),
    ("rsnapshot", "rsnapshot"),
    ("rdiff-backup", "rdiff-backup"),
    ("duplicity", "Duplicity"),
    ("duplicati", "Duplicati"),
    ("rclone", "rclone"),
    ("rsync", "rsync"),
    ("timeshift", "Timeshift"),
    ("snapper", "Snapper"),
    ("btrbk", "btrbk"),
    ("zfs-auto-snapshot", "zfs-auto-snapshot"),
    ("sanoid", "Sanoid"),
    ("syncoid", "Syncoid"),
    ("backintime", "Back In Time"),
    ("kopia", "Kopia"),
    ("vorta", "Vorta"),
    ("tar", "tar"),
    ("backup", "Custom"),
];

/// The backup tool a command line runs, matched on whole words.
pub fn tool_of(command: &str) -> Option<(&'static str, &'static str)> {
    let words: Vec<&str> = command
        .split(|c: char| c.is_whitespace() || c == '/' || c == ';' || c == '&' || c == '|')
        .filter(|w| !w.is_empty())
        .collect();
    TOOLS
        .iter()
        .find(|(t, _)| {
            words
                .iter()
                .any(|w| w == t || (*t == "backup" && w.contains("backup")))
        })
        .copied()
}

/// A crontab line: (schedule, user if a system crontab, command).
pub fn parse_cron_line(line: &str, system: bool) -> Option<(String, Option<String>, String)> {
    let l = line.trim();
    if l.is_empty() || l.starts_with('#') || l.split_whitespace().next()?.contains('=') {
        return None;
    }
    let mut f = l.split_whitespace();
    let first = f.next()?;
    let schedule = if first.starts_with('@') {
        first.to_owned()
    } else {
        let rest: Vec<&str> = f.by_ref().take(4).collect();
        if rest.len() < 4 {
            return None;
        }
        format!("{first} {}", rest.join(" "))
    };
    let user = if system {
        Some(f.next()?.to_owned())
    } else {
        None
    };
    let command: Vec<&str> = f.collect();
    (!command.is_empty()).then(|| (schedule, user, command.join(" ")))
}

/// rsync's source and destination: its last two path-like arguments.
fn rsync_paths(command: &str) -> (Option<String>, Option<String>) {
    let paths: Vec<&str> = command
        .split_whitespace()
        .filter(|w| !w.starts_with('-') && (w.starts_with('/') || w.contains(":/")))
        .collect();
    match paths.as_slice() {
        [.., src, dst] => (Some((*src).to_owned()), Some((*dst).to_owned())),
        _ => (None, None),
    }
}

fn list(root: &HostRoot, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.path(dir))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_file())
                .map(|e| format!("{dir}/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn cron_items(root: &HostRoot) -> Vec<Item> {
    let mut sources: Vec<(String, bool, Option<&str>)> = vec![("/etc/crontab".into(), true, None)];
    sources.extend(
        list(root, "/etc/cron.d")
            .into_iter()
            .map(|f| (f, true, None)),
    );
    sources.extend(
        list(root, "/var/spool/cron/crontabs")
            .into_iter()
            .map(|f| (f, false, None)),
    );
    for (dir, when) in [
        ("/etc/cron.hourly", "@hourly"),
        ("/etc/cron.daily", "@daily"),
        ("/etc/cron.weekly", "@weekly"),
        ("/etc/cron.monthly", "@monthly"),
    ] {
        sources.extend(list(root, dir).into_iter().map(|f| (f, false, Some(when))));
    }
    let mut items = Vec::new();
    for (file, system, periodic) in sources {
        let Ok(text) = root.read_to_string(&file) else {
            continue;
        };
        let base = file.rsplit('/').next().unwrap_or(&file).to_owned();
        // (line number, schedule, user, command): the line number keeps ids stable and tells
        // the admin where to look.
        let entries: Vec<(usize, String, Option<String>, String)> = match periodic {
            // A run-parts script: its first line that runs a backup tool stands for the job.
            Some(when) => text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim_start().starts_with('#') && tool_of(l).is_some())
                .take(1)
                .map(|(n, l)| {
                    (
                        n + 1,
                        when.to_owned(),
                        Some("root".to_owned()),
                        l.trim().to_owned(),
                    )
                })
                .collect(),
            None => text
                .lines()
                .enumerate()
                .filter_map(|(n, l)| parse_cron_line(l, system).map(|(s, u, c)| (n + 1, s, u, c)))
                .collect(),
        };
        for (line, schedule, user, command) in entries {
            let Some((tool, label)) = tool_of(&command) else {
                continue;
            };
            let user = user
                .or_else(|| (file.starts_with("/var/spool/cron/crontabs/")).then(|| base.clone()));
            let name = format!("{base}-{line}");
            let (src, dst) = if tool == "rsync" {
                rsync_paths(&command)
            } else {
                (None, None)
            };
            let mut it = Item::new(
                Kind::Backup,
                format!("backup-cron-{}", slug(&name)),
                name.clone(),
                format!("{label} Backup: {base}"),
            )
            .status(Status::Healthy, "Scheduled");
            it.icon = "archive".into();
            it.source = file.clone();
            it.description = command.clone();
            it.set("tool", tool);
            it.set("schedule", schedule);
            it.set("user", user);
            it.set("command", command);
            it.set("source_path", src);
            it.set("destination", dst);
            it.set("line", line);
            it.set("last_run", None::<String>);
            items.push(it);
        }
    }
    items
}

async fn timer_items(ctx: &ScanCtx) -> Vec<Item> {
    let Some(sd) = &ctx.systemd else {
        return Vec::new();
    };
    let Ok(units) = sd.list_units().await else {
        return Vec::new();
    };
    let mut items = Vec::new();
    for u in units.iter().filter(|u| u.name.ends_with(".timer")) {
        let short = u.name.trim_end_matches(".timer");
        let Some((tool, label)) = tool_of(&short.replace(['-', '_', '@', '.'], " ")) else {
            continue;
        };
        let props = sd
            .properties(&u.path, Iface::Timer)
            .await
            .unwrap_or_default();
        let usec = |k: &str| prop::<u64>(&props, k).filter(|&t| t > 0 && t != u64::MAX);
        let iso = |t: Option<u64>| {
            t.and_then(|t| time::OffsetDateTime::from_unix_timestamp((t / 1_000_000) as i64).ok())
                .and_then(|d| {
                    d.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
        };
        let service = format!("{short}.service");
        let result = sd.active_state(&service).await;
        let (status, detail) = match (u.active_state.as_str(), result.as_deref()) {
            (_, Some("failed")) => (Status::Failed, "Last run failed".to_owned()),
            ("active", _) => (Status::Healthy, "Scheduled".to_owned()),
            (s, _) => (Status::Stopped, s.to_owned()),
        };
        let mut it = Item::new(
            Kind::Backup,
            format!("backup-timer-{}", slug(short)),
            u.name.clone(),
            format!("{label} Backup: {short}"),
        )
        .status(status, detail);
        it.icon = "archive".into();
        it.source = "systemd D-Bus".into();
        it.description = u.description.clone();
        it.set("tool", tool);
        it.set("schedule", u.name.clone());
        it.set("last_run", iso(usec("LastTriggerUSec")));
        it.set("next_run", iso(usec("NextElapseUSecRealtime")));
        it.set("service", service);
        it.set("service_state", result);
        it.actions = vec![
            Action::new("run_now", "Run now", "play", true, false),
            Action::new("view_logs", "Logs", "scroll-text", false, false),
        ];
        items.push(it);
    }
    items
}

/// Configuration files that show a tool is set up, by tool.
const CONFIGS: &[(&str, &str, &str)] = &[
    ("borgmatic", "Borgmatic", "/etc/borgmatic/config.yaml"),
    ("borgmatic", "Borgmatic", "/etc/borgmatic.d"),
    ("restic", "Restic", "/etc/restic"),
    ("rclone", "rclone", "/root/.config/rclone/rclone.conf"),
    ("timeshift", "Timeshift", "/etc/timeshift/timeshift.json"),
    ("timeshift", "Timeshift", "/etc/timeshift.json"),
    ("snapper", "Snapper", "/etc/snapper/configs"),
    ("btrbk", "btrbk", "/etc/btrbk/btrbk.conf"),
    ("sanoid", "Sanoid", "/etc/sanoid/sanoid.conf"),
    ("rsnapshot", "rsnapshot", "/etc/rsnapshot.conf"),
    ("kopia", "Kopia", "/root/.config/kopia/repository.config"),
];

fn config_items(root: &HostRoot) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    for (tool, label, path) in CONFIGS {
        let p = root.path(path);
        if !p.exists()
            || items
                .iter()
                .any(|i| i.data.get("tool").and_then(|t| t.as_str()) == Some(tool))
        {
            continue;
        }
        let mut it = Item::new(
            Kind::Backup,
            format!("backup-config-{tool}"),
            (*tool).to_owned(),
            format!("{label} Backup: configuration"),
        )
        .status(Status::Healthy, "Configured");
        it.icon = "archive".into();
        it.source = (*path).to_owned();
        it.set("tool", *tool);
        it.set("config_path", *path);
        if p.is_dir() {
            it.set(
                "configs",
                list(root, path)
                    .into_iter()
                    .map(|f| f.rsplit('/').next().unwrap_or("").to_owned())
                    .collect::<Vec<_>>(),
            );
        }
        if *tool == "rsnapshot"
            && let Ok(t) = root.read_to_string(path)
        {
            it.set(
                "destination",
                t.lines()
                    .find_map(|l| l.strip_prefix("snapshot_root").map(|v| v.trim().to_owned())),
            );
        }
        items.push(it);
    }
    items
}

pub async fn scan(ctx: &ScanCtx) -> Result<Vec<Item>, ScanError> {
    let mut items = cron_items(&ctx.root);
    items.extend(timer_items(ctx).await);
    items.extend(config_items(&ctx.root));
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_lines_and_tools() {
        assert_eq!(
            parse_cron_line(
                "30 2 * * * root rsync -a --delete /home/ /mnt/backup/home/",
                true
            ),
            Some((
                "30 2 * * *".into(),
                Some("root".into()),
                "rsync -a --delete /home/ /mnt/backup/home/".into()
            ))
        );
        assert_eq!(
            parse_cron_line("@daily /usr/local/bin/restic-backup.sh", false),
            Some((
                "@daily".into(),
                None,
                "/usr/local/bin/restic-backup.sh".into()
            ))
        );
        assert_eq!(parse_cron_line("MAILTO=root", true), None);
        assert_eq!(tool_of("rsync -a /a /b").map(|t| t.0), Some("rsync"));
        assert_eq!(
            tool_of("/usr/bin/borgmatic --verbosity -1").map(|t| t.0),
            Some("borgmatic")
        );
        assert_eq!(
            tool_of("/usr/local/bin/restic-backup.sh").map(|t| t.0),
            Some("backup")
        );
        assert_eq!(
            tool_of("apt-get update"),
            None,
            "whole words only: 'tar' is not in 'start'"
        );
        assert_eq!(tool_of("systemctl start foo"), None);
        assert_eq!(
            rsync_paths("rsync -a --delete /home/ /mnt/backup/home/"),
            (Some("/home/".into()), Some("/mnt/backup/home/".into()))
        );
    }
}
