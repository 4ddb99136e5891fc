//! journald entries as `journalctl --follow --output=json` prints them: the argv that starts it
//! (after a cursor, or at the tail), the parser for its lines, the filter a consumer asked for,
//! and the pump that moves filtered entries into a bounded channel.
//!
//! The channel is the back-pressure: when the consumer is slow, the pump waits on it, stops
//! reading, journalctl blocks on its full pipe, and journald's own files hold what is not read
//! yet. Nothing here buffers without bound, and a consumer that went away resumes from the
//! cursor of the last entry it stored.

use std::collections::BTreeSet;
use std::io;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::mpsc;

use super::TelemetryError;

/// The longest JSON line read; a longer one (a huge binary field) is skipped and counted.
pub const MAX_LINE: usize = 256 * 1024;
/// Characters of a message passed on; the rest is cut and marked.
pub const MAX_MESSAGE: usize = 8 * 1024;
/// Names in one identifier or unit list.
pub const MAX_NAMES: usize = 64;
/// After this many entries that the filter dropped, the consumer hears the cursor reached, so
/// that a resume does not read them all again.
pub const PROGRESS_EVERY: u64 = 500;
/// ...and after this long without a line, if anything was dropped since the last item.
pub const PROGRESS_IDLE: Duration = Duration::from_secs(2);

/// The fields asked of journalctl: enough for an event, nothing else (`--output-fields`;
/// `__CURSOR` and the timestamps always come along).
const FIELDS: &str = "MESSAGE,PRIORITY,SYSLOG_IDENTIFIER,_COMM,_SYSTEMD_UNIT,UNIT,_PID,_HOSTNAME";

/// journald's priorities folded into the five severities events carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Critical,
    Error,
    Warn,
    Info,
    Debug,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::Error,
        Severity::Warn,
        Severity::Info,
        Severity::Debug,
    ];

    /// 0–2 critical, 3 error, 4 warn, 5–6 info, 7 debug; an entry without one is info.
    pub fn from_priority(p: Option<u8>) -> Self {
        match p {
            Some(0..=2) => Severity::Critical,
            Some(3) => Severity::Error,
            Some(4) => Severity::Warn,
            Some(7) => Severity::Debug,
            _ => Severity::Info,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warn => "warn",
            Severity::Info => "info",
            Severity::Debug => "debug",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One journal entry, as much of it as an event needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub cursor: String,
    /// `__REALTIME_TIMESTAMP`: when journald received it, in microseconds since the epoch.
    pub realtime_us: i64,
    /// `PRIORITY`, when the entry has one.
    pub priority: Option<u8>,
    /// `SYSLOG_IDENTIFIER`, else `_COMM`.
    pub identifier: String,
    /// `_SYSTEMD_UNIT`: the unit that wrote it.
    pub unit: String,
    /// `UNIT`: the unit systemd writes about ("Started nginx.service." comes from init.scope).
    pub subject_unit: String,
    pub pid: u32,
    pub hostname: String,
    pub message: String,
    /// The message was longer than [`MAX_MESSAGE`] and was cut.
    pub truncated: bool,
}

impl Entry {
    pub fn severity(&self) -> Severity {
        Severity::from_priority(self.priority)
    }
}

/// A field's text: journald's JSON gives a string, an array of bytes for text that is not
/// UTF-8, or an array of values when a field occurs more than once (the first is taken).
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(Value::is_u64) => {
            let b: Vec<u8> = items
                .iter()
                .filter_map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            String::from_utf8_lossy(&b).into_owned()
        }
        Value::Array(items) => items.first().map(text_of).unwrap_or_default(),
        _ => String::new(),
    }
}

