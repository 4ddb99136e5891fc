//! The client side of halbertd: a lazily connected gRPC channel over its Unix socket, and the
//! translation of its statuses into [`DaemonError`]. The channel reconnects by itself on the
//! next call after halbertd restarts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use halbert_proto::v1::{
    self as pb, audit_client::AuditClient, discovery_client::DiscoveryClient,
    files_client::FilesClient, guardrails_client::GuardrailsClient, inspect_client::InspectClient,
    services_client::ServicesClient, system_client::SystemClient,
    telemetry_client::TelemetryClient, terminal_client::TerminalClient,
};
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};

/// Unary calls that take longer than this are answered with a timeout.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A unit's job: halbertd waits up to 90 s for it, and answers then in any case.
const JOB_TIMEOUT: Duration = Duration::from_secs(100);
/// A dry run's validator gets 20 s in halbertd; this leaves room to start and stop its unit.
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(60);
/// Beyond a command's own timeout, the time halbertd may take to start and stop its unit.
const COMMAND_MARGIN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, thiserror::Error)]
pub enum DaemonError {
    #[error("halbertd is unreachable at {socket}: {why}")]
    Unavailable { socket: String, why: String },
    #[error("{detail}")]
    PermissionDenied {
        action: Option<String>,
        detail: String,
    },
    /// The system-wide policy (`/etc/halbert/policy.yml`, judged by halbertd) forbids it.
    #[error("{detail}")]
    PolicyDenied { rule: String, detail: String },
    #[error("refused: safe mode is active ({reason})")]
    SafeMode { reason: String },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("halbertd could not identify this process: {0}")]
    Unauthenticated(String),
    #[error("halbertd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    NotFound(String),
    /// halbertd is up, but what it would read is not there (no system bus, no journalctl).
    #[error("{0}")]
    SourceMissing(String),
    /// The file changed since it was read; `current` is its version now.
    #[error("{detail}")]
    Conflict { detail: String, current: String },
    /// A file over the size halbertd reads or writes.
    #[error("{0}")]
    TooLarge(String),
    /// A file that is not UTF-8 text.
    #[error("{0}")]
    NotText(String),
    /// A directory, FIFO or device where a file was asked for.
    #[error("{0}")]
    NotRegular(String),
    /// A path outside what halbertd serves or changes.
    #[error("{0}")]
    PathNotAllowed(String),
    #[error("halbertd failed: {0}")]
    Failed(String),
}

/// A server stream from halbertd, read with `message()` until it ends or fails (a failure
/// goes through [`Daemon::stream_error`]).
pub type Stream<T> = tonic::Streaming<T>;

#[derive(Debug, Clone)]
pub struct Daemon {
    socket: PathBuf,
    channel: Channel,
}

