//! The status history behind the dashboard's charts: a ring buffer of the `system_status`
//! samples the feed receives, at full rate for the last hour and as one-minute means for the
//! last 24 hours, read back in buckets of any step (`GET /api/status/history`). It lives in
//! memory only: a restart of halbert-web starts a new history, as a chart would.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// How far back full-rate samples are kept, and one-minute means.
pub const FINE_SPAN_S: i64 = 3600;
pub const COARSE_SPAN_S: i64 = 24 * 3600;
const MINUTE: i64 = 60;
/// A ceiling on either tier whatever the sample rate (one a second for an hour).
const MAX_FINE: usize = 3600;
const MAX_COARSE: usize = (COARSE_SPAN_S / MINUTE) as usize + 1;

/// One status sample, in the units the charts draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Unix seconds.
    pub t: i64,
    pub cpu_percent: f64,
    pub memory_percent: f64,
    pub swap_percent: f64,
    pub load_one: f64,
    /// Usage of `/`, when it is known.
    pub disk_percent: Option<f64>,
    /// `(sensor, °C)`.
    pub temperatures: Vec<(String, f64)>,
}

/// Samples bucketed by `step`, column by column (what a chart library takes), oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub step: i64,
    /// Each bucket's start, unix seconds.
    pub timestamps: Vec<i64>,
    pub cpu_percent: Vec<f64>,
    pub memory_percent: Vec<f64>,
    pub swap_percent: Vec<f64>,
    pub load_one: Vec<f64>,
    pub disk_percent: Vec<Option<f64>>,
    /// Per sensor, its mean in each bucket (`None` where it reported nothing).
    pub temperatures: Vec<(String, Vec<Option<f64>>)>,
}

#[derive(Debug, Default)]
struct Tiers {
    fine: VecDeque<Sample>,
    coarse: VecDeque<Sample>,
    /// The samples of the minute in progress, folded into `coarse` when it ends.
    minute: Vec<Sample>,
}

#[derive(Debug, Default)]
pub struct History {
    tiers: Mutex<Tiers>,
}

impl History {
    pub fn push(&self, s: Sample) {
        let Ok(mut t) = self.tiers.lock() else {
            return;
        };
        // A clock set back starts the history again rather than mixing two timelines.
        if t.fine.back().is_some_and(|last| s.t < last.t) {
            *t = Tiers::default();
        }
        if let Some(first) = t.minute.first()
            && first.t.div_euclid(MINUTE) != s.t.div_euclid(MINUTE)
        {
            let start = first.t.div_euclid(MINUTE) * MINUTE;
            let done = std::mem::take(&mut t.minute);
            if let Some(mean) = mean(start, &done) {
                t.coarse.push_back(mean);
            }
        }
        t.minute.push(s.clone());
        t.fine.push_back(s.clone());
        while t.fine.front().is_some_and(|f| f.t <= s.t - FINE_SPAN_S) || t.fine.len() > MAX_FINE {
            t.fine.pop_front();
        }
        while t.coarse.front().is_some_and(|c| c.t <= s.t - COARSE_SPAN_S)
            || t.coarse.len() > MAX_COARSE
        {
            t.coarse.pop_front();
        }
    }

    /// The samples since `since` (unix seconds), in buckets of `step` seconds. Within the last
    /// hour and at steps under a minute they come from the full-rate samples; otherwise from
    /// the one-minute means (and the minute in progress).
    pub fn query(&self, since: i64, step: i64, now: i64) -> Series {
        let step = step.max(1);
        let Ok(t) = self.tiers.lock() else {
            return Series::default();
        };
        // "The last hour" asked by a client whose clock runs a little ahead is still the
        // last hour: a minute of slack.
        if step < MINUTE && since + MINUTE > now - FINE_SPAN_S {
            let v: Vec<&Sample> = t.fine.iter().filter(|s| s.t >= since).collect();
            return bucket(&v, step);
        }
        let current = t
            .minute
            .first()
            .and_then(|f| mean(f.t.div_euclid(MINUTE) * MINUTE, &t.minute));
        let mut v: Vec<&Sample> = t.coarse.iter().filter(|s| s.t >= since).collect();
        if let Some(c) = current.as_ref().filter(|c| c.t >= since) {
            v.push(c);
        }
        bucket(&v, step.max(MINUTE))
    }
}

/// The mean of `samples` as one sample at `t`; `None` for no samples.
fn mean(t: i64, samples: &[Sample]) -> Option<Sample> {
    let refs: Vec<&Sample> = samples.iter().collect();
    mean_of(t, &refs)
}

