//! HTTP/1.1 GETs to local APIs on Unix sockets (the container runtimes' today), with hyper's
//! client: chunked bodies, keep-alive and malformed answers handled by a maintained parser,
//! the body capped and the whole call bounded in time. This runs as root against sockets other
//! programs own, so it trusts nothing it reads. Kept out of the domain modules, which know no
//! HTTP.

use std::path::Path;
use std::time::Duration;

/// GET `path` on the HTTP API at `socket`; returns the body of a 200 answer, at most
/// `max_body` bytes, within `timeout`.
pub async fn get(
    socket: &Path,
    path: &str,
    max_body: usize,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    use http_body_util::BodyExt;
    let work = async {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| format!("connect {}: {e}", socket.display()))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        // The connection is driven beside the request; it ends with this call (aborted on
        // drop, e.g. at the timeout).
        let conn = AbortOnDrop(tokio::spawn(conn));
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, "localhost")
            .header(hyper::header::ACCEPT, "application/json")
            .body(http_body_util::Empty::<hyper::body::Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        if status != hyper::StatusCode::OK {
            return Err(format!("{path}: HTTP {}", status.as_u16()));
        }
        let body = http_body_util::Limited::new(resp.into_body(), max_body)
            .collect()
            .await
            .map_err(|e| format!("{path}: {e}"))?
            .to_bytes()
            .to_vec();
        drop(conn);
        Ok::<_, String>(body)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("{} did not answer within {timeout:?}", socket.display()))?
}

#[derive(Debug)]
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;
    const SECOND: Duration = Duration::from_secs(1);

    /// A one-shot HTTP server on a Unix socket that writes `answer` verbatim.
    async fn serve_once(dir: &std::path::Path, answer: Vec<u8>) -> std::path::PathBuf {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let path = dir.join(format!("api-{}.sock", answer.len()));
        let l = tokio::net::UnixListener::bind(&path).expect("bind");
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(&answer).await;
        });
        path
    }

    #[tokio::test]
    async fn the_api_client_reads_chunked_bodies_and_refuses_what_it_must() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chunked = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n[{\"Id\"\r\n7\r\n:\"ab\"}]\r\n0\r\n\r\n".to_vec();
        let s = serve_once(dir.path(), chunked).await;
        assert_eq!(
            get(&s, "/containers/json", LIMIT, SECOND)
                .await
                .expect("chunked"),
            br#"[{"Id":"ab"}]"#
        );
        let s = serve_once(
            dir.path(),
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".to_vec(),
        )
        .await;
        assert_eq!(
            get(&s, "/containers/json", LIMIT, SECOND)
                .await
                .expect_err("500"),
            "/containers/json: HTTP 500"
        );
        let s = serve_once(dir.path(), b"garbage\r\n\r\n".to_vec()).await;
        assert!(get(&s, "/x", LIMIT, SECOND).await.is_err());
        // A body over the cap is refused, not read into memory.
        let mut big =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", LIMIT + 1).into_bytes();
        big.resize(big.len() + LIMIT + 1, b' ');
        let s = serve_once(dir.path(), big).await;
        let e = get(&s, "/containers/json", LIMIT, SECOND)
            .await
            .expect_err("too big");
        assert!(e.contains("length limit"), "{e}");
    }
}
