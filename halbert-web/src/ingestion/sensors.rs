//! hwmon readings folded into a few events worth remembering: one summary per sensor per hour
//! (min, average, max, how many readings), and an event whenever a sensor crosses a limit,
//! comes back within its limits, or stops being readable. A reading every ten seconds would
//! otherwise bury memory under thousands of identical lines a day.
//!
//! The hour in progress is kept across a stop (`to_json`/`from_json`), so stopping and
//! starting loses none of it.

use std::collections::BTreeMap;

use halbert_proto::v1 as pb;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::pipeline::{Event, iso_us};

const HOUR_US: i64 = 3_600_000_000;

/// One sensor's hour so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Hour {
    start_us: i64,
    min: f64,
    max: f64,
    sum: f64,
    n: u64,
    chip: String,
    label: String,
    kind: String,
    unit: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summarizer {
    hours: BTreeMap<String, Hour>,
    /// What each sensor crossed at its last reading ("" within limits, "unreadable").
    state: BTreeMap<String, String>,
}

fn subsystem(kind: &str) -> &'static str {
    match kind {
        "fan" => "cooling",
        "voltage" => "power",
        _ => "thermal",
    }
}

fn name(s: &pb::Sensor) -> String {
    if s.label == s.input {
        format!("{} {}", s.chip, s.input)
    } else {
        format!("{} {}", s.chip, s.label)
    }
}

fn fmt(v: f64, unit: &str) -> String {
    match unit {
        "RPM" => format!("{v:.0} RPM"),
        "V" => format!("{v:.3} V"),
        _ => format!("{v:.1} {unit}"),
    }
}

fn base_event(ts_us: i64, host: &str, kind: &str, sensor_kind: &str) -> Event {
    Event {
        ts: iso_us(ts_us),
        ts_us,
        source: "hwmon".into(),
        host: host.to_owned(),
        kind: kind.to_owned(),
        subsystem: subsystem(sensor_kind).into(),
        severity: "info".into(),
        message: String::new(),
        data: BTreeMap::new(),
        tags: vec!["hwmon".into(), sensor_kind.to_owned()],
        cursor: None,
    }
}

impl Summarizer {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(b: &[u8]) -> Self {
        serde_json::from_slice(b).unwrap_or_default()
    }

    /// Takes one reading of every sensor at `ts_us`; returns the events it completes.
    pub fn reading(&mut self, ts_us: i64, sensors: &[pb::Sensor], host: &str) -> Vec<Event> {
        let mut out = Vec::new();
        let hour = ts_us - ts_us.rem_euclid(HOUR_US);
        for s in sensors {
            let key = format!("{}/{}", s.device, s.input);
            let now = match s.value {
                None => "unreadable".to_owned(),
                Some(_) => s.crossed.clone(),
            };
            let before = self.state.insert(key.clone(), now.clone());
            if before.as_deref().unwrap_or("") != now {
                out.push(self.change(ts_us, s, host, before.as_deref(), &now));
            }
            let Some(v) = s.value else { continue };
            if self.hours.get(&key).is_some_and(|h| h.start_us != hour)
                && let Some(done) = self.hours.remove(&key)
            {
                out.push(summary(&done, host));
            }
            let h = self.hours.entry(key).or_insert_with(|| Hour {
                start_us: hour,
                min: v,
                max: v,
                sum: 0.0,
                n: 0,
                chip: s.chip.clone(),
                label: name(s),
                kind: s.kind.clone(),
                unit: s.unit.clone(),
            });
            h.min = h.min.min(v);
            h.max = h.max.max(v);
            h.sum += v;
            h.n += 1;
        }
        out
    }

    /// The event for a sensor whose state changed from `before` to `now`.
    fn change(
        &self,
        ts_us: i64,
        s: &pb::Sensor,
        host: &str,
        before: Option<&str>,
        now: &str,
    ) -> Event {
        let mut e = base_event(ts_us, host, "sensor_threshold", &s.kind);
        let who = name(s);
        let value = s.value.map(|v| fmt(v, &s.unit)).unwrap_or_default();
        let limit = match now {
            "crit" => s.crit,
            "max" => s.max,
            "min" => s.min,
            _ => None,
        };
        (e.severity, e.message) = match now {
            "unreadable" => ("error".into(), format!("{who} cannot be read")),
            "" => (
                "info".into(),
                format!(
                    "{who} is back within its limits at {value} (was {})",
                    before.unwrap_or_default()
                ),
            ),
            "alarm" => ("warn".into(), format!("{who} raised its alarm at {value}")),
            "crit" => (
                "critical".into(),
                format!(
                    "{who} at {value} crossed its critical limit ({})",
                    limit.map(|l| fmt(l, &s.unit)).unwrap_or_default()
                ),
            ),
            other => (
                "warn".into(),
                format!(
                    "{who} at {value} crossed its {other} limit ({})",
                    limit.map(|l| fmt(l, &s.unit)).unwrap_or_default()
                ),
            ),
        };
        e.data = BTreeMap::from([
            ("chip".to_owned(), Value::from(s.chip.clone())),
            ("label".to_owned(), Value::from(s.label.clone())),
            (
                "sensor".to_owned(),
                Value::from(format!("{}/{}", s.device, s.input)),
            ),
            ("crossed".to_owned(), Value::from(now)),
        ]);
        if let Some(v) = s.value {
            e.data.insert("value".into(), Value::from(v));
        }
        if let Some(l) = limit {
            e.data.insert("limit".into(), Value::from(l));
        }
        e
    }
}

