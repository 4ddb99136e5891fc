//! Serving the router: takes a bound listener and a shutdown future, so `main` and the tests
//! start it the same way.
//!
//! The accept loop is ours (not `axum::serve`) because the connection, not the request, is
//! what another local user can exhaust:
//! - the client's uid is looked up per connection with `sock_diag` in the connection's own
//!   task, never on the accept loop;
//! - a loopback client of another user is answered 403 and closed at once, before a request
//!   is read, so it holds no descriptor;
//! - connections are capped per peer (uid on loopback, address otherwise) and in total;
//! - hyper's header timer runs whenever a connection waits for a request head, which bounds
//!   both a slowly sent head (slowloris) and an idle keep-alive connection.

pub mod peer_uid;

use crate::api::Code;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::api::ApiError;
use crate::guard::{ClientConn, Refusal};

/// Connection limits; [`Limits::default`] is what `main` uses.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections in all (the unit's `LimitNOFILE` leaves room for them and the rest).
    pub max_connections: usize,
    /// Open connections of one peer (a uid on loopback, an address otherwise).
    pub max_per_peer: usize,
    /// How long a connection may take to send a request head, and stay idle between requests.
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_per_peer: 1024,
            header_timeout: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Peer {
    Uid(u32),
    Addr(IpAddr),
}

/// Who holds how many connections.
#[derive(Debug, Default)]
struct Table {
    total: usize,
    per_peer: HashMap<Peer, usize>,
}

/// One counted connection; dropping it (when the connection, or the WebSocket it became,
/// closes) gives the slot back.
#[derive(Debug)]
struct Slot {
    table: Arc<Mutex<Table>>,
    peer: Peer,
}

impl Slot {
    fn claim(table: &Arc<Mutex<Table>>, peer: Peer, limits: &Limits) -> Option<Slot> {
        let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
        let mine = t.per_peer.get(&peer).copied().unwrap_or(0);
        if t.total >= limits.max_connections || mine >= limits.max_per_peer {
            return None;
        }
        t.total += 1;
        t.per_peer.insert(peer, mine + 1);
        Some(Slot {
            table: table.clone(),
            peer,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.total -= 1;
        if let Some(n) = t.per_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                t.per_peer.remove(&self.peer);
            }
        }
    }
}

/// The TCP stream with its slot, so the slot lives exactly as long as the socket, also after
/// a WebSocket upgrade has taken the socket out of hyper's hands.
#[derive(Debug)]
struct Counted {
    io: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Serves `app` with the default [`Limits`] until `shutdown` resolves, then waits for open
/// connections to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, Limits::default(), shutdown).await
}

pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let own_uid = nix::unistd::geteuid().as_raw();
    let table = Arc::new(Mutex::new(Table::default()));
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or a connection reset before accept:
                    // wait a little instead of spinning, then go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (app, table, stop) = (app.clone(), table.clone(), stop.clone());
        tracker.spawn(async move {
            connection(stream, remote, app, table, limits, own_uid, stop).await;
        });
    }
    stop.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Writes a whole HTTP answer and closes, without reading a request: for connections that
/// are refused before hyper sees them.
async fn refuse(mut stream: TcpStream, e: crate::api::ApiError) {
    let body = serde_json::to_string(&e.body()).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        e.status().as_u16(),
        e.status().canonical_reason().unwrap_or(""),
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    // Dropping the socket with an unread request in it makes the kernel send RST; the client
    // has the answer by then (it was written first).
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    table: Arc<Mutex<Table>>,
    limits: Limits,
    own_uid: u32,
    stop: CancellationToken,
) {
    // Chat tokens and status messages are small writes that must leave at once; with
    // Nagle's algorithm a token waits for the client's (delayed) ACK, up to 40 ms.
    let _ = stream.set_nodelay(true);
    let remote = peer_uid::canonical(remote);
    let local = peer_uid::canonical(stream.local_addr().unwrap_or(remote));
    let uid = if remote.ip().is_loopback() {
        match peer_uid::netlink_client_uid(remote, local) {
            Ok(uid) => uid,
            // The fallback reads the whole socket table: not on a runtime thread.
            Err(_) => tokio::task::spawn_blocking(move || {
                peer_uid::proc_client_uid(std::path::Path::new("/proc/self"), remote, local)
            })
            .await
            .ok()
            .flatten(),
        }
    } else {
        None
    };
    if remote.ip().is_loopback() && uid != Some(own_uid) {
        tracing::warn!(remote = %remote, client_uid = ?uid, "connection refused: loopback client of another user");
        refuse(stream, ApiError::from(Refusal::OtherUser)).await;
        return;
    }
    let peer = uid.map_or(Peer::Addr(remote.ip()), Peer::Uid);
    let Some(slot) = Slot::claim(&table, peer, &limits) else {
        tracing::warn!(remote = %remote, client_uid = ?uid, "connection refused: too many connections");
        refuse(
            stream,
            crate::api::ApiError::new(
                Code::TooManyConnections,
                "too many open connections; close some and try again",
            ),
        )
        .await;
        return;
    };
    let info = ClientConn { remote, local, uid };
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(info.clone()));
            app.clone().oneshot(req)
        });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .serve_connection(
            TokioIo::new(Counted {
                io: stream,
                _slot: slot,
            }),
            service,
        )
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(remote = %remote, error = %e, "connection ended");
            }
            return;
        }
        () = stop.cancelled() => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}
