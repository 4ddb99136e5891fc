//! `/api/editor/*`: configuration files through halbertd's Files service — read with a
//! version, write with compare-and-swap and a backup, list and restore backups. Writes and
//! restores go through [`crate::actions::perform`].

use axum::extract::State;
use axum::{Extension, Json};
use halbert_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson, ApiQuery, AppState, ErrorBody, RequestId};
use crate::actions::{Action, perform};
use crate::bounds::{self, Bounded, Kind};
use crate::time::iso8601;

/// The most characters a file written through the API may have (halbertd takes up to 4 MiB;
/// the request body limit of 2 MiB bounds what a request can carry).
pub const MAX_CONTENT_CHARS: usize = 524_288;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// An absolute path, e.g. `/etc/samba/smb.conf`.
    #[param(
        max_length = 4096,
        pattern = r"^(/(?!\.\.?(/|$))[^/\u0000-\u001F\u007F-\u009F]{1,255})+$"
    )]
    pub path: String,
}

pub(super) fn check_path(path: &str) -> Result<(), ApiError> {
    bounds::text("path", path, bounds::PATH_CHARS, Kind::Line).map_err(super::invalid)?;
    if !path.starts_with('/') {
        return Err(super::invalid("path must be absolute"));
    }
    Ok(())
}

/// A file as read.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FileView {
    pub content: String,
    /// The path after its symlinks were resolved.
    pub path: String,
    pub size: u64,
    /// ISO 8601 UTC.
    pub modified: Option<String>,
    /// The editor language: json, yaml, xml, ini, shell, python, nginx or plaintext.
    pub language: String,
    /// Whether writing it needs more than the caller's own rights.
    pub needs_sudo: bool,
    /// Send it back with a write to refuse the write if the file changed meanwhile.
    pub version: String,
    /// Permission bits, octal (`0644`).
    pub mode: String,
    pub owner: String,
    pub group: String,
}

fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

fn group_name(gid: u32) -> String {
    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map_or_else(|| gid.to_string(), |g| g.name)
}

