//! The steps every event goes through, as plain functions: the event built from what halbertd
//! sent, the rate limit per `identifier:severity`, redaction of the message and every string
//! of `data`, and validation. Storing is `store`'s; running is `worker`'s.

use std::collections::{BTreeMap, HashMap, VecDeque};

use halbert_proto::v1 as pb;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chat::redact::{Rules, redact_with};

/// One event, as stored raw and indexed (reference §5's shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The journal's (or the reading's) time, ISO 8601 UTC; never the time it was ingested.
    pub ts: String,
    /// The same, in microseconds since the epoch.
    pub ts_us: i64,
    pub source: String,
    pub host: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub subsystem: String,
    pub severity: String,
    pub message: String,
    /// Scalars only.
    pub data: BTreeMap<String, Value>,
    pub tags: Vec<String>,
    /// The journal cursor of a journald event: what makes it unique and resumable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// ISO 8601 UTC with microseconds.
pub fn iso_us(us: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// A journald event from an entry of halbertd's journal stream.
pub fn journald_event(e: pb::JournalEntry) -> Event {
    let subsystem = [&e.unit, &e.subject_unit, &e.identifier]
        .into_iter()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| "system".into());
    let mut data = BTreeMap::from([
        ("identifier".to_owned(), Value::from(e.identifier)),
        ("unit".to_owned(), Value::from(e.unit)),
        ("pid".to_owned(), Value::from(e.pid)),
        ("priority".to_owned(), Value::from(e.priority)),
    ]);
    if !e.subject_unit.is_empty() {
        data.insert("subject_unit".into(), Value::from(e.subject_unit));
    }
    if e.truncated {
        data.insert("truncated".into(), Value::from(true));
    }
    Event {
        ts: iso_us(e.realtime_us),
        ts_us: e.realtime_us,
        source: "journald".into(),
        host: e.hostname,
        kind: "log".into(),
        subsystem,
        severity: e.severity,
        message: e.message,
        data,
        tags: vec!["log".into()],
        cursor: Some(e.cursor),
    }
}

/// At most `per_min` events per key in any 60 seconds of event time. Event time, not the
/// clock: a backlog read after a pause is judged as it was written, and a replay after a crash
/// is judged the same way again.
#[derive(Debug)]
pub struct RateLimiter {
    per_min: usize,
    keys: HashMap<String, VecDeque<i64>>,
}

const WINDOW_US: i64 = 60_000_000;
/// Keys remembered at most; past this, the ones with nothing in their window go first.
const MAX_KEYS: usize = 10_000;

impl RateLimiter {
    pub fn new(per_min: u32) -> Self {
        Self {
            per_min: per_min as usize,
            keys: HashMap::new(),
        }
    }

    /// Whether an event of `key` at `ts_us` is kept (and counted).
    pub fn admit(&mut self, key: &str, ts_us: i64) -> bool {
        if self.keys.len() >= MAX_KEYS && !self.keys.contains_key(key) {
            self.keys
                .retain(|_, q| q.back().is_some_and(|&t| ts_us - t < WINDOW_US));
            if self.keys.len() >= MAX_KEYS {
                // Every key is busy: the oldest-used one is forgotten.
                if let Some(k) = self
                    .keys
                    .iter()
                    .min_by_key(|(_, q)| q.back().copied().unwrap_or(i64::MIN))
                    .map(|(k, _)| k.clone())
                {
                    self.keys.remove(&k);
                }
            }
        }
        let q = self.keys.entry(key.to_owned()).or_default();
        while q.front().is_some_and(|&t| ts_us - t >= WINDOW_US) {
            q.pop_front();
        }
        if q.len() >= self.per_min {
            return false;
        }
        q.push_back(ts_us);
        true
    }
}

/// The rate limiter's key of a journald event.
pub fn rate_key(e: &Event) -> String {
    let ident = e
        .data
        .get("identifier")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(&e.subsystem);
    format!("{ident}:{}", e.severity)
}

/// Redacts the message and every string in `data`; returns how many things were replaced.
pub fn redact_event(e: &mut Event, rules: Rules) -> usize {
    let (m, mut n) = redact_with(&e.message, rules);
    e.message = m;
    for v in e.data.values_mut() {
        if let Value::String(s) = v {
            let (r, k) = redact_with(s, rules);
            n += k;
            *s = r;
        }
    }
    n
}

const SOURCES: [&str; 2] = ["journald", "hwmon"];
const SEVERITIES: [&str; 5] = ["critical", "error", "warn", "info", "debug"];

