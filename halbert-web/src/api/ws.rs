//! `/ws`: live updates, as [`Event`](crate::events::Event)s from the shared
//! [`StatusFeed`](crate::feed::StatusFeed); a client that cannot keep up skips messages (and is
//! told so), and one whose socket blocks is dropped.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use crate::events::{Encoded, Event};

/// A client whose socket does not take a message within this time is disconnected.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn upgrade(State(st): State<AppState>, ws: WebSocketUpgrade) -> Response {
    // Clients only listen for now; a small frame limit keeps a misbehaving one cheap.
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| client(socket, st))
}

async fn send(socket: &mut WebSocket, msg: Encoded) -> bool {
    let text = String::from(&*msg.0);
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

async fn client(mut socket: WebSocket, st: AppState) {
    let mut rx = st.feed.subscribe();
    tracing::debug!(clients = st.feed.clients(), "websocket client connected");
    if let Some(latest) = st.feed.latest()
        && !send(&mut socket, latest).await
    {
        return;
    }
    loop {
        tokio::select! {
            _ = st.shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
            msg = rx.recv() => match msg {
                Ok(text) => if !send(&mut socket, text).await {
                    tracing::info!("dropping a websocket client that stopped reading");
                    break;
                },
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "slow websocket client skipped messages");
                    // Tell the client, so it takes chat text from chat_complete instead.
                    if !send(&mut socket, Event::FeedLagged { skipped: n }.encode()).await {
                        break;
                    }
                }
                Err(RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                // No client-to-server protocol yet: everything else is ignored.
                Some(Ok(_)) => {}
            },
        }
    }
}