fn mean_of(t: i64, samples: &[&Sample]) -> Option<Sample> {
    if samples.is_empty() {
        return None;
    }
    let n = samples.len() as f64;
    let avg = |f: fn(&Sample) -> f64| samples.iter().map(|s| f(s)).sum::<f64>() / n;
    let disks: Vec<f64> = samples.iter().filter_map(|s| s.disk_percent).collect();
    let mut temps: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for s in samples {
        for (name, c) in &s.temperatures {
            let e = temps.entry(name.as_str()).or_default();
            e.0 += c;
            e.1 += 1.0;
        }
    }
    Some(Sample {
        t,
        cpu_percent: round1(avg(|s| s.cpu_percent)),
        memory_percent: round1(avg(|s| s.memory_percent)),
        swap_percent: round1(avg(|s| s.swap_percent)),
        load_one: (avg(|s| s.load_one) * 100.0).round() / 100.0,
        disk_percent: (!disks.is_empty())
            .then(|| round1(disks.iter().sum::<f64>() / disks.len() as f64)),
        temperatures: temps
            .into_iter()
            .map(|(k, (sum, count))| (k.to_owned(), round1(sum / count)))
            .collect(),
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Groups `samples` (oldest first) into buckets of `step` seconds, each the mean of its
/// samples; a bucket without samples is left out (the chart draws a gap there).
fn bucket(samples: &[&Sample], step: i64) -> Series {
    let mut groups: BTreeMap<i64, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        groups
            .entry(s.t.div_euclid(step) * step)
            .or_default()
            .push(s);
    }
    let means: Vec<Sample> = groups
        .into_iter()
        .filter_map(|(t, g)| mean_of(t, &g))
        .collect();
    let mut names: Vec<String> = means
        .iter()
        .flat_map(|m| m.temperatures.iter().map(|(n, _)| n.clone()))
        .collect();
    names.sort();
    names.dedup();
    Series {
        step,
        timestamps: means.iter().map(|m| m.t).collect(),
        cpu_percent: means.iter().map(|m| m.cpu_percent).collect(),
        memory_percent: means.iter().map(|m| m.memory_percent).collect(),
        swap_percent: means.iter().map(|m| m.swap_percent).collect(),
        load_one: means.iter().map(|m| m.load_one).collect(),
        disk_percent: means.iter().map(|m| m.disk_percent).collect(),
        temperatures: names
            .into_iter()
            .map(|n| {
                let col = means
                    .iter()
                    .map(|m| {
                        m.temperatures
                            .iter()
                            .find(|(k, _)| *k == n)
                            .map(|(_, c)| *c)
                    })
                    .collect();
                (n, col)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: i64, cpu: f64) -> Sample {
        Sample {
            t,
            cpu_percent: cpu,
            memory_percent: 50.0,
            swap_percent: 0.0,
            load_one: 1.0,
            disk_percent: Some(40.0),
            temperatures: vec![("coretemp Package id 0".into(), cpu / 2.0)],
        }
    }

    #[test]
    fn full_rate_for_the_last_hour_bucketed_by_step() {
        let h = History::default();
        let t0 = 1_800_000_000;
        for i in 0..12 {
            h.push(at(t0 + i * 5, i as f64));
        }
        let s = h.query(t0, 5, t0 + 60);
        assert_eq!(s.timestamps.len(), 12);
        assert_eq!(s.cpu_percent[3], 3.0);
        // Two samples per 10 s bucket: their mean.
        let s = h.query(t0, 10, t0 + 60);
        assert_eq!(
            s.timestamps,
            (0..6).map(|i| t0 + i * 10).collect::<Vec<_>>()
        );
        assert_eq!(s.cpu_percent[0], 0.5);
        assert_eq!(s.temperatures[0].0, "coretemp Package id 0");
        assert_eq!(s.temperatures[0].1[0], Some(0.3));
        // `since` cuts the older ones.
        assert_eq!(h.query(t0 + 30, 5, t0 + 60).timestamps.len(), 6);
    }

    #[test]
    fn a_day_at_one_minute_means_and_nothing_older() {
        let h = History::default();
        let t0: i64 = 1_800_000_000; // a whole minute
        // 25 hours at one sample every 30 s: cpu is the minute's index.
        let n = 25 * 60;
        for m in 0..n {
            h.push(at(t0 + m * 60, m as f64));
            h.push(at(t0 + m * 60 + 30, m as f64 + 1.0));
        }
        let now = t0 + n * 60;
        let day = h.query(now - COARSE_SPAN_S, 60, now);
        assert!(
            day.timestamps.len() <= 24 * 60 + 1,
            "{}",
            day.timestamps.len()
        );
        assert!(
            day.timestamps.len() >= 24 * 60 - 1,
            "{}",
            day.timestamps.len()
        );
        assert!(day.timestamps[0] > now - COARSE_SPAN_S - 60);
        // Each minute's mean of its two samples.
        let last = day.cpu_percent.len() - 1;
        assert_eq!(day.cpu_percent[last], (n - 1) as f64 + 0.5);
        // Ten-minute steps over the day.
        let coarse = h.query(now - COARSE_SPAN_S, 600, now);
        assert!(
            (144..=146).contains(&coarse.timestamps.len()),
            "{}",
            coarse.timestamps.len()
        );
        // The full-rate tier holds the last hour, at every sample.
        let hour = h.query(now - FINE_SPAN_S + 1, 5, now);
        assert!(
            (119..=120).contains(&hour.timestamps.len()),
            "{}",
            hour.timestamps.len()
        );
        assert_eq!(hour.cpu_percent[hour.cpu_percent.len() - 1], n as f64);
        // Further back than an hour, even a short step gets minute means; exactly an hour
        // back (a browser's clock) is still the last hour.
        assert_eq!(h.query(now - 2 * FINE_SPAN_S, 5, now).step, 60);
        assert_eq!(h.query(now - FINE_SPAN_S, 5, now).step, 5);
    }

    #[test]
    fn a_clock_set_back_starts_again() {
        let h = History::default();
        h.push(at(2_000, 1.0));
        h.push(at(1_000, 2.0));
        let s = h.query(0, 1, 1_001);
        assert_eq!(s.timestamps, vec![1_000]);
    }

    #[test]
    fn gaps_stay_gaps_and_a_missing_disk_is_none() {
        let h = History::default();
        let mut a = at(100, 1.0);
        a.disk_percent = None;
        h.push(a);
        h.push(at(200, 3.0));
        let s = h.query(0, 10, 210);
        assert_eq!(s.timestamps, vec![100, 200]);
        assert_eq!(s.disk_percent, vec![None, Some(40.0)]);
    }
}