impl Daemon {
    pub fn new(socket: &Path) -> Self {
        let path = socket.to_owned();
        // The URI is a placeholder: every connection goes to the Unix socket.
        let channel = Endpoint::from_static("http://halbertd.invalid")
            .connect_timeout(Duration::from_secs(3))
            .connect_with_connector_lazy(tower::service_fn(move |_| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }));
        Self {
            socket: socket.to_owned(),
            channel,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn err(&self, s: tonic::Status) -> DaemonError {
        let detail = halbert_proto::error_detail(&s).unwrap_or_default();
        let code = pb::ErrorCode::try_from(detail.code).unwrap_or(pb::ErrorCode::Unspecified);
        match (s.code(), code) {
            (_, pb::ErrorCode::PolicyDenied) => DaemonError::PolicyDenied {
                rule: detail.policy_rule,
                detail: s.message().to_owned(),
            },
            (_, pb::ErrorCode::SafeModeActive) => DaemonError::SafeMode {
                reason: detail.safe_mode_reason,
            },
            (_, pb::ErrorCode::Conflict) => DaemonError::Conflict {
                detail: s.message().to_owned(),
                current: detail.current_version,
            },
            (_, pb::ErrorCode::TooLarge) => DaemonError::TooLarge(s.message().to_owned()),
            (_, pb::ErrorCode::NotText) => DaemonError::NotText(s.message().to_owned()),
            (_, pb::ErrorCode::NotRegular) => DaemonError::NotRegular(s.message().to_owned()),
            (_, pb::ErrorCode::PathNotAllowed) => {
                DaemonError::PathNotAllowed(s.message().to_owned())
            }
            (Code::PermissionDenied, _) => DaemonError::PermissionDenied {
                action: Some(detail.polkit_action).filter(|a| !a.is_empty()),
                detail: s.message().to_owned(),
            },
            (Code::InvalidArgument, _) => DaemonError::InvalidArgument(s.message().to_owned()),
            (Code::NotFound, _) => DaemonError::NotFound(s.message().to_owned()),
            (Code::Unavailable, pb::ErrorCode::Unavailable) => {
                DaemonError::SourceMissing(s.message().to_owned())
            }
            (Code::Unauthenticated, _) => DaemonError::Unauthenticated(s.message().to_owned()),
            (Code::DeadlineExceeded, _) => DaemonError::Timeout(CALL_TIMEOUT),
            // No ErrorDetail means the status came from the transport, not from halbertd.
            (Code::Unavailable | Code::Unknown | Code::Cancelled, pb::ErrorCode::Unspecified) => {
                DaemonError::Unavailable {
                    socket: self.socket.display().to_string(),
                    why: transport_reason(&s),
                }
            }
            _ => DaemonError::Failed(s.message().to_owned()),
        }
    }

    async fn unary<T>(
        &self,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, DaemonError> {
        self.unary_within(CALL_TIMEOUT, fut).await
    }

    async fn unary_within<T>(
        &self,
        limit: Duration,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, DaemonError> {
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(s)) => Err(self.err(s)),
            Err(_) => Err(DaemonError::Timeout(limit)),
        }
    }

    pub async fn status(&self) -> Result<pb::SystemStatus, DaemonError> {
        self.unary(SystemClient::new(self.channel.clone()).get_status(pb::GetStatusRequest {}))
            .await
    }

    pub async fn guardrails(&self) -> Result<pb::GuardrailsState, DaemonError> {
        self.unary(GuardrailsClient::new(self.channel.clone()).get(pb::GetGuardrailsRequest {}))
            .await
    }

    /// The system-wide policy halbertd judges changes by.
    pub async fn system_policy(&self) -> Result<pb::SystemPolicyView, DaemonError> {
        self.unary(
            GuardrailsClient::new(self.channel.clone()).system_policy(pb::SystemPolicyRequest {}),
        )
        .await
    }

    pub async fn enter_safe_mode(
        &self,
        reason: String,
        request_id: &str,
    ) -> Result<pb::SafeModeChange, DaemonError> {
        let req = with_request_id(pb::EnterSafeModeRequest { reason }, request_id);
        self.unary(GuardrailsClient::new(self.channel.clone()).enter_safe_mode(req))
            .await
    }

    pub async fn exit_safe_mode(
        &self,
        request_id: &str,
    ) -> Result<pb::SafeModeChange, DaemonError> {
        let req = with_request_id(pb::ExitSafeModeRequest {}, request_id);
        self.unary(GuardrailsClient::new(self.channel.clone()).exit_safe_mode(req))
            .await
    }

    pub async fn read_file(&self, path: &str) -> Result<pb::FileContent, DaemonError> {
        let req = pb::ReadFileRequest { path: path.into() };
        self.unary(FilesClient::new(self.channel.clone()).read(req))
            .await
    }

    pub async fn write_file(
        &self,
        path: &str,
        content: String,
        version: Option<String>,
        request_id: &str,
    ) -> Result<pb::FileWritten, DaemonError> {
        let req = with_request_id(
            pb::WriteFileRequest {
                path: path.into(),
                content: content.into_bytes(),
                version,
            },
            request_id,
        );
        self.unary(FilesClient::new(self.channel.clone()).write(req))
            .await
    }

    /// A dry run of a write: the path's validator on a private copy of `content`. It can take
    /// as long as the validator (halbertd stops one at 20 s).
    pub async fn validate_file(
        &self,
        path: &str,
        content: String,
        request_id: &str,
    ) -> Result<pb::FileValidation, DaemonError> {
        let req = with_request_id(
            pb::ValidateFileRequest {
                path: path.into(),
                content: content.into_bytes(),
            },
            request_id,
        );
        self.unary_within(
            VALIDATE_TIMEOUT,
            FilesClient::new(self.channel.clone()).validate(req),
        )
        .await
    }

    /// This user's crontab (empty when there is none).
    pub async fn crontab(&self) -> Result<String, DaemonError> {
        self.unary(FilesClient::new(self.channel.clone()).crontab(pb::CrontabRequest {}))
            .await
            .map(|c| c.content)
    }

    /// What a restart of `unit` would take (read-only).
    pub async fn service_plan(&self, unit: &str) -> Result<pb::ServicePlan, DaemonError> {
        let req = pb::ServicePlanRequest { unit: unit.into() };
        self.unary(ServicesClient::new(self.channel.clone()).plan(req))
            .await
    }

    pub async fn file_backups(&self, path: &str) -> Result<pb::FileBackupList, DaemonError> {
        let req = pb::FileBackupsRequest { path: path.into() };
        self.unary(FilesClient::new(self.channel.clone()).backups(req))
            .await
    }

    /// Writes a backup back; `reason` goes into halbertd's audit record.
    pub async fn restore_file(
        &self,
        path: &str,
        backup_id: &str,
        reason: &str,
        request_id: &str,
    ) -> Result<pb::FileWritten, DaemonError> {
        let req = with_request_id(
            pb::RestoreFileRequest {
                path: path.into(),
                backup_id: backup_id.into(),
                reason: reason.into(),
            },
            request_id,
        );
        self.unary(FilesClient::new(self.channel.clone()).restore(req))
            .await
    }

    /// Starts, stops or restarts a unit and waits for the job's end; `reason` goes into
    /// halbertd's audit record.
    pub async fn control_service(
        &self,
        unit: &str,
        verb: pb::ServiceVerb,
        reason: &str,
        request_id: &str,
    ) -> Result<pb::ServiceControlResult, DaemonError> {
        let req = with_request_id(
            pb::ServiceControlRequest {
                unit: unit.into(),
                verb: verb as i32,
                reason: reason.into(),
            },
            request_id,
        );
        self.unary_within(
            JOB_TIMEOUT,
            ServicesClient::new(self.channel.clone()).control(req),
        )
        .await
    }

    /// Runs what the person typed, as that person (or as root after `sudo `).
    pub async fn execute(
        &self,
        command: &str,
        timeout_s: u32,
        request_id: &str,
    ) -> Result<pb::ExecuteResult, DaemonError> {
        let req = with_request_id(
            pb::ExecuteRequest {
                command: command.into(),
                timeout_s,
            },
            request_id,
        );
        let limit = Duration::from_secs(u64::from(timeout_s.max(30))) + COMMAND_MARGIN;
        self.unary_within(
            limit,
            TerminalClient::new(self.channel.clone()).execute(req),
        )
        .await
    }

    pub async fn verify_audit(&self) -> Result<pb::AuditVerification, DaemonError> {
        self.unary(AuditClient::new(self.channel.clone()).verify(pb::VerifyAuditRequest {}))
            .await
    }

    pub async fn discovery_list(&self, kind: &str) -> Result<pb::DiscoveryList, DaemonError> {
        let req = pb::ListDiscoveriesRequest {
            r#type: discovery_type(kind)? as i32,
        };
        self.unary(DiscoveryClient::new(self.channel.clone()).list(req))
            .await
    }

    pub async fn discovery_get(&self, id: &str) -> Result<pb::DiscoveryItem, DaemonError> {
        let req = pb::GetDiscoveryRequest { id: id.to_owned() };
        self.unary(DiscoveryClient::new(self.channel.clone()).get(req))
            .await
    }

    pub async fn service_status(&self, unit: &str) -> Result<pb::ServiceState, DaemonError> {
        let req = pb::ServiceStatusRequest {
            unit: unit.to_owned(),
        };
        self.unary(InspectClient::new(self.channel.clone()).service_status(req))
            .await
    }

    pub async fn running_services(
        &self,
        filter: &str,
    ) -> Result<pb::RunningServiceList, DaemonError> {
        let req = pb::RunningServicesRequest {
            filter: filter.to_owned(),
        };
        self.unary(InspectClient::new(self.channel.clone()).running_services(req))
            .await
    }

    pub async fn journal_tail(
        &self,
        unit: &str,
        lines: u32,
        filter: &str,
    ) -> Result<pb::JournalLines, DaemonError> {
        let req = pb::JournalTailRequest {
            unit: unit.to_owned(),
            lines,
            filter: filter.to_owned(),
        };
        self.unary(InspectClient::new(self.channel.clone()).journal_tail(req))
            .await
    }

    pub async fn processes(&self, name: &str) -> Result<pb::ProcessList, DaemonError> {
        let req = pb::ProcessesRequest {
            name: name.to_owned(),
        };
        self.unary(InspectClient::new(self.channel.clone()).processes(req))
            .await
    }

    pub async fn host_info(&self) -> Result<pb::HostInfo, DaemonError> {
        self.unary(InspectClient::new(self.channel.clone()).host(pb::HostInfoRequest {}))
            .await
    }

    pub async fn discovery_summary(&self) -> Result<pb::DiscoverySummary, DaemonError> {
        self.unary(
            DiscoveryClient::new(self.channel.clone()).summary(pb::DiscoverySummaryRequest {}),
        )
        .await
    }

    /// Starts a scan; the caller reads its events until the stream ends.
    pub async fn discovery_scan(
        &self,
        types: Vec<String>,
    ) -> Result<tonic::Streaming<pb::ScanEvent>, DaemonError> {
        let types = types
            .iter()
            .map(|t| discovery_type(t).map(|t| t as i32))
            .collect::<Result<_, _>>()?;
        self.unary(DiscoveryClient::new(self.channel.clone()).scan(pb::ScanRequest { types }))
            .await
    }

    /// Opens the status stream; the caller reads it until it ends or fails.
    pub async fn watch_status(
        &self,
        interval_ms: u32,
    ) -> Result<tonic::Streaming<pb::SystemStatus>, DaemonError> {
        self.unary(
            SystemClient::new(self.channel.clone())
                .watch_status(pb::WatchStatusRequest { interval_ms }),
        )
        .await
    }

    /// Opens the journal stream (polkit's `org.halbert.journal.read` is asked here, so a
    /// refusal is this call's error, not an empty stream).
    pub async fn follow_journal(
        &self,
        req: pb::FollowJournalRequest,
    ) -> Result<Stream<pb::JournalItem>, DaemonError> {
        self.unary(TelemetryClient::new(self.channel.clone()).follow_journal(req))
            .await
    }

    /// Opens the sensor stream: every hwmon sensor now, then every `interval_s`.
    pub async fn watch_sensors(
        &self,
        interval_s: u32,
    ) -> Result<Stream<pb::SensorReadings>, DaemonError> {
        self.unary(
            TelemetryClient::new(self.channel.clone())
                .watch_sensors(pb::WatchSensorsRequest { interval_s }),
        )
        .await
    }

    /// Maps a status read from an open stream.
    pub fn stream_error(&self, s: tonic::Status) -> DaemonError {
        self.err(s)
    }
}

fn with_request_id<T>(msg: T, request_id: &str) -> Request<T> {
    let mut req = Request::new(msg);
    if let Ok(v) = request_id.parse() {
        req.metadata_mut().insert("x-request-id", v);
    }
    req
}

/// The innermost cause of a transport failure, said as what a person does about it when it is
/// one of the two usual ones (not in group halbert; halbertd not running).
fn transport_reason(s: &tonic::Status) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(s);
    let mut last = s.message().to_owned();
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return advice(io.kind(), &io.to_string());
        }
        last = c.to_string();
        cause = c.source();
    }
    last
}

