//! The one table of HTTP error codes: every `"code"` halbert-web answers, with its status
//! ([`Code`]), the error body ([`ErrorBody`]) and every conversion of a lower layer's error
//! into an [`ApiError`]. A handler names a code; it never picks a status of its own.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::chat::ChatError;
use crate::daemon::DaemonError;
use crate::guard::Refusal;
use crate::llm::client::LlmError;
use crate::llm::settings::SettingsError;
use crate::memory::MemoryError;
use crate::store::conversations::ConversationError;
use crate::store::rules::RuleError;

macro_rules! error_codes {
    ($($variant:ident => $status:ident, $code:literal, $doc:literal;)*) => {
        /// Every error code of the HTTP API, with its status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $(#[doc = $doc] $variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn status(self) -> StatusCode {
                match self {
                    $(Code::$variant => StatusCode::$status,)*
                }
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    BadRequest => BAD_REQUEST, "bad_request", "The request itself is malformed (two Host headers, an absolute target, an unreadable body).";
    InvalidJson => BAD_REQUEST, "invalid_json", "The body is not JSON.";
    InvalidId => BAD_REQUEST, "invalid_id", "A path id is not in its form.";
    UnknownType => BAD_REQUEST, "unknown_type", "Not one of the eight discovery types.";
    Unauthorized => UNAUTHORIZED, "unauthorized", "A bearer token is needed (halbert-web bound beyond loopback).";
    ForbiddenHost => FORBIDDEN, "forbidden_host", "The Host header does not name this server.";
    ForbiddenOrigin => FORBIDDEN, "forbidden_origin", "A cross-origin state change or WebSocket upgrade.";
    ForbiddenPeer => FORBIDDEN, "forbidden_peer", "A loopback client of another user.";
    PermissionDenied => FORBIDDEN, "permission_denied", "polkit refused the action (named in `action`), or the caller may not read.";
    UnidentifiedCaller => FORBIDDEN, "unidentified_caller", "halbertd could not identify the calling process.";
    NotFound => NOT_FOUND, "not_found", "No such route or object.";
    UnknownCollection => NOT_FOUND, "unknown_collection", "No such memory collection.";
    MethodNotAllowed => METHOD_NOT_ALLOWED, "method_not_allowed", "The route does not take this method.";
    PayloadTooLarge => PAYLOAD_TOO_LARGE, "payload_too_large", "The body is over 2 MiB.";
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "The body is not application/json.";
    ValidationFailed => UNPROCESSABLE_ENTITY, "validation_failed", "A field is of the wrong type or beyond its bounds.";
    SafeModeActive => LOCKED, "safe_mode_active", "Safe mode is on: every change is refused until it is lifted.";
    UpgradeRequired => UPGRADE_REQUIRED, "upgrade_required", "/ws needs a WebSocket upgrade.";
    // Specific codes after the generic one of their status, which `for_status` picks.
    InvalidQuery => BAD_REQUEST, "invalid_query", "A query parameter is not of its type (a number where a number belongs).";
    PolicyDenied => FORBIDDEN, "policy_denied", "The user's policy does not allow the action; `rule` names what decided.";
    ApprovalRequired => ACCEPTED, "approval_required", "Held for a person's approval (the user's policy asks for one); `approval_id` names the request.";
    SimulationFailed => UNPROCESSABLE_ENTITY, "simulation_failed", "The dry run rejects the action (a validator rejects the file); `simulation` holds it, with the validator's output. Nothing was changed.";
    GuardrailRefused => UNPROCESSABLE_ENTITY, "guardrail_refused", "The guardrails refuse the proposal (its confidence is below 0.5).";
    LimitReached => TOO_MANY_REQUESTS, "limit_reached", "A recovery limit (named in `limit`) refuses the action for now.";
    NotARegularFile => BAD_REQUEST, "not_a_regular_file", "A directory, FIFO or device where a file was asked for.";
    PathNotAllowed => FORBIDDEN, "path_not_allowed", "A path outside what Halbert serves or changes, or on its deny list.";
    Conflict => CONFLICT, "conflict", "The file changed since it was read; `current_version` is its version now.";
    AlreadyDecided => CONFLICT, "already_decided", "The approval request was decided already, or expired.";
    FileTooLarge => PAYLOAD_TOO_LARGE, "file_too_large", "A file over 4 MiB.";
    NotText => UNSUPPORTED_MEDIA_TYPE, "not_text", "A file that is not UTF-8 text, so it is not edited.";
    Internal => INTERNAL_SERVER_ERROR, "internal", "A fault in halbert-web (see its log).";
    StorageError => INTERNAL_SERVER_ERROR, "storage_error", "The per-user database failed.";
    DaemonError => BAD_GATEWAY, "daemon_error", "halbertd failed.";
    EndpointError => BAD_GATEWAY, "endpoint_error", "The model endpoint answered an error.";
    EndpointUnreachable => BAD_GATEWAY, "endpoint_unreachable", "The model endpoint cannot be reached.";
    DaemonUnavailable => SERVICE_UNAVAILABLE, "daemon_unavailable", "halbertd is unreachable.";
    SourceUnavailable => SERVICE_UNAVAILABLE, "source_unavailable", "halbertd cannot read the source (the bus, the journal).";
    NoModel => CONFLICT, "no_model", "No model is assigned to the role needed: set one up first.";
    ModelNotInstalled => CONFLICT, "model_not_installed", "The local embedding model is not installed (package halbert-model-minilm).";
    TooManyConnections => SERVICE_UNAVAILABLE, "too_many_connections", "The connection caps are reached.";
    DaemonTimeout => GATEWAY_TIMEOUT, "daemon_timeout", "halbertd did not answer in time.";
    EndpointTimeout => GATEWAY_TIMEOUT, "endpoint_timeout", "The model endpoint did not answer in time.";
}

impl Code {
    /// The generic code for a status that a layer below the handlers produced (an extractor's
    /// rejection): the first code with that status, else `bad_request` or `internal`.
    pub fn for_status(status: StatusCode) -> Code {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.status() == status)
            .unwrap_or(if status.is_server_error() {
                Code::Internal
            } else {
                Code::BadRequest
            })
    }
}

