//! The tamper-evident audit log: one JSON record per line in `<state>/audit/YYYY-MM-DD.jsonl`
//! (UTC day), every record hash-chained to the one before it across files and days.
//!
//! `hash = sha256_hex(prev_hash ‖ canonical_json(record without hash and chain))`, where the
//! canonical form is the earlier version's (sorted keys, `", "` and `": "` separators, non-ASCII
//! kept raw), so chains written by it stay checkable. The first record of the log has
//! [`GENESIS`] as `prev_hash`; the chain never restarts. Each append is fsync'd before the
//! caller is answered.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::host::statefile;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log I/O on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("audit log {path} ends in a record that cannot be read: {what}")]
    Corrupt { path: String, what: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Who asked, as the kernel reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerRef {
    pub uid: u32,
    pub pid: i32,
    pub comm: String,
}

/// What became of one mutation attempt, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The change was made.
    Ok,
    /// The request was fine and authorized, and there was nothing to change.
    Unchanged,
    /// polkit (or the read check) said no.
    Denied,
    /// Safe mode is on.
    Refused,
    /// The request itself was malformed; found before authorization.
    Invalid,
    /// The action ran and failed.
    Failed,
    /// Written, fsync'd, before an authorized action runs; its outcome record names it.
    Intent,
    /// Written at start-up for an intent that has no outcome (halbertd died while acting).
    Interrupted,
    /// How many refusals of one uid were not written one by one (see [`RefusalLimiter`]).
    Suppressed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Unchanged => "unchanged",
            Outcome::Denied => "denied",
            Outcome::Refused => "refused",
            Outcome::Invalid => "invalid",
            Outcome::Failed => "failed",
            Outcome::Intent => "intent",
            Outcome::Interrupted => "interrupted",
            Outcome::Suppressed => "suppressed",
        }
    }

    /// Refusals are what anyone who can reach the socket can cause at will; they are the ones
    /// rate-limited per uid.
    pub fn is_refusal(self) -> bool {
        matches!(self, Outcome::Denied | Outcome::Refused | Outcome::Invalid)
    }
}

/// One mutation attempt, whatever its outcome.
#[derive(Debug, Clone)]
pub struct Entry {
    pub rpc: String,
    pub request_id: String,
    pub caller: CallerRef,
    pub action: Option<String>,
    pub details: BTreeMap<String, String>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub summary: String,
    /// On the outcome of an authorized action: the hash of its intent record.
    pub intent: Option<String>,
}

impl Entry {
    fn ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok | Outcome::Unchanged)
    }
}

/// A detail value longer than this is not kept; its SHA-256 and length are, so the record
/// still identifies what was asked without letting a caller write megabytes into root's log.
pub const MAX_DETAIL_BYTES: usize = 256;
/// Details beyond this many are dropped (and counted in `_dropped_details`).
pub const MAX_DETAILS: usize = 16;
/// `summary` and `error` are cut to this many bytes.
pub const MAX_TEXT_BYTES: usize = 1024;
/// No record line is longer than this; one that would be loses its details (kept as a hash).
pub const MAX_RECORD_BYTES: usize = 8192;
/// Space set aside in the audit directory for the records that matter when the disk fills
/// up: it is released on the first "no space" error, so that entering safe mode and its
/// record still succeed on a full disk.
pub const RESERVE_BYTES: u64 = 256 << 10;
const RESERVE_NAME: &str = ".reserve";

/// `value` if it is short enough, else a stand-in naming its hash and length.
pub fn cap_value(value: &str) -> String {
    if value.len() <= MAX_DETAIL_BYTES {
        return value.to_owned();
    }
    format!(
        "sha256:{} ({} bytes, not kept)",
        hex::encode(Sha256::digest(value.as_bytes())),
        value.len()
    )
}

/// The details as they may be used for authorization and the record: at most
/// [`MAX_DETAILS`] entries, every key and value capped.
pub fn cap_details(details: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let total = details.len();
    let mut out: BTreeMap<String, String> = details
        .into_iter()
        .take(MAX_DETAILS)
        .map(|(k, v)| (cap_text(&k, 64), cap_value(&v)))
        .collect();
    if total > MAX_DETAILS {
        out.insert("_dropped_details".into(), (total - MAX_DETAILS).to_string());
    }
    out
}

