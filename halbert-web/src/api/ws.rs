//! `/ws`: live updates, as [`Event`](crate::events::Event)s from the shared
//! [`StatusFeed`](crate::feed::StatusFeed); a client that cannot keep up skips messages (and is
//! told so), and one whose socket blocks is dropped.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use super::{ApiError, AppState, Code, ErrorBody};
use crate::events::{Encoded, Event};

/// A client whose socket does not take a message within this time is disconnected.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Live updates: a WebSocket whose messages are `{"type", "data"}` (see the description above).
#[utoipa::path(get, path = "/ws", tag = "system",
    params(
        ("Upgrade" = super::schema::WsUpgrade, Header),
        ("Connection" = super::schema::WsConnection, Header),
        ("Sec-WebSocket-Version" = super::schema::WsVersion, Header),
        ("Sec-WebSocket-Key" = super::schema::WsKey, Header),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, body = ErrorBody, description = "Not a valid WebSocket upgrade request"),
        (status = 426, body = ErrorBody, description = "The request asks for no upgrade"),
    ))]
pub async fn upgrade(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    // RFC 6455 §4.2.1: the key is 16 bytes in base64. axum takes any value; a client that
    // sends something else is not speaking WebSocket, and is told so.
    let key = headers
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !valid_key(key) {
        return Err(ApiError::new(
            Code::BadRequest,
            "Sec-WebSocket-Key must be 16 bytes in base64",
        ));
    }
    // Clients only listen for now; a small frame limit keeps a misbehaving one cheap.
    Ok(ws
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| client(socket, st)))
}

/// 22 base64 characters and `==`: the encoding of 16 bytes.
fn valid_key(key: &str) -> bool {
    key.len() == 24
        && key.ends_with("==")
        && key[..22]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
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
    if let Some(down) = st.feed.down_event()
        && !send(&mut socket, down).await
    {
        return;
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_sixteen_bytes_of_base64() {
        assert!(super::valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!super::valid_key("dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!super::valid_key("dGhlIHNhbXBsZSBub25jZ!=="));
        assert!(!super::valid_key(""));
    }
}
