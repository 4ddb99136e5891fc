//! `halbert.v1.Services`: jobs on systemd units, and the plan of a restart.

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
                .control_service(&caller, &r.unit, verb, &r.reason, &rid)
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

    async fn plan(
        &self,
        req: Request<pb::ServicePlanRequest>,
    ) -> Result<Response<pb::ServicePlan>, Status> {
        let (caller, span) = self.0.caller("Services.Plan", &req)?;
        let r = req.into_inner();
        let engine = self.0.engine.clone();
        async move {
            let p = engine
                .restart_plan(&caller, &r.unit)
                .await
                .map_err(to_status)?;
            Ok(Response::new(pb::ServicePlan {
                unit: p.unit,
                description: p.description,
                load_state: p.load_state,
                active_state: p.active_state,
                sub_state: p.sub_state,
                dependents: p
                    .dependents
                    .into_iter()
                    .map(|(unit, active_state)| pb::Dependent { unit, active_state })
                    .collect(),
                last_start_us: p
                    .last_start
                    .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            }))
        }
        .instrument(span)
        .await
    }
}
