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

use crate::statefile;

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

/// One mutation attempt, whatever its outcome.
#[derive(Debug, Clone)]
pub struct Entry {
    pub rpc: String,
    pub request_id: String,
    pub caller: CallerRef,
    pub action: Option<String>,
    pub details: BTreeMap<String, String>,
    /// `ok`, `unchanged`, `denied`, `refused` (safe mode) or `failed`.
    pub outcome: &'static str,
    pub error: Option<String>,
    pub summary: String,
}

impl Entry {
    fn ok(&self) -> bool {
        matches!(self.outcome, "ok" | "unchanged")
    }
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
struct Writer {
    last_hash: String,
    /// File name (day) and handle of the file being appended to.
    current: Option<(String, File)>,
}

/// The append side of the log. Appends are serialized by a mutex and never re-read old files.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    writer: Mutex<Writer>,
}

impl AuditLog {
    /// Opens (creating) the log directory and finds the hash to chain the next record to. A torn
    /// last line, from a crash during a write that was never acknowledged, is cut off.
    pub fn open(dir: &Path) -> Result<Self, AuditError> {
        statefile::ensure_private_dir(dir).map_err(io_err(dir))?;
        let mut last_hash = GENESIS.to_owned();
        for path in log_files(dir)?.iter().rev() {
            if let Some(h) = last_hash_of(path)? {
                last_hash = h;
                break;
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            writer: Mutex::new(Writer {
                last_hash,
                current: None,
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record and fsyncs it; returns its hash. Blocking: call it off the runtime.
    pub fn append(&self, e: &Entry, now: time::OffsetDateTime) -> Result<String, AuditError> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
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
        if w.current.as_ref().map(|(n, _)| n != &name).unwrap_or(true) {
            let path = self.dir.join(&name);
            let f = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&path)
                .map_err(io_err(&path))?;
            statefile::sync_dir(&self.dir).map_err(io_err(&self.dir))?;
            w.current = Some((name.clone(), f));
        }
        let ts = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| now.unix_timestamp().to_string());
        let mut rec = json!({
            "ts": ts,
            "tool": "halbertd",
            "mode": "apply",
            "request_id": e.request_id,
            "ok": e.ok(),
            "summary": e.summary,
            "rpc": e.rpc,
            "caller": {"uid": e.caller.uid, "pid": e.caller.pid, "comm": e.caller.comm},
            "action": e.action,
            "details": e.details,
            "outcome": e.outcome,
            "error": e.error,
            "prev_hash": w.last_hash,
        });
        let Value::Object(map) = &mut rec else {
            unreachable!("json! object")
        };
        let hash = record_hash(&w.last_hash, map);
        map.insert("hash".into(), Value::String(hash.clone()));
        map.insert("chain".into(), Value::String("sha256".into()));
        let mut line = rec.to_string();
        line.push('\n');
        let path = self.dir.join(&name);
        let Some((_, f)) = w.current.as_mut() else {
            unreachable!("opened above")
        };
        f.write_all(line.as_bytes()).map_err(io_err(&path))?;
        f.sync_data().map_err(io_err(&path))?;
        w.last_hash = hash.clone();
        Ok(hash)
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
}

/// Checks every record of every file, in order, and stops at the first broken one.
pub fn verify(dir: &Path) -> Result<Verification, AuditError> {
    let files = log_files(dir)?;
    let mut out = Verification {
        records: 0,
        files: files.len() as u32,
        last_hash: GENESIS.to_owned(),
        broken: None,
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
            out.last_hash = computed;
            out.records += 1;
        }
    }
    Ok(out)
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
            outcome: "ok",
            error: None,
            summary: summary.into(),
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
}
