//! Configuration files through the gate: reading (group `halbert` for what the caller could
//! read anyway, polkit `org.halbert.config.read` for the rest), writing and restoring (polkit
//! `org.halbert.config.write` with the path, refused in safe mode, audited with the old and new
//! SHA-256, the backup id and the size — never the content).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Acted, Engine, EngineError, Mutation, blocking, now};
use crate::files::{Access, FileView, Who, Written, backups::BackupMeta, policy};
use crate::gate::authz::{ACTION_CONFIG_READ, ACTION_CONFIG_WRITE};
use crate::peer::Caller;

/// Where cron keeps each user's crontab (Debian, Ubuntu).
const CRONTABS: &str = "/var/spool/cron/crontabs";
/// A crontab is a few lines.
const MAX_CRONTAB: u64 = 1 << 20;

fn who(c: &Caller) -> Who {
    Who {
        uid: c.uid,
        gid: c.gid,
        groups: c.groups.clone(),
    }
}

/// A file as read, and whether writing it needs more than the caller's own rights.
#[derive(Debug, Clone)]
pub struct FileRead {
    pub file: FileView,
    pub needs_sudo: bool,
}

impl Engine {
    pub async fn read_file(&self, caller: &Caller, path: &str) -> Result<FileRead, EngineError> {
        self.check_read(caller)?;
        let (files, p, w) = (self.files.clone(), path.to_owned(), who(caller));
        let (resolved, permits) = blocking(move || {
            files.resolve(&p, Access::Read).map(|r| {
                let permits = files.permits(&r, &w);
                (r, permits)
            })
        })
        .await??;
        if !permits.read {
            let details = BTreeMap::from([("path".to_owned(), resolved.display().to_string())]);
            self.authz
                .check_action(caller, ACTION_CONFIG_READ, &details)
                .await?;
        }
        let (files, p) = (self.files.clone(), resolved.display().to_string());
        let file = blocking(move || files.read(&p)).await??;
        Ok(FileRead {
            file,
            needs_sudo: !permits.write,
        })
    }

    /// The caller's own crontab (Debian's spool), and whether there is one.
    pub async fn read_crontab(&self, caller: &Caller) -> Result<(String, bool), EngineError> {
        self.check_read(caller)?;
        let name = crate::peer::user_name(caller.uid);
        if name.contains('/') || name.starts_with('.') {
            return Err(EngineError::InvalidArgument(format!(
                "no crontab for user {name:?}"
            )));
        }
        let path = self.root.path(format!("{CRONTABS}/{name}"));
        blocking(move || match std::fs::read(&path) {
            Ok(b) if b.len() as u64 > MAX_CRONTAB => Err(EngineError::TooLarge(format!(
                "the crontab is larger than {} KiB",
                MAX_CRONTAB >> 10
            ))),
            Ok(b) => String::from_utf8(b)
                .map(|s| (s, true))
                .map_err(|_| EngineError::NotText("the crontab is not UTF-8 text".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((String::new(), false)),
            Err(e) => Err(EngineError::Unavailable(format!(
                "the crontab cannot be read: {e}"
            ))),
        })
        .await?
    }

    pub async fn file_backups(
        &self,
        caller: &Caller,
        path: &str,
    ) -> Result<Vec<BackupMeta>, EngineError> {
        self.check_read(caller)?;
        let (files, p) = (self.files.clone(), path.to_owned());
        Ok(blocking(move || files.backups(&p)).await??)
    }

    /// Replaces a file; with `expected`, only if it is still at that version.
    pub async fn write_file(
        self: &Arc<Self>,
        caller: &Caller,
        path: &str,
        content: Vec<u8>,
        expected: Option<String>,
        request_id: &str,
    ) -> Result<Written, EngineError> {
        let compare = expected
            .clone()
            .unwrap_or_else(|| "none (unconditional)".into());
        let m = file_change(
            "Files.Write",
            "write_config",
            caller,
            request_id,
            path,
            [("size", content.len().to_string()), ("compare", compare)],
        );
        let p = path.to_owned();
        self.mutate(m, move |e: &Engine, uid| {
            let w = e.files.write(
                &p,
                &content,
                expected.as_deref(),
                "Manual save",
                uid,
                now().unix_timestamp(),
            )?;
            Ok(recorded(w, "wrote"))
        })
        .await
    }

    /// Writes backup `backup_id` of `path` back, after a backup of the current content;
    /// `reason`, when not empty, goes into the audit record.
    pub async fn restore_file(
        self: &Arc<Self>,
        caller: &Caller,
        path: &str,
        backup_id: &str,
        reason: &str,
        request_id: &str,
    ) -> Result<Written, EngineError> {
        let mut m = file_change(
            "Files.Restore",
            "restore_backup",
            caller,
            request_id,
            path,
            [("backup", backup_id.to_owned())],
        );
        if !reason.is_empty() {
            m.details.insert("reason".to_owned(), reason.to_owned());
        }
        let (p, id) = (path.to_owned(), backup_id.to_owned());
        self.mutate(m, move |e: &Engine, uid| {
            let w = e.files.restore(&p, &id, uid, now().unix_timestamp())?;
            Ok(recorded(w, "restored"))
        })
        .await
    }
}

/// A change of the file at `path` as the gate sees it: the system-wide policy's `tool` with the
/// path, polkit `org.halbert.config.write` with the path (and `extra`), refused in safe mode,
/// invalid when the path's syntax is.
fn file_change<'a, const N: usize>(
    rpc: &'static str,
    tool: &'static str,
    caller: &'a Caller,
    request_id: &'a str,
    path: &str,
    extra: [(&str, String); N],
) -> Mutation<'a> {
    let mut details = BTreeMap::from([("path".to_owned(), path.to_owned())]);
    details.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    Mutation {
        rpc,
        caller,
        request_id,
        action: ACTION_CONFIG_WRITE,
        invalid: policy::check_syntax(path).err().map(|e| e.to_string()),
        details,
        allowed_in_safe_mode: false,
        dry_run: false,
        tool: Some((
            tool,
            crate::gate::policy::Inputs {
                path: Some(path.to_owned()),
                name: None,
            },
        )),
    }
}

/// The outcome record of a write: what changed, by hash; the content stays out of the log.
fn recorded(w: Written, verb: &str) -> Acted<Written> {
    let summary = format!("{verb} {} ({} bytes)", w.path, w.size);
    let mut a = Acted::change(w.clone(), true, summary)
        .with("resolved", w.path.clone())
        .with("new_sha256", w.new_sha256.clone())
        .with("new_size", w.size.to_string());
    if let Some(old) = &w.old_sha256 {
        a = a.with("old_sha256", old.clone());
    }
    if let Some(b) = &w.backup {
        a = a.with("backup_id", b.backup_id.clone());
    }
    a
}