/// `s` cut to at most `max` bytes on a character boundary, marked with `…` when cut.
pub fn cap_text(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Canonical JSON as Python's `json.dumps(sort_keys=True, ensure_ascii=False)` writes it.
/// Records hold no floats, whose text forms differ between languages.
pub fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            out.push('{');
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                canonical_json(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                canonical_json(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The hash of a record (its `hash` and `chain` fields are ignored).
pub fn record_hash(prev_hash: &str, record: &Map<String, Value>) -> String {
    let mut body = record.clone();
    body.remove("hash");
    body.remove("chain");
    let mut canon = String::new();
    canonical_json(&Value::Object(body), &mut canon);
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canon.as_bytes());
    hex::encode(h.finalize())
}

fn is_log_file(name: &str) -> bool {
    name.len() == "YYYY-MM-DD.jsonl".len()
        && name.ends_with(".jsonl")
        && name[..10].bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

/// The log files in chain order (their names sort chronologically).
pub fn log_files(dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| is_log_file(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    v.sort();
    Ok(v)
}

#[derive(Debug)]
struct Open {
    name: String,
    file: File,
    /// Length of the file up to the end of its last complete, fsync'd record.
    good: u64,
}

#[derive(Debug)]
struct Writer {
    last_hash: String,
    /// The day file being appended to.
    current: Option<Open>,
    /// Whether the reserve file is still there to be given up.
    reserve: bool,
}

/// An intent whose outcome was never written: halbertd stopped while acting.
#[derive(Debug, Clone)]
pub struct Dangling {
    pub hash: String,
    pub entry: Entry,
}

/// The append side of the log. Appends are serialized by a mutex and never re-read old files.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    writer: Mutex<Writer>,
    dangling: Mutex<Vec<Dangling>>,
}

impl AuditLog {
    /// Opens (creating) the log directory and finds the hash to chain the next record to. A torn
    /// last line, from a crash during a write that was never acknowledged, is cut off. Intents
    /// without an outcome are kept for [`AuditLog::take_dangling`].
    pub fn open(dir: &Path) -> Result<Self, AuditError> {
        statefile::ensure_private_dir(dir).map_err(io_err(dir))?;
        let files = log_files(dir)?;
        let mut last_hash = GENESIS.to_owned();
        for path in files.iter().rev() {
            if let Some(h) = last_hash_of(path)? {
                last_hash = h;
                break;
            }
        }
        // An interrupted action's intent is in the newest file, or the one before it when
        // the day turned while it ran.
        let tail = &files[files.len().saturating_sub(2)..];
        let dangling = dangling_intents(tail)?;
        let reserve = make_reserve(dir);
        Ok(Self {
            dir: dir.to_owned(),
            writer: Mutex::new(Writer {
                last_hash,
                current: None,
                reserve,
            }),
            dangling: Mutex::new(dangling),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The intents found at open that have no outcome yet (each returned once).
    pub fn take_dangling(&self) -> Vec<Dangling> {
        std::mem::take(&mut *self.dangling.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Appends one record and fsyncs it; returns its hash. Blocking: call it off the runtime.
    ///
    /// A failed write or fsync is undone (the file is cut back to its last good record), so
    /// the chain never holds a torn record, whatever the disk does. On "no space left" the
    /// reserve is given up once and the write tried again.
    pub fn append(&self, e: &Entry, now: time::OffsetDateTime) -> Result<String, AuditError> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        match self.append_locked(&mut w, e, now) {
            Err(AuditError::Io { source, .. })
                if source.raw_os_error() == Some(libc::ENOSPC) && w.reserve =>
            {
                w.reserve = false;
                let _ = std::fs::remove_file(self.dir.join(RESERVE_NAME));
                tracing::error!(dir = %self.dir.display(), "the audit log's disk is full: its reserve is released so that records (and safe mode) still work; free space soon");
                self.append_locked(&mut w, e, now)
            }
            other => other,
        }
    }

    fn append_locked(
        &self,
        w: &mut Writer,
        e: &Entry,
        now: time::OffsetDateTime,
    ) -> Result<String, AuditError> {
        let today = format!(
            "{:04}-{:02}-{:02}.jsonl",
            now.year(),
            u8::from(now.month()),
            now.day()
        );
        // If the clock went back, keep appending to the newest file so that file order stays
        // chain order.
        let newest = log_files(&self.dir)?
            .last()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        let name = match newest {
            Some(n) if n > today => n,
            _ => today,
        };
        if w.current.as_ref().is_none_or(|o| o.name != name) {
            let path = self.dir.join(&name);
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&path)
                .map_err(io_err(&path))?;
            let good = file.metadata().map_err(io_err(&path))?.len();
            statefile::sync_dir(&self.dir).map_err(io_err(&self.dir))?;
            w.current = Some(Open { name, file, good });
        }
        let line = render(e, &w.last_hash, now);
        let Some(open) = w.current.as_mut() else {
            unreachable!("opened above")
        };
        let path = self.dir.join(&open.name);
        let written = open
            .file
            .write_all(line.text.as_bytes())
            .and_then(|()| open.file.sync_data());
        if let Err(source) = written {
            // Cut back to the last good record. If even that fails, forget the handle: the
            // next append reopens the file and starts from its length then, and start-up
            // cuts a torn tail.
            let undone = open
                .file
                .set_len(open.good)
                .and_then(|()| open.file.sync_data());
            if let Err(e2) = undone {
                tracing::error!(file = %path.display(), error = %e2, "cannot cut a failed audit write back");
                w.current = None;
            }
            return Err(AuditError::Io {
                path: path.display().to_string(),
                source,
            });
        }
        open.good += line.text.len() as u64;
        w.last_hash = line.hash.clone();
        // The journal keeps a copy of every new head outside the files root can rewrite, so
        // `audit verify` notices records cut off the end.
        tracing::info!(
            audit_event = "head",
            audit_dir = %self.dir.display(),
            audit_head = %line.hash,
            audit_file = %open.name,
            "audit record appended"
        );
        Ok(line.hash)
    }
}

struct Line {
    text: String,
    hash: String,
}

/// The record line for `e`, chained to `prev`, never longer than [`MAX_RECORD_BYTES`].
fn render(e: &Entry, prev: &str, now: time::OffsetDateTime) -> Line {
    let ts = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    let build = |details: &BTreeMap<String, String>| {
        let mut rec = json!({
            "ts": ts,
            "tool": "halbertd",
            "mode": "apply",
            "request_id": cap_text(&e.request_id, 128),
            "ok": e.ok(),
            "summary": cap_text(&e.summary, MAX_TEXT_BYTES),
            "rpc": cap_text(&e.rpc, 128),
            "caller": {"uid": e.caller.uid, "pid": e.caller.pid, "comm": cap_text(&e.caller.comm, 64)},
            "action": e.action.as_deref().map(|a| cap_text(a, 128)),
            "details": details,
            "outcome": e.outcome.as_str(),
            "error": e.error.as_deref().map(|t| cap_text(t, MAX_TEXT_BYTES)),
            "prev_hash": prev,
        });
        let Value::Object(map) = &mut rec else {
            unreachable!("json! object")
        };
        if let Some(i) = &e.intent {
            map.insert("intent".into(), Value::String(i.clone()));
        }
        let hash = record_hash(prev, map);
        map.insert("hash".into(), Value::String(hash.clone()));
        map.insert("chain".into(), Value::String("sha256".into()));
        let mut text = rec.to_string();
        text.push('\n');
        Line { text, hash }
    };
    let line = build(&cap_details(e.details.clone()));
    if line.text.len() <= MAX_RECORD_BYTES {
        return line;
    }
    let all = serde_json::to_string(&e.details).unwrap_or_default();
    build(&BTreeMap::from([("_details".to_owned(), cap_value(&all))]))
}

/// Creates the reserve file if it is missing; `false` when there is no room for it.
fn make_reserve(dir: &Path) -> bool {
    let path = dir.join(RESERVE_NAME);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= RESERVE_BYTES) {
        return true;
    }
    let made = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        // Real blocks, not a sparse file: the point is that the space is taken.
        let zeros = vec![0u8; 64 << 10];
        for _ in 0..RESERVE_BYTES / zeros.len() as u64 {
            f.write_all(&zeros)?;
        }
        f.sync_all()
    })();
    if let Err(e) = made {
        let _ = std::fs::remove_file(&path);
        tracing::warn!(dir = %dir.display(), error = %e, "no room for the audit log's reserve");
        return false;
    }
    true
}

/// Intents in `files` that no later record in them names as its `intent`.
fn dangling_intents(files: &[PathBuf]) -> Result<Vec<Dangling>, AuditError> {
    let mut open: Vec<Dangling> = Vec::new();
    for path in files {
        let f = File::open(path).map_err(io_err(path))?;
        for line in BufReader::new(f).split(b'\n') {
            let line = line.map_err(io_err(path))?;
            let Ok(Value::Object(rec)) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let text = |k: &str| rec.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            if let Some(i) = rec.get("intent").and_then(Value::as_str) {
                open.retain(|d| d.hash != i);
            }
            if text("outcome") != "intent" {
                continue;
            }
            let caller = &rec["caller"];
            let details = rec
                .get("details")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            open.push(Dangling {
                hash: text("hash"),
                entry: Entry {
                    rpc: text("rpc"),
                    request_id: text("request_id"),
                    caller: CallerRef {
                        uid: caller["uid"].as_u64().unwrap_or(u64::from(u32::MAX)) as u32,
                        pid: caller["pid"].as_i64().unwrap_or(0) as i32,
                        comm: caller["comm"].as_str().unwrap_or("").to_owned(),
                    },
                    action: rec.get("action").and_then(Value::as_str).map(str::to_owned),
                    details,
                    outcome: Outcome::Intent,
                    error: None,
                    summary: text("summary"),
                    intent: None,
                },
            });
        }
    }
    Ok(open)
}

/// Refusals (denied, refused, invalid) per uid: a token bucket of [`RefusalLimiter::BURST`]
/// records refilled at [`RefusalLimiter::PER_SECOND`]. What it holds back is counted and
/// written as one `suppressed` record per uid, so the log says how much was left out.
#[derive(Debug, Default)]
pub struct RefusalLimiter {
    uids: Mutex<std::collections::HashMap<u32, Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: std::time::Instant,
    held: Held,
}

/// What the limiter held back for one uid since its last summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    pub count: u64,
    pub by_outcome: BTreeMap<&'static str, u64>,
    pub first_unix: i64,
    pub last_unix: i64,
}

impl RefusalLimiter {
    pub const BURST: f64 = 20.0;
    pub const PER_SECOND: f64 = 1.0;
    /// Buckets kept at most; full ones are forgotten first (they hold nothing back).
    const MAX_UIDS: usize = 4096;

    /// `Ok(held)` when a refusal of `uid` may be written now, with what was held back before
    /// it (write that summary first); `Err(())` when it is to be counted instead.
    #[allow(clippy::result_unit_err)]
    pub fn admit(
        &self,
        uid: u32,
        outcome: Outcome,
        now_unix: i64,
        now: std::time::Instant,
    ) -> Result<Option<Held>, ()> {
        let mut map = self.uids.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::MAX_UIDS && !map.contains_key(&uid) {
            map.retain(|_, b| b.held.count > 0);
        }
        let b = map.entry(uid).or_insert(Bucket {
            tokens: Self::BURST,
            at: now,
            held: Held::default(),
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * Self::PER_SECOND).min(Self::BURST);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            let held = std::mem::take(&mut b.held);
            return Ok((held.count > 0).then_some(held));
        }
        let h = &mut b.held;
        if h.count == 0 {
            h.first_unix = now_unix;
        }
        h.count += 1;
        h.last_unix = now_unix;
        *h.by_outcome.entry(outcome.as_str()).or_default() += 1;
        Err(())
    }

    /// Everything held back so far, per uid (for a periodic summary and at shutdown).
    pub fn take_all(&self) -> Vec<(u32, Held)> {
        let mut map = self.uids.lock().unwrap_or_else(|p| p.into_inner());
        map.iter_mut()
            .filter(|(_, b)| b.held.count > 0)
            .map(|(uid, b)| (*uid, std::mem::take(&mut b.held)))
            .collect()
    }
}

/// The record saying how many refusals of `uid` were held back.
pub fn suppressed_entry(uid: u32, held: &Held) -> Entry {
    let outcomes = held
        .by_outcome
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    Entry {
        rpc: "Audit.RateLimit".into(),
        request_id: String::new(),
        caller: CallerRef {
            uid,
            pid: 0,
            comm: String::new(),
        },
        action: None,
        details: BTreeMap::from([
            ("count".into(), held.count.to_string()),
            ("outcomes".into(), outcomes),
            ("first_unix".into(), held.first_unix.to_string()),
            ("last_unix".into(), held.last_unix.to_string()),
        ]),
        outcome: Outcome::Suppressed,
        error: None,
        summary: format!(
            "{} refused requests of uid {uid} were not recorded one by one (rate limit)",
            held.count
        ),
        intent: None,
    }
}

/// The hash of the last complete record of `path`, cutting off a torn tail first.
fn last_hash_of(path: &Path) -> Result<Option<String>, AuditError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => 0,
    };
    if complete < bytes.len() {
        tracing::warn!(file = %path.display(), bytes = bytes.len() - complete, "cutting off a torn, unacknowledged audit record");
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        f.set_len(complete as u64).map_err(io_err(path))?;
        f.sync_all().map_err(io_err(path))?;
    }
    let Some(last) = bytes[..complete]
        .split(|&b| b == b'\n')
        .rfind(|l| !l.is_empty())
    else {
        return Ok(None);
    };
    let v: Value = serde_json::from_slice(last).map_err(|e| AuditError::Corrupt {
        path: path.display().to_string(),
        what: e.to_string(),
    })?;
    match v.get("hash").and_then(Value::as_str) {
        Some(h) => Ok(Some(h.to_owned())),
        None => Err(AuditError::Corrupt {
            path: path.display().to_string(),
            what: "last record has no hash".into(),
        }),
    }
}