fn number(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Cuts `s` to at most `max` characters; true when it did.
pub fn cut(s: &mut String, max: usize) -> bool {
    match s.char_indices().nth(max) {
        Some((at, _)) => {
            s.truncate(at);
            s.push('…');
            true
        }
        None => false,
    }
}

/// One line of `journalctl --output=json`; `None` for anything that is not an entry with a
/// cursor (journalctl prints nothing else on stdout, but a cursor is what makes an entry
/// resumable, so one without is useless to a consumer).
pub fn parse(line: &[u8]) -> Option<Entry> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let cursor = v.get("__CURSOR")?.as_str()?.to_owned();
    let realtime_us = number(&v["__REALTIME_TIMESTAMP"]).and_then(|n| i64::try_from(n).ok())?;
    let mut message = text_of(&v["MESSAGE"]);
    let truncated = cut(&mut message, MAX_MESSAGE);
    let mut identifier = text_of(&v["SYSLOG_IDENTIFIER"]);
    if identifier.is_empty() {
        identifier = text_of(&v["_COMM"]);
    }
    Some(Entry {
        cursor,
        realtime_us,
        priority: number(&v["PRIORITY"]).and_then(|p| u8::try_from(p).ok()),
        identifier,
        unit: text_of(&v["_SYSTEMD_UNIT"]),
        subject_unit: text_of(&v["UNIT"]),
        pid: number(&v["_PID"])
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(0),
        hostname: text_of(&v["_HOSTNAME"]),
        message,
        truncated,
    })
}

/// What a consumer wants: entries of these severities (all when empty) whose identifier or
/// unit is in the lists (either matching passes; both empty pass everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    severities: BTreeSet<Severity>,
    identifiers: BTreeSet<String>,
    units: BTreeSet<String>,
}

impl Filter {
    /// Checks the lists: known severities, at most [`MAX_NAMES`] names each, identifiers of
    /// printable characters (at most 64), units as systemd names them (`nginx` means
    /// `nginx.service`).
    pub fn new(
        severities: &[String],
        identifiers: &[String],
        units: &[String],
    ) -> Result<Self, TelemetryError> {
        let invalid = |m: String| Err(TelemetryError::Invalid(m));
        if identifiers.len() > MAX_NAMES || units.len() > MAX_NAMES {
            return invalid(format!(
                "at most {MAX_NAMES} identifiers and {MAX_NAMES} units"
            ));
        }
        let mut f = Filter::default();
        for s in severities {
            match Severity::parse(s.trim()) {
                Some(v) => {
                    f.severities.insert(v);
                }
                None => {
                    return invalid(format!(
                        "unknown severity {s:?} (critical, error, warn, info or debug)"
                    ));
                }
            }
        }
        for i in identifiers {
            let i = i.trim();
            if i.is_empty() || i.chars().count() > 64 || i.chars().any(char::is_control) {
                return invalid(format!(
                    "identifier {i:?} must be 1 to 64 printable characters"
                ));
            }
            f.identifiers.insert(i.to_owned());
        }
        for u in units {
            let name =
                crate::inspect::unit_name(u).map_err(|e| TelemetryError::Invalid(e.to_string()))?;
            f.units.insert(name);
        }
        Ok(f)
    }

    pub fn passes(&self, e: &Entry) -> bool {
        if !self.severities.is_empty() && !self.severities.contains(&e.severity()) {
            return false;
        }
        if self.identifiers.is_empty() && self.units.is_empty() {
            return true;
        }
        self.identifiers.contains(&e.identifier)
            || self.units.contains(&e.unit)
            || self.units.contains(&e.subject_unit)
    }
}

/// A cursor as journald writes them (`s=…;i=…;b=…;m=…;t=…;x=…`): checked before it goes on
/// journalctl's command line, so that no option or other text can ride along.
pub fn check_cursor(c: &str) -> Result<(), TelemetryError> {
    let ok = !c.is_empty()
        && c.len() <= 512
        && c.starts_with("s=")
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'=' || b == b';');
    if ok {
        Ok(())
    } else {
        Err(TelemetryError::Invalid(
            "after_cursor is not a journal cursor (s=…;i=…;b=…;m=…;t=…;x=…)".into(),
        ))
    }
}

