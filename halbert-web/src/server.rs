//! Serving the router: takes a bound listener and a shutdown future, so `main` and the tests
//! start it the same way.

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

use crate::guard::ClientConn;

pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<ClientConn>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