/// Where and why a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub file: PathBuf,
    /// 1-based line in `file`.
    pub line: u64,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub records: u64,
    pub files: u32,
    pub last_hash: String,
    pub broken: Option<Break>,
    /// The head the journal saw last, and whether the chain holds it.
    pub anchor: Option<(String, bool)>,
}

/// Checks every record of every file, in order, and stops at the first broken one.
pub fn verify(dir: &Path) -> Result<Verification, AuditError> {
    verify_anchored(dir, None)
}

/// As [`verify`], and also whether a record with hash `anchor` (the newest head the journal
/// saw) is in the chain: if it is not, records were cut off the end or the log was replaced,
/// which the chain alone cannot show.
pub fn verify_anchored(dir: &Path, anchor: Option<&str>) -> Result<Verification, AuditError> {
    let mut out = verify_chain(dir, anchor)?;
    if let Some((head, false)) = &out.anchor
        && out.broken.is_none()
    {
        out.broken = Some(Break {
            file: log_files(dir)?
                .last()
                .cloned()
                .unwrap_or_else(|| dir.to_owned()),
            line: 0,
            problem: format!(
                "the journal recorded head {head}, which is not in the log: records were removed from its end or the log was replaced (the log ends at {})",
                out.last_hash
            ),
        });
    }
    Ok(out)
}