/// The error body of every failed request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub detail: String,
    /// Stable machine-readable code, e.g. `permission_denied`, `safe_mode_active`.
    pub code: String,
    /// The polkit action that was refused, on `permission_denied` from halbertd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The file's version now, on `conflict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    /// The recovery limit that refused, on `limit_reached`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// The policy rule that decided, on `policy_denied` (`tools.<tool>.allow`,
    /// `default_allow`, `tools.<tool>.conditions.<name>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The approval request holding the action, on `approval_required`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// The dry run that rejects the action, on `simulation_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulation: Option<Box<crate::simulate::Simulation>>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub detail: String,
    /// The one machine-readable fact some codes carry beside the detail.
    pub extra: Option<Extra>,
}

/// What an error body may carry beside `detail` and `code`; at most one per error.
#[derive(Debug, Clone, PartialEq)]
pub enum Extra {
    /// The polkit action that was refused (`permission_denied`).
    Action(String),
    /// The file's version now (`conflict`).
    CurrentVersion(String),
    /// The recovery limit that refused (`limit_reached`).
    Limit(String),
    /// The policy rule that decided (`policy_denied`).
    Rule(String),
    /// The request holding the action (`approval_required`).
    Approval(String),
    /// The dry run that rejects the action (`simulation_failed`).
    Simulation(Box<crate::simulate::Simulation>),
}

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            extra: None,
        }
    }

    pub fn with(mut self, extra: Extra) -> Self {
        self.extra = Some(extra);
        self
    }

    /// The refused polkit action, if this error names one.
    pub fn action(&self) -> Option<&str> {
        match &self.extra {
            Some(Extra::Action(a)) => Some(a),
            _ => None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            detail: self.detail.clone(),
            code: self.code.as_str().to_owned(),
            action: self.action().map(str::to_owned),
            current_version: match &self.extra {
                Some(Extra::CurrentVersion(v)) => Some(v.clone()),
                _ => None,
            },
            limit: match &self.extra {
                Some(Extra::Limit(l)) => Some(l.clone()),
                _ => None,
            },
            rule: match &self.extra {
                Some(Extra::Rule(r)) => Some(r.clone()),
                _ => None,
            },
            approval_id: match &self.extra {
                Some(Extra::Approval(a)) => Some(a.clone()),
                _ => None,
            },
            simulation: match &self.extra {
                Some(Extra::Simulation(s)) => Some(s.clone()),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

/// 422 `validation_failed` with `detail`.
pub fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(Code::ValidationFailed, detail)
}

/// The guard's refusals, by kind.
impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let code = match r {
            Refusal::OtherUser => Code::ForbiddenPeer,
            Refusal::Malformed(_) => Code::BadRequest,
            Refusal::Host => Code::ForbiddenHost,
            Refusal::Token => Code::Unauthorized,
            Refusal::Origin => Code::ForbiddenOrigin,
        };
        ApiError::new(code, r.to_string())
    }
}

