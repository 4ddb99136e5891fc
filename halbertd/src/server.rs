//! The gRPC server: takes a bound Unix listener and a shutdown future, so the daemon (socket
//! activation or `--socket`) and the tests (a tempdir socket) start it the same way.

use std::future::Future;
use std::sync::Arc;

use futures_util::StreamExt;
use halbert_proto::v1::{
    audit_server::AuditServer, discovery_server::DiscoveryServer, files_server::FilesServer,
    guardrails_server::GuardrailsServer, inspect_server::InspectServer,
    services_server::ServicesServer, system_server::SystemServer,
    telemetry_server::TelemetryServer, terminal_server::TerminalServer,
};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::peer::PeerStream;
use crate::rpc::{
    AuditService, Ctx, DiscoveryService, FilesService, GuardrailsService, InspectService,
    ServicesService, SystemService, TelemetryService, TerminalService,
};

/// Serves every halbertd service on `listener` until `shutdown` resolves. Open status streams
/// end then too, so the graceful shutdown does not wait for clients that never hang up.
pub async fn serve(
    listener: UnixListener,
    engine: Arc<Engine>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let stop = CancellationToken::new();
    let ctx = Ctx::new(engine, stop.clone());
    let shutdown = async move {
        shutdown.await;
        stop.cancel();
    };
    // Each connection's peer credentials are taken once, at accept; a connection whose peer
    // cannot be identified is dropped rather than served anonymously.
    let incoming = UnixListenerStream::new(listener).filter_map(|conn| async move {
        match conn.and_then(PeerStream::new) {
            Ok(s) => Some(Ok::<_, std::io::Error>(s)),
            Err(e) => {
                tracing::warn!(error = %e, "dropping a connection without peer credentials");
                None
            }
        }
    });
    tonic::transport::Server::builder()
        .add_service(SystemServer::new(SystemService(ctx.clone())))
        .add_service(GuardrailsServer::new(GuardrailsService(ctx.clone())))
        .add_service(DiscoveryServer::new(DiscoveryService(ctx.clone())))
        .add_service(InspectServer::new(InspectService(ctx.clone())))
        .add_service(FilesServer::new(FilesService(ctx.clone())))
        .add_service(ServicesServer::new(ServicesService(ctx.clone())))
        .add_service(TerminalServer::new(TerminalService(ctx.clone())))
        .add_service(TelemetryServer::new(TelemetryService(ctx.clone())))
        .add_service(AuditServer::new(AuditService(ctx)))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