fn verify_chain(dir: &Path, anchor: Option<&str>) -> Result<Verification, AuditError> {
    let files = log_files(dir)?;
    let mut out = Verification {
        records: 0,
        files: files.len() as u32,
        last_hash: GENESIS.to_owned(),
        broken: None,
        anchor: anchor.map(|a| (a.to_owned(), false)),
    };
    for path in &files {
        let f = File::open(path).map_err(io_err(path))?;
        let mut reader = BufReader::new(f);
        let mut buf = Vec::new();
        let mut lineno = 0u64;
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(io_err(path))?;
            if n == 0 {
                break;
            }
            lineno += 1;
            let fail = |problem: String| Break {
                file: path.clone(),
                line: lineno,
                problem,
            };
            if buf.last() != Some(&b'\n') {
                out.broken = Some(fail(
                    "record is not terminated by a newline (torn write)".into(),
                ));
                return Ok(out);
            }
            let rec: Map<String, Value> = match serde_json::from_slice(&buf) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    out.broken = Some(fail("record is not a JSON object".into()));
                    return Ok(out);
                }
                Err(e) => {
                    out.broken = Some(fail(format!("record is not valid JSON ({e})")));
                    return Ok(out);
                }
            };
            let prev = rec.get("prev_hash").and_then(Value::as_str).unwrap_or("");
            if prev != out.last_hash {
                out.broken = Some(fail(format!(
                    "prev_hash {prev:?} does not match the previous record's hash {:?}",
                    out.last_hash
                )));
                return Ok(out);
            }
            let stored = rec.get("hash").and_then(Value::as_str).unwrap_or("");
            let computed = record_hash(prev, &rec);
            if stored != computed {
                out.broken = Some(fail(format!(
                    "hash mismatch: stored {stored:?}, content hashes to {computed:?}"
                )));
                return Ok(out);
            }
            if let Some((a, found)) = out.anchor.as_mut()
                && *a == computed
            {
                *found = true;
            }
            out.last_hash = computed;
            out.records += 1;
        }
    }
    Ok(out)
}