/// The one mapping from halbertd's answers to HTTP statuses. Safe mode is 423 Locked: the
/// request was fine, but the system is locked against changes until safe mode is lifted.
impl From<crate::store::log::LogError> for ApiError {
    fn from(e: crate::store::log::LogError) -> Self {
        tracing::error!(error = %e, "history store");
        ApiError::new(
            Code::StorageError,
            "the per-user database failed (see the log)",
        )
    }
}

impl From<crate::recovery::RecoveryError> for ApiError {
    fn from(e: crate::recovery::RecoveryError) -> Self {
        use crate::recovery::RecoveryError as R;
        match e {
            R::Action(a) => a.into(),
            R::Store(s) => s.into(),
            R::Limited { limit, detail } => {
                ApiError::new(Code::LimitReached, detail).with(Extra::Limit(limit.to_owned()))
            }
            R::NoBackup(d) => ApiError::new(Code::NotFound, d),
            R::Invalid(d) => ApiError::new(Code::ValidationFailed, d),
        }
    }
}

impl From<crate::terminal::TerminalError> for ApiError {
    fn from(e: crate::terminal::TerminalError) -> Self {
        match e {
            crate::terminal::TerminalError::Action(a) => a.into(),
            crate::terminal::TerminalError::History(h) => h.into(),
        }
    }
}

impl From<crate::actions::ActionError> for ApiError {
    fn from(e: crate::actions::ActionError) -> Self {
        use crate::actions::ActionError as A;
        match e {
            A::Denied(d) => ApiError::new(Code::PolicyDenied, d.reason).with(Extra::Rule(d.rule)),
            A::Rejected(sim) => {
                let detail = match &sim.validation {
                    Some(v) if v.failed() => format!(
                        "{} rejects the proposed content; nothing was changed: {}",
                        v.validator,
                        v.output.trim()
                    ),
                    _ => sim.error.clone().unwrap_or_else(|| {
                        "the dry run rejects the action; nothing was changed".into()
                    }),
                };
                ApiError::new(Code::SimulationFailed, detail).with(Extra::Simulation(sim))
            }
            A::ApprovalRequired(r) => ApiError::new(
                Code::ApprovalRequired,
                format!("held for approval: {} (request {})", r.task, r.id),
            )
            .with(Extra::Approval(r.id.clone())),
            A::Refused(m) => ApiError::new(Code::GuardrailRefused, m),
            A::NoRequest(m) => ApiError::new(Code::NotFound, m),
            A::Decided(m) => ApiError::new(Code::AlreadyDecided, m),
            A::Approvals(_) => ApiError::new(
                Code::StorageError,
                "the approvals store failed (see the log)",
            ),
            A::Daemon(d) => d.into(),
        }
    }
}

impl From<DaemonError> for ApiError {
    fn from(e: DaemonError) -> Self {
        let detail = e.to_string();
        let code = match &e {
            DaemonError::Unavailable { .. } => Code::DaemonUnavailable,
            DaemonError::PermissionDenied { action, .. } => {
                let e = ApiError::new(Code::PermissionDenied, detail);
                return match action {
                    Some(a) => e.with(Extra::Action(a.clone())),
                    None => e,
                };
            }
            DaemonError::PolicyDenied { rule, .. } => {
                // The system-wide layer's rules are told apart from the user's own.
                return ApiError::new(Code::PolicyDenied, detail)
                    .with(Extra::Rule(format!("system:{rule}")));
            }
            DaemonError::SafeMode { .. } => Code::SafeModeActive,
            DaemonError::InvalidArgument(_) => Code::ValidationFailed,
            DaemonError::Unauthenticated(_) => Code::UnidentifiedCaller,
            DaemonError::Timeout(_) => Code::DaemonTimeout,
            DaemonError::NotFound(_) => Code::NotFound,
            DaemonError::SourceMissing(_) => Code::SourceUnavailable,
            DaemonError::Failed(_) => Code::DaemonError,
            DaemonError::Conflict { current, .. } => {
                // Empty when the path itself changed while halbertd opened it.
                let e = ApiError::new(Code::Conflict, detail);
                return if current.is_empty() {
                    e
                } else {
                    e.with(Extra::CurrentVersion(current.clone()))
                };
            }
            DaemonError::TooLarge(_) => Code::FileTooLarge,
            DaemonError::NotText(_) => Code::NotText,
            DaemonError::NotRegular(_) => Code::NotARegularFile,
            DaemonError::PathNotAllowed(_) => Code::PathNotAllowed,
        };
        ApiError::new(code, detail)
    }
}