/// journalctl's arguments to read what was written after `after_cursor` (else since
/// `since_unix`), to the end of the journal. halbertd runs this again whenever it reaches the
/// end, rather than `journalctl --follow`: under halbertd's sandbox (ProtectKernelTunables= and
/// ProtectControlGroups=, systemd 252) a following journalctl printed nothing at all, not even
/// the entries before it started, while one that reads to the end works (both found in the
/// testbed). No match or `--priority` is passed either: with one, `--after-cursor` lands on the
/// first *matching* entry after the cursor and skips it as if it were the cursor's own, so the
/// filter is applied here, to every entry.
pub fn read_argv(after_cursor: Option<&str>, since_unix: i64) -> Vec<String> {
    let mut argv = vec![
        "journalctl".to_owned(),
        "--no-pager".to_owned(),
        "--quiet".to_owned(),
        "--output=json".to_owned(),
        format!("--output-fields={FIELDS}"),
    ];
    match after_cursor {
        Some(c) => argv.push(format!("--after-cursor={c}")),
        None => argv.push(format!("--since=@{since_unix}")),
    }
    argv
}

/// What the pump hands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Entry(Entry),
    /// `skipped` entries up to `cursor` did not pass the filter.
    Progress {
        cursor: String,
        skipped: u64,
    },
}

/// Why the pump stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PumpEnd {
    /// journalctl's output ended (it exited).
    Eof,
    /// The consumer went away.
    Closed,
    /// No line came for the restart interval: the caller starts journalctl again from
    /// [`Pump::cursor`].
    Idle,
}

/// What the pump saw, for the log line when a stream ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PumpCounts {
    pub passed: u64,
    pub filtered: u64,
    /// Lines over [`MAX_LINE`] or not an entry.
    pub unreadable: u64,
}

/// One line at a time, at most `max` bytes of it kept; a longer one is read to its end and
/// reported as such. Its state lives in the struct, so a read cut short by a timeout goes on
/// where it stopped.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
    /// The line being read is over `max`: the rest of it is dropped as it comes.
    overlong: bool,
    /// `buf` holds the line handed out last; the next read starts afresh.
    handed: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    Full(&'a [u8]),
    TooLong,
    Eof,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            max,
            overlong: false,
            handed: false,
        }
    }

    /// The next line without its newline. Cancel-safe: what was read stays in the reader.
    pub async fn next(&mut self) -> io::Result<Line<'_>> {
        if std::mem::take(&mut self.handed) {
            self.buf.clear();
        }
        loop {
            let chunk = self.inner.fill_buf().await?;
            let (n, done) = match chunk.iter().position(|&c| c == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            if n == 0 {
                // The end; a last line without a newline is still a line.
                if std::mem::take(&mut self.overlong) {
                    return Ok(Line::TooLong);
                }
                if self.buf.is_empty() {
                    return Ok(Line::Eof);
                }
                self.handed = true;
                return Ok(Line::Full(&self.buf));
            }
            let part = &chunk[..n - usize::from(done)];
            if !self.overlong {
                if self.buf.len() + part.len() > self.max {
                    self.overlong = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(part);
                }
            }
            self.inner.consume(n);
            if done {
                self.handed = true;
                if std::mem::take(&mut self.overlong) {
                    return Ok(Line::TooLong);
                }
                return Ok(Line::Full(&self.buf));
            }
        }
    }
}

/// Moves journalctl's output to a consumer; its state outlives one journalctl, so that a
/// restart resumes from [`Pump::cursor`] and progress marks count across it.
#[derive(Debug, Default)]
pub struct Pump {
    pub counts: PumpCounts,
    /// The cursor of the last entry read, passed or not: where a restart resumes.
    pub cursor: Option<String>,
    skipped: u64,
    skipped_cursor: String,
}

impl Pump {
    pub fn new(cursor: Option<String>) -> Self {
        Self {
            cursor,
            ..Self::default()
        }
    }

