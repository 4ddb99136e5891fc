//! `write_config`'s merge of changes into a file's current text, by the file's kind: YAML and
//! JSON are merged deeply (mappings key by key, anything else replaced); INI files and systemd
//! units are changed per section and key on their own lines, so every other line — comments,
//! blank lines, the case of every key — stays as it was (the earlier version lower-cased keys,
//! which broke units: `TimeoutStartSec` is not `timeoutstartsec` to systemd).

use serde_json::Value;

/// How a file's text is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Yaml,
    Json,
    /// `[section]` headers with `key=value` lines (INI files, systemd units and drop-ins).
    Ini,
}

const UNIT_SUFFIXES: &[&str] = &[
    ".service",
    ".socket",
    ".timer",
    ".mount",
    ".path",
    ".target",
    ".automount",
    ".swap",
    ".slice",
    ".network",
    ".netdev",
    ".link",
];

/// The kind of the file at `path`, by its name; `None` for kinds only a whole new content
/// can change.
pub fn kind_of(path: &str) -> Option<Kind> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        Some(Kind::Yaml)
    } else if name.ends_with(".json") {
        Some(Kind::Json)
    } else if name.ends_with(".ini")
        || name.ends_with(".conf") && path.contains(".d/")
        || UNIT_SUFFIXES.iter().any(|s| name.ends_with(s))
        || name.ends_with(".cfg")
    {
        Some(Kind::Ini)
    } else {
        None
    }
}

/// Merges `changes` into `current` (a file's text) as `kind` says.
pub fn merge(kind: Kind, current: &str, changes: &Value) -> Result<String, String> {
    match kind {
        Kind::Json => {
            let mut doc: Value = if current.trim().is_empty() {
                Value::Object(Default::default())
            } else {
                serde_json::from_str(current).map_err(|e| format!("the file is not JSON: {e}"))?
            };
            deep_merge(&mut doc, changes);
            let mut s = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
            s.push('\n');
            Ok(s)
        }
        Kind::Yaml => {
            let mut doc: Value = if current.trim().is_empty() {
                Value::Object(Default::default())
            } else {
                serde_norway::from_str(current).map_err(|e| format!("the file is not YAML: {e}"))?
            };
            deep_merge(&mut doc, changes);
            serde_norway::to_string(&doc).map_err(|e| e.to_string())
        }
        Kind::Ini => ini_merge(current, changes),
    }
}