impl From<ConversationError> for ApiError {
    fn from(e: ConversationError) -> Self {
        let detail = e.to_string();
        match e {
            ConversationError::BadId => ApiError::new(Code::InvalidId, detail),
            ConversationError::NotFound(_) => ApiError::new(Code::NotFound, detail),
            ConversationError::Invalid(_) => ApiError::new(Code::ValidationFailed, detail),
            ConversationError::Memory(m) => m.into(),
            ConversationError::Store(_) | ConversationError::Corrupt(_) => {
                tracing::error!(error = %detail, "conversation store");
                ApiError::new(
                    Code::StorageError,
                    "the conversation store failed (see the log)",
                )
            }
        }
    }
}

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        let detail = e.to_string();
        match e {
            SettingsError::Invalid(_) => ApiError::new(Code::ValidationFailed, detail),
            SettingsError::UnknownEndpoint(_) => ApiError::new(Code::NotFound, detail),
            SettingsError::Io { .. } | SettingsError::Corrupt { .. } => {
                tracing::error!(error = %detail, "model settings");
                ApiError::new(
                    Code::StorageError,
                    "the model settings could not be saved (see the log)",
                )
            }
        }
    }
}

impl From<LlmError> for ApiError {
    fn from(e: LlmError) -> Self {
        let detail = e.to_string();
        match e {
            LlmError::Timeout { .. } => ApiError::new(Code::EndpointTimeout, detail),
            LlmError::Unreachable { .. } | LlmError::Closed { .. } => {
                ApiError::new(Code::EndpointUnreachable, detail)
            }
            LlmError::Status { .. } | LlmError::BadReply { .. } => {
                ApiError::new(Code::EndpointError, detail)
            }
        }
    }
}

impl From<crate::memory::embed::ChangeError> for ApiError {
    fn from(e: crate::memory::embed::ChangeError) -> Self {
        use crate::memory::embed::ChangeError;
        match e {
            ChangeError::Settings(e) => e.into(),
            ChangeError::Endpoint(e) => e.into(),
            ChangeError::Embed(e) => MemoryError::Embed(e).into(),
            ChangeError::Invalid(why) => ApiError::new(Code::ValidationFailed, why),
        }
    }
}

impl From<MemoryError> for ApiError {
    fn from(e: MemoryError) -> Self {
        let detail = e.to_string();
        match e {
            MemoryError::UnknownCollection(_) => ApiError::new(Code::UnknownCollection, detail),
            MemoryError::Invalid(_) => ApiError::new(Code::ValidationFailed, detail),
            MemoryError::Store(_) | MemoryError::Corrupt(_) => {
                tracing::error!(error = %detail, "memory store");
                ApiError::new(Code::StorageError, "the memory store failed (see the log)")
            }
            MemoryError::Embed(crate::memory::embed::EmbedError::Endpoint(_)) => {
                ApiError::new(Code::EndpointError, detail)
            }
            MemoryError::Embed(crate::memory::embed::EmbedError::NotInstalled(_)) => {
                ApiError::new(Code::ModelNotInstalled, detail)
            }
            // The user's own machine's model files: saying which and why is what fixes it.
            MemoryError::Embed(_) => {
                tracing::error!(error = %detail, "memory embedding");
                ApiError::new(Code::Internal, detail)
            }
        }
    }
}