fn summary(h: &Hour, host: &str) -> Event {
    let mut e = base_event(h.start_us, host, "sensor_summary", &h.kind);
    let avg = h.sum / h.n.max(1) as f64;
    let clock = |us: i64| iso_us(us).get(11..16).unwrap_or_default().to_owned();
    e.message = format!(
        "{}: min {}, avg {}, max {} over {} readings, {}–{} UTC",
        h.label,
        fmt(h.min, &h.unit),
        fmt(avg, &h.unit),
        fmt(h.max, &h.unit),
        h.n,
        clock(h.start_us),
        clock(h.start_us + HOUR_US),
    );
    e.data = BTreeMap::from([
        ("chip".to_owned(), Value::from(h.chip.clone())),
        ("label".to_owned(), Value::from(h.label.clone())),
        ("unit".to_owned(), Value::from(h.unit.clone())),
        ("min".to_owned(), Value::from(h.min)),
        (
            "avg".to_owned(),
            Value::from((avg * 1000.0).round() / 1000.0),
        ),
        ("max".to_owned(), Value::from(h.max)),
        ("readings".to_owned(), Value::from(h.n)),
    ]);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(v: Option<f64>, crossed: &str) -> pb::Sensor {
        pb::Sensor {
            chip: "coretemp".into(),
            device: "hwmon2".into(),
            input: "temp1".into(),
            label: "Package id 0".into(),
            kind: "temperature".into(),
            unit: "°C".into(),
            value: v,
            min: None,
            max: Some(80.0),
            crit: Some(100.0),
            alarm: false,
            crossed: crossed.into(),
        }
    }

    #[test]
    fn an_hour_of_readings_is_one_summary_and_crossings_are_events() {
        let mut s = Summarizer::default();
        let t0 = 1_764_349_200_000_000; // 17:00 UTC
        let ten_s = 10_000_000;
        let mut events = Vec::new();
        for i in 0..360 {
            let v = 40.0 + f64::from(i % 10);
            events.extend(s.reading(t0 + i64::from(i) * ten_s, &[temp(Some(v), "")], "tb"));
        }
        assert!(
            events.is_empty(),
            "nothing until the hour is over: {events:?}"
        );
        // Hot at 18:00: the summary of 17:00–18:00 and a crossing.
        let e = s.reading(t0 + HOUR_US, &[temp(Some(91.0), "max")], "tb");
        let kinds: Vec<_> = e.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["sensor_threshold", "sensor_summary"]);
        assert_eq!(e[0].severity, "warn");
        assert_eq!(
            e[0].message,
            "coretemp Package id 0 at 91.0 °C crossed its max limit (80.0 °C)"
        );
        assert_eq!(
            e[1].message,
            "coretemp Package id 0: min 40.0 °C, avg 44.5 °C, max 49.0 °C over 360 readings, 17:00–18:00 UTC"
        );
        assert_eq!(e[1].ts_us, t0);
        for ev in &e {
            assert!(super::super::pipeline::validate(ev).is_ok(), "{ev:?}");
        }
        // Still hot: nothing new. Unreadable, then back: one event each.
        assert!(
            s.reading(t0 + HOUR_US + ten_s, &[temp(Some(92.0), "max")], "tb")
                .is_empty()
        );
        let gone = s.reading(t0 + HOUR_US + 2 * ten_s, &[temp(None, "")], "tb");
        assert_eq!(
            (gone[0].severity.as_str(), gone[0].message.as_str()),
            ("error", "coretemp Package id 0 cannot be read")
        );
        let back = s.reading(t0 + HOUR_US + 3 * ten_s, &[temp(Some(50.0), "")], "tb");
        assert!(
            back[0].message.contains("back within its limits"),
            "{back:?}"
        );

        // The hour in progress survives a stop.
        let again = Summarizer::from_json(&s.to_json());
        assert_eq!(again, s);
    }
}