    /// Reads journalctl's output and sends what passes `filter` to `tx`, with a
    /// [`Item::Progress`] now and then for what did not. Waits on `tx` when it is full (the
    /// back-pressure); stops when the output ends, the receiver is gone, or no line came for
    /// `restart_after`.
    pub async fn run<R: AsyncBufRead + Unpin, E>(
        &mut self,
        reader: R,
        filter: &Filter,
        tx: &mpsc::Sender<Result<Item, E>>,
        restart_after: Duration,
    ) -> io::Result<PumpEnd> {
        let mut lines = LineReader::new(reader, MAX_LINE);
        loop {
            let line = tokio::select! {
                l = lines.next() => l?,
                _ = tx.closed() => return Ok(PumpEnd::Closed),
                _ = tokio::time::sleep(PROGRESS_IDLE), if self.skipped > 0 => {
                    let item = Item::Progress {
                        cursor: std::mem::take(&mut self.skipped_cursor),
                        skipped: std::mem::take(&mut self.skipped),
                    };
                    if tx.send(Ok(item)).await.is_err() {
                        return Ok(PumpEnd::Closed);
                    }
                    continue;
                }
                _ = tokio::time::sleep(restart_after) => return Ok(PumpEnd::Idle),
            };
            let entry = match line {
                Line::Eof => {
                    // The end of one read: say how far the filter got, for a resume.
                    if self.skipped > 0 {
                        let item = Item::Progress {
                            cursor: std::mem::take(&mut self.skipped_cursor),
                            skipped: std::mem::take(&mut self.skipped),
                        };
                        if tx.send(Ok(item)).await.is_err() {
                            return Ok(PumpEnd::Closed);
                        }
                    }
                    return Ok(PumpEnd::Eof);
                }
                Line::TooLong => {
                    self.counts.unreadable += 1;
                    continue;
                }
                Line::Full(l) => match parse(l) {
                    Some(e) => e,
                    None => {
                        self.counts.unreadable += 1;
                        continue;
                    }
                },
            };
            self.cursor = Some(entry.cursor.clone());
            let item = if filter.passes(&entry) {
                self.counts.passed += 1;
                self.skipped = 0;
                Item::Entry(entry)
            } else {
                self.counts.filtered += 1;
                self.skipped += 1;
                if self.skipped < PROGRESS_EVERY {
                    self.skipped_cursor = entry.cursor;
                    continue;
                }
                self.skipped = 0;
                Item::Progress {
                    cursor: entry.cursor,
                    skipped: PROGRESS_EVERY,
                }
            };
            if tx.send(Ok(item)).await.is_err() {
                return Ok(PumpEnd::Closed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    fn line(cursor: &str, prio: u8, ident: &str, unit: &str, msg: &str) -> String {
        serde_json::json!({
            "__CURSOR": cursor, "__REALTIME_TIMESTAMP": "1764350000123456",
            "__MONOTONIC_TIMESTAMP": "1", "PRIORITY": prio.to_string(),
            "SYSLOG_IDENTIFIER": ident, "_SYSTEMD_UNIT": unit, "_PID": "42",
            "_HOSTNAME": "tb", "MESSAGE": msg,
        })
        .to_string()
    }

    #[test]
    fn severities_follow_priorities() {
        let got: Vec<_> = [0, 1, 2, 3, 4, 5, 6, 7]
            .into_iter()
            .map(|p| Severity::from_priority(Some(p)).as_str())
            .collect();
        assert_eq!(
            got,
            [
                "critical", "critical", "critical", "error", "warn", "info", "info", "debug"
            ]
        );
        assert_eq!(Severity::from_priority(None), Severity::Info);
    }

    #[test]
    fn an_entry_carries_its_cursor_and_the_journals_time() {
        let e = parse(line("s=1;i=2", 3, "nginx", "nginx.service", "bind() failed").as_bytes())
            .expect("an entry");
        assert_eq!(e.cursor, "s=1;i=2");
        assert_eq!(e.realtime_us, 1_764_350_000_123_456);
        assert_eq!(e.severity(), Severity::Error);
        assert_eq!(
            (e.identifier.as_str(), e.unit.as_str()),
            ("nginx", "nginx.service")
        );
        assert_eq!((e.pid, e.hostname.as_str()), (42, "tb"));
        // Bytes for text that is not UTF-8; _COMM when there is no identifier; a repeated
        // field's first value.
        let b = parse(br#"{"__CURSOR":"s=9","__REALTIME_TIMESTAMP":"5","MESSAGE":[104,105,255],"_COMM":"x","UNIT":["a.service","b.service"]}"#).expect("an entry");
        assert_eq!(b.message, "hi\u{fffd}");
        assert_eq!(b.identifier, "x");
        assert_eq!(b.subject_unit, "a.service");
        assert_eq!(b.priority, None);
        // No cursor or no time: not an entry.
        assert!(parse(br#"{"__REALTIME_TIMESTAMP":"5","MESSAGE":"m"}"#).is_none());
        assert!(parse(br#"{"__CURSOR":"s=1","MESSAGE":"m"}"#).is_none());
        assert!(parse(b"not json").is_none());
        let long = parse(line("s=1", 6, "a", "", &"é".repeat(MAX_MESSAGE + 5)).as_bytes())
            .expect("an entry");
        assert!(long.truncated);
        assert_eq!(long.message.chars().count(), MAX_MESSAGE + 1);
    }

    #[test]
    fn either_list_passes_and_severities_narrow() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let e = |ident: &str, unit: &str, prio: u8| {
            parse(line("s=1", prio, ident, unit, "m").as_bytes()).expect("an entry")
        };
        let all = Filter::new(&[], &[], &[]).expect("valid");
        assert!(all.passes(&e("a", "", 7)));
        let f = Filter::new(&s(&["error", "warn"]), &s(&["sshd"]), &s(&["nginx"])).expect("valid");
        assert!(f.passes(&e("sshd", "ssh.service", 3)));
        assert!(f.passes(&e("other", "nginx.service", 4)));
        assert!(!f.passes(&e("sshd", "", 6)), "info is not wanted");
        assert!(
            !f.passes(&e("cron", "cron.service", 3)),
            "neither list names it"
        );
        // systemd's lines about a unit name it in UNIT.
        let mut about = e("systemd", "init.scope", 3);
        about.subject_unit = "nginx.service".into();
        assert!(f.passes(&about));
        assert!(Filter::new(&s(&["loud"]), &[], &[]).is_err());
        assert!(Filter::new(&[], &s(&["a\nb"]), &[]).is_err());
        assert!(Filter::new(&[], &[], &s(&["--all"])).is_err());
        assert!(Filter::new(&[], &s(&vec!["x"; MAX_NAMES + 1]), &[]).is_err());
    }

    #[test]
    fn only_a_cursors_shape_reaches_the_command_line() {
        let c = "s=6c1b2e;i=1a2;b=9f0e;m=3b9aca00;t=5f3e;x=4d2c";
        assert!(check_cursor(c).is_ok());
        for bad in [
            "",
            "--since=today",
            "s=1 --all",
            "s=1\n",
            "i=2",
            &"s".repeat(600),
        ] {
            assert!(check_cursor(bad).is_err(), "{bad:?}");
        }
        let argv = read_argv(Some(c), 5);
        assert!(argv.contains(&format!("--after-cursor={c}")));
        assert!(
            !argv.iter().any(|a| a.starts_with("--priority")
                || a == "--follow"
                || a.starts_with("--lines")),
            "see read_argv: {argv:?}"
        );
        let fresh = read_argv(None, 1_764_350_000);
        assert!(
            fresh.contains(&"--since=@1764350000".to_owned()),
            "{fresh:?}"
        );
    }

    #[tokio::test]
    async fn lines_are_bounded_and_a_read_cut_short_goes_on() {
        let data = format!("short\n{}\nlast", "x".repeat(100));
        let mut r = LineReader::new(data.as_bytes(), 50);
        assert_eq!(r.next().await.expect("read"), Line::Full(b"short"));
        assert_eq!(r.next().await.expect("read"), Line::TooLong);
        assert_eq!(r.next().await.expect("read"), Line::Full(b"last"));
        assert_eq!(r.next().await.expect("read"), Line::Eof);

        // A line arriving in two writes, the read in between abandoned by a timeout.
        let (mut w, rd) = tokio::io::duplex(64);
        let mut r = LineReader::new(tokio::io::BufReader::new(rd), 50);
        use tokio::io::AsyncWriteExt;
        w.write_all(b"hal").await.expect("write");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), r.next())
                .await
                .is_err()
        );
        w.write_all(b"bert\n").await.expect("write");
        assert_eq!(r.next().await.expect("read"), Line::Full(b"halbert"));
    }

    #[tokio::test]
    async fn the_pump_passes_entries_reports_progress_and_waits_for_its_consumer() {
        let mut out = String::new();
        out.push_str(&line("s=a", 3, "sshd", "", "wanted 1"));
        out.push('\n');
        for i in 0..PROGRESS_EVERY + 3 {
            out.push_str(&line(&format!("s=skip{i}"), 6, "noise", "", "x"));
            out.push('\n');
        }
        out.push_str("{\"no\":\"cursor\"}\n");
        out.push_str(&line("s=b", 3, "sshd", "", "wanted 2"));
        out.push('\n');
        let f = Filter::new(&[], &["sshd".into()], &[]).expect("valid");
        // A channel of one: the pump can only go on as fast as the consumer takes.
        let (tx, mut rx) = mpsc::channel::<Result<Item, ()>>(1);
        let data = out.clone();
        let task = tokio::spawn(async move {
            let mut p = Pump::new(None);
            let end = p.run(data.as_bytes(), &f, &tx, LONG).await;
            (end.expect("read"), p.counts, p.cursor)
        });
        let mut got = Vec::new();
        while let Some(item) = rx.recv().await {
            got.push(item.expect("an item"));
        }
        let (end, counts, cursor) = task.await.expect("joined");
        assert_eq!(
            cursor.as_deref(),
            Some("s=b"),
            "a restart resumes after the last entry read"
        );
        assert_eq!(end, PumpEnd::Eof);
        assert_eq!(counts.passed, 2);
        assert_eq!(counts.filtered, PROGRESS_EVERY + 3);
        assert_eq!(counts.unreadable, 1);
        assert!(matches!(&got[0], Item::Entry(e) if e.message == "wanted 1"));
        assert_eq!(
            got[1],
            Item::Progress {
                cursor: format!("s=skip{}", PROGRESS_EVERY - 1),
                skipped: PROGRESS_EVERY
            }
        );
        assert!(matches!(&got[2], Item::Entry(e) if e.message == "wanted 2"));
        assert_eq!(got.len(), 3);

        // A consumer that goes away stops the pump even while no line comes.
        let (_w, rd) = tokio::io::duplex(64);
        let (tx, rx) = mpsc::channel::<Result<Item, ()>>(1);
        drop(rx);
        let end = Pump::default()
            .run(tokio::io::BufReader::new(rd), &Filter::default(), &tx, LONG)
            .await
            .expect("read");
        assert_eq!(end, PumpEnd::Closed);
    }

    #[tokio::test]
    async fn a_quiet_journal_still_reports_how_far_the_filter_read() {
        let (mut w, rd) = tokio::io::duplex(4096);
        use tokio::io::AsyncWriteExt;
        w.write_all(format!("{}\n", line("s=n1", 6, "noise", "", "x")).as_bytes())
            .await
            .expect("write");
        let f = Filter::new(&[], &["sshd".into()], &[]).expect("valid");
        let (tx, mut rx) = mpsc::channel::<Result<Item, ()>>(4);
        let task = tokio::spawn(async move {
            let mut p = Pump::default();
            let end = p
                .run(
                    tokio::io::BufReader::new(rd),
                    &f,
                    &tx,
                    Duration::from_secs(3),
                )
                .await;
            (end.expect("read"), p.cursor)
        });
        let item = rx.recv().await.expect("an item").expect("not an error");
        assert_eq!(
            item,
            Item::Progress {
                cursor: "s=n1".into(),
                skipped: 1
            }
        );
        // Still nothing: journalctl is to be started again, after the last entry read.
        let (end, cursor) = task.await.expect("joined");
        assert_eq!(end, PumpEnd::Idle);
        assert_eq!(cursor.as_deref(), Some("s=n1"));
        drop(w);
    }
}
