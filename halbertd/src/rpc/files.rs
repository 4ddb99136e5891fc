//! `halbert.v1.Files`: configuration files, read and changed with backups.

use halbert_proto::v1::{self as pb, files_server::Files};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{Ctx, request_id, to_status};
use crate::files::Written;

#[derive(Debug, Clone)]
pub struct FilesService(pub Ctx);

fn written_pb(w: Written) -> Response<pb::FileWritten> {
    Response::new(pb::FileWritten {
        path: w.path,
        backup_id: w.backup.map(|b| b.backup_id).unwrap_or_default(),
        version: w.version,
        size: w.size,
    })
}

#[tonic::async_trait]
impl Files for FilesService {
    async fn read(
        &self,
        req: Request<pb::ReadFileRequest>,
    ) -> Result<Response<pb::FileContent>, Status> {
        let (caller, span) = self.0.caller("Files.Read", &req)?;
        let path = req.into_inner().path;
        let engine = self.0.engine.clone();
        async move {
            let r = engine.read_file(&caller, &path).await.map_err(to_status)?;
            let f = r.file;
            Ok(Response::new(pb::FileContent {
                path: f.path,
                content: f.content,
                size: f.size,
                modified_unix: f.modified_unix,
                language: f.language.into(),
                needs_sudo: r.needs_sudo,
                version: f.version,
                mode: f.mode,
                uid: f.uid,
                gid: f.gid,
            }))
        }
        .instrument(span)
        .await
    }

    async fn write(
        &self,
        req: Request<pb::WriteFileRequest>,
    ) -> Result<Response<pb::FileWritten>, Status> {
        let (caller, span) = self.0.caller("Files.Write", &req)?;
        let rid = request_id(&req);
        let r = req.into_inner();
        let engine = self.0.engine.clone();
        async move {
            engine
                .write_file(&caller, &r.path, r.content, r.version, &rid)
                .await
                .map(written_pb)
                .map_err(to_status)
        }
        .instrument(span)
        .await
    }

    async fn backups(
        &self,
        req: Request<pb::FileBackupsRequest>,
    ) -> Result<Response<pb::FileBackupList>, Status> {
        let (caller, span) = self.0.caller("Files.Backups", &req)?;
        let path = req.into_inner().path;
        let engine = self.0.engine.clone();
        async move {
            let list = engine
                .file_backups(&caller, &path)
                .await
                .map_err(to_status)?;
            Ok(Response::new(pb::FileBackupList {
                backups: list
                    .into_iter()
                    .map(|b| pb::FileBackup {
                        backup_id: b.backup_id,
                        file_path: b.file_path,
                        timestamp: b.timestamp,
                        label: b.label,
                        size: b.size,
                        sha256: b.sha256,
                        uid: b.uid,
                    })
                    .collect(),
            }))
        }
        .instrument(span)
        .await
    }

    async fn restore(
        &self,
        req: Request<pb::RestoreFileRequest>,
    ) -> Result<Response<pb::FileWritten>, Status> {
        let (caller, span) = self.0.caller("Files.Restore", &req)?;
        let rid = request_id(&req);
        let r = req.into_inner();
        let engine = self.0.engine.clone();
        async move {
            engine
                .restore_file(&caller, &r.path, &r.backup_id, &r.reason, &rid)
                .await
                .map(written_pb)
                .map_err(to_status)
        }
        .instrument(span)
        .await
    }

    async fn validate(
        &self,
        req: Request<pb::ValidateFileRequest>,
    ) -> Result<Response<pb::FileValidation>, Status> {
        let (caller, span) = self.0.caller("Files.Validate", &req)?;
        let rid = request_id(&req);
        let r = req.into_inner();
        let engine = self.0.engine.clone();
        async move {
            let v = engine
                .validate_file(&caller, &r.path, r.content, &rid)
                .await
                .map_err(to_status)?;
            Ok(Response::new(pb::FileValidation {
                path: v.path,
                validator: v.validator,
                verdict: v.verdict.as_str().to_owned(),
                argv: v.argv,
                exit_code: v.exit_code,
                output: v.output,
                duration_us: u64::try_from(v.duration.as_micros()).unwrap_or(u64::MAX),
                runner: v.runner.to_owned(),
            }))
        }
        .instrument(span)
        .await
    }

    async fn crontab(
        &self,
        req: Request<pb::CrontabRequest>,
    ) -> Result<Response<pb::CrontabContent>, Status> {
        let (caller, span) = self.0.caller("Files.Crontab", &req)?;
        let engine = self.0.engine.clone();
        async move {
            let (content, exists) = engine.read_crontab(&caller).await.map_err(to_status)?;
            Ok(Response::new(pb::CrontabContent { content, exists }))
        }
        .instrument(span)
        .await
    }
}
