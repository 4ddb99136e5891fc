//! gRPC transport: translates tonic requests into [`Engine`](crate::engine::Engine) calls and
//! engine results into protobuf messages and status codes. Nothing here decides anything.

mod audit;
mod discovery;
mod files;
mod guardrails;
mod inspect;
mod services;
mod system;
mod telemetry;
mod terminal;

use std::path::PathBuf;
use std::sync::Arc;

use halbert_proto::v1::{ErrorCode, ErrorDetail};
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Status};
use tracing::Span;

use crate::engine::{Engine, EngineError};
use crate::peer::{self, Caller, PeerInfo};

pub use audit::AuditService;
pub use discovery::DiscoveryService;
pub use files::FilesService;
pub use guardrails::GuardrailsService;
pub use inspect::InspectService;
pub use services::ServicesService;
pub use system::SystemService;
pub use telemetry::TelemetryService;
pub use terminal::TerminalService;

/// What every service needs: the engine, where procfs is (for caller identity), and the
/// server's shutdown signal (for streams).
#[derive(Debug, Clone)]
pub struct Ctx {
    pub engine: Arc<Engine>,
    pub proc: PathBuf,
    pub shutdown: CancellationToken,
}

impl Ctx {
    pub fn new(engine: Arc<Engine>, shutdown: CancellationToken) -> Self {
        Self {
            engine,
            proc: PathBuf::from("/proc"),
            shutdown,
        }
    }

    /// The kernel-identified caller of this request, plus its span (one per RPC).
    fn caller<T>(&self, rpc: &'static str, req: &Request<T>) -> Result<(Caller, Span), Status> {
        let info = req.extensions().get::<PeerInfo>().ok_or_else(|| {
            to_status(EngineError::Unauthenticated(
                "connection carries no peer credentials".into(),
            ))
        })?;
        let caller = peer::resolve(info, &self.proc)
            .map_err(|e| to_status(EngineError::Unauthenticated(e.to_string())))?;
        let span = tracing::info_span!("rpc", rpc, caller_uid = caller.uid, caller_pid = caller.pid, caller_comm = %caller.comm);
        Ok((caller, span))
    }
}

/// A stream that sends what `next` answers every `every` (the first at once), until the client
/// goes away or halbertd stops; `_hold` lives as long as the stream (a watcher count).
fn periodic<T, F, Fut, H>(
    every: std::time::Duration,
    shutdown: CancellationToken,
    span: Span,
    _hold: H,
    mut next: F,
) -> tokio_stream::wrappers::ReceiverStream<Result<T, Status>>
where
    T: Send + 'static,
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, Status>> + Send,
    H: Send + 'static,
{
    use tracing::Instrument;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(
        async move {
            let _hold = _hold;
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = tx.closed() => break,
                    _ = shutdown.cancelled() => break,
                }
                if tx.send(next().await).await.is_err() {
                    break;
                }
            }
            tracing::info!("stream closed");
        }
        .instrument(span),
    );
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// A correlation id from halbert-web (only ever used as a label), else a fresh one.
fn request_id<T>(req: &Request<T>) -> String {
    req.metadata()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| format!("rpc-{}", uuid::Uuid::new_v4()))
}

/// The one mapping from engine errors to gRPC statuses.
pub fn to_status(e: EngineError) -> Status {
    let detail = |code: ErrorCode| ErrorDetail {
        code: code as i32,
        ..Default::default()
    };
    match e {
        EngineError::Unauthenticated(m) => halbert_proto::status_with_detail(
            Code::Unauthenticated,
            m,
            detail(ErrorCode::Unauthenticated),
        ),
        EngineError::PermissionDenied { action, reason } => {
            let msg = match &action {
                Some(a) => format!("not authorized for {a}: {reason}"),
                None => reason,
            };
            let d = ErrorDetail {
                code: ErrorCode::PermissionDenied as i32,
                polkit_action: action.unwrap_or_default(),
                ..Default::default()
            };
            halbert_proto::status_with_detail(Code::PermissionDenied, msg, d)
        }
        EngineError::PolicyDenied { rule, reason } => {
            let d = ErrorDetail {
                code: ErrorCode::PolicyDenied as i32,
                policy_rule: rule,
                ..Default::default()
            };
            halbert_proto::status_with_detail(Code::PermissionDenied, reason, d)
        }
        EngineError::SafeMode { reason } => {
            let d = ErrorDetail {
                code: ErrorCode::SafeModeActive as i32,
                safe_mode_reason: reason.clone(),
                ..Default::default()
            };
            halbert_proto::status_with_detail(
                Code::FailedPrecondition,
                format!("refused: safe mode is active ({reason})"),
                d,
            )
        }
        EngineError::InvalidArgument(m) => halbert_proto::status_with_detail(
            Code::InvalidArgument,
            m,
            detail(ErrorCode::InvalidArgument),
        ),
        EngineError::NotFound(m) => {
            halbert_proto::status_with_detail(Code::NotFound, m, detail(ErrorCode::NotFound))
        }
        EngineError::Unavailable(m) => {
            halbert_proto::status_with_detail(Code::Unavailable, m, detail(ErrorCode::Unavailable))
        }
        EngineError::Conflict { detail: m, current } => {
            let d = ErrorDetail {
                code: ErrorCode::Conflict as i32,
                current_version: current,
                ..Default::default()
            };
            halbert_proto::status_with_detail(Code::Aborted, m, d)
        }
        EngineError::TooLarge(m) => {
            halbert_proto::status_with_detail(Code::OutOfRange, m, detail(ErrorCode::TooLarge))
        }
        EngineError::NotText(m) => halbert_proto::status_with_detail(
            Code::FailedPrecondition,
            m,
            detail(ErrorCode::NotText),
        ),
        EngineError::NotRegular(m) => halbert_proto::status_with_detail(
            Code::FailedPrecondition,
            m,
            detail(ErrorCode::NotRegular),
        ),
        EngineError::PathRefused(m) => halbert_proto::status_with_detail(
            Code::PermissionDenied,
            m,
            detail(ErrorCode::PathNotAllowed),
        ),
        EngineError::AuditFailed => halbert_proto::status_with_detail(
            Code::Internal,
            "the audit record could not be written",
            detail(ErrorCode::AuditFailed),
        ),
        EngineError::Internal(m) => {
            // The details stay in the journal; the client learns only that it failed.
            tracing::error!(error = %m, "internal error");
            halbert_proto::status_with_detail(
                Code::Internal,
                "internal error in halbertd (see its journal)",
                detail(ErrorCode::Internal),
            )
        }
    }
}
