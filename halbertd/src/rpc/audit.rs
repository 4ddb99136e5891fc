//! `halbert.v1.Audit`: chain verification.

use halbert_proto::v1::{self as pb, audit_server::Audit};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{Ctx, to_status};
use crate::gate::audit::Verification;

#[derive(Debug, Clone)]
pub struct AuditService(pub Ctx);

pub fn verification_pb(v: Verification) -> pb::AuditVerification {
    let mut out = pb::AuditVerification {
        ok: v.broken.is_none(),
        records: v.records,
        files: v.files,
        last_hash: v.last_hash,
        ..Default::default()
    };
    if let Some(b) = v.broken {
        out.broken_file = b.file.display().to_string();
        out.broken_line = b.line;
        out.problem = b.problem;
    }
    out
}

#[tonic::async_trait]
impl Audit for AuditService {
    async fn verify(
        &self,
        req: Request<pb::VerifyAuditRequest>,
    ) -> Result<Response<pb::AuditVerification>, Status> {
        let (caller, span) = self.0.caller("Audit.Verify", &req)?;
        let engine = self.0.engine.clone();
        async move {
            engine
                .verify_audit(&caller)
                .await
                .map(|v| Response::new(verification_pb(v)))
                .map_err(to_status)
        }
        .instrument(span)
        .await
    }
}
