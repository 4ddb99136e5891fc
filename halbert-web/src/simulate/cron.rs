//! `schedule_cron`: a job in the user's crontab, found by its marker. The entry goes on the
//! line after `# <name>`; scheduling the same name again replaces that line. Everything else
//! in the crontab, its trailing newline included, stays as it was.

use serde_json::json;

use super::{Change, Simulation, diff};

/// The crontab before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronPlan {
    pub name: String,
    pub entry: String,
    pub before: String,
    pub after: String,
    /// Whether an entry under that name was there already.
    pub replaces: bool,
}

const SPECIAL: &[&str] = &[
    "@reboot",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// Whether `s` is a cron schedule: one of the `@` words, or five fields of numbers, ranges,
/// steps, lists, `*` and month or day names.
pub fn valid_schedule(s: &str) -> bool {
    let s = s.trim();
    if s.starts_with('@') {
        return SPECIAL.contains(&s);
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    fields.len() == 5
        && fields.iter().all(|f| {
            f.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | ',' | '-' | '/'))
        })
}

/// Schedules `command` at `schedule` under `name` in `current`.
pub fn schedule(
    current: &str,
    name: &str,
    schedule: &str,
    command: &str,
) -> Result<CronPlan, String> {
    let one_line = |what: &str, v: &str| {
        if v.contains(['\n', '\r', '\0']) {
            Err(format!("{what} must be one line"))
        } else {
            Ok(())
        }
    };
    one_line("name", name)?;
    one_line("schedule", schedule)?;
    one_line("command", command)?;
    if !valid_schedule(schedule) {
        return Err(format!(
            "schedule {schedule:?} is not five cron fields or one of {}",
            SPECIAL.join(", ")
        ));
    }
    let marker = format!("# {}", name.trim());
    let entry = format!("{} {}", schedule.trim(), command.trim());
    let mut lines: Vec<String> = current.lines().map(str::to_owned).collect();
    let replaces = match lines.iter().position(|l| l.trim_end() == marker) {
        Some(i) if i + 1 < lines.len() => {
            lines[i + 1] = entry.clone();
            true
        }
        Some(_) => {
            lines.push(entry.clone());
            true
        }
        None => {
            lines.push(marker);
            lines.push(entry.clone());
            false
        }
    };
    let mut after = lines.join("\n");
    after.push('\n');
    Ok(CronPlan {
        name: name.trim().to_owned(),
        entry,
        before: current.to_owned(),
        after,
        replaces,
    })
}

/// The simulation of a plan.
pub fn result(p: &CronPlan, command: &str) -> Simulation {
    let d = diff::unified(&p.before, &p.after, "crontab (before)", "crontab (after)");
    let mut change = Change::new("crontab_modify");
    change.diff = Some(d.clone());
    change.command = Some(p.entry.clone());
    let mut warnings: Vec<String> = super::command_result(command, None).warnings;
    if command.contains('%') {
        warnings.push(
            "cron turns an unescaped % in a command into a newline; write \\% for a literal one"
                .into(),
        );
    }
    if p.replaces {
        warnings.push(format!(
            "replaces the entry already scheduled as {:?}",
            p.name
        ));
    }
    Simulation {
        success: true,
        action: format!("Schedule cron job: {}", p.name),
        changes: vec![change],
        risk: if warnings.is_empty() {
            "none"
        } else {
            "warning"
        }
        .into(),
        warnings,
        reversible: true,
        rollback_strategy: format!("Remove the lines under # {} from the crontab", p.name),
        estimated_duration_s: Some(0.1),
        commands_to_run: Vec::new(),
        affected_files: Vec::new(),
        affected_services: Vec::new(),
        validation: None,
        outputs: Some(json!({"entry": p.entry, "installed": false, "diff": d})),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_line_then_the_entry_and_a_second_time_replaces() {
        let p = schedule(
            "MAILTO=root\n",
            "backup",
            "0 3 * * *",
            "/usr/local/bin/backup",
        )
        .expect("plan");
        assert_eq!(
            p.after,
            "MAILTO=root\n# backup\n0 3 * * * /usr/local/bin/backup\n"
        );
        assert!(!p.replaces);
        let q =
            schedule(&p.after, "backup", "@daily", "/usr/local/bin/backup --all").expect("plan");
        assert_eq!(
            q.after,
            "MAILTO=root\n# backup\n@daily /usr/local/bin/backup --all\n"
        );
        assert!(q.replaces);
        let s = result(&q, "/usr/local/bin/backup --all");
        let d = s
            .outputs
            .as_ref()
            .and_then(|o| o["diff"].as_str())
            .expect("diff")
            .to_owned();
        assert!(
            d.starts_with("--- crontab (before)\n+++ crontab (after)\n"),
            "{d}"
        );
        assert!(
            d.contains("-0 3 * * * /usr/local/bin/backup\n+@daily /usr/local/bin/backup --all\n"),
            "{d}"
        );
    }

    #[test]
    fn schedules_are_checked() {
        for ok in [
            "*/5 * * * *",
            "0 0 1 jan mon",
            "@reboot",
            "0-30/10 1,2 * * 1-5",
        ] {
            assert!(valid_schedule(ok), "{ok}");
        }
        for bad in ["* * * *", "@sometimes", "0 0 * * * *", "0 0 * * ;", ""] {
            assert!(!valid_schedule(bad), "{bad}");
        }
        assert!(schedule("", "x", "* * * * *", "a\nb").is_err());
        assert!(schedule("", "x\ny", "* * * * *", "a").is_err());
    }
}
