//! Safe mode: reading it, entering and leaving it through the gate.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Acted, Engine, EngineError, Mutation, now};
use crate::gate::authz::ACTION_GUARDRAILS;
use crate::gate::safe_mode::{GuardrailsError, SafeModeState};
use crate::peer::Caller;

impl Engine {
    pub fn guardrails(&self, caller: &Caller) -> Result<SafeModeState, EngineError> {
        self.check_read(caller)?;
        Ok(self.guardrails.get())
    }

    /// The system-wide policy's path and the policy in force (or why it does not load).
    pub fn system_policy(
        &self,
        caller: &Caller,
    ) -> Result<(String, Result<crate::gate::policy::Policy, String>), EngineError> {
        self.check_read(caller)?;
        Ok((
            self.system_policy.path().display().to_string(),
            self.system_policy.current(),
        ))
    }

    pub async fn enter_safe_mode(
        self: &Arc<Self>,
        caller: &Caller,
        reason: String,
        request_id: &str,
    ) -> Result<(SafeModeState, bool), EngineError> {
        let m = Mutation {
            rpc: "Guardrails.EnterSafeMode",
            caller,
            request_id,
            action: ACTION_GUARDRAILS,
            invalid: crate::gate::safe_mode::validate_reason(&reason)
                .err()
                .map(|e| e.to_string()),
            details: BTreeMap::from([
                ("operation".into(), "enter".into()),
                ("reason".into(), reason.clone()),
            ]),
            allowed_in_safe_mode: true,
            dry_run: false,
            tool: None,
        };
        self.mutate(m, move |e: &Engine, uid| {
            let (st, changed) = e
                .guardrails
                .enter(&reason, uid, now().unix_timestamp())
                .map_err(guardrails_err)?;
            let summary = if changed {
                format!("safe mode entered: {}", st.reason)
            } else {
                "safe mode was already active".into()
            };
            Ok(Acted::change((st, changed), changed, summary))
        })
        .await
    }

    pub async fn exit_safe_mode(
        self: &Arc<Self>,
        caller: &Caller,
        request_id: &str,
    ) -> Result<(SafeModeState, bool), EngineError> {
        let m = Mutation {
            rpc: "Guardrails.ExitSafeMode",
            caller,
            request_id,
            action: ACTION_GUARDRAILS,
            details: BTreeMap::from([("operation".into(), "exit".into())]),
            allowed_in_safe_mode: true,
            dry_run: false,
            tool: None,
            invalid: None,
        };
        self.mutate(m, move |e: &Engine, uid| {
            let (st, changed) = e
                .guardrails
                .exit(uid, now().unix_timestamp())
                .map_err(guardrails_err)?;
            let summary = if changed {
                "safe mode exited"
            } else {
                "safe mode was not active"
            };
            Ok(Acted::change((st, changed), changed, summary.into()))
        })
        .await
    }
}

fn guardrails_err(e: GuardrailsError) -> EngineError {
    match e {
        GuardrailsError::InvalidReason(r) => EngineError::InvalidArgument(r.to_owned()),
        other => EngineError::Internal(other.to_string()),
    }
}