/// What to do when connecting to halbertd's socket failed with `kind`: one line a person can
/// act on, naming the command. `raw` is the system's own text, kept for the other cases.
pub fn advice(kind: std::io::ErrorKind, raw: &str) -> String {
    use std::io::ErrorKind as K;
    match kind {
        K::PermissionDenied => {
            let name = own_name();
            format!(
                "permission denied: {name} is not in group halbert, whose members may use halbertd; \
                 an administrator runs: usermod -aG halbert {name} (then {name} logs in again)"
            )
        }
        K::NotFound | K::ConnectionRefused => format!(
            "halbertd is not running ({raw}); an administrator starts it with: \
             systemctl enable --now halbertd.socket"
        ),
        _ => raw.to_owned(),
    }
}

/// This process's user name, looked up once: while halbertd refuses us, every request says it.
fn own_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let uid = nix::unistd::getuid();
        nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| uid.to_string(), |u| u.name)
    })
}

/// Connects to halbertd's socket once, for the line `main` prints at start when it cannot.
pub fn probe(socket: &Path) -> Result<(), DaemonError> {
    std::os::unix::net::UnixStream::connect(socket)
        .map(drop)
        .map_err(|e| DaemonError::Unavailable {
            socket: socket.display().to_string(),
            why: advice(e.kind(), &e.to_string()),
        })
}