/// Read a configuration file. Group `halbert` reads what its members could read anyway;
/// anything else needs polkit `org.halbert.config.read`.
#[utoipa::path(get, path = "/api/editor/file", tag = "editor", params(FileQuery),
    responses(
        (status = 200, body = FileView),
        (status = 400, body = ErrorBody, description = "Not a regular file (`not_a_regular_file`)"),
        (status = 403, body = ErrorBody, description = "Outside the files Halbert serves (`path_not_allowed`), or polkit refused org.halbert.config.read"),
        (status = 404, body = ErrorBody, description = "No such file"),
        (status = 409, body = ErrorBody, description = "The path changed while it was being opened (a symlink appeared): try again"),
        (status = 413, body = ErrorBody, description = "Over 4 MiB (`file_too_large`)"),
        (status = 415, body = ErrorBody, description = "Not UTF-8 text (`not_text`)"),
        (status = 422, body = ErrorBody, description = "Not an absolute path, or `.`/`..`/empty segments"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn read(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<FileQuery>,
) -> Result<Json<FileView>, ApiError> {
    check_path(&q.path)?;
    let f = st.daemon.read_file(&q.path).await?;
    Ok(Json(FileView {
        modified: iso8601(f.modified_unix),
        mode: format!("{:04o}", f.mode),
        owner: user_name(f.uid),
        group: group_name(f.gid),
        content: f.content,
        path: f.path,
        size: f.size,
        language: f.language,
        needs_sudo: f.needs_sudo,
        version: f.version,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteRequest {
    #[schema(
        max_length = 4096,
        pattern = r"^(/(?!\.\.?(/|$))[^/\u0000-\u001F\u007F-\u009F]{1,255})+$"
    )]
    pub path: String,
    /// The whole new content, at most 524,288 characters.
    #[schema(max_length = 524288)]
    pub content: String,
    /// The `version` of the read this edit started from: the write is refused with 409 if the
    /// file changed since. Without it the write is unconditional (and recorded so).
    #[serde(default)]
    pub version: Option<String>,
    /// The unit the file belongs to, when its path does not tell (`/etc/ssh/sshd_config` is
    /// ssh.service's): when the user's policy sets `rollback_required` for `write_config`, the
    /// unit is restarted and watched, and the write rolled back if the unit fails.
    #[serde(default)]
    #[schema(
        max_length = 247,
        pattern = r"^[A-Za-z0-9:_\\@][A-Za-z0-9:_.\\@-]{0,246}$"
    )]
    pub unit: Option<String>,
}

/// A file's path and whole new content within their bounds (a write and its dry run).
pub(super) fn check_file_body(path: &str, content: &str) -> Result<(), String> {
    bounds::text("path", path, bounds::PATH_CHARS, Kind::Line)?;
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(format!(
            "content is longer than {MAX_CONTENT_CHARS} characters"
        ));
    }
    Ok(())
}

impl Bounded for WriteRequest {
    fn check_bounds(&self) -> Result<(), String> {
        check_file_body(&self.path, &self.content)?;
        bounds::opt_line("version", &self.version, 128)?;
        match &self.unit {
            Some(u) => super::services::check_unit(u),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WriteResult {
    pub success: bool,
    pub message: String,
    /// The backup of the content replaced; absent for a new file.
    pub backup_id: Option<String>,
    /// The file's version now.
    pub version: String,
    /// When the policy asked for it: what the health gate made of the change (`kept`, or
    /// `rolled_back` with the reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::actions::health::Health>,
}

fn written(w: pb::FileWritten, verb: &str) -> WriteResult {
    WriteResult {
        success: true,
        message: format!("{verb} {} ({} bytes)", w.path, w.size),
        backup_id: Some(w.backup_id).filter(|b| !b.is_empty()),
        version: w.version,
        health: None,
    }
}

/// Write a configuration file: the current content is backed up first, then replaced
/// atomically with owner, group, mode and extended attributes kept. Needs polkit
/// `org.halbert.config.write`; refused in safe mode (423).
#[utoipa::path(post, path = "/api/editor/file", tag = "editor", request_body = WriteRequest,
    responses(
        (status = 200, body = WriteResult),
        (status = 400, body = ErrorBody, description = "Not a regular file (`not_a_regular_file`)"),
        (status = 403, body = ErrorBody, description = "Outside the files Halbert changes (`path_not_allowed`), or polkit refused org.halbert.config.write"),
        (status = 404, body = ErrorBody, description = "The directory does not exist"),
        (status = 409, body = ErrorBody, description = "The file changed since `version` (`conflict`, with `current_version`), or the path changed while it was being opened"),
        (status = 413, body = ErrorBody, description = "The body or the file is too large"),
        (status = 423, body = ErrorBody, description = "Safe mode is on"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn write(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    ApiJson(req): ApiJson<WriteRequest>,
) -> Result<Json<WriteResult>, ApiError> {
    check_path(&req.path)?;
    let action = Action::WriteFile {
        path: req.path,
        content: req.content,
        version: req.version,
        unit: req.unit,
    };
    let f = perform(&st.gate, action, &rid.0).await?.file_done()?;
    let mut v = written(f.written, "saved");
    v.health = f.health;
    Ok(Json(v))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BackupView {
    pub backup_id: String,
    pub file_path: String,
    /// ISO 8601 UTC.
    pub timestamp: Option<String>,
    pub label: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BackupList {
    pub path: String,
    /// Newest first.
    pub backups: Vec<BackupView>,
}

/// The backups of a file, newest first.
#[utoipa::path(get, path = "/api/editor/backups", tag = "editor", params(FileQuery),
    responses(
        (status = 200, body = BackupList),
        (status = 403, body = ErrorBody, description = "Outside the files Halbert serves (`path_not_allowed`)"),
        (status = 404, body = ErrorBody, description = "No such file"),
        (status = 422, body = ErrorBody, description = "Not an absolute path"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn backups(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<FileQuery>,
) -> Result<Json<BackupList>, ApiError> {
    check_path(&q.path)?;
    let l = st.daemon.file_backups(&q.path).await?;
    Ok(Json(BackupList {
        path: q.path,
        backups: l
            .backups
            .into_iter()
            .map(|b| BackupView {
                timestamp: iso8601(b.timestamp),
                backup_id: b.backup_id,
                file_path: b.file_path,
                label: b.label,
                size: b.size,
                sha256: b.sha256,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    #[schema(
        max_length = 4096,
        pattern = r"^(/(?!\.\.?(/|$))[^/\u0000-\u001F\u007F-\u009F]{1,255})+$"
    )]
    pub path: String,
    /// A `backup_id` from this path's own list.
    #[schema(max_length = 300, pattern = r"^[^\u0000-\u001F\u007F-\u009F/]*$")]
    pub backup: String,
}

impl Bounded for RestoreRequest {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::text("path", &self.path, bounds::PATH_CHARS, Kind::Line)?;
        bounds::text("backup", &self.backup, 300, Kind::Line)
    }
}

/// Restore a backup: the current content is backed up first ("before restore"), then the
/// backup is written back byte for byte. Needs polkit `org.halbert.config.write`; refused in
/// safe mode (423).
#[utoipa::path(post, path = "/api/editor/restore", tag = "editor", request_body = RestoreRequest,
    responses(
        (status = 200, body = WriteResult),
        (status = 403, body = ErrorBody, description = "Outside the files Halbert changes, or polkit refused org.halbert.config.write"),
        (status = 404, body = ErrorBody, description = "No such backup of this path"),
        (status = 423, body = ErrorBody, description = "Safe mode is on"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn restore(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    ApiJson(req): ApiJson<RestoreRequest>,
) -> Result<Json<WriteResult>, ApiError> {
    check_path(&req.path)?;
    let action = Action::RestoreFile {
        path: req.path,
        backup_id: req.backup,
    };
    let w = perform(&st.gate, action, &rid.0).await?.file()?;
    Ok(Json(written(w, "restored")))
}
