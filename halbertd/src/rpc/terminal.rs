//! `halbert.v1.Terminal`: what a person typed, run as that person.

use std::time::Duration;

use halbert_proto::v1::{self as pb, terminal_server::Terminal};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{Ctx, request_id, to_status};

#[derive(Debug, Clone)]
pub struct TerminalService(pub Ctx);

#[tonic::async_trait]
impl Terminal for TerminalService {
    async fn execute(
        &self,
        req: Request<pb::ExecuteRequest>,
    ) -> Result<Response<pb::ExecuteResult>, Status> {
        let (caller, span) = self.0.caller("Terminal.Execute", &req)?;
        let rid = request_id(&req);
        let r = req.into_inner();
        let timeout = (r.timeout_s > 0).then(|| Duration::from_secs(r.timeout_s.into()));
        let engine = self.0.engine.clone();
        async move {
            let c = engine
                .execute(&caller, &r.command, timeout, &rid)
                .await
                .map_err(to_status)?;
            Ok(Response::new(pb::ExecuteResult {
                output: c.output,
                error: c.error,
                exit_code: c.exit_code,
                truncated: c.truncated,
                duration_ms: c.duration_ms,
                as_root: c.as_root,
            }))
        }
        .instrument(span)
        .await
    }
}
