//! `halbert.v1.Services`: jobs on systemd units.

use halbert_proto::v1::{self as pb, services_server::Services};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{Ctx, request_id, to_status};
use crate::engine::EngineError;
use crate::systemd::Verb;

#[derive(Debug, Clone)]
pub struct ServicesService(pub Ctx);

fn verb(v: i32) -> Result<Verb, Status> {
    match pb::ServiceVerb::try_from(v) {
        Ok(pb::ServiceVerb::Start) => Ok(Verb::Start),
        Ok(pb::ServiceVerb::Stop) => Ok(Verb::Stop),
        Ok(pb::ServiceVerb::Restart) => Ok(Verb::Restart),
        _ => Err(to_status(EngineError::InvalidArgument(
            "verb must be start, stop or restart".into(),
        ))),
    }
}

#[tonic::async_trait]
impl Services for ServicesService {
    async fn control(
        &self,
        req: Request<pb::ServiceControlRequest>,
    ) -> Result<Response<pb::ServiceControlResult>, Status> {
        let (caller, span) = self.0.caller("Services.Control", &req)?;
        let rid = request_id(&req);
        let r = req.into_inner();
        let verb = verb(r.verb)?;
        let engine = self.0.engine.clone();
        async move {
            let c = engine
                .control_service(&caller, &r.unit, verb, &rid)
                .await
                .map_err(to_status)?;
            Ok(Response::new(pb::ServiceControlResult {
                unit: c.unit,
                success: c.success,
                message: c.message,
                job_result: c.job_result,
                active_state: c.active_state,
                sub_state: c.sub_state,
            }))
        }
        .instrument(span)
        .await
    }
}