/// The event schema: what every stored event must hold.
pub fn validate(e: &Event) -> Result<(), String> {
    if !SOURCES.contains(&e.source.as_str()) {
        return Err(format!("unknown source {:?}", e.source));
    }
    if !SEVERITIES.contains(&e.severity.as_str()) {
        return Err(format!("unknown severity {:?}", e.severity));
    }
    if e.ts_us <= 0 || e.ts.is_empty() {
        return Err("no time".into());
    }
    if e.kind.is_empty() || e.subsystem.is_empty() {
        return Err("no type or subsystem".into());
    }
    if e.message.trim().is_empty() {
        return Err("empty message".into());
    }
    if e.source == "journald" && e.cursor.as_deref().is_none_or(str::is_empty) {
        return Err("a journald event without its cursor".into());
    }
    if let Some((k, _)) = e
        .data
        .iter()
        .find(|(_, v)| matches!(v, Value::Array(_) | Value::Object(_) | Value::Null))
    {
        return Err(format!("data.{k} is not a scalar"));
    }
    Ok(())
}

/// The text a memory entry holds: the message, then `k=v` for each non-empty datum.
pub fn index_text(e: &Event) -> String {
    let mut t = e.message.clone();
    for (k, v) in &e.data {
        let v = match v {
            Value::String(s) if s.is_empty() => continue,
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        t.push_str(&format!(" {k}={v}"));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(msg: &str, ident: &str, sev: &str, us: i64) -> pb::JournalEntry {
        pb::JournalEntry {
            cursor: format!("s=1;i={us:x}"),
            realtime_us: us,
            priority: 3,
            severity: sev.into(),
            identifier: ident.into(),
            unit: String::new(),
            subject_unit: String::new(),
            pid: 7,
            hostname: "tb".into(),
            message: msg.into(),
            truncated: false,
        }
    }

    #[test]
    fn a_journal_entry_becomes_an_event_at_the_journals_time() {
        let e = journald_event(entry("disk full", "app", "error", 1_764_350_000_123_456));
        assert_eq!(e.ts, "2025-11-28T17:13:20.123456Z");
        assert_eq!(e.ts_us, 1_764_350_000_123_456);
        assert_eq!((e.subsystem.as_str(), e.kind.as_str()), ("app", "log"));
        assert_eq!(e.data["pid"], Value::from(7));
        assert!(validate(&e).is_ok());
        assert_eq!(index_text(&e), "disk full identifier=app pid=7 priority=3");
    }

    #[test]
    fn the_rate_limit_is_per_identifier_and_severity_over_a_sliding_minute() {
        let mut r = RateLimiter::new(3);
        let s = 1_000_000;
        let kept: Vec<bool> = (0..5).map(|i| r.admit("app:error", i * s)).collect();
        assert_eq!(kept, [true, true, true, false, false]);
        assert!(
            r.admit("app:warn", 5 * s),
            "another severity has its own window"
        );
        assert!(r.admit("other:error", 5 * s));
        // 60 s after the first, one slot is free again, and only one.
        assert!(r.admit("app:error", 60 * s));
        assert!(!r.admit("app:error", 60 * s + 1));
        assert!(r.admit("app:error", 61 * s));
    }

    #[test]
    fn redaction_reaches_data_and_is_counted() {
        let mut e = journald_event(entry(
            "login DB_PASSWORD=hunter2 from 10.1.2.3",
            "app",
            "warn",
            1,
        ));
        e.data
            .insert("user_home".into(), Value::from("/home/alice/.env"));
        let n = redact_event(&mut e, Rules::ALL);
        assert_eq!(n, 3);
        assert_eq!(e.message, "login DB_PASSWORD=<secret> from <ip>");
        assert_eq!(e.data["user_home"], Value::from("/home/<user>/.env"));
    }

    #[test]
    fn validation_refuses_what_the_schema_forbids() {
        let ok = journald_event(entry("m", "a", "info", 5));
        let bad = |f: &dyn Fn(&mut Event)| {
            let mut e = ok.clone();
            f(&mut e);
            validate(&e).expect_err("refused")
        };
        assert!(bad(&|e| e.severity = "loud".into()).contains("severity"));
        assert!(bad(&|e| e.message = "  ".into()).contains("empty"));
        assert!(bad(&|e| e.cursor = None).contains("cursor"));
        assert!(bad(&|e| e.ts_us = 0).contains("time"));
        assert!(
            bad(&|e| {
                e.data.insert("x".into(), Value::Array(vec![]));
            })
            .contains("data.x")
        );
    }
}