/// The contract's discovery type named `name`.
fn discovery_type(name: &str) -> Result<pb::DiscoveryType, DaemonError> {
    pb::DiscoveryType::from_name(name)
        .ok_or_else(|| DaemonError::InvalidArgument(format!("unknown discovery type {name:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn a_missing_socket_says_how_to_start_halbertd() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("halbertd.sock");
        let e = Daemon::new(&sock).status().await.expect_err("no daemon");
        let text = e.to_string();
        assert!(matches!(e, DaemonError::Unavailable { .. }), "{e:?}");
        assert!(
            text.contains("systemctl enable --now halbertd.socket"),
            "{text}"
        );
        assert!(
            probe(&sock)
                .expect_err("no daemon")
                .to_string()
                .contains("halbertd is not running")
        );
    }

    /// Run as root (CI), the refusal is produced on a thread without the capabilities that
    /// pass a socket's mode, with a runtime of its own on that thread, so that the test checks
    /// the same text a user outside the group gets.
    #[test]
    fn a_socket_refused_by_its_mode_names_the_group_and_the_command() {
        use caps::{CapSet, Capability};
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("halbertd.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        let me = nix::unistd::User::from_uid(nix::unistd::getuid())
            .expect("getpwuid")
            .expect("a user")
            .name;
        let texts = std::thread::scope(|s| {
            s.spawn(|| {
                for c in [
                    Capability::CAP_DAC_OVERRIDE,
                    Capability::CAP_DAC_READ_SEARCH,
                ] {
                    caps::drop(None, CapSet::Effective, c).expect("drop a capability");
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                [
                    probe(&sock).expect_err("refused").to_string(),
                    rt.block_on(async { Daemon::new(&sock).status().await })
                        .expect_err("refused")
                        .to_string(),
                ]
            })
            .join()
            .expect("thread")
        });
        for text in texts {
            assert!(
                text.contains(&format!("usermod -aG halbert {me}")),
                "{text}"
            );
            assert!(!text.contains('\n'), "one line: {text}");
        }
    }
}
