//! The telemetry streams over halbertd's real socket, in-process: sensors from captured and
//! composed hwmon trees, and the journal stream's checks, its failures and its limit on
//! journalctl processes. The journal's own entries are followed for real in the testbed
//! (tests/testbed/suite.sh), where journald runs.

mod common;

use std::time::Duration;

use common::{channel, fixture, start_daemon};
use halbert_proto::v1::{self as pb, telemetry_client::TelemetryClient};
use halbertd::engine::MAX_JOURNAL_STREAMS;
use halbertd::host::HostRoot;
use tonic::Code;

/// journalctl processes following for this test's streams (the other test in this file starts
/// one after the cursor `s=0;i=1` at the same time).
fn journalctl_running() -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                        let args: Vec<&[u8]> = c.split(|&b| b == 0).collect();
                        args.first().is_some_and(|a| a.ends_with(b"journalctl"))
                            && args
                                .iter()
                                .any(|a| a.starts_with(b"--output-fields=MESSAGE"))
                            && !args.contains(&&b"--after-cursor=s=0;i=1"[..])
                    })
                })
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensors_stream_with_their_units_and_limits() {
    let d = start_daemon(HostRoot::new(fixture("desktop-nct6775"))).await;
    let mut c = TelemetryClient::new(channel(&d.socket));
    let e = c
        .watch_sensors(pb::WatchSensorsRequest { interval_s: 3601 })
        .await
        .expect_err("too slow");
    assert_eq!(e.code(), Code::InvalidArgument);
    let mut s = c
        .watch_sensors(pb::WatchSensorsRequest { interval_s: 1 })
        .await
        .expect("watch")
        .into_inner();
    let first = s.message().await.expect("first").expect("some");
    let by = |input: &str| {
        first
            .sensors
            .iter()
            .find(|x| x.input == input)
            .unwrap_or_else(|| panic!("{input}"))
            .clone()
    };
    assert_eq!(first.sensors.len(), 9);
    let fan = by("fan1");
    assert_eq!((fan.kind.as_str(), fan.unit.as_str()), ("fan", "RPM"));
    assert_eq!(
        (fan.value, fan.min, fan.crossed.as_str()),
        (Some(0.0), Some(300.0), "min")
    );
    assert_eq!(by("in0").value, Some(0.888));
    assert_eq!(by("temp1").crossed, "max");
    assert_eq!(by("temp7").value, None, "an unreadable input has no value");
    let second = s.message().await.expect("second").expect("some");
    assert!(second.timestamp_unix_ms - first.timestamp_unix_ms >= 900);
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_stream_checks_what_it_is_asked_and_says_why_it_ends() {
    let d = start_daemon(HostRoot::system()).await;
    let mut c = TelemetryClient::new(channel(&d.socket));
    let ask = |after_cursor: &str, severities: &[&str], units: &[&str]| pb::FollowJournalRequest {
        after_cursor: after_cursor.into(),
        severities: severities.iter().map(|s| s.to_string()).collect(),
        identifiers: vec![],
        units: units.iter().map(|s| s.to_string()).collect(),
    };
    for (req, says) in [
        (ask("--since=yesterday", &[], &[]), "not a journal cursor"),
        (ask("", &["loud"], &[]), "unknown severity"),
        (ask("", &[], &["nginx service"]), "not a systemd unit name"),
    ] {
        let e = c.follow_journal(req).await.expect_err("refused");
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains(says), "{}", e.message());
    }
    // A cursor of the right shape that this journal cannot seek to: journalctl says so, and
    // the stream ends with that as the reader's mistake, not a silent end.
    if halbertd::exec::which("journalctl").is_some() {
        let mut s = c
            .follow_journal(ask("s=0;i=1", &[], &[]))
            .await
            .expect("opened")
            .into_inner();
        let e = tokio::time::timeout(Duration::from_secs(10), s.message())
            .await
            .expect("an answer")
            .expect_err("the end");
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(
            e.message().contains("not a cursor of this journal"),
            "{}",
            e.message()
        );
    }
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_streams_are_limited_and_a_closed_one_ends_its_reads() {
    if halbertd::exec::which("journalctl").is_none() {
        eprintln!("journalctl is not installed: nothing to follow");
        return;
    }
    let d = start_daemon(HostRoot::system()).await;
    let before = journalctl_running();
    let mut c = TelemetryClient::new(channel(&d.socket));
    let mut open = Vec::new();
    for _ in 0..MAX_JOURNAL_STREAMS {
        open.push(
            c.follow_journal(pb::FollowJournalRequest::default())
                .await
                .expect("opened")
                .into_inner(),
        );
    }
    let e = c
        .follow_journal(pb::FollowJournalRequest::default())
        .await
        .expect_err("one too many");
    assert_eq!(e.code(), Code::Unavailable);
    assert!(
        e.message().contains("journal streams are open"),
        "{}",
        e.message()
    );
    // Readers that go away take their journalctl with them and free their slots.
    open.clear();
    let mut left = usize::MAX;
    for _ in 0..100 {
        left = journalctl_running().saturating_sub(before);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 0, "journalctl processes left behind");
    let mut again = None;
    for _ in 0..100 {
        if let Ok(s) = c.follow_journal(pb::FollowJournalRequest::default()).await {
            again = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a slot is free again");
    d.shutdown().await;
}