/// The newest head of the log in `dir` that halbertd logged to the journal, if there is a
/// journal holding one. `dir` is matched as halbertd names it (`<state dir>/audit`).
pub async fn journal_head(dir: &Path) -> Option<String> {
    let dir_match = format!("HALBERT_AUDIT_DIR={}", dir.display());
    let out = crate::exec::run(
        &[
            "journalctl",
            "--no-pager",
            "--quiet",
            "--output=json",
            "--lines=1",
            "--output-fields=HALBERT_AUDIT_HEAD",
            "HALBERT_AUDIT_EVENT=head",
            &dir_match,
        ],
        crate::exec::Limits {
            timeout: std::time::Duration::from_secs(30),
            max_output: 64 << 10,
        },
    )
    .await
    .ok()?;
    if !out.success() {
        return None;
    }
    let text = out.stdout_text();
    let line = text.lines().rfind(|l| !l.trim().is_empty())?;
    let v: Value = serde_json::from_str(line).ok()?;
    let head = v.get("HALBERT_AUDIT_HEAD")?.as_str()?;
    (head.len() == 64 && head.bytes().all(|b| b.is_ascii_hexdigit())).then(|| head.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn entry(uid: u32, summary: &str) -> Entry {
        Entry {
            rpc: "Guardrails.EnterSafeMode".into(),
            request_id: format!("req-{summary}"),
            caller: CallerRef {
                uid,
                pid: 42,
                comm: "halbert-web".into(),
            },
            action: Some("org.halbert.guardrails.manage".into()),
            details: BTreeMap::from([("reason".into(), "disk ümlaut".into())]),
            outcome: Outcome::Ok,
            error: None,
            summary: summary.into(),
            intent: None,
        }
    }

    #[test]
    fn canonical_form_matches_python() {
        // json.dumps({"b": [1, "é"], "a": {"z": None, "y": True}}, sort_keys=True, ensure_ascii=False)
        let v = json!({"b": [1, "é"], "a": {"z": null, "y": true}});
        let mut s = String::new();
        canonical_json(&v, &mut s);
        assert_eq!(s, r#"{"a": {"y": true, "z": null}, "b": [1, "é"]}"#);
    }

    #[test]
    fn chain_spans_days_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(dir.path()).expect("open");
        log.append(&entry(1000, "one"), datetime!(2026-11-27 23:59:59 UTC))
            .expect("append");
        log.append(&entry(1001, "two"), datetime!(2026-11-28 00:00:01 UTC))
            .expect("append");
        drop(log);
        let log = AuditLog::open(dir.path()).expect("reopen");
        let h3 = log
            .append(&entry(0, "three"), datetime!(2026-11-28 00:00:02 UTC))
            .expect("append");
        let v = verify(dir.path()).expect("verify");
        assert_eq!((v.records, v.files, v.broken.clone()), (3, 2, None));
        assert_eq!(v.last_hash, h3);
        let second_day =
            std::fs::read_to_string(dir.path().join("2026-11-28.jsonl")).expect("read");
        let first: Value =
            serde_json::from_str(second_day.lines().next().expect("line")).expect("json");
        assert_ne!(
            first["prev_hash"], GENESIS,
            "the chain must not restart on a new day"
        );
    }

    #[test]
    fn one_flipped_byte_is_found_at_its_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(dir.path()).expect("open");
        for s in ["alpha", "bravo", "charlie"] {
            log.append(&entry(1000, s), datetime!(2026-11-28 10:00:00 UTC))
                .expect("append");
        }
        let path = dir.path().join("2026-11-28.jsonl");
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replacen("bravo", "brava", 1)).expect("write");
        let v = verify(dir.path()).expect("verify");
        let b = v.broken.expect("must be broken");
        assert_eq!((b.line, v.records), (2, 1));
        assert!(b.problem.contains("hash mismatch"), "{}", b.problem);
    }

    #[test]
    fn torn_tail_is_cut_and_chain_continues() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(dir.path()).expect("open");
        log.append(&entry(1, "a"), datetime!(2026-11-28 10:00:00 UTC))
            .expect("append");
        drop(log);
        let path = dir.path().join("2026-11-28.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"{\"ts\": \"torn").expect("write");
        drop(f);
        assert!(verify(dir.path()).expect("verify").broken.is_some());
        let log = AuditLog::open(dir.path()).expect("reopen");
        log.append(&entry(1, "b"), datetime!(2026-11-28 10:00:01 UTC))
            .expect("append");
        let v = verify(dir.path()).expect("verify");
        assert_eq!((v.records, v.broken), (2, None));
    }

    fn lines(dir: &Path) -> Vec<Value> {
        log_files(dir)
            .expect("files")
            .iter()
            .flat_map(|p| {
                std::fs::read_to_string(p)
                    .expect("read")
                    .lines()
                    .map(|l| serde_json::from_str(l).expect("json"))
                    .collect::<Vec<Value>>()
            })
            .collect()
    }

    #[test]
    fn an_oversized_detail_is_kept_as_its_hash_and_the_record_stays_small() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(dir.path()).expect("open");
        let huge = "A".repeat(2 << 20);
        let mut e = entry(1000, "flood");
        e.details = cap_details(BTreeMap::from([("reason".into(), huge.clone())]));
        e.error = Some("x".repeat(100_000));
        e.summary = "é".repeat(100_000);
        log.append(&e, datetime!(2026-11-28 10:00:00 UTC))
            .expect("append");
        let size = std::fs::metadata(dir.path().join("2026-11-28.jsonl"))
            .expect("meta")
            .len();
        assert!(size <= MAX_RECORD_BYTES as u64, "record is {size} bytes");
        let rec = &lines(dir.path())[0];
        let want = format!(
            "sha256:{} ({} bytes, not kept)",
            hex::encode(Sha256::digest(huge.as_bytes())),
            huge.len()
        );
        assert_eq!(rec["details"]["reason"], want.as_str());
        assert!(rec["summary"].as_str().expect("summary").ends_with('…'));
        assert_eq!(verify(dir.path()).expect("verify").broken, None);
        // Capped details that JSON escaping blows up (a control character is six bytes) would
        // not fit: then the details are kept as one hash.
        let mut many = entry(1000, "many");
        many.details = cap_details(
            (0..200)
                .map(|i| (format!("k{i:03}"), "\u{1}".repeat(256)))
                .collect(),
        );
        log.append(&many, datetime!(2026-11-28 10:00:01 UTC))
            .expect("append");
        let recs = lines(dir.path());
        let d = recs[1]["details"].as_object().expect("details");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d["_details"].as_str().expect("hash").starts_with("sha256:"));
        assert!(
            std::fs::metadata(dir.path().join("2026-11-28.jsonl"))
                .expect("meta")
                .len()
                <= 2 * MAX_RECORD_BYTES as u64
        );
    }

    #[test]
    fn cap_details_limits_count_and_length() {
        let d = cap_details(
            (0..40)
                .map(|i| (format!("{i:02}"), "x".repeat(i * 20)))
                .collect(),
        );
        assert_eq!(d.len(), MAX_DETAILS + 1);
        assert_eq!(d["_dropped_details"], "24");
        assert!(d.values().all(|v| v.len() <= MAX_DETAIL_BYTES));
        assert_eq!(d["12"], "x".repeat(240));
        assert!(d["13"].starts_with("sha256:") && d["13"].ends_with("(260 bytes, not kept)"));
        assert_eq!(cap_value("short"), "short");
    }

    #[test]
    fn an_intent_without_outcome_is_found_at_open_and_only_then() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(dir.path()).expect("open");
        let mut i1 = entry(1000, "first starting");
        i1.outcome = Outcome::Intent;
        let h1 = log
            .append(&i1, datetime!(2026-11-28 23:59:59 UTC))
            .expect("append");
        let mut i2 = entry(1001, "second starting");
        i2.outcome = Outcome::Intent;
        let h2 = log
            .append(&i2, datetime!(2026-11-29 00:00:01 UTC))
            .expect("append");
        // The second action finished (in the next day's file); the first never did.
        let mut done = entry(1001, "second done");
        done.intent = Some(h2);
        log.append(&done, datetime!(2026-11-29 00:00:02 UTC))
            .expect("append");
        assert!(
            log.take_dangling().is_empty(),
            "nothing dangles in a running log"
        );
        drop(log);
        let log = AuditLog::open(dir.path()).expect("reopen");
        let d = log.take_dangling();
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].hash.as_str(), d[0].entry.caller.uid),
            (h1.as_str(), 1000)
        );
        assert_eq!(d[0].entry.details["reason"], "disk ümlaut");
        assert!(log.take_dangling().is_empty(), "handed out once");
        let mut closed = d[0].entry.clone();
        closed.outcome = Outcome::Interrupted;
        closed.intent = Some(d[0].hash.clone());
        log.append(&closed, datetime!(2026-11-29 00:00:03 UTC))
            .expect("append");
        drop(log);
        assert!(
            AuditLog::open(dir.path())
                .expect("reopen")
                .take_dangling()
                .is_empty()
        );
        assert_eq!(verify(dir.path()).expect("verify").broken, None);
    }

    #[test]
    fn records_cut_off_the_end_are_found_with_the_journal_anchor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::open(dir.path()).expect("open");
        let mut hashes = Vec::new();
        for s in ["alpha", "bravo", "charlie"] {
            hashes.push(
                log.append(&entry(1000, s), datetime!(2026-11-28 10:00:00 UTC))
                    .expect("append"),
            );
        }
        let v = verify_anchored(dir.path(), Some(&hashes[2])).expect("verify");
        assert_eq!(
            (v.broken, v.anchor),
            (None, Some((hashes[2].clone(), true)))
        );
        // Cutting the newest record leaves a valid chain; only the anchor shows the loss.
        let path = dir.path().join("2026-11-28.jsonl");
        let text = std::fs::read_to_string(&path).expect("read");
        let kept: Vec<&str> = text.lines().take(2).collect();
        std::fs::write(&path, format!("{}\n", kept.join("\n"))).expect("write");
        assert_eq!(verify(dir.path()).expect("verify").broken, None);
        let v = verify_anchored(dir.path(), Some(&hashes[2])).expect("verify");
        let b = v.broken.expect("the cut must be found");
        assert!(
            b.problem.contains(&hashes[2]) && b.problem.contains("journal"),
            "{}",
            b.problem
        );
    }

    #[test]
    fn refusals_are_limited_per_uid_and_counted() {
        let l = RefusalLimiter::default();
        let t0 = std::time::Instant::now();
        let burst = RefusalLimiter::BURST as usize;
        for _ in 0..burst {
            assert_eq!(l.admit(7, Outcome::Denied, 100, t0), Ok(None));
        }
        for _ in 0..50 {
            assert_eq!(l.admit(7, Outcome::Denied, 101, t0), Err(()));
        }
        assert_eq!(l.admit(7, Outcome::Invalid, 102, t0), Err(()));
        // Another uid has its own bucket.
        assert_eq!(l.admit(8, Outcome::Denied, 102, t0), Ok(None));
        let later = t0 + std::time::Duration::from_secs(2);
        let held = l
            .admit(7, Outcome::Denied, 103, later)
            .expect("refilled")
            .expect("held back");
        assert_eq!(
            (held.count, held.first_unix, held.last_unix),
            (51, 101, 102)
        );
        assert_eq!(held.by_outcome["denied"], 50);
        assert_eq!(held.by_outcome["invalid"], 1);
        assert!(l.take_all().is_empty());
        let e = suppressed_entry(7, &held);
        assert_eq!(
            (e.outcome, e.details["count"].as_str()),
            (Outcome::Suppressed, "51")
        );
    }
}