/// Mappings merge key by key; anything else in `patch` replaces what is there.
fn deep_merge(doc: &mut Value, patch: &Value) {
    match (doc, patch) {
        (Value::Object(d), Value::Object(p)) => {
            for (k, v) in p {
                match d.get_mut(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (d, p) => *d = p.clone(),
    }
}

/// A value as it goes after `key=`: strings as they are, numbers and booleans as written;
/// a list repeats the key (as systemd does for `ExecStartPre=` and friends).
fn ini_values(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Number(n) => Ok(vec![n.to_string()]),
        Value::Bool(b) => Ok(vec![if *b { "yes" } else { "no" }.to_owned()]),
        Value::Array(a) => a
            .iter()
            .map(|x| ini_values(x).map(|mut v| v.remove(0)))
            .collect(),
        Value::Null | Value::Object(_) => {
            Err("a value must be a string, number, boolean or a list of them".into())
        }
    }
}

/// A section or key must be a non-empty name without brackets or `=`; nothing may span lines.
fn ini_check(s: &str, what: &str) -> Result<(), String> {
    let name = what != "value";
    let bad = s.contains(['\n', '\r']) || name && (s.is_empty() || s.contains(['[', ']', '=']));
    if bad {
        return Err(format!("{what} {s:?} cannot be written on one INI line"));
    }
    Ok(())
}

/// `changes` is `{section: {key: value}}`. A key already in its section gets the new value on
/// its line (the first such line; a list replaces all of them); a new key goes after the
/// section's last key; a new section goes at the end.
fn ini_merge(current: &str, changes: &Value) -> Result<String, String> {
    let Value::Object(sections) = changes else {
        return Err("changes for an INI file are {section: {key: value}}".into());
    };
    let mut lines: Vec<String> = current.lines().map(str::to_owned).collect();
    for (section, keys) in sections {
        ini_check(section, "section")?;
        let Value::Object(keys) = keys else {
            return Err(format!(
                "changes.{section} must be a mapping of keys to values"
            ));
        };
        // The section's extent: its header to the next header.
        let header = lines
            .iter()
            .position(|l| l.trim() == format!("[{section}]"));
        let (start, mut end) = match header {
            Some(h) => {
                let end = lines[h + 1..]
                    .iter()
                    .position(|l| l.trim_start().starts_with('['))
                    .map_or(lines.len(), |p| h + 1 + p);
                (h, end)
            }
            None => {
                if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                    lines.push(String::new());
                }
                lines.push(format!("[{section}]"));
                (lines.len() - 1, lines.len())
            }
        };
        for (key, value) in keys {
            ini_check(key, "key")?;
            let values = ini_values(value)?;
            for v in &values {
                ini_check(v, "value")?;
            }
            let is_key = |l: &str| {
                let t = l.trim_start();
                !t.starts_with(['#', ';'])
                    && t.split_once('=').is_some_and(|(k, _)| k.trim_end() == key)
            };
            let at: Vec<usize> = (start + 1..end).filter(|&i| is_key(&lines[i])).collect();
            // Keep the spacing the file uses around `=` on the line being changed.
            let styled = |old: Option<&str>, v: &str| match old.and_then(|o| o.split_once('=')) {
                Some((k, rest)) => {
                    let pad = &rest[..rest.len() - rest.trim_start().len()];
                    format!("{k}={pad}{v}")
                }
                None => format!("{key}={v}"),
            };
            if at.is_empty() {
                // After the section's last non-blank line.
                let mut pos = end;
                while pos > start + 1 && lines[pos - 1].trim().is_empty() {
                    pos -= 1;
                }
                for (n, v) in values.iter().enumerate() {
                    lines.insert(pos + n, format!("{key}={v}"));
                }
                end += values.len();
            } else {
                let first = at[0];
                let new: Vec<String> = values
                    .iter()
                    .map(|v| styled(Some(&lines[first]), v))
                    .collect();
                for &i in at.iter().rev() {
                    lines.remove(i);
                }
                for (n, l) in new.iter().enumerate() {
                    lines.insert(first + n, l.clone());
                }
                end = end + new.len() - at.len();
            }
        }
    }
    let mut out = lines.join("\n");
    if current.ends_with('\n') || current.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ini_keeps_key_case_comments_and_spacing() {
        let unit = "# managed by hand\n[Unit]\nDescription=Web\n\n[Service]\n# how long\nTimeoutStartSec = 30\nExecStart=/usr/bin/web\n";
        let out = merge(
            Kind::Ini,
            unit,
            &json!({"Service": {"TimeoutStartSec": 90, "Restart": "on-failure"}, "Install": {"WantedBy": "multi-user.target"}}),
        )
        .expect("merge");
        assert_eq!(
            out,
            "# managed by hand\n[Unit]\nDescription=Web\n\n[Service]\n# how long\nTimeoutStartSec = 90\nExecStart=/usr/bin/web\nRestart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n"
        );
        // Keys are matched as written: another case is another key.
        let out = merge(Kind::Ini, "[S]\nKey=1\n", &json!({"S": {"key": 2}})).expect("merge");
        assert_eq!(out, "[S]\nKey=1\nkey=2\n");
        let out = merge(
            Kind::Ini,
            "[S]\nExecStartPre=/a\nExecStartPre=/b\nX=1\n",
            &json!({"S": {"ExecStartPre": ["/c"]}}),
        )
        .expect("merge");
        assert_eq!(out, "[S]\nExecStartPre=/c\nX=1\n");
        assert!(merge(Kind::Ini, "", &json!({"S": {"K": "a\nb"}})).is_err());
        assert!(merge(Kind::Ini, "", &json!({"S": {"K=": "a"}})).is_err());
    }

    #[test]
    fn yaml_and_json_merge_deeply() {
        let out = merge(
            Kind::Json,
            "{\"a\": {\"b\": 1, \"c\": 2}, \"d\": [1]}",
            &json!({"a": {"b": 5}, "d": [2], "e": true}),
        )
        .expect("merge");
        let v: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v, json!({"a": {"b": 5, "c": 2}, "d": [2], "e": true}));
        let out = merge(
            Kind::Yaml,
            "server:\n  port: 80\n  host: x\n",
            &json!({"server": {"port": 8080}}),
        )
        .expect("merge");
        let v: Value = serde_norway::from_str(&out).expect("yaml");
        assert_eq!(v, json!({"server": {"port": 8080, "host": "x"}}));
        assert!(merge(Kind::Json, "{", &json!({})).is_err());
    }

    #[test]
    fn kinds_by_name() {
        assert_eq!(kind_of("/etc/systemd/system/a.service"), Some(Kind::Ini));
        assert_eq!(
            kind_of("/etc/systemd/system/a.service.d/override.conf"),
            Some(Kind::Ini)
        );
        assert_eq!(kind_of("/etc/app/c.yml"), Some(Kind::Yaml));
        assert_eq!(kind_of("/etc/app/c.json"), Some(Kind::Json));
        assert_eq!(kind_of("/etc/hosts"), None);
    }
}
