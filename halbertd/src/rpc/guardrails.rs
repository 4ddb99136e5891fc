//! `halbert.v1.Guardrails`: safe mode.

use halbert_proto::v1::{self as pb, guardrails_server::Guardrails};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{Ctx, request_id, to_status};
use crate::gate::safe_mode::SafeModeState;

#[derive(Debug, Clone)]
pub struct GuardrailsService(pub Ctx);

fn state_pb(s: SafeModeState) -> pb::GuardrailsState {
    pb::GuardrailsState {
        safe_mode_active: s.active,
        reason: s.reason,
        since_unix: if s.active { s.since_unix } else { 0 },
        changed_by_uid: s.changed_by_uid,
    }
}

fn change_pb((s, changed): (SafeModeState, bool)) -> Response<pb::SafeModeChange> {
    Response::new(pb::SafeModeChange {
        state: Some(state_pb(s)),
        changed,
    })
}

#[tonic::async_trait]
impl Guardrails for GuardrailsService {
    async fn system_policy(
        &self,
        req: Request<pb::SystemPolicyRequest>,
    ) -> Result<Response<pb::SystemPolicyView>, Status> {
        let (caller, span) = self.0.caller("Guardrails.SystemPolicy", &req)?;
        let _e = span.enter();
        let (path, policy) = self.0.engine.system_policy(&caller).map_err(to_status)?;
        let (policy_json, error) = match policy {
            Ok(p) => (serde_json::to_string(&p).unwrap_or_default(), String::new()),
            Err(e) => (String::new(), e),
        };
        Ok(Response::new(pb::SystemPolicyView {
            path,
            policy_json,
            error,
        }))
    }

    async fn get(
        &self,
        req: Request<pb::GetGuardrailsRequest>,
    ) -> Result<Response<pb::GuardrailsState>, Status> {
        let (caller, span) = self.0.caller("Guardrails.Get", &req)?;
        let _e = span.enter();
        self.0
            .engine
            .guardrails(&caller)
            .map(|s| Response::new(state_pb(s)))
            .map_err(to_status)
    }

    async fn enter_safe_mode(
        &self,
        req: Request<pb::EnterSafeModeRequest>,
    ) -> Result<Response<pb::SafeModeChange>, Status> {
        let (caller, span) = self.0.caller("Guardrails.EnterSafeMode", &req)?;
        let rid = request_id(&req);
        let reason = req.into_inner().reason;
        let engine = self.0.engine.clone();
        async move {
            engine
                .enter_safe_mode(&caller, reason, &rid)
                .await
                .map(change_pb)
                .map_err(to_status)
        }
        .instrument(span)
        .await
    }

    async fn exit_safe_mode(
        &self,
        req: Request<pb::ExitSafeModeRequest>,
    ) -> Result<Response<pb::SafeModeChange>, Status> {
        let (caller, span) = self.0.caller("Guardrails.ExitSafeMode", &req)?;
        let rid = request_id(&req);
        let engine = self.0.engine.clone();
        async move {
            engine
                .exit_safe_mode(&caller, &rid)
                .await
                .map(change_pb)
                .map_err(to_status)
        }
        .instrument(span)
        .await
    }
}