impl From<RuleError> for ApiError {
    fn from(e: RuleError) -> Self {
        let detail = e.to_string();
        match e {
            RuleError::NotFound(_) => ApiError::new(Code::NotFound, detail),
            RuleError::Invalid(_) => ApiError::new(Code::ValidationFailed, detail),
            RuleError::Store(_) | RuleError::Corrupt(_) => {
                tracing::error!(error = %detail, "rule store");
                ApiError::new(Code::StorageError, "the rule store failed (see the log)")
            }
        }
    }
}

/// A chat turn's failures: the question's (422), a missing model (503), the model's (502/504).
impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::Invalid(d) => invalid(d),
            ChatError::NoModel(d) => ApiError::new(Code::NoModel, d),
            ChatError::Llm(e) => e.into(),
            ChatError::Rules(e) => e.into(),
            ChatError::Internal => ApiError::new(Code::Internal, "internal error (see the log)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_unique_and_an_error_status() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{} listed twice", c.as_str());
            // `approval_required` is the one answer here that is not a failure: the action is
            // held, not refused, and the route it came through has no answer of its own yet.
            if *c == Code::ApprovalRequired {
                assert_eq!(c.status(), StatusCode::ACCEPTED);
                continue;
            }
            assert!(c.status().is_client_error() || c.status().is_server_error());
        }
        assert_eq!(Code::for_status(StatusCode::LOCKED), Code::SafeModeActive);
        // The generic code of a status wins over the specific ones that share it.
        assert_eq!(
            Code::for_status(StatusCode::PAYLOAD_TOO_LARGE),
            Code::PayloadTooLarge
        );
        assert_eq!(Code::for_status(StatusCode::BAD_REQUEST), Code::BadRequest);
        assert_eq!(
            Code::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            Code::UnsupportedMediaType
        );
        assert_eq!(
            Code::for_status(StatusCode::REQUEST_TIMEOUT),
            Code::BadRequest
        );
        assert_eq!(
            Code::for_status(StatusCode::HTTP_VERSION_NOT_SUPPORTED),
            Code::Internal
        );
    }

    #[test]
    fn daemon_errors_map_to_documented_statuses() {
        let cases = [
            (
                DaemonError::Unavailable {
                    socket: "/run/halbert/halbertd.sock".into(),
                    why: "Connection refused".into(),
                },
                503,
                "daemon_unavailable",
            ),
            (
                DaemonError::PermissionDenied {
                    action: Some("org.halbert.guardrails.manage".into()),
                    detail: "no".into(),
                },
                403,
                "permission_denied",
            ),
            (
                DaemonError::SafeMode {
                    reason: "disk failing".into(),
                },
                423,
                "safe_mode_active",
            ),
            (
                DaemonError::InvalidArgument("bad".into()),
                422,
                "validation_failed",
            ),
            (
                DaemonError::Timeout(std::time::Duration::from_secs(30)),
                504,
                "daemon_timeout",
            ),
            (DaemonError::Failed("internal".into()), 502, "daemon_error"),
        ];
        for (e, status, code) in cases {
            let a = ApiError::from(e);
            assert_eq!((a.status().as_u16(), a.code.as_str()), (status, code));
        }
        let a = ApiError::from(DaemonError::PermissionDenied {
            action: Some("org.halbert.guardrails.manage".into()),
            detail: "no".into(),
        });
        assert_eq!(a.action(), Some("org.halbert.guardrails.manage"));
        let a = ApiError::from(DaemonError::SafeMode {
            reason: "disk failing".into(),
        });
        assert!(a.detail.contains("safe mode") && a.detail.contains("disk failing"));
    }

    #[test]
    fn model_errors_map_to_gateway_statuses_naming_the_endpoint() {
        let cases = [
            (
                LlmError::Timeout {
                    endpoint: "local".into(),
                    after: std::time::Duration::from_secs(180),
                },
                504,
                "endpoint_timeout",
            ),
            (
                LlmError::Unreachable {
                    endpoint: "local".into(),
                    url: "http://127.0.0.1:11434".into(),
                    why: "connection refused".into(),
                },
                502,
                "endpoint_unreachable",
            ),
            (
                LlmError::Status {
                    endpoint: "local".into(),
                    code: 500,
                    excerpt: "out of memory".into(),
                },
                502,
                "endpoint_error",
            ),
        ];
        for (e, status, code) in cases {
            let a = ApiError::from(e);
            assert_eq!((a.status().as_u16(), a.code.as_str()), (status, code));
            assert!(a.detail.contains("local"), "{}", a.detail);
        }
    }
}
